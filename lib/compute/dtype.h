/* Tensor element types, numbered as GGUF numbers them. Every type GGUF
 * defines has a name and a block layout here, so that a file can be
 * validated (sizes) and an unsupported type reported by name; which types
 * the kernels can compute with is a separate question (llm_dtype_supported). */
#ifndef LLM_DTYPE_H
#define LLM_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"

/* The types computed with are llm.h's llm_type; the others are named here
 * only to be recognized in a file. */
#define LLM_DT_F32   LLM_TYPE_F32
#define LLM_DT_F16   LLM_TYPE_F16
#define LLM_DT_Q4_0  LLM_TYPE_Q4_0
#define LLM_DT_Q4_1  3
#define LLM_DT_Q5_0  6
#define LLM_DT_Q5_1  7
#define LLM_DT_Q8_0  LLM_TYPE_Q8_0
#define LLM_DT_Q8_1  9
#define LLM_DT_Q2_K  10
#define LLM_DT_Q3_K  11
#define LLM_DT_Q4_K  LLM_TYPE_Q4_K
#define LLM_DT_Q5_K  LLM_TYPE_Q5_K
#define LLM_DT_Q6_K  LLM_TYPE_Q6_K
#define LLM_DT_Q8_K  15
#define LLM_DT_BF16  LLM_TYPE_BF16
#define LLM_DT_COUNT 40

/* A type's traits, in the manner of ggml's type-traits table: the one place
 * that says, per type, how it is laid out, how a row converts to and from
 * float, and what the activations of a product with it are. Adding a type
 * the library computes with is an entry here plus its dot products in the
 * kernel sets (kernels.h). */
typedef struct llm_dtype_info {
    const char *name;  /* NULL for numbers GGUF does not (or no longer) use */
    uint32_t blck;     /* elements per block */
    uint32_t size;     /* bytes per block */
    /* NULL for the types libllm does not compute with: n elements (a whole
     * number of blocks) to float and back; F32/F16/BF16 rows may sit at
     * any address, block rows need the 2-byte alignment of their fp16
     * scales */
    void (*to_f32)(const void *src, float *dst, int64_t n);
    void (*from_f32)(const float *src, void *dst, int64_t n);
    /* activations meet rows of this type as act_type: LLM_DT_F32 for the
     * float types, LLM_DT_Q8_0 (quantized on the fly) for the others */
    uint32_t act_type;
} llm_dtype_info;

/* NULL when t is not a known GGUF type. */
const llm_dtype_info *llm_dtype(uint32_t t);
/* True for the types the forward pass can read (to_f32 set): F32, F16,
 * BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K. */
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
