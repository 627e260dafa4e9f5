#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define MAX_CTX (1 << 20)

llm_ctx_params llm_ctx_default_params(void) {
    llm_ctx_params p = {.n_ctx = 0, .n_threads = 1};
    return p;
}

/* Lays the buffers out in one allocation. Sizes come from validated
 * hyper-parameters bounded by model.c, and n_ctx is bounded here, so the
 * products below fit comfortably in 64 bits; the total is still checked
 * against SIZE_MAX for 32-bit hosts. */
static llm_status alloc_buffers(llm_ctx *c, llm_error *err) {
    const llm_hparams *h = &c->model->hp;
    uint64_t dim = (uint64_t)h->n_embd, q_dim = (uint64_t)h->n_head * (uint64_t)h->head_dim;
    uint64_t kv = (uint64_t)h->n_layer * (uint64_t)c->n_ctx * (uint64_t)h->n_head_kv * (uint64_t)h->head_dim;
    struct { float **p; uint64_t n; } parts[] = {
        {&c->x, dim}, {&c->xb, dim}, {&c->xb2, dim}, {&c->q, q_dim},
        {&c->hb, (uint64_t)h->n_ff}, {&c->hb2, (uint64_t)h->n_ff},
        {&c->att, (uint64_t)h->n_head * (uint64_t)c->n_ctx}, {&c->norm_w, dim},
        {&c->rope_freq, (uint64_t)h->n_rot / 2}, {&c->logits, (uint64_t)h->n_vocab},
        {&c->key_cache, kv}, {&c->value_cache, kv},
    };
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) total += parts[i].n;
    if (total > SIZE_MAX / sizeof(float))
        return llm_fail(err, LLM_ERR_NOMEM, "context of %d tokens is too large for this machine", c->n_ctx);
    c->arena = calloc((size_t)total, sizeof(float));
    if (!c->arena)
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a context of %d tokens (%llu bytes)",
                        c->n_ctx, (unsigned long long)(total * sizeof(float)));
    float *p = c->arena;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        *parts[i].p = p;
        p += parts[i].n;
    }
    for (int i = 0; i < h->n_rot / 2; i++)
        c->rope_freq[i] = 1.0f / powf(h->rope_base, (float)(2 * i) / (float)h->n_rot);
    return LLM_OK;
}

llm_ctx *llm_ctx_new(const llm_model *model, const llm_ctx_params *params, llm_error *err) {
    if (!model) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_new: model is NULL");
        return NULL;
    }
    llm_ctx_params p = params ? *params : llm_ctx_default_params();
    if (p.n_ctx < 0 || p.n_ctx > MAX_CTX || p.n_threads < 1 || p.n_threads > 256) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_new: n_ctx %d (0 to %d) or n_threads %d (1 to 256) out of range",
                 p.n_ctx, MAX_CTX, p.n_threads);
        return NULL;
    }
    llm_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        llm_fail(err, LLM_ERR_NOMEM, "out of memory for a context");
        return NULL;
    }
    c->model = model;
    c->n_ctx = p.n_ctx ? p.n_ctx : (model->hp.n_ctx_train < 2048 ? model->hp.n_ctx_train : 2048);
    if (alloc_buffers(c, err) != LLM_OK ||
        (p.n_threads > 1 && llm_pool_new(&c->pool, p.n_threads, err) != LLM_OK)) {
        llm_ctx_free(c);
        return NULL;
    }
    return c;
}

void llm_ctx_free(llm_ctx *c) {
    if (!c) return;
    llm_pool_free(c->pool);
    free(c->arena);
    free(c);
}

int32_t llm_ctx_n_ctx(const llm_ctx *c) { return c ? c->n_ctx : 0; }
int32_t llm_ctx_pos(const llm_ctx *c) { return c ? c->pos : 0; }

llm_status llm_ctx_truncate(llm_ctx *c, int32_t pos) {
    if (!c || pos < 0 || pos > c->pos) return LLM_ERR_INVALID_ARG;
    c->pos = pos;
    c->has_logits = false;
    return LLM_OK;
}

llm_status llm_decode(llm_ctx *c, const int32_t *tokens, int32_t n, llm_error *err) {
    if (!c || !tokens || n <= 0)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode: NULL context or tokens, or n %d <= 0", n);
    if (n > c->n_ctx - c->pos)
        return llm_fail(err, LLM_ERR_CONTEXT_FULL, "context full: %d tokens do not fit, %d of %d positions used",
                        n, c->pos, c->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->model->hp.n_vocab)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode: token %d at index %d is outside the vocabulary (0..%d)",
                            tokens[i], i, c->model->hp.n_vocab - 1);
    for (int32_t i = 0; i < n; i++) {
        llm_forward(c, tokens[i]);
        c->pos++;
    }
    c->has_logits = true;
    return LLM_OK;
}

const float *llm_logits(const llm_ctx *c) {
    return c && c->has_logits ? c->logits : NULL;
}
