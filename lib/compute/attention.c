/* Attention in tiles, the way flash attention does it: a task takes the
 * query heads of one KV head (a GQA group, or part of one) for a run of
 * tokens, a matrix of up to ATTN_ROWS query rows, and walks the keys in
 * blocks of ATTN_KEYS. Per block, scores = Q K^T and then O += P V are two
 * kernel-set products (attn_gemm) in which each key and value loaded
 * serves every row of the tile; an online softmax (running max and sum
 * per row, the output rescaled when the max grows) keeps the scratch at
 * one block of scores whatever the context length.
 *
 * The key cache keeps each block of keys transposed (llm_attn_store_keys
 * writes each new key there once), so the score product reads it as it
 * lies. Key blocks start at multiples of ATTN_KEYS from position 0, and
 * a row's scores past its own position are zeroed weights, so a query
 * meets the same blocks in the same order in any tile: with attn_gemm
 * summing each element in a fixed order, its result is the same bit for
 * bit in a batch of any size, on any thread. */
#include "attention.h"

#include "dtype.h"
#include "matmul.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define ATTN_ROWS 64 /* query rows (token, head) per task at most */
#define ATTN_KEYS LLM_ATTN_KEYS

/* Below this many multiply-adds attention runs on the caller alone. */
#define PARALLEL_MIN_MACS (1 << 16)

size_t llm_attn_scratch_size(int head_dim) {
    return ATTN_ROWS * (2 * (size_t)head_dim + ATTN_KEYS + 2) + 2 * (size_t)ATTN_KEYS * head_dim;
}

static size_t key_blocks(int n_ctx) { return ((size_t)n_ctx + ATTN_KEYS - 1) / ATTN_KEYS; }

/* Floats per layer; up to 2^10 heads * 2^13 blocks * 2^16 * 2^7 for the
 * bounds of model.c and context.c, so 64 bits hold it anywhere. */
uint64_t llm_attn_key_cache_size(int n_ctx, int n_head_kv, int head_dim) {
    return (uint64_t)n_head_kv * key_blocks(n_ctx) * (uint64_t)head_dim * ATTN_KEYS;
}

/* Element i of an array of F32 or F16 values, and the reverse; through
 * memcpy, so a caller's unaligned buffer (a saved state) serves too. F16
 * to F32 and back is exact, so copies between caches of one type lose
 * nothing. */
static float elem_get(const void *p, uint32_t type, size_t i) {
    if (type == LLM_DT_F16) {
        uint16_t h;
        memcpy(&h, (const char *)p + 2 * i, 2);
        return llm_f16_to_f32(h);
    }
    float f;
    memcpy(&f, (const char *)p + 4 * i, 4);
    return f;
}

static void elem_set(void *p, uint32_t type, size_t i, float v) {
    if (type == LLM_DT_F16) {
        uint16_t h = llm_f32_to_f16(v);
        memcpy((char *)p + 2 * i, &h, 2);
    } else {
        memcpy((char *)p + 4 * i, &v, 4);
    }
}

/* Index of the first element of the block of keys j0 .. j0 + ATTN_KEYS - 1
 * (j0 a multiple of ATTN_KEYS) of KV head kvh: (head_dim, ATTN_KEYS). */
static size_t key_block(int n_ctx, int head_dim, int kvh, int j0) {
    size_t block = (size_t)kvh * key_blocks(n_ctx) + (size_t)(j0 / ATTN_KEYS);
    return block * (size_t)head_dim * ATTN_KEYS;
}

/* Moves keys between rows (n, n_head_kv * head_dim) of rtype and the
 * cache of type, either way. */
static void copy_keys(const llm_kv_layout *kv, void *kc, int pos, int n, void *rows, uint32_t rtype, bool to_cache) {
    for (int t = 0; t < n; t++) {
        int j = pos + t;
        for (int h = 0; h < kv->n_head_kv; h++) {
            size_t c = key_block(kv->n_ctx, kv->head_dim, h, j - j % ATTN_KEYS) + (size_t)(j % ATTN_KEYS);
            size_t r = ((size_t)t * kv->n_head_kv + h) * kv->head_dim;
            for (int d = 0; d < kv->head_dim; d++, c += ATTN_KEYS, r++) {
                if (to_cache) elem_set(kc, kv->type, c, elem_get(rows, rtype, r));
                else elem_set(rows, rtype, r, elem_get(kc, kv->type, c));
            }
        }
    }
}

void llm_attn_store_keys(const llm_kv_layout *kv, void *kc, int pos, int n, const void *k, uint32_t k_type) {
    copy_keys(kv, kc, pos, n, (void *)k, k_type, true);
}

void llm_attn_load_keys(const llm_kv_layout *kv, const void *kc, int pos, int n, void *k, uint32_t k_type) {
    copy_keys(kv, (void *)kc, pos, n, k, k_type, false);
}

/* Values are rows in the cache as they come: only the type changes, by
 * the type table's row codecs (any alignment; exact from F16). */
static size_t value_offset(const llm_kv_layout *kv, int pos) {
    return (size_t)pos * (size_t)kv->n_head_kv * (size_t)kv->head_dim * llm_dtype(kv->type)->size;
}

static int64_t value_count(const llm_kv_layout *kv, int n) { return (int64_t)n * kv->n_head_kv * kv->head_dim; }

void llm_attn_store_values(const llm_kv_layout *kv, void *vc, int pos, int n, const float *v) {
    llm_dtype(kv->type)->from_f32(v, (char *)vc + value_offset(kv, pos), value_count(kv, n));
}

void llm_attn_load_values(const llm_kv_layout *kv, const void *vc, int pos, int n, float *v) {
    llm_dtype(kv->type)->to_f32((const char *)vc + value_offset(kv, pos), v, value_count(kv, n));
}

/* How the batch is cut into tasks, each (token tile, KV head, head run). */
typedef struct attn_plan {
    const llm_attn *a;
    int group;   /* query heads per KV head */
    int heads;   /* query heads per task (the last run of a group may have fewer) */
    int tokens;  /* tokens per task (the last tile may have fewer) */
    int n_runs;  /* head runs per group: ceil(group / heads) */
    int n_tiles; /* token tiles: ceil(n / tokens) */
} attn_plan;

/* One thread's part of llm_attn.scratch. */
typedef struct attn_scratch {
    float *q;   /* (ATTN_ROWS, hd) the task's queries, scaled */
    float *o;   /* (ATTN_ROWS, hd) their weighted sums of values so far */
    float *s;   /* (ATTN_ROWS, ATTN_KEYS) one block's scores, then weights */
    float *max; /* (ATTN_ROWS) each row's largest score so far */
    float *sum; /* (ATTN_ROWS) each row's sum of exp(score - max) so far */
    float *kt;  /* (hd, ATTN_KEYS) a block of F16 keys as floats */
    float *vt;  /* (ATTN_KEYS, hd) the block's values as floats */
} attn_scratch;

static attn_scratch scratch_of(const llm_attn *a, int ith) {
    size_t hd = (size_t)a->head_dim;
    float *p = a->scratch + (size_t)ith * llm_attn_scratch_size(a->head_dim);
    attn_scratch w;
    w.q = p, p += ATTN_ROWS * hd;
    w.o = p, p += ATTN_ROWS * hd;
    w.s = p, p += ATTN_ROWS * ATTN_KEYS;
    w.max = p, p += ATTN_ROWS;
    w.sum = p, p += ATTN_ROWS;
    w.kt = p, p += (size_t)ATTN_KEYS * hd;
    w.vt = p;
    return w;
}

/* Turns row r's scores of one block into softmax weights: those of keys
 * lo .. len - 1 of the block (the row's window; none when lo >= len) by
 * the online softmax, soft-capped first where the model caps them, the
 * others of the nb to zero. */
static void weigh_row(const llm_attn *a, attn_scratch *w, int r, int lo, int len, int nb) {
    float *s = w->s + (size_t)r * ATTN_KEYS;
    if (lo < 0) lo = 0;
    if (lo > nb) lo = nb;
    if (len > nb) len = nb;
    if (len < lo) len = lo;
    if (a->softcap > 0.0f)
        for (int j = lo; j < len; j++) s[j] = a->softcap * tanhf(s[j] / a->softcap);
    if (len > lo) {
        float old = w->max[r];
        float sum = a->k->attn_exp(len - lo, s + lo, &w->max[r]);
        if (w->max[r] != old) {
            float alpha = expf(old - w->max[r]);
            float *o = w->o + (size_t)r * a->head_dim;
            w->sum[r] *= alpha;
            for (int d = 0; d < a->head_dim; d++) o[d] *= alpha;
        }
        w->sum[r] += sum;
    }
    memset(s, 0, sizeof(float) * (size_t)lo);
    memset(s + len, 0, sizeof(float) * (size_t)(nb - len));
}

/* The nb keys of a block from j0 as floats, (hd, ATTN_KEYS): in place
 * from an F32 cache, converted into the scratch from an F16 one. */
static const float *block_keys(const llm_attn *a, attn_scratch *w, int kvh, int j0, int nb) {
    size_t at = key_block(a->n_ctx, a->head_dim, kvh, j0);
    if (a->kv_type == LLM_DT_F32) return (const float *)a->kc + at;
    const uint16_t *kc = (const uint16_t *)a->kc + at;
    if (nb == ATTN_KEYS) a->k->f16_to_f32((int64_t)a->head_dim * ATTN_KEYS, kc, w->kt); /* a whole block at once */
    else
        for (size_t d = 0; d < (size_t)a->head_dim; d++) a->k->f16_to_f32(nb, kc + d * ATTN_KEYS, w->kt + d * ATTN_KEYS);
    return w->kt;
}

/* The values of the same nb positions as floats in *v; returns their row
 * stride. */
static size_t block_values(const llm_attn *a, attn_scratch *w, int kvh, int j0, int nb, const float **v) {
    size_t hd = (size_t)a->head_dim, kv_dim = (size_t)a->n_head_kv * hd, at = (size_t)j0 * kv_dim + (size_t)kvh * hd;
    if (a->kv_type == LLM_DT_F32) {
        *v = (const float *)a->vc + at;
        return kv_dim;
    }
    const uint16_t *vc = (const uint16_t *)a->vc + at;
    for (size_t j = 0; j < (size_t)nb; j++) a->k->f16_to_f32((int64_t)hd, vc + j * kv_dim, w->vt + j * hd);
    *v = w->vt;
    return hd;
}

/* Query heads h0 .. h0 + nh - 1 (all reading KV head kvh) of batch tokens
 * t0 .. t0 + nt - 1; row r of the tile is token t0 + r / nh, head
 * h0 + r % nh. With a window, the blocks wholly before the first row's
 * window are skipped: they would have given every row zero weights, and
 * adding those changes no sum, so the result stays the same bit for bit
 * whatever the tile. */
static void attend_tile(const llm_attn *a, attn_scratch *w, int kvh, int h0, int nh, int t0, int nt) {
    int hd = a->head_dim, m = nh * nt, end = a->pos + t0 + nt;
    size_t q_dim = (size_t)a->n_head * hd;
    for (int r = 0; r < m; r++) {
        const float *q = a->q + (size_t)(t0 + r / nh) * q_dim + (size_t)(h0 + r % nh) * hd;
        for (int d = 0; d < hd; d++) w->q[(size_t)r * hd + d] = q[d] * a->scale;
        w->max[r] = -INFINITY;
        w->sum[r] = 0.0f;
    }
    memset(w->o, 0, sizeof(float) * (size_t)m * hd);
    int first = a->window > 0 ? a->pos + t0 - a->window + 1 : 0;
    for (int j0 = first > 0 ? first - first % ATTN_KEYS : 0; j0 < end; j0 += ATTN_KEYS) {
        int nb = end - j0 < ATTN_KEYS ? end - j0 : ATTN_KEYS;
        const float *kt = block_keys(a, w, kvh, j0, nb), *vt;
        size_t ldv = block_values(a, w, kvh, j0, nb, &vt);
        for (int r = 0; r < m; r++) memset(w->s + (size_t)r * ATTN_KEYS, 0, sizeof(float) * (size_t)nb);
        a->k->attn_gemm(m, nb, hd, w->q, (size_t)hd, kt, ATTN_KEYS, w->s, ATTN_KEYS);
        for (int r = 0; r < m; r++) {
            int i = a->pos + t0 + r / nh; /* the row's position */
            weigh_row(a, w, r, a->window > 0 ? i - a->window + 1 - j0 : 0, i + 1 - j0, nb);
        }
        a->k->attn_gemm(m, hd, nb, w->s, ATTN_KEYS, vt, ldv, w->o, (size_t)hd);
    }
    for (int r = 0; r < m; r++) {
        float *out = a->out + (size_t)(t0 + r / nh) * q_dim + (size_t)(h0 + r % nh) * hd;
        for (int d = 0; d < hd; d++) out[d] = w->o[(size_t)r * hd + d] / w->sum[r];
    }
}

/* Tasks [i0, i1): the last token tiles (which have the most keys) first,
 * so that the short ones fill the gaps at the end. */
static void attention_range(void *arg, int64_t i0, int64_t i1, int ith) {
    const attn_plan *p = arg;
    const llm_attn *a = p->a;
    attn_scratch w = scratch_of(a, ith);
    int per_tile = a->n_head_kv * p->n_runs;
    for (int64_t i = i0; i < i1 && !(a->stop && llm_compute_stopped(a->stop, ith)); i++) {
        int tile = p->n_tiles - 1 - (int)(i / per_tile), rest = (int)(i % per_tile);
        int kvh = rest / p->n_runs, run = rest % p->n_runs;
        int h0 = run * p->heads, t0 = tile * p->tokens;
        int nh = p->group - h0 < p->heads ? p->group - h0 : p->heads;
        int nt = a->n - t0 < p->tokens ? a->n - t0 : p->tokens;
        attend_tile(a, &w, kvh, kvh * p->group + h0, nh, t0, nt);
    }
}

static int64_t plan_tasks(attn_plan *p, int heads) {
    p->heads = heads;
    p->tokens = ATTN_ROWS / heads;
    p->n_runs = (p->group + heads - 1) / heads;
    p->n_tiles = (p->a->n + p->tokens - 1) / p->tokens;
    return (int64_t)p->n_tiles * p->a->n_head_kv * p->n_runs;
}

/* Whole groups per task where that leaves enough tasks for the threads;
 * smaller runs of heads otherwise (a short batch of few KV heads). */
void llm_attention(const llm_attn *a) {
    attn_plan p = {.a = a, .group = a->n_head / a->n_head_kv};
    int64_t macs = (int64_t)a->n * (a->pos + a->n) * a->n_head * a->head_dim;
    llm_pool *pool = macs >= PARALLEL_MIN_MACS ? a->pool : NULL;
    int threads = pool ? llm_pool_size(pool) : 1;
    int heads = p.group < ATTN_ROWS ? p.group : ATTN_ROWS;
    int64_t tasks = plan_tasks(&p, heads);
    while (threads > 1 && heads > 1 && tasks < 2 * threads) tasks = plan_tasks(&p, heads = (heads + 1) / 2);
    llm_pool_for(pool, tasks, 1, attention_range, &p);
}
