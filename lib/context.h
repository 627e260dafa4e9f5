/* A context: everything that changes while a model runs — the KV cache,
 * the activation buffers and the position. One thread at a time. */
#ifndef LLM_CONTEXT_H
#define LLM_CONTEXT_H

#include <stdbool.h>

#include "model.h"
#include "threadpool.h"

struct llm_ctx {
    const llm_model *model;
    int32_t n_ctx;       /* KV cache capacity in tokens */
    llm_pool *pool;      /* NULL when single-threaded */
    int32_t pos;         /* tokens in the cache */
    bool has_logits;
    /* activations of the current token; one allocation holds them all */
    float *x;            /* (dim) residual stream */
    float *xb;           /* (dim) normed input of a sub-block */
    float *xb2;          /* (dim) */
    float *q;            /* (n_head * head_dim) */
    float *hb;           /* (n_ff) */
    float *hb2;          /* (n_ff) */
    float *att;          /* (n_head, n_ctx) attention scores */
    float *norm_w;       /* (dim) norm weights converted to float, if stored narrower */
    float *rope_freq;    /* (n_rot / 2) theta_i = base^(-2i / n_rot) */
    float *logits;       /* (n_vocab) */
    float *key_cache;    /* (n_layer, n_ctx, n_head_kv * head_dim) */
    float *value_cache;  /* (n_layer, n_ctx, n_head_kv * head_dim) */
    float *arena;        /* the allocation behind all of the above */
};

/* Runs one token at position ctx->pos: writes its keys and values into the
 * cache and its logits into ctx->logits. The caller has checked the token
 * id and that the cache has room. */
void llm_forward(llm_ctx *ctx, int32_t token);

#endif
