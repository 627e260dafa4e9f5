/* Re-encoding GGUF weights into another type (llm-quantize), and the
 * pieces the converter shares with it: row codecs between float and every
 * type the library computes with, per-tensor progress reports, and the
 * check that an output path is not one of the inputs.
 *
 * Which type each tensor gets (llm_quantize_file):
 *  - vectors (1-D tensors: the norms) are written F32;
 *  - a tensor whose name contains a rule's pattern gets the rule's type
 *    (first matching rule);
 *  - otherwise the requested type, except
 *    - the output head with Q4_0, Q4_K or Q5_K, which gets Q6_K, or Q8_0
 *      when its rows are not whole Q6_K blocks: llama.cpp keeps the head
 *      at higher precision (the head is output.weight, or
 *      token_embd.weight when the embeddings are tied and there is no
 *      output.weight);
 *    - with mixture_m (the Q4_K_M and Q5_K_M mixtures: type Q4_K or Q5_K),
 *      attn_v.weight and ffn_down.weight of layer i (from the name
 *      blk.i.*) of n get Q6_K when i < n/8, i >= 7n/8 or
 *      (i - n/8) % 3 == 2, as llama.cpp's use_more_bits chooses for
 *      llama-style models: the first and last eighth of the layers and
 *      every third one between; n is one more than the largest i;
 *  - a block type that does not divide the row length falls back to a
 *    wider type, and the report says so: a K-quant (blocks of 256) to Q8_0
 *    where the row is a multiple of 32 (llama.cpp falls back to Q5_0,
 *    Q5_1 or Q8_0, of which this library has Q8_0), any other to F16
 *    (BF16 when the tensor is BF16, whose range F16 cannot hold).
 * Q8_0 and Q4_0 blocks are made by lib/quant.c, whose rounding is the
 * reference quantizer's, so files match llama.cpp's byte for byte; its
 * K-quant blocks follow the reference quantizer's algorithm (without an
 * importance matrix). */
#ifndef LLM_QUANTIZE_H
#define LLM_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"

/* What was done with one tensor, reported as soon as it is done. */
typedef struct llm_tensor_report {
    const char *name;
    uint64_t index, count;  /* tensor index (1-based) of count */
    uint32_t from, to;      /* dtypes read and written */
    uint64_t bytes;         /* its size in the output */
    uint64_t total;         /* output bytes of tensors 1..index */
    const char *note;       /* why `to` is not the type asked for, or NULL */
} llm_tensor_report;

typedef void (*llm_report_fn)(void *ud, const llm_tensor_report *r);

/* True for the types the row codecs read and write: F32, F16, BF16, Q8_0,
 * Q4_0, Q4_K, Q5_K and Q6_K (those llm_dtype_supported names). */
bool llm_row_codec(uint32_t type);
/* n elements of type at src to float. F32/F16/BF16 rows may sit at any
 * address; block rows need the 2-byte alignment of their fp16 scales. n is
 * a whole number of blocks. */
void llm_row_to_f32(uint32_t type, const void *src, float *dst, int64_t n);
/* n floats to type at dst, the same conditions. */
void llm_row_from_f32(uint32_t type, const float *src, void *dst, int64_t n);

/* A codec type from its name in any case ("q8_0", "F16", ...). */
bool llm_type_from_name(const char *name, uint32_t *type);
/* llama.cpp's general.file_type for weights mostly of type. */
uint32_t llm_file_type(uint32_t type);

/* LLM_ERR_INVALID_ARG when out names the same file as in (by device and
 * inode, so links count): a tool must never replace its input. */
llm_status llm_check_output(const char *out, const char *in, llm_error *err);

/* Tensors whose name contains pattern are written as type. */
typedef struct llm_quant_rule {
    const char *pattern;
    uint32_t type;
} llm_quant_rule;

typedef struct llm_quantize_params {
    uint32_t type;               /* requested type of the matrices */
    const llm_quant_rule *rules; /* (n_rules) */
    size_t n_rules;
    llm_report_fn report;        /* may be NULL */
    void *report_ud;
    bool mixture_m;              /* Q4_K_M / Q5_K_M (above); type Q4_K or Q5_K */
} llm_quantize_params;

/* Reads the GGUF file in, writes every tensor in the type the rules above
 * choose and every metadata entry (general.file_type and
 * general.quantization_version updated, the alignment kept) to out, which
 * appears only when complete. */
llm_status llm_quantize_file(const char *in, const char *out, const llm_quantize_params *p,
                             llm_error *err);

#endif
