/* The reference kernel set: plain C, no intrinsics. Every other set is
 * tested against these functions, so they favour the obvious over the
 * fast. The float sums run left to right, as llama2.c's matmul does. */
#include <math.h>

#include "kernels_impl.h"

static float dot_f32(int64_t n, const void *wv, const void *xv) {
    const float *w = wv, *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float dot_f16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += llm_f16_to_f32(w[i]) * x[i];
    return sum;
}

static float dot_bf16(int64_t n, const void *wv, const void *xv) {
    const uint16_t *w = wv;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += llm_bf16_to_f32(w[i]) * x[i];
    return sum;
}

/* Quantized products: per block an exact integer sum of quant products,
 * scaled by both blocks' scales; the blocks' contributions are summed in
 * float, in order. */
static float dot_q8_0(int64_t n, const void *w, const void *xq) {
    const block_q8_0 *wb = w, *xb = xq;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += wb[b].qs[j] * xb[b].qs[j];
        sum += (float)isum * (llm_f16_to_f32(wb[b].d) * llm_f16_to_f32(xb[b].d));
    }
    return sum;
}

static float dot_q4_0(int64_t n, const void *w, const void *xq) {
    const block_q4_0 *wb = w;
    const block_q8_0 *xb = xq;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((wb[b].qs[j] & 0x0f) - 8) * xb[b].qs[j];
            isum += ((wb[b].qs[j] >> 4) - 8) * xb[b].qs[j + QK4_0 / 2];
        }
        sum += (float)isum * (llm_f16_to_f32(wb[b].d) * llm_f16_to_f32(xb[b].d));
    }
    return sum;
}

/* K-quant weights with Q8_0 activation blocks. Activation block j of a
 * row (quants a, scale dx, its fp16 d) meets weight elements 32j..32j+31,
 * sub-block j % 8 of super-block j / 8 (Q6_K: sub-blocks 2j % 16 and the
 * next, of 16). Per activation block, in exact integers, isum = sum q a
 * and asum = sum a; then in float
 *   Q4_K, Q5_K: sum += dx * (dl * isum - ml * asum), with the sub-block's
 *               dl = d * sc and ml = dmin * m (llm_kquant_sub_scales);
 *   Q6_K:       sum += dx * (d * isum), where isum = sc0 * sum (q - 32) a
 *               over the first 16 elements + sc1 * the same over the last
 *               16 (|isum| <= 2 * 128 * 16 * 32 * 127 < 2^24: exact);
 * the blocks' contributions added in order. Every element's weight is the
 * dequantizer's (quant.h), so this is the product of the dequantized row
 * with the dequantized activations up to float rounding. */

/* Element t of sub-block j of a Q4_K/Q5_K super-block: the low nibble of
 * qs[32 * (j / 2) + t] for even j, the high one for odd j; Q5_K's fifth
 * bit is bit j of qh[t] (qh NULL for Q4_K). */
static int kq_quant(const uint8_t *qs, const uint8_t *qh, int j, int t) {
    int q = qs[32 * (j / 2) + t] >> 4 * (j % 2) & 0x0f;
    return qh ? q | (qh[t] >> j & 1) << 4 : q;
}

/* sum plus one Q4_K/Q5_K super-block's 8 activation blocks, in order. */
static float affine_super_block(float sum, uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs,
                                const uint8_t *qh, const block_q8_0 *x) {
    float dl[QK_K / 32], ml[QK_K / 32];
    llm_kquant_sub_scales(d, dmin, scales, dl, ml);
    for (int j = 0; j < QK_K / 32; j++) {
        int32_t isum = 0, asum = 0;
        for (int t = 0; t < 32; t++) {
            isum += kq_quant(qs, qh, j, t) * x[j].qs[t];
            asum += x[j].qs[t];
        }
        sum += llm_f16_to_f32(x[j].d) * (dl[j] * (float)isum - ml[j] * (float)asum);
    }
    return sum;
}

static float dot_q4_k(int64_t n, const void *w, const void *xq) {
    const block_q4_K *wb = w;
    const block_q8_0 *xb = xq;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++)
        sum = affine_super_block(sum, wb[b].d, wb[b].dmin, wb[b].scales, wb[b].qs, NULL, xb + b * (QK_K / 32));
    return sum;
}

static float dot_q5_k(int64_t n, const void *w, const void *xq) {
    const block_q5_K *wb = w;
    const block_q8_0 *xb = xq;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++)
        sum = affine_super_block(sum, wb[b].d, wb[b].dmin, wb[b].scales, wb[b].qs, wb[b].qh, xb + b * (QK_K / 32));
    return sum;
}

/* Element i of a Q6_K super-block, 0..63 (layout in quant.h). */
static int q6k_quant(const block_q6_K *w, int i) {
    int lo = w->ql[64 * (i / 128) + i % 64] >> (i % 128 < 64 ? 0 : 4) & 0x0f;
    int hi = w->qh[32 * (i / 128) + i % 32] >> 2 * (i % 128 / 32) & 3;
    return lo | hi << 4;
}

static float dot_q6_k(int64_t n, const void *w, const void *xq) {
    const block_q6_K *wb = w;
    const block_q8_0 *xb = xq;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        float d = llm_f16_to_f32(wb[b].d);
        for (int j = 0; j < QK_K / 32; j++) {
            const block_q8_0 *x = &xb[b * (QK_K / 32) + j];
            int32_t isum = 0;
            for (int s = 0; s < 2; s++) {
                int32_t part = 0;
                for (int t = 0; t < 16; t++) part += (q6k_quant(&wb[b], 32 * j + 16 * s + t) - 32) * x->qs[16 * s + t];
                isum += wb[b].scales[2 * j + s] * part;
            }
            sum += llm_f16_to_f32(x->d) * (d * (float)isum);
        }
    }
    return sum;
}

static void quantize_act(const float *x, void *yq, int64_t n) {
    llm_quantize_row_q8_0(x, yq, n);
}

/* Attention's products, row by row: each c element gathers its products
 * in order of p (the loop over j only spreads one a element over a row). */
static void attn_gemm(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                      size_t ldc) {
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++) {
            float ap = a[(size_t)i * lda + p];
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] += ap * b[(size_t)p * ldb + j];
        }
}

static float attn_exp(int n, float *x, float *max) {
    float m = *max, sum = 0.0f;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    for (int i = 0; i < n; i++) sum += x[i] = expf(x[i] - m);
    *max = m;
    return sum;
}

/* The type table's codec (dtype.c), one element at a time. */
static void f16_to_f32(int64_t n, const void *src, float *dst) { llm_dtype(LLM_DT_F16)->to_f32(src, dst, n); }

/* The set's table (kernels.h). Every set file names its own static
 * functions alike, so the tables of the sets read alike too. */
const llm_kernels llm_kernels_scalar = {
    .name = "scalar",
    .dot = {[LLM_DT_F32] = dot_f32, [LLM_DT_F16] = dot_f16, [LLM_DT_BF16] = dot_bf16,
            [LLM_DT_Q8_0] = dot_q8_0, [LLM_DT_Q4_0] = dot_q4_0,
            [LLM_DT_Q4_K] = dot_q4_k, [LLM_DT_Q5_K] = dot_q5_k, [LLM_DT_Q6_K] = dot_q6_k},
    .quantize_act = quantize_act,
    .attn_gemm = attn_gemm,
    .attn_exp = attn_exp,
    .f16_to_f32 = f16_to_f32,
};
