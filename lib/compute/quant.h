/* Block-quantized formats, in GGUF's exact layouts. This file and quant.c
 * are the one place that knows each format: block structure, quantize,
 * dequantize. Dot products live in the kernel files (kernels_*.c), with
 * kernels_scalar.c as the reference that defines correctness.
 *
 *  Q8_0: blocks of 32 weights: fp16 scale d, 32 int8 q; x = d * q.
 *  Q4_0: blocks of 32 weights: fp16 scale d, 16 bytes; byte j holds element
 *        j in its low nibble and element j + 16 in its high nibble;
 *        x = d * (q - 8).
 *
 * K-quants: super-blocks of QK_K = 256 weights in sub-blocks of 32 (Q4_K,
 * Q5_K) or 16 (Q6_K), each sub-block with its own scale quantized against
 * the super-block's fp16 scale. Element i of a super-block:
 *  Q4_K: sub-block j = i / 32 has 6-bit scale sc[j] and 6-bit min m[j],
 *        packed in 12 bytes: for j < 4 the low 6 bits of bytes j (sc) and
 *        j + 4 (m); for j >= 4 the low (sc) and high (m) nibble of byte
 *        j + 4, with the top 2 bits of bytes j - 4 (sc) and j (m) as their
 *        bits 4 and 5. The 4-bit quant q is the low nibble of
 *        qs[32 * (i / 64) + i % 32] when i % 64 < 32, else its high
 *        nibble; x = (d * sc[j]) * q - dmin * m[j].
 *  Q5_K: as Q4_K, and bit j of qh[i % 32] is q's fifth bit (value 16).
 *  Q6_K: 16 sub-blocks of 16 with int8 scales; in each half h = i / 128,
 *        with p = i % 128, the low 4 bits of q are the low (p < 64) or high
 *        nibble of ql[64 * h + p % 64] and the top 2 bits are bits
 *        2 * (p / 32) and 2 * (p / 32) + 1 of qh[32 * h + p % 32];
 *        x = (d * scales[i / 16]) * (q - 32).
 */
#ifndef LLM_QUANT_H
#define LLM_QUANT_H

#include <stdbool.h>
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

#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct block_q4_K {
    uint16_t d;                   /* fp16 scale of the sub-block scales */
    uint16_t dmin;                /* fp16 scale of the sub-block mins */
    uint8_t scales[K_SCALE_SIZE]; /* 8 scales and 8 mins, 6 bits each */
    uint8_t qs[QK_K / 2];         /* 4-bit quants */
} block_q4_K;

typedef struct block_q5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];         /* fifth bits */
    uint8_t qs[QK_K / 2];         /* low 4 bits */
} block_q5_K;

typedef struct block_q6_K {
    uint8_t ql[QK_K / 2];         /* low 4 bits */
    uint8_t qh[QK_K / 4];         /* high 2 bits */
    int8_t scales[QK_K / 16];     /* sub-block scales */
    uint16_t d;                   /* fp16 super-block scale */
} block_q6_K;

_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(block_q4_0) == 18, "Q4_0 block is 18 bytes");
_Static_assert(sizeof(block_q4_K) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(block_q5_K) == 176, "Q5_K block is 176 bytes");
_Static_assert(sizeof(block_q6_K) == 210, "Q6_K block is 210 bytes");

/* n must be a multiple of the block size. Quantizers round as the
 * reference quantizer does, so files written with them match its bytes. */
void llm_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void llm_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void llm_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void llm_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);

/* K-quants: n must be a multiple of QK_K. The quantizers follow the
 * reference quantizer's search for sub-block scales and mins
 * (quantize_row_q*_K_ref). */
void llm_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n);
void llm_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void llm_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n);
void llm_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void llm_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n);
void llm_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);

/* Per sub-block j < 8 of a Q4_K/Q5_K super-block (d16, dmin16 and the 12
 * packed scale bytes): the step dl[j] = d * sc[j] and the offset
 * ml[j] = dmin * m[j], so that element i is dl[i/32] * q[i] - ml[i/32]. */
void llm_kquant_sub_scales(uint16_t d16, uint16_t dmin16, const uint8_t *packed, float *dl, float *ml);

#endif
