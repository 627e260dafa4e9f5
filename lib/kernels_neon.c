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

static float dot_f32(int64_t n, const float *w, const float *x) {
    int64_t n4 = n & ~(int64_t)3;
    return dot_float(n4, w, x, load4_f32) + llm_kernels_scalar.dot_f32(n - n4, w + n4, x + n4);
}

static float dot_f16(int64_t n, const uint16_t *w, const float *x) {
    int64_t n4 = n & ~(int64_t)3;
    return dot_float(n4, w, x, load4_f16) + llm_kernels_scalar.dot_f16(n - n4, w + n4, x + n4);
}

static float dot_bf16(int64_t n, const uint16_t *w, const float *x) {
    int64_t n4 = n & ~(int64_t)3;
    return dot_float(n4, w, x, load4_bf16) + llm_kernels_scalar.dot_bf16(n - n4, w + n4, x + n4);
}

/* ------------------------------------------------------------ quantized types */

/* An fp16 scale as a float (exact). */
static inline float f16_scale(uint16_t d) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(d))), 0);
}

/* The 32 products w[j] * x[j] of a block, w = (w0, w1) and x = (x0, x1),
 * summed into 4 int32 lanes, as floats (exact: a block's sum is at most
 * 32 * 128 * 127 in magnitude). Without sdot, each int16 lane of the
 * widening multiply-add holds two products, at most 2 * 128 * 127 (x is
 * never -128), so it cannot overflow. */
static inline float32x4_t block_dot(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
#ifdef __ARM_FEATURE_DOTPROD
    int32x4_t s = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
#else
    int32x4_t s = vpaddlq_s16(vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), w0, x0));
    s = vpadalq_s16(s, vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), w1, x1));
#endif
    return vcvtq_f32_s32(s);
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

const llm_kernels llm_kernels_neon = {
    .name = "neon",
    .dot_f32 = dot_f32,
    .dot_f16 = dot_f16,
    .dot_bf16 = dot_bf16,
    .dot_q8_0 = dot_q8_0,
    .dot_q4_0 = dot_q4_0,
    .quantize_act = quantize_act,
};
