#include "dtype.h"

#include "quant.h"

#include <string.h>

static void f32_to_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof *dst); }
static void f32_from_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof *src); }

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void wr16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void f16_to_f32(const void *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = llm_f16_to_f32(rd16((const unsigned char *)src + 2 * i));
}

static void f16_from_f32(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) wr16((unsigned char *)dst + 2 * i, llm_f32_to_f16(src[i]));
}

static void bf16_to_f32(const void *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = llm_bf16_to_f32(rd16((const unsigned char *)src + 2 * i));
}

static void bf16_from_f32(const float *src, void *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) wr16((unsigned char *)dst + 2 * i, llm_f32_to_bf16(src[i]));
}

/* The block formats' row codecs (quant.c) under the table's signatures. */
#define BLOCK_CODECS(t)                                                                                     \
    static void t##_to_f32(const void *src, float *dst, int64_t n) { llm_dequantize_row_##t(src, dst, n); } \
    static void t##_from_f32(const float *src, void *dst, int64_t n) { llm_quantize_row_##t(src, dst, n); }
BLOCK_CODECS(q8_0)
BLOCK_CODECS(q4_0)
BLOCK_CODECS(q4_K)
BLOCK_CODECS(q5_K)
BLOCK_CODECS(q6_K)

#define FLOAT_TYPE(nm, sz, t) {nm, 1, sz, t##_to_f32, t##_from_f32, LLM_DT_F32}
#define BLOCK_TYPE(nm, bl, sz, t) {nm, bl, sz, t##_to_f32, t##_from_f32, LLM_DT_Q8_0}
#define OTHER_TYPE(nm, bl, sz) {nm, bl, sz, NULL, NULL, 0} /* recognized, not computed with */

/* GGUF's type numbers with their block layouts. Gaps are numbers GGUF
 * retired; they stay NULL so a file using them is reported as unknown. */
static const llm_dtype_info dtypes[LLM_DT_COUNT] = {
    [0] = FLOAT_TYPE("F32", 4, f32),
    [1] = FLOAT_TYPE("F16", 2, f16),
    [2] = BLOCK_TYPE("Q4_0", 32, 18, q4_0),
    [3] = OTHER_TYPE("Q4_1", 32, 20),
    [6] = OTHER_TYPE("Q5_0", 32, 22),
    [7] = OTHER_TYPE("Q5_1", 32, 24),
    [8] = BLOCK_TYPE("Q8_0", 32, 34, q8_0),
    [9] = OTHER_TYPE("Q8_1", 32, 36),
    [10] = OTHER_TYPE("Q2_K", 256, 84),
    [11] = OTHER_TYPE("Q3_K", 256, 110),
    [12] = BLOCK_TYPE("Q4_K", 256, 144, q4_K),
    [13] = BLOCK_TYPE("Q5_K", 256, 176, q5_K),
    [14] = BLOCK_TYPE("Q6_K", 256, 210, q6_K),
    [15] = OTHER_TYPE("Q8_K", 256, 292),
    [16] = OTHER_TYPE("IQ2_XXS", 256, 66),
    [17] = OTHER_TYPE("IQ2_XS", 256, 74),
    [18] = OTHER_TYPE("IQ3_XXS", 256, 98),
    [19] = OTHER_TYPE("IQ1_S", 256, 50),
    [20] = OTHER_TYPE("IQ4_NL", 32, 18),
    [21] = OTHER_TYPE("IQ3_S", 256, 110),
    [22] = OTHER_TYPE("IQ2_S", 256, 82),
    [23] = OTHER_TYPE("IQ4_XS", 256, 136),
    [24] = OTHER_TYPE("I8", 1, 1),
    [25] = OTHER_TYPE("I16", 1, 2),
    [26] = OTHER_TYPE("I32", 1, 4),
    [27] = OTHER_TYPE("I64", 1, 8),
    [28] = OTHER_TYPE("F64", 1, 8),
    [29] = OTHER_TYPE("IQ1_M", 256, 56),
    [30] = FLOAT_TYPE("BF16", 2, bf16),
    [34] = OTHER_TYPE("TQ1_0", 256, 54),
    [35] = OTHER_TYPE("TQ2_0", 256, 66),
    [39] = OTHER_TYPE("MXFP4", 32, 17),
};

const llm_dtype_info *llm_dtype(uint32_t t) {
    if (t >= LLM_DT_COUNT || !dtypes[t].name) return NULL;
    return &dtypes[t];
}

const char *llm_type_name(uint32_t t) {
    const llm_dtype_info *d = llm_dtype(t);
    return d ? d->name : "unknown";
}

bool llm_dtype_supported(uint32_t t) {
    const llm_dtype_info *d = llm_dtype(t);
    return d && d->to_f32;
}

bool llm_dtype_row_size(uint32_t t, uint64_t n, uint64_t *bytes) {
    const llm_dtype_info *d = llm_dtype(t);
    if (!d || n % d->blck != 0) return false;
    uint64_t blocks = n / d->blck;
    if (blocks > UINT64_MAX / d->size) return false;
    *bytes = blocks * d->size;
    return true;
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Subnormals are
 * scaled exactly; the result is always exactly representable in float. */
float llm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        float v = (float)man * (1.0f / 16777216.0f); /* man * 2^-24 */
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* Round to nearest even, overflow to infinity, NaN kept quiet. */
uint16_t llm_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;               /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00;              /* overflow */
    if (a < 0x38800000u) {                                   /* subnormal */
        if (a < 0x33000000u) return sign;                    /* < 2^-25 */
        uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;                            /* 14..24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t q = (a >> 13) - (112u << 10), rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;
    return sign | (uint16_t)q;
}

float llm_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t llm_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
