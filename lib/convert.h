/* Conversion of Llama checkpoints to GGUF (llm-convert), without Python:
 *
 *  - llama2.c: a legacy (v0) checkpoint and its tokenizer, either a
 *    llama2.c tokenizer.bin or the SentencePiece .model it came from
 *    (told apart by the name: *.model is SentencePiece);
 *  - Hugging Face: a LlamaForCausalLM directory with config.json,
 *    model.safetensors or shards listed by model.safetensors.index.json
 *    (F32, F16 or BF16), tokenizer.model (SentencePiece) or tokenizer.json
 *    (byte-level BPE: vocabulary, merges and added tokens are carried into
 *    tokenizer.ggml.*), and BOS/EOS/add-BOS settings from
 *    tokenizer_config.json, generation_config.json and config.json, in
 *    that order of precedence.
 *
 * Output follows llama.cpp's names and layout: general.architecture
 * "llama", llama.* hyper-parameters, tokenizer.ggml.* vocabulary, tensors
 * token_embd / output_norm / output / blk.N.*, norms in F32. Hugging Face
 * stores the rows of q_proj and k_proj per head in "rotate-half" order
 * (the first half of a head's dimensions, then the second); GGUF, like
 * Meta's checkpoints and llama2.c, pairs dimensions 2i and 2i+1, so those
 * rows are permuted back (k_proj with the KV-head count). With tied
 * embeddings no output tensor is written and the loader uses token_embd.
 *
 * Every input is validated before use, errors name the file and the field,
 * and the output appears under its name only once complete (never over an
 * input). */
#ifndef LLM_CONVERT_H
#define LLM_CONVERT_H

#include <stdint.h>

#include "llm.h"
#include "quantize.h"

#define LLM_CONVERT_KEEP UINT32_MAX /* matrices keep the checkpoint's type */

typedef struct llm_convert_params {
    uint32_t type;          /* LLM_DT_F32, F16, BF16 or LLM_CONVERT_KEEP */
    llm_report_fn report;   /* called after each tensor; may be NULL */
    void *report_ud;
} llm_convert_params;

/* type LLM_CONVERT_KEEP, no report. */
llm_convert_params llm_convert_default_params(void);

/* A llama2.c checkpoint and tokenizer (.bin or .model) to out. */
llm_status llm_convert_llama2c(const char *model, const char *tokenizer, const char *out,
                               const llm_convert_params *p, llm_error *err);
/* A Hugging Face Llama directory to out. */
llm_status llm_convert_hf(const char *dir, const char *out, const llm_convert_params *p,
                          llm_error *err);

#endif
