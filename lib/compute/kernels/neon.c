/* The NEON kernel set, for aarch64, where NEON is part of the baseline.
 * The integer dot product instruction (sdot, ARMv8.2's optional DotProd
 * extension) is used when the compiler targets it (-march=...+dotprod);
 * otherwise widening multiplies and pairwise adds do the same, exactly.
 *
 * Float products keep four independent 4-lane accumulators; the elements
 * past the last multiple of 4 go through the scalar reference. Quantized
 * products compute each block's 32 integer products exactly, then scale
 * them in float. Results differ from the scalar set only by the order of
 * float additions; quantize_act's bytes are the scalar's. */
#include <arm_neon.h>
#include <math.h>

#include "kernels_impl.h"

/* ------------------------------------------------------------ float types */

/* Four weights from element i on, as floats, one loader per type. */
typedef float32x4_t (*load4_fn)(const void *w, int64_t i);

static inline float32x4_t load4_f32(const void *w, int64_t i) {
    return vld1q_f32((const float *)w + i);
}

static inline float32x4_t load4_f16(const void *w, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
}

/* bf16 is the top half of a float: widen to 32 bits shifted up. */
static inline float32x4_t load4_bf16(const void *w, int64_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
}

/* sum w[i] * x[i] over the first n4 = n rounded down to a multiple of 4
 * elements; the callers add the tail with the scalar reference. Inlined
 * into each caller with its constant loader. */
static inline __attribute__((always_inline))
float dot_float(int64_t n4, const void *w, const float *x, load4_fn load) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    float32x4_t acc2 = vdupq_n_f32(0.0f), acc3 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 16 <= n4; i += 16) {
        acc0 = vfmaq_f32(acc0, load(w, i), vld1q_f32(x + i));
        acc1 = vfmaq_f32(acc1, load(w, i + 4), vld1q_f32(x + i + 4));
        acc2 = vfmaq_f32(acc2, load(w, i + 8), vld1q_f32(x + i + 8));
        acc3 = vfmaq_f32(acc3, load(w, i + 12), vld1q_f32(x + i + 12));
    }
    for (; i < n4; i += 4) acc0 = vfmaq_f32(acc0, load(w, i), vld1q_f32(x + i));
    return vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
}

LLM_DEFINE_FLOAT_DOTS(4, dot_float, load4)

/* ------------------------------------------------------------ quantized types */

/* An fp16 scale as a float (exact). */
static inline float f16_scale(uint16_t d) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(d))), 0);
}

/* acc + the 16 products w[j] * x[j], summed four to a lane. Without
 * sdot, each int16 lane of the widening multiply-add holds two products,
 * at most 2 * 128 * 127 (x is never -128), so it cannot overflow. */
static inline int32x4_t sum16(int32x4_t acc, int8x16_t w, int8x16_t x) {
#ifdef __ARM_FEATURE_DOTPROD
    return vdotq_s32(acc, w, x);
#else
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(x)), w, x));
#endif
}

/* The 32 products w[j] * x[j] of a block, w = (w0, w1) and x = (x0, x1),
 * summed into 4 int32 lanes, as floats (exact: a block's sum is at most
 * 32 * 128 * 127 in magnitude). */
static inline float32x4_t block_dot(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
    return vcvtq_f32_s32(sum16(sum16(vdupq_n_s32(0), w0, x0), w1, x1));
}

/* acc + d_w * d_x * (block b's integer products), one per weight type. */
typedef float32x4_t (*block_term_fn)(const void *w, int64_t b, const block_q8_0 *x, float32x4_t acc);

static inline float32x4_t term_q8_0(const void *w, int64_t b, const block_q8_0 *x, float32x4_t acc) {
    const block_q8_0 *wb = (const block_q8_0 *)w + b;
    float32x4_t s = block_dot(vld1q_s8(wb->qs), vld1q_s8(wb->qs + 16), vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16));
    return vfmaq_n_f32(acc, s, f16_scale(wb->d) * f16_scale(x[b].d));
}

/* Q4_0: byte j holds element j (low nibble) and j + 16 (high), each
 * stored with +8. */
static inline float32x4_t term_q4_0(const void *w, int64_t b, const block_q8_0 *x, float32x4_t acc) {
    const block_q4_0 *wb = (const block_q4_0 *)w + b;
    uint8x16_t bytes = vld1q_u8(wb->qs);
    int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(bytes, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
    int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(bytes, 4)), vdupq_n_s8(8));
    float32x4_t s = block_dot(lo, hi, vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16));
    return vfmaq_n_f32(acc, s, f16_scale(wb->d) * f16_scale(x[b].d));
}

/* The quantized product over nb blocks, two blocks in flight. */
static inline __attribute__((always_inline))
float dot_blocks(int64_t nb, const void *w, const block_q8_0 *x, block_term_fn term) {
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        acc0 = term(w, b, x, acc0);
        acc1 = term(w, b + 1, x, acc1);
    }
    if (b < nb) acc0 = term(w, b, x, acc0);
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

static float dot_q8_0(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK8_0, w, xq, term_q8_0);
}

static float dot_q4_0(int64_t n, const void *w, const void *xq) {
    return dot_blocks(n / QK4_0, w, xq, term_q4_0);
}

/* ------------------------------------------------------------ K-quants */

/* K-quant weights with Q8_0 activation blocks; the scalar set defines the
 * sums. Each activation block's integer sums come out of sum16 exactly,
 * in 4 lanes, and are scaled in float by their sub-block's dx * d * sc
 * (and -dx * dmin * m); Q6_K's two sub-blocks of 16 per activation block
 * are multiplied by their int8 scales in integers first (exact: the sum
 * stays below 2^24), then scaled by dx * d. */

/* Byte j of the pair of words v (j < 8). */
static inline float byte_of(const uint32_t v[2], int j) { return (float)(v[j / 4] >> 8 * (j % 4) & 0xff); }

/* One Q4_K/Q5_K super-block (qh NULL for Q4_K) against its activation
 * blocks x: quant sums into acc[0], activation sums into acc[1]. The 32
 * bytes at qs + 32k hold sub-block 2k in their low nibbles and 2k + 1 in
 * their high ones; Q5_K adds 16 where bit j of qh is set. */
static inline __attribute__((always_inline)) void affine_super_block(uint16_t d16, uint16_t dmin16,
                                                                     const uint8_t *scales, const uint8_t *qs,
                                                                     const uint8_t *qh, const block_q8_0 *x,
                                                                     float32x4_t acc[2]) {
    const uint8x16_t low = vdupq_n_u8(0x0f), five = vdupq_n_u8(16);
    const int8x16_t ones = vdupq_n_s8(1);
    uint32_t sc[2], m[2];
    llm_kquant_unpack(scales, sc, m);
    float d = f16_scale(d16), dmin = f16_scale(dmin16);
    uint8x16_t h[2] = {vdupq_n_u8(0), vdupq_n_u8(0)};
    if (qh) h[0] = vld1q_u8(qh), h[1] = vld1q_u8(qh + 16);
    for (int k = 0; k < 4; k++) {
        uint8x16_t v0 = vld1q_u8(qs + 32 * k), v1 = vld1q_u8(qs + 32 * k + 16);
        uint8x16_t q[2][2] = {{vandq_u8(v0, low), vandq_u8(v1, low)}, {vshrq_n_u8(v0, 4), vshrq_n_u8(v1, 4)}};
        for (int s = 0; s < 2; s++) {
            int j = 2 * k + s;
            if (qh)
                for (int i = 0; i < 2; i++)
                    q[s][i] = vorrq_u8(q[s][i], vandq_u8(vtstq_u8(h[i], vdupq_n_u8((uint8_t)(1 << j))), five));
            int8x16_t a0 = vld1q_s8(x[j].qs), a1 = vld1q_s8(x[j].qs + 16);
            int32x4_t isum = sum16(sum16(vdupq_n_s32(0), vreinterpretq_s8_u8(q[s][0]), a0), vreinterpretq_s8_u8(q[s][1]), a1);
            int32x4_t asum = sum16(sum16(vdupq_n_s32(0), ones, a0), ones, a1);
            float dx = f16_scale(x[j].d);
            acc[0] = vfmaq_n_f32(acc[0], vcvtq_f32_s32(isum), dx * (d * byte_of(sc, j)));
            acc[1] = vfmaq_n_f32(acc[1], vcvtq_f32_s32(asum), -dx * (dmin * byte_of(m, j)));
        }
    }
}

static float dot_q4_k(int64_t n, const void *w, const void *xq) {
    const block_q4_K *wb = w;
    const block_q8_0 *xb = xq;
    float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int64_t b = 0; b < n / QK_K; b++)
        affine_super_block(wb[b].d, wb[b].dmin, wb[b].scales, wb[b].qs, NULL, xb + b * (QK_K / 32), acc);
    return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

static float dot_q5_k(int64_t n, const void *w, const void *xq) {
    const block_q5_K *wb = w;
    const block_q8_0 *xb = xq;
    float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int64_t b = 0; b < n / QK_K; b++)
        affine_super_block(wb[b].d, wb[b].dmin, wb[b].scales, wb[b].qs, wb[b].qh, xb + b * (QK_K / 32), acc);
    return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

/* 16 quants of a Q6_K quarter less 32, as int8: the low 4 bits from l
 * (already shifted down), the top 2 from bits 2r, 2r + 1 of hb. */
static inline int8x16_t q6_quants(uint8x16_t l, uint8x16_t hb, int r) {
    uint8x16_t hi = vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(4 - 2 * r))), vdupq_n_u8(0x30));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(l, vdupq_n_u8(0x0f)), hi)), vdupq_n_s8(32));
}

/* One Q6_K super-block against its activation blocks x. In each half,
 * quarter r (activation block 4 * half + r) takes its low 4 bits from
 * the low (r < 2) or high nibbles of ql's 32 bytes at r % 2, its top 2
 * from bits 2r, 2r + 1 of qh's 32 bytes. */
static inline __attribute__((always_inline)) float32x4_t q6_super_block(const block_q6_K *w, const block_q8_0 *x,
                                                                        float32x4_t acc) {
    float d = f16_scale(w->d);
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = w->ql + 64 * half, *qh = w->qh + 32 * half;
        uint8x16_t hb[2] = {vld1q_u8(qh), vld1q_u8(qh + 16)};
        for (int r = 0; r < 4; r++) {
            int j = 4 * half + r;
            uint8x16_t l[2] = {vld1q_u8(ql + 32 * (r % 2)), vld1q_u8(ql + 32 * (r % 2) + 16)};
            if (r >= 2) l[0] = vshrq_n_u8(l[0], 4), l[1] = vshrq_n_u8(l[1], 4);
            int32x4_t s0 = sum16(vdupq_n_s32(0), q6_quants(l[0], hb[0], r), vld1q_s8(x[j].qs));
            int32x4_t s1 = sum16(vdupq_n_s32(0), q6_quants(l[1], hb[1], r), vld1q_s8(x[j].qs + 16));
            int32x4_t isum = vmlaq_n_s32(vmulq_n_s32(s0, w->scales[2 * j]), s1, w->scales[2 * j + 1]);
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), f16_scale(x[j].d) * d);
        }
    }
    return acc;
}

static float dot_q6_k(int64_t n, const void *w, const void *xq) {
    const block_q6_K *wb = w;
    const block_q8_0 *xb = xq;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < n / QK_K; b++) acc = q6_super_block(&wb[b], xb + b * (QK_K / 32), acc);
    return vaddvq_f32(acc);
}

/* ------------------------------------------------------------ quantize_act */

/* roundf(v) clamped to [-127, 127], NaN to 0: the same function as
 * quant.c's q8_round. fcvtas rounds halves away from zero as roundf does,
 * converts NaN to 0 and saturates infinities, which the clamp brings in. */
static inline int32x4_t q8_round(float32x4_t v) {
    int32x4_t q = vcvtaq_s32_f32(v);
    return vminq_s32(vmaxq_s32(q, vdupq_n_s32(-127)), vdupq_n_s32(127));
}

/* Sixteen quants from four vectors of scaled activations. */
static inline int8x16_t q8_narrow(const float32x4_t v[4], float32x4_t id) {
    int16x8_t a = vcombine_s16(vmovn_s32(q8_round(vmulq_f32(v[0], id))), vmovn_s32(q8_round(vmulq_f32(v[1], id))));
    int16x8_t b = vcombine_s16(vmovn_s32(q8_round(vmulq_f32(v[2], id))), vmovn_s32(q8_round(vmulq_f32(v[3], id))));
    return vcombine_s8(vmovn_s16(a), vmovn_s16(b));
}

/* llm_quantize_row_q8_0, four lanes at a time. amax takes a lane only
 * where |v| > amax, the scalar comparison, so NaN lanes (signaling ones
 * too, which fmax and fmaxnm would pass on) are skipped. d, 1/d and the
 * fp16 scale are the scalar expressions. */
static void quantize_act(const float *x, void *yq, int64_t n) {
    block_q8_0 *y = yq;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        float32x4_t v[8], amax = vdupq_n_f32(0.0f);
        for (int k = 0; k < 8; k++) {
            v[k] = vld1q_f32(x + b * QK8_0 + 4 * k);
            float32x4_t a = vabsq_f32(v[k]);
            amax = vbslq_f32(vcgtq_f32(a, amax), a, amax);
        }
        float d = vmaxvq_f32(amax) / 127.0f;
        float32x4_t id = vdupq_n_f32(d != 0.0f ? 1.0f / d : 0.0f);
        y[b].d = llm_f32_to_f16(d);
        vst1q_s8(y[b].qs, q8_narrow(v, id));
        vst1q_s8(y[b].qs + 16, q8_narrow(v + 4, id));
    }
}

/* ------------------------------------------------------------ attention */

/* A tile of R rows and V vectors of 4 columns of attn_gemm: one fused
 * multiply-add per product, in order of p. */
static inline __attribute__((always_inline)) void attn_tile(int R, int V, int k, const float *a, size_t lda,
                                                            const float *b, size_t ldb, float *c, size_t ldc) {
    float32x4_t acc[4][4], bv[4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = vld1q_f32(c + (size_t)r * ldc + 4 * v);
    for (int p = 0; p < k; p++) {
        for (int v = 0; v < V; v++) bv[v] = vld1q_f32(b + (size_t)p * ldb + 4 * v);
        for (int r = 0; r < R; r++) {
            float32x4_t ar = vdupq_n_f32(a[(size_t)r * lda + p]);
            for (int v = 0; v < V; v++) acc[r][v] = vfmaq_f32(acc[r][v], ar, bv[v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) vst1q_f32(c + (size_t)r * ldc + 4 * v, acc[r][v]);
}

/* Rows i .. i + R - 1 (R <= 4): 16 columns at a time, then 4, then the
 * last few one by one with fmaf, which rounds as the vector lanes do. */
static inline __attribute__((always_inline)) void attn_rows(int R, int n, int k, const float *a, size_t lda,
                                                            const float *b, size_t ldb, float *c, size_t ldc) {
    int j = 0;
    for (; j + 16 <= n; j += 16) attn_tile(R, 4, k, a, lda, b + j, ldb, c + j, ldc);
    for (; j + 4 <= n; j += 4) attn_tile(R, 1, k, a, lda, b + j, ldb, c + j, ldc);
    for (int r = 0; r < R; r++)
        for (int jj = j; jj < n; jj++) {
            float acc = c[(size_t)r * ldc + jj];
            for (int p = 0; p < k; p++) acc = fmaf(a[(size_t)r * lda + p], b[(size_t)p * ldb + jj], acc);
            c[(size_t)r * ldc + jj] = acc;
        }
}

LLM_DEFINE_ATTN_GEMM(attn_rows)

/* a * b + c fused, in the argument order of the x86 sets. */
static inline float32x4_t fma4(float32x4_t a, float32x4_t b, float32x4_t c) { return vfmaq_f32(c, a, b); }

LLM_DEFINE_EXP_CORE(float32x4_t, vdupq_n_f32, vmulq_f32, vaddq_f32, fma4, vrndnq_f32)

/* exp(x) as the avx2 set's exp8 computes it: 2^n in the exponent bits, x
 * clamped to [-87.3, 88.3] and lanes below -87.3 flushed to 0. NaN passes
 * through. */
static inline float32x4_t exp4(float32x4_t x0) {
    float32x4_t x = vminq_f32(vmaxq_f32(x0, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.3f)), n;
    float32x4_t p = exp_core(x, &n);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vbslq_f32(vcltq_f32(x0, vdupq_n_f32(-87.3f)), vdupq_n_f32(0.0f), y);
}

/* Whole vectors of four, then the last few through a zero-padded copy. */
static float attn_exp(int n, float *x, float *max) {
    float32x4_t m = vdupq_n_f32(*max), sum = vdupq_n_f32(0.0f);
    int n4 = n & ~3;
    for (int i = 0; i < n4; i += 4) m = vmaxnmq_f32(m, vld1q_f32(x + i));
    float mx = vmaxnmvq_f32(m);
    for (int i = n4; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    *max = mx;
    m = vdupq_n_f32(mx);
    for (int i = 0; i < n4; i += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), m));
        vst1q_f32(x + i, e);
        sum = vaddq_f32(sum, e);
    }
    if (n4 < n) {
        static const uint32_t lane[4] = {0, 1, 2, 3};
        float tail[4] = {0};
        for (int i = n4; i < n; i++) tail[i - n4] = x[i];
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(tail), m));
        e = vbslq_f32(vcltq_u32(vld1q_u32(lane), vdupq_n_u32((uint32_t)(n - n4))), e, vdupq_n_f32(0.0f));
        vst1q_f32(tail, e);
        for (int i = n4; i < n; i++) x[i] = tail[i - n4];
        sum = vaddq_f32(sum, e);
    }
    return vaddvq_f32(sum);
}

/* Four at a time (widening is exact), the rest by the reference. */
static void f16_to_f32(int64_t n, const void *src, float *dst) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, load4_f16(src, i));
    llm_kernels_scalar.f16_to_f32(n - i, (const uint16_t *)src + i, dst + i);
}

/* The set's table (kernels.h). Every set file names its own static
 * functions alike, so the tables of the sets read alike too. */
const llm_kernels llm_kernels_neon = {
    .name = "neon",
    .dot = {[LLM_DT_F32] = dot_f32, [LLM_DT_F16] = dot_f16, [LLM_DT_BF16] = dot_bf16,
            [LLM_DT_Q8_0] = dot_q8_0, [LLM_DT_Q4_0] = dot_q4_0,
            [LLM_DT_Q4_K] = dot_q4_k, [LLM_DT_Q5_K] = dot_q5_k, [LLM_DT_Q6_K] = dot_q6_k},
    .quantize_act = quantize_act,
    .attn_gemm = attn_gemm,
    .attn_exp = attn_exp,
    .f16_to_f32 = f16_to_f32,
};
