/* A context: everything that changes while a model runs — the KV cache,
 * the activation buffers, the position, the threads. One thread at a time
 * calls into it. */
#ifndef LLM_CONTEXT_H
#define LLM_CONTEXT_H

#include <stdbool.h>

#include "matmul.h"
#include "model.h"

struct llm_ctx {
    const llm_model *model;
    int32_t n_ctx;       /* KV cache capacity in tokens */
    int32_t n_batch;     /* tokens per forward pass at most */
    int32_t pos;         /* tokens in the cache */
    bool has_logits;
    llm_compute mc;      /* kernels, thread pool, activation scratch */
    /* activations of a batch of B <= n_batch tokens; one allocation holds
     * them all */
    float *x;            /* (B, dim) residual stream */
    float *xb;           /* (B, dim) normed input of a sub-block */
    float *xb2;          /* (B, dim) */
    float *q;            /* (B, n_head * head_dim) */
    float *k;            /* (B, n_head_kv * head_dim) the batch's keys, on their way to the cache */
    float *att_out;      /* (B, n_head * head_dim) attention's output, before its projection */
    float *hb;           /* (B, n_ff) */
    float *hb2;          /* (B, n_ff) */
    float *att;          /* (n_threads, llm_attn_scratch_size(head_dim)) attention scratch */
    float *norm_w;       /* (dim) norm weights converted to float, if stored narrower */
    float *rope_freq;    /* (2, n_rot / 2) theta_i = scale * base^(-2i / n_rot) / factor_i: of the
                            global layers, then of the sliding-window ones (llm_layer.rope) */
    float *logits;       /* (n_vocab) of the batch's last token */
    float *key_cache;    /* n_layer of llm_attn_key_cache_size(): blocks of keys, transposed */
    float *value_cache;  /* (n_layer, n_ctx, n_head_kv * head_dim) */
    float *ref_row;      /* (max(dim, ff, q_dim)) the reference path's weight row as floats */
    float *ref_key;      /* (n_head_kv * head_dim) one cached key, read back by the reference path */
    float *ref_att;      /* (n_head, n_ctx) its attention weights of one token */
    float *arena;        /* the allocation behind all of the above */
    bool reference;      /* kernels "reference": every decode through llm_forward_ref */
    llm_observer_fn observer; /* llm_ctx_set_observer's callback (forces the reference path), or NULL */
    void *observer_ud;
    int32_t ref_token;   /* the token the reference path is computing, for the observer's views */
};

/* Runs n <= n_batch tokens at positions pos .. pos + n - 1: writes their
 * keys and values into the cache and the last token's logits into
 * ctx->logits. The caller has checked the ids and that the cache has
 * room; ctx->pos is advanced by the caller. */
void llm_forward(llm_ctx *ctx, const int32_t *tokens, int n);
/* The same through the reference path (forward_ref.c), one token at a
 * time, calling the observer at each named point when there is one (and
 * then computing every token's logits, not only the last one's). */
void llm_forward_ref(llm_ctx *ctx, const int32_t *tokens, int n);

#endif
