/* The in-memory model: hyper-parameters, views of the weight tensors (in
 * the mapped file) and the vocabulary. Built by model.c from GGUF or by
 * llama2c.c from a llama2.c checkpoint; immutable afterwards, so contexts
 * in many threads may share it. */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "llm.h"
#include "mapfile.h"
#include "vocab.h"

/* A 2-D weight: rows of ne[0] elements, ne[1] rows, in dtype `type`.
 * Vectors (norm weights) have ne[1] == 1. */
typedef struct llm_tensor {
    const void *data;
    uint32_t type;
    int64_t ne[2];
} llm_tensor;

typedef struct llm_layer {
    llm_tensor attn_norm; /* (dim) */
    llm_tensor wq;        /* (n_head * head_dim, dim): rows are outputs */
    llm_tensor wk;        /* (n_head_kv * head_dim, dim) */
    llm_tensor wv;        /* (n_head_kv * head_dim, dim) */
    llm_tensor bq, bk, bv; /* optional biases of q, k, v (qwen2); data NULL when absent */
    llm_tensor wo;        /* (dim, n_head * head_dim) */
    llm_tensor ffn_norm;  /* (dim) */
    llm_tensor w_gate;    /* (n_ff, dim)  w1 in llama2.c */
    llm_tensor w_down;    /* (dim, n_ff)  w2 */
    llm_tensor w_up;      /* (n_ff, dim)  w3 */
} llm_layer;

typedef struct llm_hparams {
    int32_t n_vocab;
    int32_t n_embd;      /* dim */
    int32_t n_ff;        /* hidden_dim of the feed-forward */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;   /* < n_head for grouped-query attention */
    int32_t head_dim;    /* n_embd / n_head */
    int32_t n_rot;       /* dimensions of each head that RoPE rotates */
    int32_t n_ctx_train;
    float rope_base;     /* theta, 10000 for Llama 2, 500000 for Llama 3 */
    float rope_scale;    /* linear position scaling: angles are multiplied by it (1 = none) */
    bool rope_neox;      /* NeoX rotation: pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    float rms_eps;
} llm_hparams;

struct llm_model {
    llm_hparams hp;
    llm_tensor tok_embd;    /* (n_vocab, dim) */
    llm_tensor output_norm; /* (dim) */
    llm_tensor output;      /* (n_vocab, dim); == tok_embd when tied */
    llm_tensor rope_freqs;  /* optional (n_rot / 2) divisors of the RoPE
                               frequencies (Llama 3.1 scaling); data NULL when absent */
    llm_layer *layers;      /* (n_layer) */
    llm_vocab vocab;
    gguf_file gguf;         /* when loaded from GGUF */
    llm_map map;            /* when loaded from a llama2.c checkpoint */
    char arch[32];
    char *chat_template;    /* tokenizer.chat_template (NUL-terminated), or NULL */
    uint32_t ftype;         /* dtype of most weights, for descriptions */
};

/* Loaders, each filling a zeroed model (model.c calls them by format). */
llm_status llm_model_load_gguf(llm_model *m, const char *path, llm_error *err);
/* The GGUF loader's second half: builds the model from m->gguf, already
 * parsed (gguf_open, or gguf_parse of an image that outlives m). */
llm_status llm_model_from_gguf(llm_model *m, llm_error *err);
llm_status llm_model_load_llama2c(llm_model *m, const char *path,
                                  const char *tokenizer_path, llm_error *err);
/* Checks the hyper-parameters for sane ranges and consistency, before any
 * size derived from them is computed. */
llm_status llm_hparams_validate(const llm_hparams *h, llm_error *err);
/* The same, plus the vocabulary agreeing with the embedding's row count. */
llm_status llm_model_validate(const llm_model *m, llm_error *err);

#endif
