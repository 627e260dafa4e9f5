/* llama2.c legacy (version 0) checkpoints: a header of 7 int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len),
 * then fp32 tensors back to back, each stacked over layers. A negative
 * vocab_size means a separate classifier follows the RoPE tables. The
 * tensors are mapped onto the same llm_model a GGUF file gives, pointing
 * into the map, so nothing is copied. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"
#include "model.h"

typedef struct l2c_header {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} l2c_header;

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

static llm_tensor f32_view(const float *data, int64_t ne0, int64_t ne1) {
    llm_tensor t = {data, LLM_DT_F32, {ne0, ne1}};
    return t;
}

/* Per-layer stacks in file order: the llama layer tensors that have a
 * llama2.c name, in the order of the table (arch.h). */
static llm_status read_layers(llm_model *m, l2c_cursor *c, llm_error *err) {
    const llm_hparams *h = &m->hp;
    for (int i = 0; i < LLM_LT_COUNT; i++) {
        const llm_layer_tensor *lt = &llm_layer_tensors[i];
        if (!lt->l2c) continue;
        int64_t ne0 = llm_arch_dim(m->arch, h, lt->ne0), ne1 = llm_arch_dim(m->arch, h, lt->part[0]);
        uint64_t per = (uint64_t)ne0 * (uint64_t)ne1;
        const float *data = NULL;
        llm_status s = take(c, per * (uint64_t)h->n_layer, lt->l2c, &data, err);
        if (s) return s;
        for (int l = 0; l < h->n_layer; l++) {
            llm_tensor t = f32_view(data + per * (uint64_t)l, ne0, ne1);
            llm_layer_set(&m->layers[l], m, (llm_lt)i, &t);
        }
    }
    return LLM_OK;
}

static llm_status read_hparams(llm_model *m, const l2c_header *hd, llm_error *err) {
    llm_hparams *h = &m->hp;
    if (hd->dim <= 0 || hd->n_heads <= 0 || hd->dim % hd->n_heads || hd->vocab_size == INT32_MIN)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "not a GGUF file, and not a llama2.c checkpoint: header dim %d, heads %d, vocab %d",
                        hd->dim, hd->n_heads, hd->vocab_size);
    *h = (llm_hparams){
        .n_vocab = abs(hd->vocab_size), .n_embd = hd->dim, .n_ff = hd->hidden_dim,
        .n_layer = hd->n_layers, .n_head = hd->n_heads, .n_head_kv = hd->n_kv_heads,
        .head_dim = hd->dim / hd->n_heads, .n_ctx_train = hd->seq_len,
        .rope_base = 10000.0f, .rope_scale = 1.0f, .rms_eps = 1e-5f,
    };
    h->n_rot = h->head_dim;
    llm_hparams_defaults(h);
    return LLM_OK;
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
    m->arch = llm_arch_llama();
    l2c_header hd;
    if (m->map.size < sizeof hd)
        return llm_fail(err, LLM_ERR_FORMAT, "not a GGUF file, and too short for a llama2.c checkpoint (%zu bytes)",
                        m->map.size);
    memcpy(&hd, m->map.data, sizeof hd);
    if ((s = read_hparams(m, &hd, err))) return s;
    /* Vocabulary size, dims and counts are checked before any sizes are
     * multiplied or anything is allocated. */
    if ((s = llm_hparams_validate(&m->hp, err)) || (s = load_vocab(m, path, tok_path, err)) || (s = llm_model_validate(m, err))) return s;
    m->ftype = LLM_DT_F32;
    const llm_hparams *h = &m->hp;
    l2c_cursor c = {(const float *)(m->map.data + sizeof hd), (m->map.size - sizeof hd) / sizeof(float)};
    const float *emb = NULL, *final_norm = NULL, *rope = NULL, *cls = NULL;
    uint64_t dim = (uint64_t)h->n_embd;
    if ((s = take(&c, dim * (uint64_t)h->n_vocab, "token_embedding", &emb, err))) return s;
    m->layers = llm_calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %d layers", h->n_layer);
    if ((s = read_layers(m, &c, err)) || (s = take(&c, dim, "rms_final", &final_norm, err)) ||
        (s = take(&c, (uint64_t)h->n_ctx_train * (uint64_t)h->head_dim, "freq_cis", &rope, err)))
        return s;
    m->tok_embd = f32_view(emb, h->n_embd, h->n_vocab);
    m->output_norm = f32_view(final_norm, h->n_embd, 1);
    m->output = m->tok_embd;
    if (hd.vocab_size < 0) {
        if ((s = take(&c, dim * (uint64_t)h->n_vocab, "wcls", &cls, err))) return s;
        m->output = f32_view(cls, h->n_embd, h->n_vocab);
    }
    llm_layer_rules(m);
    return LLM_OK;
}
