/* Block-quantized formats, in GGUF's exact layouts. This file and quant.c
 * are the one place that knows each format: block structure, quantize,
 * dequantize. Dot products live in the kernel files (kernels_*.c), with
 * kernels_scalar.c as the reference that defines correctness.
 *
 *  Q8_0: blocks of 32 weights: fp16 scale d, 32 int8 q; x = d * q.
 *  Q4_0: blocks of 32 weights: fp16 scale d, 16 bytes; byte j holds element
 *        j in its low nibble and element j + 16 in its high nibble;
 *        x = d * (q - 8).
 */
#ifndef LLM_QUANT_H
#define LLM_QUANT_H

#include <stdint.h>

#define QK8_0 32
#define QK4_0 32

typedef struct block_q8_0 {
    uint16_t d;          /* fp16 scale */
    int8_t qs[QK8_0];
} block_q8_0;

typedef struct block_q4_0 {
    uint16_t d;          /* fp16 scale */
    uint8_t qs[QK4_0 / 2];
} block_q4_0;

_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(block_q4_0) == 18, "Q4_0 block is 18 bytes");

/* n must be a multiple of the block size. Quantizers round as the
 * reference quantizer does, so files written with them match its bytes. */
void llm_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void llm_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void llm_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void llm_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);

#endif
