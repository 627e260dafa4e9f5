/* The AVX-512 kernel set (F, BW and VL, with FMA and F16C: this file
 * alone is compiled with those enabled, and kernels.c hands the set out
 * only when the CPU has all five). AVX512-VNNI is optional: the quantized
 * products use its vpdpbusd when the CPU has it and the equivalent
 * maddubs + madd pair otherwise, both exact.
 *
 * Float products keep four independent 16-lane accumulators; the
 * elements past the last multiple of 16 go through one masked load (the
 * masked-off lanes are never read), so there is no scalar tail. bf16 is
 * widened exactly to f32. Quantized products take two blocks per 512-bit
 * register and compute each block's 32 integer products exactly, then
 * scale them in float. Results differ from the scalar set only by the
 * order of float additions; quantize_act's bytes are the scalar's. */
#include <immintrin.h>

#include "kernels_impl.h"

/* ------------------------------------------------------------ float types */

/* Sixteen weights from element i on, as floats, the lanes outside m zero
 * and not read. One loader per type. */
typedef __m512 (*load16_fn)(const void *w, int64_t i, __mmask16 m);

static inline __m512 load16_f32(const void *w, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, (const float *)w + i);
}

static inline __m512 load16_f16(const void *w, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i));
}

/* bf16 is the top half of a float: widen to 32 bits and shift up. */
static inline __m512 load16_bf16(const void *w, int64_t i, __mmask16 m) {
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* sum w[i] * x[i] for i < n: 64 elements per step in four accumulators
 * (FMA latency hidden), then 16 at a time, the last step masked. Inlined
 * into each caller with its constant loader. */
static inline __attribute__((always_inline))
float dot_float(int64_t n, const void *w, const float *x, load16_fn load) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    const __mmask16 all = 0xffff;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(load(w, i, all), _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(load(w, i + 16, all), _mm512_loadu_ps(x + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(load(w, i + 32, all), _mm512_loadu_ps(x + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(load(w, i + 48, all), _mm512_loadu_ps(x + i + 48), acc3);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? all : (__mmask16)((1u << (n - i)) - 1);
        acc0 = _mm512_fmadd_ps(load(w, i, m), _mm512_maskz_loadu_ps(m, x + i), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static float dot_f32(int64_t n, const float *w, const float *x) {
    return dot_float(n, w, x, load16_f32);
}

static float dot_f16(int64_t n, const uint16_t *w, const float *x) {
    return dot_float(n, w, x, load16_f16);
}

static float dot_bf16(int64_t n, const uint16_t *w, const float *x) {
    return dot_float(n, w, x, load16_bf16);
}

/* ------------------------------------------------------------ quantized types */

/* u[j] * s[j] over 64 byte pairs, u unsigned and s signed, summed four at
 * a time into 16 int32 lanes. Two implementations with the same result:
 * for the inputs below (u <= 128, |s| <= 127) the int16 pair sums of
 * maddubs never saturate. */
typedef __m512i (*dot4_fn)(__m512i u, __m512i s);

__attribute__((target("avx512vnni")))
static inline __m512i dot4_vnni(__m512i u, __m512i s) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
}

static inline __m512i dot4_bw(__m512i u, __m512i s) {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}

/* w[j] * x[j] for signed bytes, as floats in 16 lanes (exact: each lane
 * is at most 4 * 128 * 127). w's sign moves onto x, |w| * (x * sign(w)),
 * which is exact for any w (|-128| is 128 unsigned) and for x in
 * [-127, 127], where quantized activations always are. */
static inline __attribute__((always_inline))
__m512 int8_dot(__m512i w, __m512i x, dot4_fn dot4) {
    __m512i s = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    return _mm512_cvtepi32_ps(dot4(_mm512_abs_epi8(w), s));
}

/* Two 256-bit halves as one register. */
static inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Blocks b and b+1 (only b when nblk is 1; the upper half is then zero)
 * of the activations, and of the weights as int8 in element order, one
 * loader per weight type; scales gets d_w * d_x of each block. */
typedef __m512i (*load_pair_fn)(const void *w, int64_t b, int nblk, float scale_w[2]);

static inline __m512i load_pair_q8_0(const void *w, int64_t b, int nblk, float scale_w[2]) {
    const block_q8_0 *wb = (const block_q8_0 *)w + b;
    scale_w[0] = _cvtsh_ss(wb[0].d);
    scale_w[1] = nblk == 2 ? _cvtsh_ss(wb[1].d) : 0.0f;
    __m256i hi = nblk == 2 ? _mm256_loadu_si256((const __m256i *)wb[1].qs) : _mm256_setzero_si256();
    return join(_mm256_loadu_si256((const __m256i *)wb[0].qs), hi);
}

/* Q4_0: byte j holds element j (low nibble) and j + 16 (high), each
 * stored with +8. Each block's 16 bytes go to two 128-bit lanes; the
 * second lane of each pair is shifted down a nibble. */
static inline __m512i load_pair_q4_0(const void *w, int64_t b, int nblk, float scale_w[2]) {
    const block_q4_0 *wb = (const block_q4_0 *)w + b;
    scale_w[0] = _cvtsh_ss(wb[0].d);
    scale_w[1] = nblk == 2 ? _cvtsh_ss(wb[1].d) : 0.0f;
    __m128i hi = nblk == 2 ? _mm_loadu_si128((const __m128i *)wb[1].qs) : _mm_setzero_si128();
    __m512i bytes = _mm512_castsi256_si512(
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)wb[0].qs)), hi, 1));
    bytes = _mm512_shuffle_i64x2(bytes, bytes, _MM_SHUFFLE(1, 1, 0, 0));
    bytes = _mm512_mask_srli_epi16(bytes, 0xff00ff00, bytes, 4);
    return _mm512_sub_epi8(_mm512_and_si512(bytes, _mm512_set1_epi8(0x0f)), _mm512_set1_epi8(8));
}

/* acc + each block's scales times its integer products (lanes 0..7 hold
 * block b's, lanes 8..15 block b+1's). */
static inline __attribute__((always_inline))
__m512 pair_term(const void *w, int64_t b, int nblk, const block_q8_0 *x, __m512 acc,
                 load_pair_fn load, dot4_fn dot4) {
    float sw[2];
    __m512i q = load(w, b, nblk, sw);
    __m256i xhi = nblk == 2 ? _mm256_loadu_si256((const __m256i *)x[b + 1].qs) : _mm256_setzero_si256();
    __m512i xs = join(_mm256_loadu_si256((const __m256i *)x[b].qs), xhi);
    float s1 = nblk == 2 ? sw[1] * _cvtsh_ss(x[b + 1].d) : 0.0f;
    __m512 scale = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(sw[0] * _cvtsh_ss(x[b].d)), _mm512_set1_ps(s1));
    return _mm512_fmadd_ps(scale, int8_dot(q, xs, dot4), acc);
}

/* The quantized product over nb blocks, four blocks in flight, an odd
 * last block alone. */
static inline __attribute__((always_inline))
float dot_blocks(int64_t nb, const void *w, const block_q8_0 *x, load_pair_fn load, dot4_fn dot4) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        acc0 = pair_term(w, b, 2, x, acc0, load, dot4);
        acc1 = pair_term(w, b + 2, 2, x, acc1, load, dot4);
    }
    if (b + 2 <= nb) {
        acc0 = pair_term(w, b, 2, x, acc0, load, dot4);
        b += 2;
    }
    if (b < nb) acc1 = pair_term(w, b, 1, x, acc1, load, dot4);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* The VNNI versions: separate functions so that only they are compiled
 * for it (dot_blocks and dot4_vnni inline into them), called only when
 * the CPU has it. */
__attribute__((target("avx512vnni")))
static float dot_q8_0_vnni(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK8_0, w, xq, load_pair_q8_0, dot4_vnni);
}

__attribute__((target("avx512vnni")))
static float dot_q4_0_vnni(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK4_0, w, xq, load_pair_q4_0, dot4_vnni);
}

static bool has_vnni(void) { return __builtin_cpu_supports("avx512vnni"); }

static float dot_q8_0(int64_t n, const void *w, const void *xq) {
    if (has_vnni()) return dot_q8_0_vnni(n, w, xq);
    return dot_blocks(n / QK8_0, w, xq, load_pair_q8_0, dot4_bw);
}

static float dot_q4_0(int64_t n, const void *w, const void *xq) {
    if (has_vnni()) return dot_q4_0_vnni(n, w, xq);
    return dot_blocks(n / QK4_0, w, xq, load_pair_q4_0, dot4_bw);
}

/* ------------------------------------------------------------ quantize_act */

/* roundf(v) clamped to [-127, 127], NaN to 0, as int8: the same function
 * as quant.c's q8_round. roundf rounds halves away from zero, which no
 * SIMD rounding mode does, so: truncate, and step one away from zero
 * where the (exact) discarded fraction is at least one half. Infinities
 * truncate to themselves (their fraction is NaN, no step) and clamp. */
static inline __m128i q8_round(__m512 v) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __mmask16 half = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 step = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(v), sign),
                                                      _mm512_castps_si512(_mm512_set1_ps(1.0f))));
    __m512 r = _mm512_mask_add_ps(t, half, t, step);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r));
}

/* llm_quantize_row_q8_0, sixteen lanes at a time. amax skips NaN lanes as
 * the scalar comparison does: max_ps returns its second operand when the
 * first is NaN. d, 1/d and the fp16 scale are the scalar expressions. */
static void quantize_act(const float *x, void *yq, int64_t n) {
    block_q8_0 *y = yq;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        __m512 lo = _mm512_loadu_ps(x + b * QK8_0), hi = _mm512_loadu_ps(x + b * QK8_0 + 16);
        __m512 amax = _mm512_max_ps(_mm512_abs_ps(lo), _mm512_setzero_ps());
        amax = _mm512_max_ps(_mm512_abs_ps(hi), amax);
        float d = _mm512_reduce_max_ps(amax) / 127.0f;
        __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        y[b].d = llm_f32_to_f16(d);
        _mm_storeu_si128((__m128i *)y[b].qs, q8_round(_mm512_mul_ps(lo, id)));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), q8_round(_mm512_mul_ps(hi, id)));
    }
}

const llm_kernels llm_kernels_avx512 = {
    .name = "avx512",
    .dot_f32 = dot_f32,
    .dot_f16 = dot_f16,
    .dot_bf16 = dot_bf16,
    .dot_q8_0 = dot_q8_0,
    .dot_q4_0 = dot_q4_0,
    .quantize_act = quantize_act,
};
