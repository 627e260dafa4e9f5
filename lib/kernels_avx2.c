/* The AVX2 kernel set (with FMA and F16C; this file alone is compiled
 * with those instructions enabled, and kernels.c hands the set out only
 * when the CPU has all three).
 *
 * Float products keep four independent 8-lane accumulators so that the
 * FMA latency is hidden and the loop runs at load speed; the elements
 * past the last multiple of 8 go through the scalar reference. Quantized
 * products compute each block's 32 integer products exactly (maddubs +
 * madd), then scale them in float. Results differ from the scalar set
 * only by the order of float additions. */
#include <immintrin.h>

#include "kernels_impl.h"

/* The sum of the 8 lanes. */
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The largest of the 8 lanes (none may be NaN). */
static inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* Eight weights from element i on, as floats, one loader per type. */
typedef __m256 (*load8_fn)(const void *w, int64_t i);

static inline __m256 load8_f32(const void *w, int64_t i) {
    return _mm256_loadu_ps((const float *)w + i);
}

static inline __m256 load8_f16(const void *w, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}

/* bf16 is the top half of a float: widen to 32 bits and shift up. */
static inline __m256 load8_bf16(const void *w, int64_t i) {
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* sum w[i] * x[i] over the first n8 = n rounded down to a multiple of 8
 * elements; the callers add the tail with the scalar reference. Inlined
 * into each caller with its constant loader. */
static inline __attribute__((always_inline))
float dot_float(int64_t n8, const void *w, const float *x, load8_fn load) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n8; i += 32) {
        acc0 = _mm256_fmadd_ps(load(w, i), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(load(w, i + 8), _mm256_loadu_ps(x + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load(w, i + 16), _mm256_loadu_ps(x + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load(w, i + 24), _mm256_loadu_ps(x + i + 24), acc3);
    }
    for (; i < n8; i += 8) acc0 = _mm256_fmadd_ps(load(w, i), _mm256_loadu_ps(x + i), acc0);
    return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static float dot_f32(int64_t n, const float *w, const float *x) {
    int64_t n8 = n & ~(int64_t)7;
    return dot_float(n8, w, x, load8_f32) + llm_kernels_scalar.dot_f32(n - n8, w + n8, x + n8);
}

static float dot_f16(int64_t n, const uint16_t *w, const float *x) {
    int64_t n8 = n & ~(int64_t)7;
    return dot_float(n8, w, x, load8_f16) + llm_kernels_scalar.dot_f16(n - n8, w + n8, x + n8);
}

static float dot_bf16(int64_t n, const uint16_t *w, const float *x) {
    int64_t n8 = n & ~(int64_t)7;
    return dot_float(n8, w, x, load8_bf16) + llm_kernels_scalar.dot_bf16(n - n8, w + n8, x + n8);
}

/* The 32 products w[j] * x[j] of two vectors of int8, summed four at a
 * time into 8 int32 lanes and converted to float (exactly: each lane is
 * at most 4 * 128 * 128). maddubs multiplies unsigned by signed bytes, so
 * w's sign moves onto x: |w| * (x * sign(w)). This is exact for any w and
 * for x in [-127, 127], where quantized activations always are (negating
 * -128 would wrap); maddubs's int16 pair sums then never saturate. */
static inline __m256 int8_dot(__m256i w, __m256i x) {
    __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

/* Weight block b (quants and fp16 scale) of each quantized type. */
typedef __m256 (*block_term_fn)(const void *w, int64_t b, const block_q8_0 *x, __m256 acc);

/* acc + d_w * d_x * (the block's integer products). */
static inline __m256 term_q8_0(const void *w, int64_t b, const block_q8_0 *x, __m256 acc) {
    const block_q8_0 *wb = (const block_q8_0 *)w + b;
    __m256i q = _mm256_loadu_si256((const __m256i *)wb->qs);
    __m256 d = _mm256_set1_ps(_cvtsh_ss(wb->d) * _cvtsh_ss(x[b].d));
    return _mm256_fmadd_ps(d, int8_dot(q, _mm256_loadu_si256((const __m256i *)x[b].qs)), acc);
}

/* Q4_0: low nibbles are elements 0..15, high nibbles 16..31, each stored
 * with +8. The 16 bytes go to both halves of a vector, the upper half
 * shifted right by 4, and masked: 32 unsigned quants in element order.
 * Their products with x, less 8 * x, are the block's integer products
 * (the pair sums are at most 2 * 15 * 128: no saturation). */
static inline __m256 term_q4_0(const void *w, int64_t b, const block_q8_0 *x, __m256 acc) {
    const block_q4_0 *wb = (const block_q4_0 *)w + b;
    __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)wb->qs));
    __m256i q = _mm256_and_si256(_mm256_srlv_epi64(bytes, _mm256_setr_epi64x(0, 0, 4, 4)),
                                 _mm256_set1_epi8(0x0f));
    __m256i xq = _mm256_loadu_si256((const __m256i *)x[b].qs);
    __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(q, xq),
                                     _mm256_maddubs_epi16(_mm256_set1_epi8(8), xq));
    __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
    __m256 d = _mm256_set1_ps(_cvtsh_ss(wb->d) * _cvtsh_ss(x[b].d));
    return _mm256_fmadd_ps(d, sums, acc);
}

/* The quantized product over nb blocks, four blocks in flight. */
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
    return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static float dot_q8_0(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK8_0, w, xq, term_q8_0);
}

static float dot_q4_0(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK4_0, w, xq, term_q4_0);
}

/* roundf(v) clamped to [-127, 127], NaN to 0, as int32 lanes: the same
 * function as quant.c's q8_round. roundf rounds halves away from zero,
 * which no SIMD rounding mode does, so: truncate, and step one away from
 * zero where the (exact) discarded fraction is at least one half. */
static inline __m256i q8_round(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(step, _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ)));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvttps_epi32(r);
}

/* llm_quantize_row_q8_0, eight lanes at a time. amax skips NaN lanes as
 * the scalar comparison does: max_ps returns its second operand when the
 * first is NaN. The packs interleave 128-bit lanes; the permute puts the
 * 4-byte groups back in element order. */
static void quantize_act(const float *x, void *yq, int64_t n) {
    block_q8_0 *y = yq;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + b * QK8_0 + 8 * k);
            amax = _mm256_max_ps(_mm256_andnot_ps(sign, v[k]), amax);
        }
        float d = hmax(amax) / 127.0f;
        __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        y[b].d = llm_f32_to_f16(d);
        __m256i q01 = _mm256_packs_epi32(q8_round(_mm256_mul_ps(v[0], id)), q8_round(_mm256_mul_ps(v[1], id)));
        __m256i q23 = _mm256_packs_epi32(q8_round(_mm256_mul_ps(v[2], id)), q8_round(_mm256_mul_ps(v[3], id)));
        __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23),
                                                _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, q);
    }
}

const llm_kernels llm_kernels_avx2 = {
    .name = "avx2",
    .dot_f32 = dot_f32,
    .dot_f16 = dot_f16,
    .dot_bf16 = dot_bf16,
    .dot_q8_0 = dot_q8_0,
    .dot_q4_0 = dot_q4_0,
    .quantize_act = quantize_act,
};
