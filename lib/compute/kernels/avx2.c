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

LLM_DEFINE_FLOAT_DOTS(8, dot_float, load8)

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

/* K-quant weights with Q8_0 activation blocks; the scalar set defines the
 * sums. A super-block meets 8 activation blocks, one per 32 elements.
 * Each block's integer sums come out of maddubs + madd exactly, in 8
 * lanes (the pair sums stay far from int16's limits: unsigned quants are
 * at most 63), and are scaled in float by lane j of a vector of the
 * super-block's 8 per-block scales (dx * d * sc, -dx * dmin * m,
 * dx * d), which a few vector operations compute for all 8 blocks. */

/* Sums of 4 products of unsigned u (at most 63) and signed s bytes per
 * lane: maddubs's int16 pair sums (far from saturating), then madd. */
static inline __m256i kq_sum4(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* q plus 16 in the bytes where bit j of hv's byte is set. */
static inline __m256i kq_add16(__m256i q, __m256i hv, int j) {
    __m256i bit = _mm256_set1_epi8((char)(1 << j));
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hv, bit), bit);
    return _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(16)));
}

#include "kquant_x86.h"

/* One Q6_K super-block against its activation blocks x into acc[j]. In
 * each half, quarter r (activation block 4 * half + r) takes its low 4
 * bits from the low (r < 2) or high nibbles of ql's 32 bytes at r % 2 and
 * its top 2 from bits 2r, 2r + 1 of qh's 32 bytes, moved to bits 4, 5.
 * The int16 pair sums of (q - 32) a, sum q a - sum 32 a, are multiplied
 * by their sub-block's int8 scale (int16 lanes 0-7: the first 16
 * elements, 8-15: the last) and summed by one madd, exactly; then
 * scaled by dx * d in float. */
static inline void q6_super_block(const block_q6_K *w, const block_q8_0 *x, __m256 acc[8]) {
    const __m256i low = _mm256_set1_epi8(0x0f), top = _mm256_set1_epi8(0x30), off = _mm256_set1_epi8(32);
    __m256 sdx = _mm256_mul_ps(act_scales(x), _mm256_set1_ps(_cvtsh_ss(w->d)));
    __m128i scales = _mm_loadu_si128((const __m128i *)w->scales);
    for (int half = 0; half < 2; half++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * half));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * half + 32));
        __m256i hb = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * half));
        __m256i lo[4] = {l0, l1, _mm256_srli_epi16(l0, 4), _mm256_srli_epi16(l1, 4)};
        __m256i hi[4] = {_mm256_slli_epi16(hb, 4), _mm256_slli_epi16(hb, 2), hb, _mm256_srli_epi16(hb, 2)};
        for (int r = 0; r < 4; r++) {
            int j = 4 * half + r;
            __m256i q = _mm256_or_si256(_mm256_and_si256(lo[r], low), _mm256_and_si256(hi[r], top));
            __m256i a = _mm256_loadu_si256((const __m256i *)x[j].qs);
            __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a), _mm256_maddubs_epi16(off, a));
            __m128i pick = _mm_unpacklo_epi64(_mm_set1_epi8((char)(2 * j)), _mm_set1_epi8((char)(2 * j + 1)));
            __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, pick));
            acc[j] = fma_lane(_mm256_madd_epi16(pairs, sc), sdx, j, acc[j]);
        }
    }
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

/* ------------------------------------------------------------ attention */

/* Lanes 0 .. count - 1 of a mask for maskload/maskstore. */
static inline __m256i lanes_below(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* A tile of R rows and V vectors of 8 columns of attn_gemm; when masked,
 * V is 1 and only the lanes of tail are read and written. One fused
 * multiply-add per product, in order of p, whichever tile an element
 * falls in. */
static inline __attribute__((always_inline)) void attn_tile(int R, int V, bool masked, __m256i tail, int k,
                                                            const float *a, size_t lda, const float *b,
                                                            size_t ldb, float *c, size_t ldc) {
    __m256 acc[4][2], bv[2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++)
            acc[r][v] = masked ? _mm256_maskload_ps(c + (size_t)r * ldc, tail)
                               : _mm256_loadu_ps(c + (size_t)r * ldc + 8 * v);
    for (int p = 0; p < k; p++) {
        for (int v = 0; v < V; v++)
            bv[v] = masked ? _mm256_maskload_ps(b + (size_t)p * ldb, tail) : _mm256_loadu_ps(b + (size_t)p * ldb + 8 * v);
        for (int r = 0; r < R; r++) {
            __m256 ar = _mm256_broadcast_ss(a + (size_t)r * lda + p);
            for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) {
            if (masked) _mm256_maskstore_ps(c + (size_t)r * ldc, tail, acc[r][v]);
            else _mm256_storeu_ps(c + (size_t)r * ldc + 8 * v, acc[r][v]);
        }
}

/* Rows i .. i + R - 1 (R <= 4): 16 columns at a time, then 8, then the
 * rest masked. */
static inline __attribute__((always_inline)) void attn_rows(int R, int n, int k, const float *a, size_t lda,
                                                            const float *b, size_t ldb, float *c, size_t ldc) {
    __m256i all = _mm256_set1_epi32(-1);
    int j = 0;
    for (; j + 16 <= n; j += 16) attn_tile(R, 2, false, all, k, a, lda, b + j, ldb, c + j, ldc);
    for (; j + 8 <= n; j += 8) attn_tile(R, 1, false, all, k, a, lda, b + j, ldb, c + j, ldc);
    if (j < n) attn_tile(R, 1, true, lanes_below(n - j), k, a, lda, b + j, ldb, c + j, ldc);
}

LLM_DEFINE_ATTN_GEMM(attn_rows)

static inline __m256 round8(__m256 v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

LLM_DEFINE_EXP_CORE(__m256, _mm256_set1_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_fmadd_ps, round8)

/* exp(x) with 2^n built in the exponent bits: x is clamped to
 * [-87.3, 88.3] so that n is a normal exponent, and lanes below -87.3 are
 * flushed to 0. NaN passes through. */
static inline __m256 exp8(__m256 x0) {
    __m256 x = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-87.3f), x0)), n;
    __m256 p = exp_core(x, &n);
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(_mm256_cmp_ps(x0, _mm256_set1_ps(-87.3f), _CMP_LT_OQ), y);
}

static float attn_exp(int n, float *x, float *max) {
    __m256 m = _mm256_set1_ps(*max), sum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i k = lanes_below(n - i);
        __m256 v = _mm256_blendv_ps(m, _mm256_maskload_ps(x + i, k), _mm256_castsi256_ps(k));
        m = _mm256_max_ps(v, m);
    }
    *max = hmax(m);
    m = _mm256_set1_ps(*max);
    for (int i = 0; i < n; i += 8) {
        __m256i k = lanes_below(n - i);
        __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), m)), _mm256_castsi256_ps(k));
        _mm256_maskstore_ps(x + i, k, e);
        sum = _mm256_add_ps(sum, e);
    }
    return hsum(sum);
}

/* Eight at a time by F16C (exact, as widening is), the rest by the
 * reference. */
static void f16_to_f32(int64_t n, const void *src, float *dst) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_f16(src, i));
    llm_kernels_scalar.f16_to_f32(n - i, (const uint16_t *)src + i, dst + i);
}

/* The set's table (kernels.h). Every set file names its own static
 * functions alike, so the tables of the sets read alike too. */
const llm_kernels llm_kernels_avx2 = {
    .name = "avx2",
    .dot = {[LLM_DT_F32] = dot_f32, [LLM_DT_F16] = dot_f16, [LLM_DT_BF16] = dot_bf16,
            [LLM_DT_Q8_0] = dot_q8_0, [LLM_DT_Q4_0] = dot_q4_0,
            [LLM_DT_Q4_K] = dot_q4_k, [LLM_DT_Q5_K] = dot_q5_k, [LLM_DT_Q6_K] = dot_q6_k},
    .quantize_act = quantize_act,
    .attn_gemm = attn_gemm,
    .attn_exp = attn_exp,
    .f16_to_f32 = f16_to_f32,
};
