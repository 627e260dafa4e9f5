/* The llama2.c checkpoint reader (llama2c.h) and the loader built on it:
 * the tensors are mapped onto the same llm_model a GGUF file gives,
 * pointing into the map, so nothing is copied. */
#include "llama2c.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"
#include "gguf.h"

#define L2C_HEADER 28

/* A cursor over the float data that hands out consecutive tensors and
 * refuses to run past the end of the file. */
typedef struct l2c_cursor {
    const float *p;
    uint64_t left; /* floats remaining */
} l2c_cursor;

static llm_status take(l2c_cursor *c, uint64_t n, const char *what, const float **out, llm_error *err) {
    if (n > c->left)
        return llm_fail(err, LLM_ERR_FORMAT, "truncated: %s needs %llu floats, %llu remain", what,
                        (unsigned long long)n, (unsigned long long)c->left);
    *out = c->p;
    c->p += n;
    c->left -= n;
    return LLM_OK;
}

llm_status l2c_read_header(const void *data, size_t size, llm_hparams *h, bool *shared, llm_error *err) {
    if (size < L2C_HEADER)
        return llm_fail(err, LLM_ERR_FORMAT, "not a GGUF file, and too short for a llama2.c checkpoint (%zu bytes)",
                        size);
    int32_t v[7]; /* dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len */
    for (int i = 0; i < 7; i++) v[i] = (int32_t)gguf_rd_u32((const unsigned char *)data + 4 * i);
    if (v[0] <= 0 || v[3] <= 0 || v[0] % v[3] || v[5] == INT32_MIN)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "not a GGUF file, and not a llama2.c checkpoint: header dim %d, heads %d, vocab %d", v[0],
                        v[3], v[5]);
    *h = (llm_hparams){
        .n_vocab = abs(v[5]), .n_embd = v[0], .n_ff = v[1], .n_layer = v[2], .n_head = v[3], .n_head_kv = v[4],
        .head_dim = v[0] / v[3], .n_ctx_train = v[6], .rope_base = 10000.0f, .rope_scale = 1.0f, .rms_eps = 1e-5f,
    };
    h->n_rot = h->head_dim;
    llm_hparams_defaults(h);
    *shared = v[5] > 0;
    return llm_hparams_validate(h, err);
}

llm_status l2c_place_tensors(const void *data, size_t size, const llm_arch *arch, const llm_hparams *h, bool shared,
                             l2c_layout *t, llm_error *err) {
    memset(t, 0, sizeof *t);
    l2c_cursor c = {(const float *)((const unsigned char *)data + L2C_HEADER), (size - L2C_HEADER) / sizeof(float)};
    uint64_t dim = (uint64_t)h->n_embd, vocab_floats = dim * (uint64_t)h->n_vocab;
    llm_status s = take(&c, vocab_floats, "token_embedding", &t->emb, err);
    for (int i = 0; !s && i < LLM_LT_COUNT; i++) {
        const llm_layer_tensor *lt = &llm_layer_tensors[i];
        if (!lt->l2c) continue;
        t->ne[i][0] = llm_arch_dim(arch, h, lt->ne0);
        t->ne[i][1] = llm_arch_dim(arch, h, lt->part[0]);
        s = take(&c, (uint64_t)t->ne[i][0] * (uint64_t)t->ne[i][1] * (uint64_t)h->n_layer, lt->l2c, &t->stack[i], err);
        t->n_stacks++;
    }
    if (!s) s = take(&c, dim, "rms_final", &t->final_norm, err);
    if (!s) s = take(&c, (uint64_t)h->n_ctx_train * (uint64_t)h->head_dim, "freq_cis", &t->freq_cis, err);
    t->cls = t->emb;
    if (!s && !shared) s = take(&c, vocab_floats, "wcls", &t->cls, err);
    uint64_t extra = c.left * sizeof(float) + (size - L2C_HEADER) % sizeof(float);
    if (!s && extra)
        s = llm_fail(err, LLM_ERR_FORMAT, "%llu bytes after the last tensor: not a llama2.c v0 checkpoint",
                     (unsigned long long)extra);
    return s;
}

static llm_tensor f32_view(const float *data, int64_t ne0, int64_t ne1) {
    llm_tensor t = {data, LLM_DT_F32, {ne0, ne1}};
    return t;
}

/* Each stack's tensors as the layers' views. */
static void set_layers(llm_model *m, const l2c_layout *t) {
    for (int i = 0; i < LLM_LT_COUNT; i++) {
        if (!t->stack[i]) continue;
        uint64_t per = (uint64_t)t->ne[i][0] * (uint64_t)t->ne[i][1];
        for (int l = 0; l < m->hp.n_layer; l++) {
            llm_tensor v = f32_view(t->stack[i] + per * (uint64_t)l, t->ne[i][0], t->ne[i][1]);
            llm_layer_set(&m->layers[l], m, (llm_lt)i, &v);
        }
    }
}

static llm_status load_vocab(llm_model *m, const char *path, const char *tok_path, llm_error *err) {
    char buf[4096];
    if (!tok_path) {
        const char *slash = strrchr(path, '/');
        int dir = slash ? (int)(slash - path + 1) : 0;
        if (snprintf(buf, sizeof buf, "%.*stokenizer.bin", dir, path) >= (int)sizeof buf)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "model path too long");
        tok_path = buf;
    }
    llm_map map;
    llm_status s = llm_map_open(&map, tok_path, err);
    if (s) return s;
    s = llm_vocab_from_llama2c(&m->vocab, map.data, map.size, m->hp.n_vocab, err);
    llm_map_close(&map);
    if (s) llm_error_prefix(err, tok_path);
    return s;
}

llm_status llm_model_load_llama2c(llm_model *m, const char *path, const char *tok_path,
                                  llm_error *err) {
    llm_status s;
    m->arch = llm_arch_llama();
    bool shared = false;
    l2c_layout t;
    /* Vocabulary size, dims and counts are checked before any sizes are
     * multiplied or anything is allocated. */
    if ((s = l2c_read_header(m->map.data, m->map.size, &m->hp, &shared, err)) ||
        (s = load_vocab(m, path, tok_path, err)) || (s = llm_model_validate(m, err)) ||
        (s = l2c_place_tensors(m->map.data, m->map.size, m->arch, &m->hp, shared, &t, err)))
        return s;
    m->ftype = LLM_DT_F32;
    const llm_hparams *h = &m->hp;
    m->layers = llm_calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %d layers", h->n_layer);
    set_layers(m, &t);
    m->tok_embd = f32_view(t.emb, h->n_embd, h->n_vocab);
    m->output_norm = f32_view(t.final_norm, h->n_embd, 1);
    m->output = f32_view(t.cls, h->n_embd, h->n_vocab);
    llm_layer_rules(m);
    return LLM_OK;
}
