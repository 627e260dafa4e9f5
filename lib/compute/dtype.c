#include "dtype.h"

#include <string.h>

/* GGUF's type numbers with their block layouts. Gaps are numbers GGUF
 * retired; they stay NULL so a file using them is reported as unknown. */
static const llm_dtype_info dtypes[LLM_DT_COUNT] = {
    [0] = {"F32", 1, 4},         [1] = {"F16", 1, 2},
    [2] = {"Q4_0", 32, 18},      [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},      [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 256, 84},    [11] = {"Q3_K", 256, 110},
    [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},   [15] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66}, [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},   [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},   [23] = {"IQ4_XS", 256, 136},
    [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},        [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},        [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},   [39] = {"MXFP4", 32, 17},
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
    return t == LLM_DT_F32 || t == LLM_DT_F16 || t == LLM_DT_BF16 || t == LLM_DT_Q8_0 ||
           t == LLM_DT_Q4_0 || t == LLM_DT_Q4_K || t == LLM_DT_Q5_K || t == LLM_DT_Q6_K;
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
