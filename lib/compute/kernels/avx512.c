/* The AVX-512 kernel set (F, BW, VL and VNNI, with FMA and F16C: this
 * file alone is compiled with those enabled, and kernels.c hands the set
 * out only when the CPU has all six; an AVX-512 CPU without VNNI gets the
 * avx2 set). The Q8_0/Q4_0 dot products are in dot_vnni.c, the batched products of
 * every quantized type in gemm_vnni.c; the K-quant dot products are here.
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

static float dot_f32(int64_t n, const void *wv, const void *xv) {
    const float *w = wv, *x = xv;
    return dot_float(n, w, x, load8_f32);
}

static float dot_f16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
    return dot_float(n, w, x, load8_f16);
}

static float dot_bf16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
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

/* ------------------------------------------------------------ attention */

/* A tile of R rows and V vectors of 16 columns of attn_gemm, the last
 * vector's lanes limited to tail: one fused multiply-add per product, in
 * order of p, whichever tile an element falls in. */
static inline __attribute__((always_inline)) void attn_tile(int R, int V, __mmask16 tail, int k, const float *a,
                                                            size_t lda, const float *b, size_t ldb, float *c,
                                                            size_t ldc) {
    __m512 acc[4][4], bv[4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm512_maskz_loadu_ps(v == V - 1 ? tail : 0xffff, c + (size_t)r * ldc + 16 * v);
    for (int p = 0; p < k; p++) {
        for (int v = 0; v < V; v++)
            bv[v] = _mm512_maskz_loadu_ps(v == V - 1 ? tail : 0xffff, b + (size_t)p * ldb + 16 * v);
        for (int r = 0; r < R; r++) {
            __m512 ar = _mm512_set1_ps(a[(size_t)r * lda + p]);
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++)
            _mm512_mask_storeu_ps(c + (size_t)r * ldc + 16 * v, v == V - 1 ? tail : 0xffff, acc[r][v]);
}

/* Rows i .. i + R - 1 (R <= 4): 64 columns at a time, then 16, the last
 * masked. */
static inline __attribute__((always_inline)) void attn_rows(int R, int n, int k, const float *a, size_t lda,
                                                            const float *b, size_t ldb, float *c, size_t ldc) {
    int j = 0;
    for (; j + 64 <= n; j += 64) attn_tile(R, 4, 0xffff, k, a, lda, b + j, ldb, c + j, ldc);
    for (; j < n; j += 16) {
        __mmask16 tail = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
        attn_tile(R, 1, tail, k, a, lda, b + j, ldb, c + j, ldc);
    }
}

LLM_DEFINE_ATTN_GEMM(attn_rows)

static inline __m512 round16(__m512 v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

LLM_DEFINE_EXP_CORE(__m512, _mm512_set1_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_fmadd_ps, round16)

/* exp(x), 2^n by scalef, which flushes to 0 and overflows to inf as expf
 * does. x is clamped first so that n stays finite; NaN passes through. */
static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(88.7f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    __m512 n, p = exp_core(x, &n);
    return _mm512_scalef_ps(p, n);
}

static float attn_exp(int n, float *x, float *max) {
    __m512 m = _mm512_set1_ps(*max), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        m = _mm512_mask_max_ps(m, k, _mm512_maskz_loadu_ps(k, x + i), m);
    }
    *max = _mm512_reduce_max_ps(m);
    m = _mm512_set1_ps(*max);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m));
        _mm512_mask_storeu_ps(x + i, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/* Sixteen at a time, the last few under a mask; widening is exact. */
static void f16_to_f32(int64_t n, const void *src, float *dst) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, h + i)));
    }
}

/* ------------------------------------------------------------ K-quant dots */

/* The K-quant dot products (kquant_x86.h) with VNNI's integer products. */

/* Sums of 4 products of unsigned u and signed s bytes per lane. */
static inline __m256i kq_sum4(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }

/* q plus 16 in the bytes where bit j of hv's byte is set. */
static inline __m256i kq_add16(__m256i q, __m256i hv, int j) {
    return _mm256_mask_add_epi8(q, _mm256_test_epi8_mask(hv, _mm256_set1_epi8((char)(1 << j))), q,
                                _mm256_set1_epi8(16));
}

#include "kquant_x86.h"

/* One Q6_K super-block against its activation blocks x into acc[j]. In
 * each half, quarter r (activation block 4 * half + r) takes its low 4
 * bits from the low (r < 2) or high nibbles of ql's 32 bytes at r % 2 and
 * its top 2 from bits 2r, 2r + 1 of qh's 32 bytes, moved to bits 4, 5.
 * sum (q - 32) a per lane is sum q a - sum 32 a, exact; lanes 0-3 hold
 * the first sub-block of 16, lanes 4-7 the second, each multiplied by its
 * int8 scale (exact: |sum| < 2^24), then scaled by dx * d in float. */
static inline void q6_super_block(const block_q6_K *w, const block_q8_0 *x, __m256 acc[8]) {
    const __m256i low = _mm256_set1_epi8(0x0f), top = _mm256_set1_epi8(0x30), off = _mm256_set1_epi8(32);
    __m256 sdx = _mm256_mul_ps(act_scales(x), _mm256_set1_ps(_cvtsh_ss(w->d)));
    for (int half = 0; half < 2; half++) {
        __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w->scales + 8 * half)));
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * half));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * half + 32));
        __m256i hb = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * half));
        __m256i lo[4] = {l0, l1, _mm256_srli_epi16(l0, 4), _mm256_srli_epi16(l1, 4)};
        __m256i hi[4] = {_mm256_slli_epi16(hb, 4), _mm256_slli_epi16(hb, 2), hb, _mm256_srli_epi16(hb, 2)};
        for (int r = 0; r < 4; r++) {
            int j = 4 * half + r;
            /* (lo & 0x0f) | (hi & 0x30) */
            __m256i q = _mm256_ternarylogic_epi32(lo[r], _mm256_and_si256(hi[r], top), low, 0xec);
            __m256i a = _mm256_loadu_si256((const __m256i *)x[j].qs);
            __m256i isum = _mm256_sub_epi32(kq_sum4(q, a), kq_sum4(off, a));
            __m256i pick = _mm256_add_epi32(_mm256_set1_epi32(2 * r), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
            isum = _mm256_mullo_epi32(isum, _mm256_permutexvar_epi32(pick, sc));
            acc[j] = fma_lane(isum, sdx, j, acc[j]);
        }
    }
}


/* ------------------------------------------------------------ batched products */

/* Quantized weights go to gemm_vnni.c, F16/BF16 to gemm_bf16.c when the
 * CPU has AVX512-BF16. */
static bool is_float16(uint32_t type) { return type == LLM_DT_F16 || type == LLM_DT_BF16; }

static bool gemm_takes(uint32_t type) {
    return is_float16(type) ? llm_cpu_has_avx512bf16()
                            : type == LLM_DT_Q8_0 || type == LLM_DT_Q4_0 || type == LLM_DT_Q4_K ||
                                  type == LLM_DT_Q5_K || type == LLM_DT_Q6_K;
}

static size_t gemm_act_size(int64_t n, int nt) {
    size_t a = llm_vnni_gemm_act_size(n, nt), b = llm_bf16_gemm_act_size(n, nt);
    return a > b ? a : b;
}

static void gemm_act(uint32_t type, int64_t n, const void *x, size_t x_stride, int nt, int t0, int t1, void *act) {
    if (is_float16(type))
        llm_bf16_gemm_act(n, x, x_stride, t0, t1, act);
    else
        llm_vnni_gemm_act(type, n, x, x_stride, nt, t0, t1, act);
}

static size_t gemm_scratch_size(int64_t n) {
    size_t a = llm_vnni_gemm_scratch_size(n), b = llm_bf16_gemm_scratch_size(n);
    return a > b ? a : b;
}

static void gemm(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *act, int nt,
                 float *out, size_t ldo, void *scratch) {
    if (is_float16(type))
        llm_bf16_gemm(type, n, w, w_stride, nr, act, nt, out, ldo, scratch);
    else
        llm_vnni_gemm(type, n, w, w_stride, nr, act, nt, out, ldo, scratch);
}

/* The set's table (kernels.h). Every set file names its own static
 * functions alike, so the tables of the sets read alike too. */
const llm_kernels llm_kernels_avx512 = {
    .name = "avx512",
    .dot = {[LLM_DT_F32] = dot_f32, [LLM_DT_F16] = dot_f16, [LLM_DT_BF16] = dot_bf16,
            [LLM_DT_Q8_0] = llm_vnni_dot_q8_0, [LLM_DT_Q4_0] = llm_vnni_dot_q4_0,
            [LLM_DT_Q4_K] = dot_q4_k, [LLM_DT_Q5_K] = dot_q5_k, [LLM_DT_Q6_K] = dot_q6_k},
    .quantize_act = quantize_act,
    .gemm_takes = gemm_takes,
    .gemm_act_size = gemm_act_size,
    .gemm_act = gemm_act,
    .gemm_scratch_size = gemm_scratch_size,
    .gemm = gemm,
    .attn_gemm = attn_gemm,
    .attn_exp = attn_exp,
    .f16_to_f32 = f16_to_f32,
    .gemv_scratch_size = llm_avx512_gemv_scratch_size,
    .gemv = llm_avx512_gemv,
    .gemv_multi = llm_avx512_gemv_multi,
};
