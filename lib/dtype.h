/* Tensor element types, numbered as GGUF numbers them. Every type GGUF
 * defines has a name and a block layout here, so that a file can be
 * validated (sizes) and an unsupported type reported by name; which types
 * the kernels can compute with is a separate question (llm_dtype_supported). */
#ifndef LLM_DTYPE_H
#define LLM_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    LLM_DT_F32 = 0, LLM_DT_F16 = 1, LLM_DT_Q4_0 = 2, LLM_DT_Q4_1 = 3,
    LLM_DT_Q5_0 = 6, LLM_DT_Q5_1 = 7, LLM_DT_Q8_0 = 8, LLM_DT_Q8_1 = 9,
    LLM_DT_Q2_K = 10, LLM_DT_Q3_K = 11, LLM_DT_Q4_K = 12, LLM_DT_Q5_K = 13,
    LLM_DT_Q6_K = 14, LLM_DT_Q8_K = 15, LLM_DT_BF16 = 30,
    LLM_DT_COUNT = 40
};

typedef struct llm_dtype_info {
    const char *name;  /* NULL for numbers GGUF does not (or no longer) use */
    uint32_t blck;     /* elements per block */
    uint32_t size;     /* bytes per block */
} llm_dtype_info;

/* NULL when t is not a known GGUF type. */
const llm_dtype_info *llm_dtype(uint32_t t);
/* The type's name, or "unknown" for numbers not in the table. */
const char *llm_dtype_name(uint32_t t);
/* True for the types the forward pass can read: F32, F16, BF16, Q8_0, Q4_0,
 * Q4_K, Q5_K, Q6_K. */
bool llm_dtype_supported(uint32_t t);
/* Bytes of a row of n elements; false if n is not a whole number of blocks
 * or the size overflows. */
bool llm_dtype_row_size(uint32_t t, uint64_t n, uint64_t *bytes);

/* Half-precision conversions (IEEE binary16 and bfloat16). */
float llm_f16_to_f32(uint16_t h);
uint16_t llm_f32_to_f16(float f);
float llm_bf16_to_f32(uint16_t h);
uint16_t llm_f32_to_bf16(float f);

#endif
