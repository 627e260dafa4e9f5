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

/* The per-layer stacks, in file order. */
enum { L2C_RMS_ATT, L2C_WQ, L2C_WK, L2C_WV, L2C_WO, L2C_RMS_FFN, L2C_W1, L2C_W2, L2C_W3, L2C_N_STACKS };

typedef struct l2c_layout {
    const float *emb;                 /* (n_vocab rows of dim) */
    const float *stack[L2C_N_STACKS]; /* n_layer tensors each, back to back */
    int64_t ne[L2C_N_STACKS][2];      /* each one's shape: ne0 inputs, ne1 outputs */
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
llm_status l2c_place_tensors(const void *data, size_t size, const llm_hparams *h, bool shared, l2c_layout *t,
                             llm_error *err);

#endif
