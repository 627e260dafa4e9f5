/* The reference kernel set: plain C, no intrinsics. Every other set is
 * tested against these functions, so they favour the obvious over the
 * fast. The float sums run left to right, as llama2.c's matmul does. */
#include "kernels_impl.h"

static float dot_f32(int64_t n, const float *w, const float *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float dot_f16(int64_t n, const uint16_t *w, const float *x) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += llm_f16_to_f32(w[i]) * x[i];
    return sum;
}

static float dot_bf16(int64_t n, const uint16_t *w, const float *x) {
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

/* K-quant weights with float activations: each super-block dequantized
 * by quant.c, then multiplied and summed left to right, so the result is
 * dot_f32 of the dequantized row. */
static float dot_kquant(uint32_t type, int64_t n, const void *w, const float *x) {
    float buf[QK_K], sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        switch (type) {
        case LLM_DT_Q4_K: llm_dequantize_row_q4_K((const block_q4_K *)w + b, buf, QK_K); break;
        case LLM_DT_Q5_K: llm_dequantize_row_q5_K((const block_q5_K *)w + b, buf, QK_K); break;
        case LLM_DT_Q6_K: llm_dequantize_row_q6_K((const block_q6_K *)w + b, buf, QK_K); break;
        }
        for (int j = 0; j < QK_K; j++) sum += buf[j] * x[b * QK_K + j];
    }
    return sum;
}

static float dot_q4_k(int64_t n, const void *w, const float *x) { return dot_kquant(LLM_DT_Q4_K, n, w, x); }
static float dot_q5_k(int64_t n, const void *w, const float *x) { return dot_kquant(LLM_DT_Q5_K, n, w, x); }
static float dot_q6_k(int64_t n, const void *w, const float *x) { return dot_kquant(LLM_DT_Q6_K, n, w, x); }

static void quantize_act(const float *x, void *yq, int64_t n) {
    llm_quantize_row_q8_0(x, yq, n);
}

const llm_kernels llm_kernels_scalar = {
    .name = "scalar",
    .dot_f32 = dot_f32,
    .dot_f16 = dot_f16,
    .dot_bf16 = dot_bf16,
    .dot_q8_0 = dot_q8_0,
    .dot_q4_0 = dot_q4_0,
    .dot_q4_k = dot_q4_k,
    .dot_q5_k = dot_q5_k,
    .dot_q6_k = dot_q6_k,
    .quantize_act = quantize_act,
};
