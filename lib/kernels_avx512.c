/* The AVX-512 kernel set (F, BW, VL and VNNI, with FMA and F16C: this
 * file alone is compiled with those enabled, and kernels.c hands the set
 * out only when the CPU has all six; an AVX-512 CPU without VNNI gets the
 * avx2 set). The quantized products, dot and tiled, are in gemm_vnni.c.
 *
 * The dot products work on 256-bit registers, with AVX-512's masked loads
 * for the elements past the last whole register, so there is no scalar
 * tail. Measured on Zen 4 (the one AVX-512 machine at hand), products
 * streaming weights from memory ran 10-15% slower with 512-bit loads
 * than with 256-bit ones, and quantized blocks (32 bytes) lose more to
 * joining two per 512-bit register than they gain. quantize_act, which
 * reads each activation once, uses full 512-bit registers.
 *
 * Results differ from the scalar set only by the order of float
 * additions (bf16 and fp16 are widened exactly, quantized blocks summed
 * exactly in integers); quantize_act's bytes are the scalar's. */
#include <immintrin.h>

#include "kernels_impl.h"

/* ------------------------------------------------------------ float types */

/* Eight weights from element i on, as floats, the lanes outside m zero
 * and not read. One loader per type. */
typedef __m256 (*load8_fn)(const void *w, int64_t i, __mmask8 m);

static inline __m256 load8_f32(const void *w, int64_t i, __mmask8 m) {
    return _mm256_maskz_loadu_ps(m, (const float *)w + i);
}

static inline __m256 load8_f16(const void *w, int64_t i, __mmask8 m) {
    return _mm256_cvtph_ps(_mm_maskz_loadu_epi16(m, (const uint16_t *)w + i));
}

/* bf16 is the top half of a float: widen to 32 bits and shift up. */
static inline __m256 load8_bf16(const void *w, int64_t i, __mmask8 m) {
    __m128i h = _mm_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The sum of the 8 lanes. */
static inline float hsum(__m256 v) {
    return _mm512_reduce_add_ps(_mm512_zextps256_ps512(v));
}

/* sum w[i] * x[i] for i < n: 32 elements per step in four accumulators
 * (FMA latency hidden), then 8 at a time, the last step masked. Inlined
 * into each caller with its constant loader. */
static inline __attribute__((always_inline))
float dot_float(int64_t n, const void *w, const float *x, load8_fn load) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    const __mmask8 all = 0xff;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load(w, i, all), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(load(w, i + 8, all), _mm256_loadu_ps(x + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load(w, i + 16, all), _mm256_loadu_ps(x + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load(w, i + 24, all), _mm256_loadu_ps(x + i + 24), acc3);
    }
    for (; i < n; i += 8) {
        __mmask8 m = n - i >= 8 ? all : (__mmask8)((1u << (n - i)) - 1);
        acc0 = _mm256_fmadd_ps(load(w, i, m), _mm256_maskz_loadu_ps(m, x + i), acc0);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static float dot_f32(int64_t n, const float *w, const float *x) {
    return dot_float(n, w, x, load8_f32);
}

static float dot_f16(int64_t n, const uint16_t *w, const float *x) {
    return dot_float(n, w, x, load8_f16);
}

static float dot_bf16(int64_t n, const uint16_t *w, const float *x) {
    return dot_float(n, w, x, load8_bf16);
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
    .dot_q8_0 = llm_vnni_dot_q8_0,
    .dot_q4_0 = llm_vnni_dot_q4_0,
    .quantize_act = quantize_act,
    .gemm_q8_0 = llm_vnni_gemm_q8_0,
    .gemm_q4_0 = llm_vnni_gemm_q4_0,
};
