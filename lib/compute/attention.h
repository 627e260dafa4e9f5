/* Causal multi-head attention of a batch of queries over a KV cache, with
 * grouped-query heads: query head h reads KV head h / (n_head / n_head_kv),
 * optionally over a sliding window of the latest keys and with soft-capped
 * scores.
 * The work is tiled (several query heads and tokens meet each block of
 * keys through the kernel set's attn_gemm) with an online softmax, so its
 * scratch is a fixed size per thread whatever the context length. */
#ifndef LLM_ATTENTION_H
#define LLM_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "threadpool.h"

/* Keys per block of the key cache. */
#define LLM_ATTN_KEYS 128

/* The key cache of a layer holds the keys of n_ctx positions as
 * (n_head_kv, ceil(n_ctx / LLM_ATTN_KEYS), head_dim, LLM_ATTN_KEYS)
 * elements: each block of keys of one KV head transposed, the shape the
 * products take it in. Values are cached as they come, (n_ctx, n_head_kv *
 * head_dim). */
uint64_t llm_attn_key_cache_size(int n_ctx, int n_head_kv, int head_dim);

/* A layer's caches: their element type (LLM_DT_F32 or LLM_DT_F16) and
 * shape. */
typedef struct llm_kv_layout {
    uint32_t type;
    int n_ctx, n_head_kv, head_dim;
} llm_kv_layout;

/* Writes the keys k (n rows of n_head_kv * head_dim elements of k_type,
 * F32 or F16, any alignment) of positions pos .. pos + n - 1 (< n_ctx)
 * into the key cache kc of a layer, converting to the cache's type. */
void llm_attn_store_keys(const llm_kv_layout *kv, void *kc, int pos, int n, const void *k, uint32_t k_type);
/* The reverse: the cached keys of positions pos .. pos + n - 1 into k. */
void llm_attn_load_keys(const llm_kv_layout *kv, const void *kc, int pos, int n, void *k, uint32_t k_type);
/* The same for values, whose cache is (n_ctx, n_head_kv * head_dim) rows
 * as they come, from and to floats. */
void llm_attn_store_values(const llm_kv_layout *kv, void *vc, int pos, int n, const float *v);
void llm_attn_load_values(const llm_kv_layout *kv, const void *vc, int pos, int n, float *v);

typedef struct llm_attn {
    const llm_kernels *k;
    llm_pool *pool;       /* may be NULL */
    int n_head, n_head_kv, head_dim;
    int n_ctx;            /* positions the caches hold */
    int pos, n;           /* the queries are of positions pos .. pos + n - 1 */
    float scale;          /* scores are q.k * scale (1/sqrt(head_dim) in most models) */
    float softcap;        /* then capped: s = softcap * tanh(s / softcap) (gemma2); 0: not */
    int window;           /* query i sees keys j with i - window < j <= i; 0: all j <= i */
    const float *q;       /* (n, n_head * head_dim) */
    const void *kc;       /* key cache, as above, filled for positions 0 .. pos + n - 1 */
    const void *vc;       /* (n_ctx, n_head_kv * head_dim) values, filled as far */
    uint32_t kv_type;     /* their element type: LLM_DT_F32, or LLM_DT_F16 (read a block at a
                             time into the scratch as floats) */
    float *out;           /* (n, n_head * head_dim) */
    float *scratch;       /* llm_attn_scratch_size() floats per thread of pool */
    struct llm_compute *stop; /* asked before each task (llm_compute_stopped), or NULL */
} llm_attn;

/* Floats of scratch one thread needs for heads of head_dim elements. */
size_t llm_attn_scratch_size(int head_dim);

/* out = softmax(cap(q k^T * scale), causal within the window) v for
 * every query head.
 * A query's result depends only on its own q and the keys and values of
 * positions up to its own, bit for bit: not on the batch it came in, nor
 * on the thread count. */
void llm_attention(const llm_attn *a);

#endif
