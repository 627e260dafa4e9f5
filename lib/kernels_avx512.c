/* The AVX-512 kernel set (F, BW and VL, with FMA and F16C: this file
 * alone is compiled with those enabled, and kernels.c hands the set out
 * only when the CPU has all five). AVX512-VNNI is optional: the quantized
 * products use it when the CPU has it, and are the AVX2 set's otherwise.
 *
 * Float products keep four independent 16-lane accumulators; the
 * elements past the last multiple of 16 go through one masked load (the
 * masked-off lanes are never read), so there is no scalar tail. bf16 is
 * widened exactly to f32. Quantized products compute each block's 32
 * integer products exactly, then scale them in float. Results differ
 * from the scalar set only by the order of float additions; quantize_act's
 * bytes are the scalar's. */
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

/* With VNNI, one vpdpbusd (unsigned times signed bytes, summed four at a
 * time into int32 lanes) does what AVX2 needs maddubs + madd for. Blocks
 * are 32 bytes, so each goes in one 256-bit register: on Zen 4 that runs
 * faster than two blocks per 512-bit register, whose joins and two-scale
 * blend cost more than they save. Without VNNI, AVX-512 adds nothing to
 * the AVX2 set's quantized products, so those run instead (every CPU
 * with AVX-512 has AVX2). */

/* acc + d_w * d_x * (the block's integer sum, spread over 8 lanes; each
 * lane is exact in float, at most 4 * 128 * 127). */
static inline __m256 scaled(uint16_t dw, uint16_t dx, __m256i isum, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dw) * _cvtsh_ss(dx)), _mm256_cvtepi32_ps(isum), acc);
}

/* Q8_0 times Q8_0: w's sign moves onto x, |w| * (x * sign(w)), which is
 * exact for any w (|-128| is 128 unsigned) and for x in [-127, 127],
 * where quantized activations always are. */
__attribute__((target("avx512vnni")))
static inline __m256 term_q8_0(const void *w, int64_t b, const block_q8_0 *x, __m256 acc) {
    const block_q8_0 *wb = (const block_q8_0 *)w + b;
    __m256i q = _mm256_loadu_si256((const __m256i *)wb->qs);
    __m256i xs = _mm256_loadu_si256((const __m256i *)x[b].qs);
    __m256i isum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(q, q), _mm256_sign_epi8(xs, q));
    return scaled(wb->d, x[b].d, isum, acc);
}

/* Q4_0: byte j holds element j (low nibble) and j + 16 (high), each
 * stored with +8. The nibbles are already unsigned bytes, so
 * sum (q - 8) * x = sum q * x - sum 8 * x, two vpdpbusd. */
__attribute__((target("avx512vnni")))
static inline __m256 term_q4_0(const void *w, int64_t b, const block_q8_0 *x, __m256 acc) {
    const block_q4_0 *wb = (const block_q4_0 *)w + b;
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i bytes = _mm_loadu_si128((const __m128i *)wb->qs);
    __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(bytes, mask)),
                                        _mm_and_si128(_mm_srli_epi16(bytes, 4), mask), 1);
    __m256i xs = _mm256_loadu_si256((const __m256i *)x[b].qs);
    __m256i isum = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, xs),
                                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), xs));
    return scaled(wb->d, x[b].d, isum, acc);
}

/* acc + block b's scaled product, one per weight type. */
typedef __m256 (*block_term_fn)(const void *w, int64_t b, const block_q8_0 *x, __m256 acc);

/* The quantized product over nb blocks, four blocks in flight. */
__attribute__((target("avx512vnni")))
static inline __attribute__((always_inline))
float dot_blocks(int64_t nb, const void *w, const block_q8_0 *x, block_term_fn term) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        acc0 = term(w, b, x, acc0);
        acc1 = term(w, b + 1, x, acc1);
        acc2 = term(w, b + 2, x, acc2);
        acc3 = term(w, b + 3, x, acc3);
    }
    for (; b < nb; b++) acc0 = term(w, b, x, acc0);
    __m256 sum = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    return _mm512_reduce_add_ps(_mm512_zextps256_ps512(sum));
}

/* The entry points compiled for VNNI (as are the inline functions they
 * use); called only after has_vnni() said yes. */
__attribute__((target("avx512vnni")))
static float dot_q8_0_vnni(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK8_0, w, xq, term_q8_0);
}

__attribute__((target("avx512vnni")))
static float dot_q4_0_vnni(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK4_0, w, xq, term_q4_0);
}

static bool has_vnni(void) { return __builtin_cpu_supports("avx512vnni"); }

static float dot_q8_0(int64_t n, const void *w, const void *xq) {
    return has_vnni() ? dot_q8_0_vnni(n, w, xq) : llm_kernels_avx2.dot_q8_0(n, w, xq);
}

static float dot_q4_0(int64_t n, const void *w, const void *xq) {
    return has_vnni() ? dot_q4_0_vnni(n, w, xq) : llm_kernels_avx2.dot_q4_0(n, w, xq);
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
