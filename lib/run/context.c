#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "attention.h"
#include "error.h"

#define MAX_CTX (1 << 20)

#define DEFAULT_BATCH 512

llm_ctx_params llm_ctx_default_params(void) {
    llm_ctx_params p = {.n_ctx = 0, .n_threads = 1, .n_batch = DEFAULT_BATCH, .kernels = NULL, .n_threads_blas = 0,
                        .embeddings = false, .pooling = LLM_POOLING_MEAN, .normalize = false,
                        .kv_type = LLM_TYPE_F32};
    return p;
}

/* theta_i = scale * base^(-2i / n_rot) / factor_i for the n_rot / 2
 * pairs (factors NULL: 1). */
static void rope_table(float *freq, const llm_hparams *h, const float *factors, float base, float scale) {
    for (int i = 0; i < h->n_rot / 2; i++) {
        float theta = 1.0f / powf(base, (float)(2 * i) / (float)h->n_rot);
        if (scale != 1.0f) theta *= scale;
        freq[i] = factors ? theta / factors[i] : theta;
    }
}

/* Lays the buffers out in one allocation. Sizes come from validated
 * hyper-parameters bounded by model.c, and n_ctx is bounded here, so the
 * products below fit comfortably in 64 bits; the total is still checked
 * against SIZE_MAX for 32-bit hosts. */
static llm_status alloc_buffers(llm_ctx *c, int64_t max_in, llm_error *err) {
    const llm_hparams *h = &c->model->hp;
    uint64_t b = (uint64_t)c->n_batch, dim = (uint64_t)h->n_embd;
    uint64_t q_dim = (uint64_t)h->n_head * (uint64_t)h->head_dim;
    uint64_t kv_dim = (uint64_t)h->n_head_kv * (uint64_t)h->head_dim;
    /* the caches in floats' worth of their elements */
    uint64_t es = llm_dtype(c->kv.type)->size;
    uint64_t keys = ((uint64_t)h->n_layer * llm_attn_key_cache_size(c->n_ctx, h->n_head_kv, h->head_dim) * es + 3) / 4;
    uint64_t values = ((uint64_t)h->n_layer * (uint64_t)c->n_ctx * kv_dim * es + 3) / 4;
    float *key_cache, *value_cache;
    uint64_t threads = (uint64_t)llm_pool_size(c->mc.pool);
    struct { float **p; uint64_t n; } parts[] = {
        {&c->x, b * dim}, {&c->xn, b * dim}, {&c->sub_out, b * dim}, {&c->q, b * q_dim}, {&c->k, b * kv_dim}, {&c->v, b * kv_dim},
        {&c->att_out, b * q_dim},
        {&c->hb, b * (uint64_t)h->n_ff}, {&c->hb2, b * (uint64_t)h->n_ff},
        {&c->att, threads * (uint64_t)llm_attn_scratch_size(h->head_dim)},
        {&c->rope_freq, (uint64_t)h->n_rot},
        {&key_cache, keys}, {&value_cache, values},
        {&c->ref_row, (uint64_t)max_in}, {&c->ref_key, kv_dim}, {&c->ref_val, kv_dim},
        {&c->ref_att, (uint64_t)h->n_head * (uint64_t)c->n_ctx},
    };
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) total += parts[i].n;
    if (total > SIZE_MAX / sizeof(float))
        return llm_fail(err, LLM_ERR_NOMEM, "context of %d tokens is too large for this machine", c->n_ctx);
    c->arena = llm_calloc((size_t)total, sizeof(float));
    if (!c->arena)
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a context of %d tokens (%llu bytes)",
                        c->n_ctx, (unsigned long long)(total * sizeof(float)));
    float *p = c->arena;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        *parts[i].p = p;
        p += parts[i].n;
    }
    c->key_cache = key_cache;
    c->value_cache = value_cache;
    const llm_model *m = c->model;
    const float *factors = m->rope_freqs_long.data && c->n_ctx > h->n_ctx_orig ? m->rope_freqs_long.data
                                                                              : m->rope_freqs.data;
    rope_table(c->rope_freq, h, factors, h->rope_base, h->rope_scale);
    rope_table(c->rope_freq + h->n_rot / 2, h, factors, h->rope_base_swa, h->rope_scale_swa);
    return LLM_OK;
}

static size_t kv_elem_size(const llm_ctx *c) { return llm_dtype(c->kv.type)->size; }

void *llm_ctx_layer_keys(const llm_ctx *c, int l) {
    const llm_hparams *h = &c->model->hp;
    size_t per_layer = (size_t)llm_attn_key_cache_size(c->n_ctx, h->n_head_kv, h->head_dim) * kv_elem_size(c);
    return (char *)c->key_cache + (size_t)l * per_layer;
}

void *llm_ctx_layer_values(const llm_ctx *c, int l) {
    const llm_hparams *h = &c->model->hp;
    size_t per_layer = (size_t)c->n_ctx * (size_t)h->n_head_kv * (size_t)h->head_dim * kv_elem_size(c);
    return (char *)c->value_cache + (size_t)l * per_layer;
}

/* kernels "reference" (or, for NULL and "auto", $LLM_KERNELS=reference):
 * the plain path of forward_ref.c instead of a kernel set. */
static bool wants_reference(const char *name) {
    if (!name || strcmp(name, "auto") == 0) name = getenv("LLM_KERNELS");
    return name && strcmp(name, "reference") == 0;
}

llm_ctx *llm_ctx_new(const llm_model *model, const llm_ctx_params *params, llm_error *err) {
    if (!model) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_new: model is NULL");
        return NULL;
    }
    if (model->vocab_only) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_new: the model was loaded vocabulary-only; it has no weights to run");
        return NULL;
    }
    llm_ctx_params p = params ? *params : llm_ctx_default_params();
    if (p.n_ctx < 0 || p.n_ctx > MAX_CTX || p.n_threads < 1 || p.n_threads > 256 || p.n_batch < 0 ||
        p.n_threads_blas < 0 || p.n_threads_blas > 256 ||
        p.n_batch > MAX_CTX || (unsigned)p.pooling > LLM_POOLING_FIRST) {
        llm_fail(err, LLM_ERR_INVALID_ARG,
                 "llm_ctx_new: n_ctx %d (0 to %d), n_threads %d (1 to 256), n_batch %d or pooling %d out of range",
                 p.n_ctx, MAX_CTX, p.n_threads, p.n_batch, (int)p.pooling);
        return NULL;
    }
    if (p.kv_type != LLM_TYPE_F32 && p.kv_type != LLM_TYPE_F16) {
        llm_fail(err, LLM_ERR_UNSUPPORTED, "llm_ctx_new: KV cache type %d is not supported (F32 and F16 are)",
                 (int)p.kv_type);
        return NULL;
    }
    bool reference = wants_reference(p.kernels);
    const llm_kernels *k = llm_kernels_get(reference ? "scalar" : p.kernels);
    if (!k) {
        const char *name = p.kernels && strcmp(p.kernels, "auto") ? p.kernels : getenv("LLM_KERNELS");
        llm_fail(err, LLM_ERR_UNSUPPORTED, "kernel set '%s' is not available on this CPU or build",
                 name ? name : "auto");
        return NULL;
    }
    llm_ctx *c = llm_calloc(1, sizeof *c);
    if (!c) {
        llm_fail(err, LLM_ERR_NOMEM, "out of memory for a context");
        return NULL;
    }
    c->model = model;
    c->reference = reference;
    const llm_hparams *h = &model->hp;
    c->n_ctx = p.n_ctx ? p.n_ctx : (h->n_ctx_train < 2048 ? h->n_ctx_train : 2048);
    c->n_batch = p.n_batch ? p.n_batch : DEFAULT_BATCH;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;
    c->kv = (llm_kv_layout){(uint32_t)p.kv_type, c->n_ctx, h->n_head_kv, h->head_dim};
    llm_pool *pool = NULL;
    int64_t q_dim = (int64_t)h->n_head * h->head_dim;
    int64_t max_in = h->n_ff > h->n_embd ? h->n_ff : h->n_embd;
    if (q_dim > max_in) max_in = q_dim;
    if ((p.n_threads > 1 && llm_pool_new(&pool, p.n_threads, err) != LLM_OK) ||
        llm_compute_init(&c->mc, pool, k, c->n_batch, max_in, err) != LLM_OK ||
        alloc_buffers(c, max_in, err) != LLM_OK) {
        llm_ctx_free(c);
        return NULL;
    }
    if (!(c->out_logits = llm_malloc((size_t)h->n_vocab * sizeof(float)))) {
        llm_fail(err, LLM_ERR_NOMEM, "out of memory for the logits of %d tokens", h->n_vocab);
        llm_ctx_free(c);
        return NULL;
    }
    c->out_cap = 1;
    c->mc.blas_threads = p.n_threads_blas;
    c->embeddings = p.embeddings;
    c->pooling = p.pooling;
    c->normalize = p.normalize;
    if (c->embeddings && !(c->pooled = llm_malloc((size_t)h->n_embd * sizeof(float)))) {
        llm_fail(err, LLM_ERR_NOMEM, "out of memory for embeddings");
        llm_ctx_free(c);
        return NULL;
    }
    return c;
}

void llm_ctx_free(llm_ctx *c) {
    if (!c) return;
    llm_pool_free(c->mc.pool);
    llm_compute_free(&c->mc);
    free(c->arena);
    free(c->out_logits);
    free(c->out_row);
    free(c->emb);
    free(c->pooled);
    free(c);
}

int32_t llm_ctx_n_ctx(const llm_ctx *c) { return c ? c->n_ctx : 0; }
int32_t llm_ctx_pos(const llm_ctx *c) { return c ? c->pos : 0; }
const char *llm_ctx_kernels(const llm_ctx *c) { return c ? (c->reference ? "reference" : c->mc.k->name) : NULL; }

llm_status llm_ctx_set_observer(llm_ctx *c, llm_observer_fn cb, void *ud) {
    if (!c) return LLM_ERR_INVALID_ARG;
    c->observer = cb;
    c->observer_ud = ud;
    return LLM_OK;
}

llm_status llm_ctx_truncate(llm_ctx *c, int32_t pos, llm_error *err) {
    if (!c) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_truncate: ctx is NULL");
    if (pos < 0 || pos > c->pos)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_truncate: pos %d outside 0..%d (the tokens in the cache)",
                        (int)pos, (int)c->pos);
    c->pos = pos;
    c->has_logits = c->has_emb = false;
    return LLM_OK;
}

llm_status llm_ctx_set_abort(llm_ctx *c, bool (*abort_cb)(void *ud), void *ud) {
    if (!c) return LLM_ERR_INVALID_ARG;
    c->mc.abort_cb = abort_cb;
    c->mc.abort_ud = ud;
    return LLM_OK;
}

/* Room for `rows` rows of logits and, when a mask is given, the row map
 * of n tokens. Grown before anything runs, so a failure changes nothing
 * (realloc keeps what the last decode left). */
static llm_status reserve_outputs(llm_ctx *c, int32_t rows, int32_t n, bool map, llm_error *err) {
    size_t nv = (size_t)c->model->hp.n_vocab;
    if (rows > c->out_cap) {
        float *p = (size_t)rows <= SIZE_MAX / sizeof(float) / nv ? llm_realloc(c->out_logits, (size_t)rows * nv * sizeof(float)) : NULL;
        if (!p)
            return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the logits of %d positions (%zu bytes)", rows,
                            (size_t)rows * nv * sizeof(float));
        c->out_logits = p;
        c->out_cap = rows;
    }
    if (map && n > c->out_row_cap) {
        int32_t *p = llm_realloc(c->out_row, (size_t)n * sizeof *p);
        if (!p) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the outputs of %d tokens", n);
        c->out_row = p;
        c->out_row_cap = n;
    }
    size_t dim = (size_t)c->model->hp.n_embd;
    if (c->embeddings && n > c->emb_cap) {
        float *p = llm_realloc(c->emb, (size_t)n * dim * sizeof(float));
        if (!p) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the embeddings of %d tokens", n);
        c->emb = p;
        c->emb_cap = n;
    }
    return LLM_OK;
}

static void normalize(float *v, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)v[i] * v[i];
    float scale = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (size_t i = 0; i < n; i++) v[i] *= scale;
}

/* The pooled vector of the n rows in ctx->emb, then the normalization of
 * every vector when asked. */
static void pool_embeddings(llm_ctx *c, int32_t n) {
    size_t dim = (size_t)c->model->hp.n_embd;
    if (c->pooling == LLM_POOLING_MEAN) {
        for (size_t j = 0; j < dim; j++) {
            double sum = 0;
            for (int32_t t = 0; t < n; t++) sum += c->emb[(size_t)t * dim + j];
            c->pooled[j] = (float)(sum / n);
        }
    } else if (c->pooling != LLM_POOLING_NONE) {
        memcpy(c->pooled, c->emb + (c->pooling == LLM_POOLING_LAST ? (size_t)(n - 1) * dim : 0), dim * sizeof(float));
    }
    if (!c->normalize) return;
    for (int32_t t = 0; t < n; t++) normalize(c->emb + (size_t)t * dim, dim);
    if (c->pooling != LLM_POOLING_NONE) normalize(c->pooled, dim);
}

/* Sub-batches of n_batch run one after another; each one's chosen rows go
 * through the output head right after its layers, while its hidden states
 * are in ctx->x. An abort rolls the position back to where the call began,
 * so the cache entries it wrote lie beyond pos, where nothing reads them. */
llm_status llm_decode_ex(llm_ctx *c, const int32_t *tokens, int32_t n, const int8_t *want, llm_error *err) {
    if (!c || !tokens || n <= 0)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode: NULL context or tokens, or n %d <= 0", n);
    if (n > c->n_ctx - c->pos)
        return llm_fail(err, LLM_ERR_CONTEXT_FULL, "context full: %d tokens do not fit, %d of %d positions used",
                        n, c->pos, c->n_ctx);
    int32_t rows = 0;
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->model->hp.n_vocab)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode: token %d at index %d is outside the vocabulary (0..%d)",
                            tokens[i], i, c->model->hp.n_vocab - 1);
        rows += want && want[i];
    }
    llm_status s = reserve_outputs(c, want ? rows : 1, n, want != NULL, err);
    if (s) return s;
    atomic_store(&c->mc.stopped, false);
    c->has_logits = c->has_emb = false;
    int32_t pos0 = c->pos, row = 0;
    for (int32_t i = 0; i < n && !llm_compute_stopped(&c->mc, 0); i += c->n_batch) {
        int32_t b = n - i < c->n_batch ? n - i : c->n_batch;
        if (!llm_forward(c, tokens + i, b)) break;
        if (c->embeddings) llm_forward_norm(c, 0, b, NULL, c->emb + (size_t)i * c->model->hp.n_embd);
        if (want)
            row += llm_forward_output(c, b, want + i, c->out_logits + (size_t)row * c->model->hp.n_vocab);
        else if (i + b == n)
            llm_forward_output(c, b, NULL, c->out_logits);
        c->pos += b;
    }
    if (atomic_load(&c->mc.stopped)) { /* the flag only: a finished decode is not undone */
        c->pos = pos0;
        return llm_fail(err, LLM_ERR_ABORTED, "llm_decode: stopped by the abort callback; no position advanced");
    }
    for (int32_t i = 0, r = 0; want && i < n; i++) c->out_row[i] = want[i] ? r++ : -1;
    c->out_n = n;
    c->out_last_only = !want;
    c->has_logits = true;
    if (c->embeddings) {
        pool_embeddings(c, n);
        c->has_emb = true;
    }
    return LLM_OK;
}

llm_status llm_decode(llm_ctx *c, const int32_t *tokens, int32_t n, llm_error *err) {
    return llm_decode_ex(c, tokens, n, NULL, err);
}

const float *llm_logits_ith(const llm_ctx *c, int32_t i) {
    if (!c || !c->has_logits) return NULL;
    if (i < 0) i += c->out_n;
    if (i < 0 || i >= c->out_n) return NULL;
    int32_t r = c->out_last_only ? (i == c->out_n - 1 ? 0 : -1) : c->out_row[i];
    return r < 0 ? NULL : c->out_logits + (size_t)r * c->model->hp.n_vocab;
}

const float *llm_logits(const llm_ctx *c) { return llm_logits_ith(c, -1); }

const float *llm_get_embeddings_ith(const llm_ctx *c, int32_t i) {
    if (!c || !c->has_emb) return NULL;
    if (i < 0) i += c->out_n;
    if (i < 0 || i >= c->out_n) return NULL;
    return c->emb + (size_t)i * c->model->hp.n_embd;
}

const float *llm_get_embeddings(const llm_ctx *c) {
    return c && c->has_emb && c->pooling != LLM_POOLING_NONE ? c->pooled : NULL;
}
