/* llama2.c legacy (version 0) checkpoints: a header of 7 int32 (dim,
 * hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then
 * fp32 tensors back to back, each stacked over layers. A negative
 * vocab_size means a separate classifier follows the RoPE tables. This one
 * reader serves the loader (llama2c.c) and the converter (convert.c), so
 * both accept exactly the same files. */
#ifndef LLM_LLAMA2C_H
#define LLM_LLAMA2C_H

#include <stdbool.h>
#include <stddef.h>

#include "llm.h"
#include "model.h"

typedef struct l2c_layout {
    const float *emb;                 /* (n_vocab rows of dim) */
    const float *stack[LLM_LT_COUNT]; /* n_layer tensors each, back to back, for
                                         the layer tensors with a llama2.c name
                                         (arch.h), in the table's order; NULL others */
    int64_t ne[LLM_LT_COUNT][2];      /* each one's shape: ne0 inputs, ne1 outputs */
    int n_stacks;                     /* how many stacks there are */
    const float *final_norm;          /* (dim) */
    const float *freq_cis;            /* (seq_len * head_dim), unused: RoPE is recomputed */
    const float *cls;                 /* the classifier: emb when shared */
} l2c_layout;

/* The header of the size-byte image data as hyper-parameters, checked by
 * llm_hparams_validate before anything is derived from them; *shared tells
 * whether the classifier is the embedding (vocab_size > 0). */
llm_status l2c_read_header(const void *data, size_t size, llm_hparams *h, bool *shared, llm_error *err);

/* Places every tensor the header h promises in data, which must hold
 * exactly them: a truncated file, or bytes after the last tensor (a
 * header that understates the layers would otherwise give garbage), are
 * refused. data must be 4-byte aligned (a map is). */
llm_status l2c_place_tensors(const void *data, size_t size, const llm_arch *arch, const llm_hparams *h, bool shared,
                             l2c_layout *t, llm_error *err);

#endif
