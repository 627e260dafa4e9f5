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
    *shared = v[5] > 0;
    return llm_hparams_validate(h, err);
}

llm_status l2c_place_tensors(const void *data, size_t size, const llm_hparams *h, bool shared, l2c_layout *t,
                             llm_error *err) {
    static const char *const names[L2C_N_STACKS] = {"rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3"};
    int64_t dim = h->n_embd, kv_dim = (int64_t)h->n_head_kv * h->head_dim, ff = h->n_ff;
    const int64_t ne[L2C_N_STACKS][2] = {{dim, 1}, {dim, dim}, {dim, kv_dim}, {dim, kv_dim}, {dim, dim},
                                         {dim, 1}, {dim, ff},  {ff, dim},     {dim, ff}};
    l2c_cursor c = {(const float *)((const unsigned char *)data + L2C_HEADER), (size - L2C_HEADER) / sizeof(float)};
    uint64_t vocab_floats = (uint64_t)dim * (uint64_t)h->n_vocab;
    llm_status s = take(&c, vocab_floats, "token_embedding", &t->emb, err);
    for (int i = 0; !s && i < L2C_N_STACKS; i++) {
        memcpy(t->ne[i], ne[i], sizeof ne[i]);
        s = take(&c, (uint64_t)ne[i][0] * (uint64_t)ne[i][1] * (uint64_t)h->n_layer, names[i], &t->stack[i], err);
    }
    if (!s) s = take(&c, (uint64_t)dim, "rms_final", &t->final_norm, err);
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

/* Each stack's tensors as the layers' views, in file order. */
static void set_layers(llm_model *m, const l2c_layout *t) {
    static const size_t off[L2C_N_STACKS] = {
        offsetof(llm_layer, attn_norm), offsetof(llm_layer, wq), offsetof(llm_layer, wk),
        offsetof(llm_layer, wv), offsetof(llm_layer, wo), offsetof(llm_layer, ffn_norm),
        offsetof(llm_layer, w_gate), offsetof(llm_layer, w_down), offsetof(llm_layer, w_up),
    };
    for (int i = 0; i < L2C_N_STACKS; i++) {
        uint64_t per = (uint64_t)t->ne[i][0] * (uint64_t)t->ne[i][1];
        for (int l = 0; l < m->hp.n_layer; l++) {
            llm_tensor *v = (llm_tensor *)((char *)&m->layers[l] + off[i]);
            *v = f32_view(t->stack[i] + per * (uint64_t)l, t->ne[i][0], t->ne[i][1]);
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
    llm_status s = llm_map_open(&m->map, path, err);
    if (s) return s;
    bool shared = false;
    l2c_layout t;
    /* Vocabulary size, dims and counts are checked before any sizes are
     * multiplied or anything is allocated. */
    if ((s = l2c_read_header(m->map.data, m->map.size, &m->hp, &shared, err)) ||
        (s = load_vocab(m, path, tok_path, err)) || (s = llm_model_validate(m, err)) ||
        (s = l2c_place_tensors(m->map.data, m->map.size, &m->hp, shared, &t, err)))
        return s;
    snprintf(m->arch, sizeof m->arch, "llama");
    m->ftype = LLM_DT_F32;
    const llm_hparams *h = &m->hp;
    m->layers = llm_calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %d layers", h->n_layer);
    set_layers(m, &t);
    m->tok_embd = f32_view(t.emb, h->n_embd, h->n_vocab);
    m->output_norm = f32_view(t.final_norm, h->n_embd, 1);
    m->output = f32_view(t.cls, h->n_embd, h->n_vocab);
    return LLM_OK;
}
