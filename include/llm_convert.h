/* libllm-convert — model files to GGUF, and GGUF re-encoded, from C.
 *
 * The conversion side of libllm, a library of its own beside the runtime
 * (libllm) so that programs which only run models never link it or its
 * JSON parser:
 *
 *  - llm_convert_llama2c: a llama2.c (v0) checkpoint and its tokenizer,
 *    either a llama2.c tokenizer.bin or the SentencePiece .model it came
 *    from (told apart by the name: *.model is SentencePiece);
 *  - llm_convert_hf: a Hugging Face LlamaForCausalLM directory with
 *    config.json, model.safetensors or shards listed by
 *    model.safetensors.index.json (F32, F16 or BF16), tokenizer.model
 *    (SentencePiece) or tokenizer.json (byte-level BPE: vocabulary, merges
 *    and added tokens are carried into tokenizer.ggml.*), and BOS/EOS/add-BOS
 *    settings from tokenizer_config.json, generation_config.json and
 *    config.json, in that order of precedence;
 *  - llm_quantize_file: every weight matrix of a GGUF file re-encoded in
 *    another type (the rules are below).
 *
 * Output follows llama.cpp's names and layout, so llama.cpp reads these files
 * and libllm reads llama.cpp's. Every input is validated before use, errors
 * name the file and the field, and the output appears under its name only
 * once complete, never over an input. The output must be a new or a
 * regular file: a symbolic link, device node, FIFO, socket or directory
 * there is refused (LLM_ERR_INVALID_ARG), not replaced. Conventions (errors, NULL, threads) are
 * llm.h's: each call is independent and may run in its own thread.
 *
 * Link with `pkg-config --libs libllm-convert`. */
#ifndef LLM_CONVERT_PUBLIC_H
#define LLM_CONVERT_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- progress */

/* What was done with one tensor, reported as soon as it is done. */
typedef struct llm_tensor_report {
    const char *name;
    uint64_t index, count;  /* tensor index (1-based) of count */
    llm_type from, to;      /* types read and written */
    uint64_t bytes;         /* its size in the output */
    uint64_t total;         /* output bytes of tensors 1..index */
    const char *note;       /* why `to` is not the type asked for, or NULL */
} llm_tensor_report;

/* Called after each tensor, on the converting thread. */
typedef void (*llm_report_fn)(void *ud, const llm_tensor_report *r);

/* Told of the temporary file an output is written to before it is renamed
 * to its name: with its path once it exists, with NULL once it is gone
 * (renamed, or removed after an error). The library installs no signal
 * handlers; a program that may be interrupted copies the path and removes
 * the file from its own SIGINT/SIGTERM handler (the llm-convert and
 * llm-quantize tools do). Called on the converting thread. */
typedef void (*llm_temp_fn)(void *ud, const char *tmp_path);

/* A type from its name in any case ("q8_0", "F16", ...): true and *type
 * set for the types these tools write (f32 f16 bf16 q8_0 q4_0 q4_k q5_k
 * q6_k); false otherwise. */
LLM_API bool llm_type_from_name(const char *name, llm_type *type);

/* ---------------------------------------------------------------- convert */

#define LLM_CONVERT_KEEP ((llm_type)-1) /* matrices keep the checkpoint's type */

typedef struct llm_convert_params {
    llm_type type;          /* LLM_TYPE_F32, F16, BF16 or LLM_CONVERT_KEEP */
    llm_report_fn report;   /* called after each tensor; may be NULL */
    void *report_ud;
    llm_temp_fn temp;       /* told of the temporary output file; may be NULL */
    void *temp_ud;
} llm_convert_params;

/* type LLM_CONVERT_KEEP, no report. */
LLM_API llm_convert_params llm_convert_default_params(void);

/* A llama2.c checkpoint and tokenizer (.bin or .model) to out. */
LLM_API llm_status llm_convert_llama2c(const char *model, const char *tokenizer,
                                       const char *out, const llm_convert_params *p,
                                       llm_error *err);
/* A Hugging Face directory to out. */
LLM_API llm_status llm_convert_hf(const char *dir, const char *out,
                                  const llm_convert_params *p, llm_error *err);

/* ---------------------------------------------------------------- quantize */

/* Which type each tensor gets (llm_quantize_file):
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
 * Q8_0 and Q4_0 blocks are made by libllm's own quantizer, whose rounding is the
 * reference quantizer's, so files match llama.cpp's byte for byte; its
 * K-quant blocks follow the reference quantizer's algorithm (without an
 * importance matrix). */

/* Tensors whose name contains pattern are written as type. */
typedef struct llm_quant_rule {
    const char *pattern;
    llm_type type;
} llm_quant_rule;

typedef struct llm_quantize_params {
    llm_type type;               /* requested type of the matrices */
    const llm_quant_rule *rules; /* (n_rules) */
    size_t n_rules;
    llm_report_fn report;        /* may be NULL */
    void *report_ud;
    bool mixture_m;              /* Q4_K_M / Q5_K_M (above); type Q4_K or Q5_K */
    llm_temp_fn temp;            /* told of the temporary output file; may be NULL */
    void *temp_ud;
} llm_quantize_params;

/* Type Q8_0, no rules, no report, no mixture. */
LLM_API llm_quantize_params llm_quantize_default_params(void);

/* Reads the GGUF file in, writes every tensor in the type the rules above
 * choose and every metadata entry (general.file_type and
 * general.quantization_version updated, the alignment kept) to out, which
 * appears only when complete. */
LLM_API llm_status llm_quantize_file(const char *in, const char *out,
                                     const llm_quantize_params *p, llm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LLM_CONVERT_PUBLIC_H */
