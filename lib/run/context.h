/* A context: everything that changes while a model runs — the KV cache,
 * the activation buffers, the position, the threads. One thread at a time
 * calls into it. */
#ifndef LLM_CONTEXT_H
#define LLM_CONTEXT_H

#include <stdbool.h>

#include "attention.h"
#include "matmul.h"
#include "model.h"

struct llm_ctx {
    const llm_model *model;
    int32_t n_ctx;       /* KV cache capacity in tokens */
    int32_t n_batch;     /* tokens per forward pass at most */
    int32_t pos;         /* tokens in the cache */
    bool has_logits;     /* the last decode's logits are valid */
    bool has_emb;        /* the last decode's embeddings are valid */
    llm_compute mc;      /* kernels, thread pool, activation scratch */
    /* activations of a batch of B <= n_batch tokens; one allocation holds
     * them all */
    float *x;            /* (B, dim) residual stream */
    float *xn;           /* (B, dim) a sub-block's normed input; the final norm's output */
    float *sub_out;      /* (B, dim) a sub-block's output (attention's projection, the
                            feed-forward's down product) on its way into the residual */
    float *q;            /* (B, n_head * head_dim) */
    float *k;            /* (B, n_head_kv * head_dim) the batch's keys, on their way to the cache */
    float *v;            /* (B, n_head_kv * head_dim) its values, likewise */
    float *att_out;      /* (B, n_head * head_dim) attention's output, before its projection */
    float *hb;           /* (B, n_ff) */
    float *hb2;          /* (B, n_ff) */
    float *att;          /* (n_threads, llm_attn_scratch_size(head_dim)) attention scratch */
    float *rope_freq;    /* (2, n_rot / 2) theta_i = scale * base^(-2i / n_rot) / factor_i: of the
                            global layers, then of the sliding-window ones (llm_layer.rope) */
    llm_kv_layout kv;    /* the caches' element type (llm_ctx_params.kv_type) and shape */
    void *key_cache;     /* n_layer of llm_attn_key_cache_size() elements: blocks of keys, transposed */
    void *value_cache;   /* (n_layer, n_ctx, n_head_kv * head_dim) elements */
    float *ref_row;      /* (max(dim, ff, q_dim)) the reference path's weight row as floats */
    float *ref_key;      /* (n_head_kv * head_dim) one cached key, read back by the reference path */
    float *ref_val;      /* (n_head_kv * head_dim) one cached value, likewise */
    float *ref_att;      /* (n_head, n_ctx) its attention weights of one token */
    float *arena;        /* the allocation behind all of the above */
    /* outputs of the last decode, grown on demand (never shrunk) */
    float *out_logits;   /* (out_cap, n_vocab) rows asked for, in token order */
    int32_t out_cap;     /* rows out_logits holds, >= 1 */
    int32_t *out_row;    /* (out_row_cap) row of each token of the decode, -1 = none */
    int32_t out_row_cap;
    int32_t out_n;       /* tokens of the last decode */
    bool out_last_only;  /* the decode asked for the last token only: row 0, out_row unused */
    bool embeddings;     /* llm_ctx_params.embeddings, .pooling, .normalize */
    llm_pooling pooling;
    bool normalize;
    float *emb;          /* (emb_cap, n_embd) per token of the last decode, when embeddings */
    int32_t emb_cap;     /* rows emb holds */
    float *pooled;       /* (n_embd) the pooled embedding, when embeddings */
    bool reference;      /* kernels "reference": every decode through forward_ref.c */
    llm_observer_fn observer; /* llm_ctx_set_observer's callback (forces the reference path), or NULL */
    void *observer_ud;
    const int32_t *ref_batch; /* the tokens the reference path is running, for the observer's views */
};

/* Layer l's key and value caches. */
void *llm_ctx_layer_keys(const llm_ctx *ctx, int l);
void *llm_ctx_layer_values(const llm_ctx *ctx, int l);

/* Runs n <= n_batch tokens at positions pos .. pos + n - 1 through every
 * layer: writes their keys and values into the cache and leaves their
 * final hidden states (before the output norm) in ctx->x. The caller has
 * checked the ids and that the cache has room; ctx->pos is advanced by
 * the caller. Returns false when the abort callback stopped it (the
 * hidden states are then meaningless). */
bool llm_forward(llm_ctx *ctx, const int32_t *tokens, int n);

/* Rotates n cached keys of layer l (rows of n_head_kv * head_dim) as RoPE
 * would rotate them for a position delta further on (negative: back),
 * with the model's layout and the layer's frequencies: a key roped at p
 * becomes one roped at p + delta, up to float rounding of the angles
 * (keys of layers without RoPE stay as they are). */
void llm_forward_rerope(llm_ctx *ctx, int l, float *rows, int n, int delta);

/* The final norm of rows from .. n - 1 of the last llm_forward that want
 * marks (want NULL: all of them) into out, n_embd floats each, in order.
 * Returns the row count. */
int llm_forward_norm(llm_ctx *ctx, int from, int n, const int8_t *want, float *out);

/* The output head over the rows of the last llm_forward that want marks
 * (want NULL: the last row only), all in one product: their logits go to
 * out, one row of n_vocab floats each, in order. Returns the row count. */
int llm_forward_output(llm_ctx *ctx, int n, const int8_t *want, float *out);

/* llm_forward and llm_forward_output through the reference path
 * (forward_ref.c), which they call instead of their own when the context
 * has "reference" kernels or an observer: tokens one at a time, each
 * token's stream in its row of ctx->x, the observer called at each named
 * point (the output's "final_norm" and "logits" for the rows computed). */
bool llm_forward_ref(llm_ctx *ctx, const int32_t *tokens, int n);
int llm_forward_ref_output(llm_ctx *ctx, int n, const int8_t *want, float *out);

#endif
