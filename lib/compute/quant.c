#include "quant.h"

#include <math.h>
#include <string.h>

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

/* ------------------------------------------------------------ K-quants */

/* Round to nearest, ties to even, as the reference's nearest_int does it:
 * adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
 * Exact for |v| < 2^22, which covers every finite quant; for hostile
 * input (NaN, huge values) it gives some int, which the callers clamp,
 * never a float-to-int conversion with undefined behaviour. */
static int nearest_int(float v) {
    float big = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &big, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Where element i of a super-block keeps its bits: Q4_K/Q5_K low 4 bits
 * in qs, Q6_K low 4 bits in ql and high 2 bits in qh (layouts in quant.h). */
static int q4k_byte(int i) { return i / 64 * 32 + i % 32; }
static int q4k_shift(int i) { return i % 64 < 32 ? 0 : 4; }
static int q6k_lbyte(int i) { return i / 128 * 64 + i % 64; }
static int q6k_lshift(int i) { return i % 128 < 64 ? 0 : 4; }
static int q6k_hbyte(int i) { return i / 128 * 32 + i % 32; }
static int q6k_hshift(int i) { return i % 128 / 32 * 2; }

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block from
 * the 12 packed bytes (layout in quant.h), and the packing's inverse,
 * which ORs into bytes that start zeroed. */
static void unpack_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | (q[j - 4] >> 6) << 4);
        *m = (uint8_t)((q[j + 4] >> 4) | (q[j] >> 6) << 4);
    }
}

static void pack_scale_min(int j, uint8_t sc, uint8_t m, uint8_t *q) {
    if (j < 4) {
        q[j] |= sc;
        q[j + 4] |= m;
    } else {
        q[j + 4] = (uint8_t)((sc & 0x0f) | (m & 0x0f) << 4);
        q[j - 4] |= (uint8_t)(sc >> 4 << 6);
        q[j] |= (uint8_t)(m >> 4 << 6);
    }
}

void llm_kquant_sub_scales(uint16_t d16, uint16_t dmin16, const uint8_t *packed, float *dl, float *ml) {
    float d = llm_f16_to_f32(d16), dmin = llm_f16_to_f32(dmin16);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        unpack_scale_min(j, packed, &sc, &m);
        dl[j] = d * (float)sc;
        ml[j] = dmin * (float)m;
    }
}

void llm_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        float dl[QK_K / 32], ml[QK_K / 32];
        llm_kquant_sub_scales(x[b].d, x[b].dmin, x[b].scales, dl, ml);
        for (int i = 0; i < QK_K; i++) {
            int q = x[b].qs[q4k_byte(i)] >> q4k_shift(i) & 0x0f;
            y[b * QK_K + i] = dl[i / 32] * (float)q - ml[i / 32];
        }
    }
}

void llm_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        float dl[QK_K / 32], ml[QK_K / 32];
        llm_kquant_sub_scales(x[b].d, x[b].dmin, x[b].scales, dl, ml);
        for (int i = 0; i < QK_K; i++) {
            int q = (x[b].qs[q4k_byte(i)] >> q4k_shift(i) & 0x0f) | (x[b].qh[i % 32] >> (i / 32) & 1) << 4;
            y[b * QK_K + i] = dl[i / 32] * (float)q - ml[i / 32];
        }
    }
}

void llm_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        float d = llm_f16_to_f32(x[b].d);
        for (int i = 0; i < QK_K; i++) {
            int lo = x[b].ql[q6k_lbyte(i)] >> q6k_lshift(i) & 0x0f;
            int hi = x[b].qh[q6k_hbyte(i)] >> q6k_hshift(i) & 3;
            y[b * QK_K + i] = d * (float)x[b].scales[i / 16] * (float)((lo | hi << 4) - 32);
        }
    }
}

/* Fits x[i] ~ scale * L[i] - *min_out (L in 0..nmax, *min_out >= 0) to
 * the n values, as the reference's make_qkx2_quants does: the first grid
 * spans [min(x, 0), max x] in nmax steps; then nstep + 1 grids of
 * nmax + rmin + rdelta * s steps over that range each give quants whose
 * weighted least-squares scale and min (min kept <= 0) are tried, and the
 * fit with the smallest sum of w * error^2 wins. Returns the scale.
 * n <= 32. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *min_out,
                           float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *min_out = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale, best = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        best += w[i] * (diff * diff);
    }
    for (int s = 0; s <= nstep; s++) {
        uint8_t Laux[32];
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        iscale = (rmin + rdelta * (float)s + (float)nmax) / (max - min);
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)Laux[i] + this_min - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *min_out = -min;
    return scale;
}

/* One Q4_K/Q5_K super-block as the reference quantizer makes it: each
 * sub-block of 32 is fitted (weights |x| + rms of the sub-block), the
 * largest scale and min become d = max_scale / 63 and dmin = max_min / 63,
 * every sub-block's scale and min are rounded to 6 bits of those, and the
 * quants L (0..nmax) are recomputed against the rounded values. */
static void quantize_affine_block(const float *x, int nmax, float rmin, int nstep, uint16_t *d,
                                  uint16_t *dmin, uint8_t *packed, uint8_t *L) {
    float scales[QK_K / 32], mins[QK_K / 32], w[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int i = 0; i < 32; i++) sum_x2 += xs[i] * xs[i];
        float av_x = sqrtf(sum_x2 / 32);
        for (int i = 0; i < 32; i++) w[i] = av_x + fabsf(xs[i]);
        scales[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    memset(packed, 0, K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 32; j++) {
        /* the reference stores the int in a uint8_t, then caps at 63 */
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        pack_scale_min(j, ls < 63 ? ls : 63, lm < 63 ? lm : 63, packed);
    }
    *d = llm_f32_to_f16(max_scale / 63.0f);
    *dmin = llm_f32_to_f16(max_min / 63.0f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        unpack_scale_min(j, packed, &sc, &m);
        float dj = llm_f16_to_f32(*d) * (float)sc;
        if (dj == 0.0f) continue; /* keeps the fit's quants */
        float mj = llm_f16_to_f32(*dmin) * (float)m;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)clamp_int(nearest_int((x[32 * j + i] + mj) / dj), 0, nmax);
    }
}

void llm_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t L[QK_K];
        quantize_affine_block(x + b * QK_K, 15, -1.0f, 20, &y[b].d, &y[b].dmin, y[b].scales, L);
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int i = 0; i < QK_K; i++) y[b].qs[q4k_byte(i)] |= (uint8_t)(L[i] << q4k_shift(i));
    }
}

void llm_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t L[QK_K];
        quantize_affine_block(x + b * QK_K, 31, -0.5f, 15, &y[b].d, &y[b].dmin, y[b].scales, L);
        memset(y[b].qs, 0, sizeof y[b].qs);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int i = 0; i < QK_K; i++) {
            y[b].qs[q4k_byte(i)] |= (uint8_t)((L[i] & 0x0f) << q4k_shift(i));
            y[b].qh[i % 32] |= (uint8_t)((L[i] >> 4) << (i / 32));
        }
    }
}

/* The sums a signed grid of step 1/iscale gives the weighted fit below:
 * sumlx = sum w x l and suml2 = sum w l^2, weights w = x^2. */
static void grid_sums(int n, int nmax, const float *x, float iscale, float *sumlx, float *suml2) {
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        *sumlx += w * x[i] * (float)l;
        *suml2 += w * (float)l * (float)l;
    }
}

static void grid_quants(int n, int nmax, const float *x, float iscale, uint8_t *L) {
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
}

/* Fits x[i] ~ scale * (L[i] - nmax), L in 0..2 nmax - 1, as the
 * reference's make_qx_quants with weights x^2 (its rmse_type 1): the grid
 * mapping the element of largest magnitude to -nmax, then grids of
 * nmax + 0.1 s steps (s = -9..9 in order), each replacing the best so far
 * when its least-squares scale explains more of the weighted signal
 * (larger sumlx^2 / suml2). Returns the scale. */
static float fit_scale_signed(int n, int nmax, const float *x, uint8_t *L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max, sumlx, suml2;
    grid_sums(n, nmax, x, iscale, &sumlx, &suml2);
    grid_quants(n, nmax, x, iscale, L);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int s = -9; s <= 9; s++) {
        if (s == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)s) / max;
        grid_sums(n, nmax, x, iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            grid_quants(n, nmax, x, iscale, L);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Per super-block, as the reference quantizer: each sub-block of 16 is
 * fitted on its own, the scale of largest magnitude (sign kept) maps to
 * -128, so d = max_scale / -128 and the int8 sub-block scales are rounded
 * against it (capped at 127); the quants are then recomputed against the
 * rounded scales. A super-block of (near) zeros is all zero bytes. */
void llm_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n) {
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        uint8_t L[QK_K];
        float scales[QK_K / 16], max_scale = 0, max_abs = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = fit_scale_signed(16, 32, xb + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(&y[b], 0, sizeof y[b]);
        if (max_abs < 1e-15f) continue;
        float iscale = -128.0f / max_scale;
        y[b].d = llm_f32_to_f16(1.0f / iscale);
        for (int j = 0; j < QK_K / 16; j++)
            y[b].scales[j] = (int8_t)clamp_int(nearest_int(iscale * scales[j]), -128, 127);
        for (int j = 0; j < QK_K / 16; j++) {
            float d = llm_f16_to_f32(y[b].d) * (float)y[b].scales[j];
            if (d == 0.0f) continue; /* keeps the fit's quants */
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (uint8_t)(32 + clamp_int(nearest_int(xb[16 * j + i] / d), -32, 31));
        }
        for (int i = 0; i < QK_K; i++) {
            y[b].ql[q6k_lbyte(i)] |= (uint8_t)((L[i] & 0x0f) << q6k_lshift(i));
            y[b].qh[q6k_hbyte(i)] |= (uint8_t)((L[i] >> 4) << q6k_hshift(i));
        }
    }
}
