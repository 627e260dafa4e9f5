#include "quant.h"

#include <math.h>

#include "dtype.h"

/* roundf(v) as a Q8_0 quant. For finite input v is within [-127, 127]
 * (v = x / (amax / 127)), and this is exactly roundf. Hostile input (NaN,
 * infinities, subnormal scales whose inverse overflows) would make the
 * reference's float-to-int8 conversion undefined; here NaN gives 0 and
 * anything else is clamped to the int8 range the format uses. */
static int8_t q8_round(float v) {
    if (v != v) return 0;
    v = roundf(v);
    if (v > 127.0f) return 127;
    if (v < -127.0f) return -127;
    return (int8_t)v;
}

/* The Q4_0 quant of s = x / d: s + 8.5 truncated, capped at 15 (the one
 * element equal to +|max| would give 16). The addition is its own
 * statement so that no compiler fuses it with the multiply into an FMA,
 * which would round differently from the reference. For finite input
 * s + 8.5 is within [0.5, 16.5]; out-of-range or NaN values (hostile
 * input) are clamped to 0..15 instead of converting with undefined
 * behaviour. */
static uint8_t q4_quant(float s) {
    float v = s + 8.5f;
    if (v >= 16.0f) return 15;
    if (v >= 0.0f) return (uint8_t)v;
    return 0;
}

/* Per block: d = amax / 127 and q = round(x / d), exactly as the reference
 * quantizer (quantize_row_q8_0_ref) computes them, including multiplying
 * by the float inverse 1/d rather than dividing, so the bytes match files
 * it wrote. NaN inputs are ignored when finding amax. */
void llm_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            float a = fabsf(xb[j]);
            if (a > amax) amax = a;
        }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = llm_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) y[b].qs[j] = q8_round(xb[j] * id);
    }
}

void llm_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; b++) {
        float d = llm_f16_to_f32(x[b].d);
        for (int j = 0; j < QK8_0; j++) y[b * QK8_0 + j] = (float)x[b].qs[j] * d;
    }
}

/* Per block: the element of largest magnitude, m, keeps its sign and maps
 * to quant 0 (d = m / -8), so the full range -8..7 is used on m's side.
 * Rounding is the reference's: truncate x / d + 8.5, cap at 15. */
void llm_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float *xb = x + b * QK4_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = llm_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            uint8_t lo = q4_quant(xb[j] * id);
            uint8_t hi = q4_quant(xb[j + QK4_0 / 2] * id);
            y[b].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void llm_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK4_0; b++) {
        float d = llm_f16_to_f32(x[b].d);
        float *yb = y + b * QK4_0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            yb[j] = (float)((x[b].qs[j] & 0x0f) - 8) * d;
            yb[j + QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}
