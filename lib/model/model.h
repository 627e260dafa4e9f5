/* The in-memory model: hyper-parameters, views of the weight tensors (in
 * the mapped file) and the vocabulary. Built by model.c from GGUF or by
 * llama2c.c from a llama2.c checkpoint; immutable afterwards, so contexts
 * in many threads may share it. */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
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

/* One transformer block's weights and rules. Which views are set, and
 * how they were found in the file, is the architecture's business
 * (arch.h); a view with data NULL is a part this model does not have. */
typedef struct llm_layer {
    llm_tensor attn_norm; /* (dim) pre-norm of the attention; absent in olmo2 */
    llm_tensor wq;        /* (n_head * head_dim, dim): rows are outputs */
    llm_tensor wk;        /* (n_head_kv * head_dim, dim) */
    llm_tensor wv;        /* (n_head_kv * head_dim, dim) */
    llm_tensor bq, bk, bv; /* optional biases of q, k, v (qwen2) */
    llm_tensor q_norm;    /* optional (head_dim): RMSNorm of each head of q, or (n_head * head_dim) of all of q */
    llm_tensor k_norm;    /* optional (head_dim) or (n_head_kv * head_dim), the same for k */
    llm_tensor wo;        /* (dim, n_head * head_dim) */
    llm_tensor attn_post_norm; /* optional (dim): norm of the attention's output (gemma, olmo2) */
    llm_tensor ffn_norm;  /* (dim) pre-norm of the feed-forward; absent in olmo2 */
    llm_tensor w_gate;    /* (n_ff, dim)  w1 in llama2.c */
    llm_tensor w_down;    /* (dim, n_ff)  w2 */
    llm_tensor w_up;      /* (n_ff, dim)  w3 */
    llm_tensor ffn_post_norm; /* optional (dim): norm of the feed-forward's output */
    int32_t window;       /* keys a query sees, its own included (sliding window); 0: all before it */
    int8_t rope;          /* RoPE frequency table of this layer: 0 global, 1 sliding-window layers', -1 none */
} llm_layer;

typedef struct llm_hparams {
    int32_t n_vocab;
    int32_t n_embd;      /* dim */
    int32_t n_ff;        /* hidden_dim of the feed-forward */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;   /* < n_head for grouped-query attention */
    int32_t head_dim;    /* n_embd / n_head unless the file says (attention.key_length) */
    int32_t n_rot;       /* dimensions of each head that RoPE rotates */
    int32_t n_ctx_train;
    float rope_base;     /* theta, 10000 for Llama 2, 500000 for Llama 3 */
    float rope_scale;    /* linear position scaling: angles are multiplied by it (1 = none) */
    float rope_base_swa; /* the same two for sliding-window layers (gemma3: 10000, none) */
    float rope_scale_swa;
    float rope_attn_factor; /* rotated q and k are multiplied by it (LongRoPE); 1 otherwise */
    int32_t n_ctx_orig;  /* LongRoPE: contexts beyond it take the long factors; 0 without */
    bool rope_neox;      /* NeoX rotation: pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    bool gelu;           /* feed-forward gate activation GELU (tanh form), else SiLU */
    float rms_eps;
    float embd_scale;    /* token embeddings are multiplied by it (gemma: sqrt(dim); granite) */
    float residual_scale; /* each block's output is, before the residual add (granite) */
    float attn_scale;    /* q.k is multiplied by it: 1/sqrt(head_dim) unless the model says */
    float attn_softcap;  /* attention scores s become c tanh(s / c) (gemma2); 0: no cap */
    float logit_scale;   /* logits are multiplied by it (granite: 1 / logit_scale) */
    float final_softcap; /* then capped as the scores are (gemma2); 0: no cap */
    int32_t swa_window;  /* keys a sliding-window layer's query sees; 0: no such layers */
    int32_t swa_period;  /* layer l is sliding-window when l % swa_period < swa_period - 1 */
} llm_hparams;

struct llm_model {
    llm_hparams hp;
    llm_tensor tok_embd;    /* (n_vocab, dim) */
    llm_tensor output_norm; /* (dim) */
    llm_tensor output;      /* (n_vocab, dim); == tok_embd when tied */
    llm_tensor rope_freqs;  /* optional (n_rot / 2) divisors of the RoPE
                               frequencies (Llama 3.1 scaling, LongRoPE's short
                               factors); data NULL when absent */
    llm_tensor rope_freqs_long; /* optional (n_rot / 2) LongRoPE's factors for contexts
                                   beyond hp.n_ctx_orig */
    llm_layer *layers;      /* (n_layer) */
    float *norms;           /* the norm weights stored narrower than F32, as floats
                               (their views point here); NULL when all are F32 */
    llm_vocab vocab;
    gguf_file gguf;         /* when loaded from GGUF */
    llm_map map;            /* the file llm_model_load mapped (either format) */
    const llm_arch *arch;   /* what the architecture's blocks consist of */
    char *chat_template;    /* tokenizer.chat_template (NUL-terminated), or NULL */
    uint32_t ftype;         /* dtype of most weights, for descriptions */
    bool vocab_only;        /* loaded with llm_model_params.vocab_only: no weights */
};

/* Loaders, each filling a zeroed model (model.c calls them by format). */
/* The GGUF loader: builds the model from m->gguf, already parsed
 * (gguf_parse of m->map, or of an image that outlives m). */
llm_status llm_model_from_gguf(llm_model *m, llm_error *err);
/* The llama2.c loader: builds the model from m->map, the file at path
 * already mapped (path locates the default tokenizer.bin beside it). */
llm_status llm_model_load_llama2c(llm_model *m, const char *path,
                                  const char *tokenizer_path, llm_error *err);
/* Sets the views of tensor `which` of layer L from t, the whole tensor
 * as the file holds it (a fused one is split into its parts' rows). */
void llm_layer_set(llm_layer *L, const llm_model *m, llm_lt which, const llm_tensor *t);
/* Each layer's window and RoPE table, from the hyper-parameters and the
 * architecture's per-layer rules. */
void llm_layer_rules(llm_model *m);
/* The hyper-parameters every architecture defaults the same way
 * (scales 1, no caps, no window). */
void llm_hparams_defaults(llm_hparams *h);
/* The ranges of the float hyper-parameters, the same for the loaders and
 * the converter: outside them RoPE angles overflow (a base below 1 turns
 * the frequencies base^(-2i/d) into growing powers; a per-pair divisor
 * near 0 does the same) or the RMS norm divides by zero, and every logit
 * comes out NaN. Real models use bases of 1e4 to 1e7 and epsilons of 1e-6
 * to 1e-5. */
#define LLM_ROPE_BASE_MIN   1.0
#define LLM_ROPE_BASE_MAX   1e12
#define LLM_RMS_EPS_MIN     1e-30
#define LLM_RMS_EPS_MAX     1.0
#define LLM_ROPE_FREQ_MIN   1e-4   /* rope_freqs.weight divisors */
#define LLM_ROPE_FREQ_MAX   1e30
#define LLM_SCALE_MAX       1e6    /* attention, embedding, residual and logit scales,
                                      soft-caps (0: none) */

/* LLM_OK when lo <= v <= hi (never for NaN), else LLM_ERR_FORMAT with a
 * message naming what (the key it was read from) and the range. */
llm_status llm_check_range(const char *what, double v, double lo, double hi, llm_error *err);

/* Checks the hyper-parameters for sane ranges and consistency, before any
 * size derived from them is computed. */
llm_status llm_hparams_validate(const llm_hparams *h, llm_error *err);
/* The same, plus the vocabulary agreeing with the embedding's row count. */
llm_status llm_model_validate(const llm_model *m, llm_error *err);

#endif
