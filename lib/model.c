#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"

/* Sanity bounds on hyper-parameters, far above any model libllm targets;
 * they keep products such as n_layer * n_ctx * kv_dim inside 64 bits and
 * turn nonsense headers into errors before anything is allocated. */
#define MAX_EMBD   (1 << 16)
#define MAX_FF     (1 << 18)
#define MAX_LAYER  1024
#define MAX_HEAD   1024

llm_model_params llm_model_default_params(void) {
    llm_model_params p = {.tokenizer_path = NULL};
    return p;
}

llm_status llm_hparams_validate(const llm_hparams *h, llm_error *err) {
    if (h->n_embd <= 0 || h->n_embd > MAX_EMBD || h->n_ff <= 0 || h->n_ff > MAX_FF ||
        h->n_layer <= 0 || h->n_layer > MAX_LAYER || h->n_head <= 0 || h->n_head > MAX_HEAD ||
        h->n_head_kv <= 0 || h->n_vocab <= 0 || h->n_vocab > LLM_MAX_VOCAB || h->n_ctx_train <= 0)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "hyper-parameters out of range: dim %d, ffn %d, layers %d, heads %d, kv heads %d, vocab %d, context %d",
                        h->n_embd, h->n_ff, h->n_layer, h->n_head, h->n_head_kv, h->n_vocab, h->n_ctx_train);
    if (h->n_embd % h->n_head)
        return llm_fail(err, LLM_ERR_FORMAT, "embedding size %d is not a multiple of the head count %d",
                        h->n_embd, h->n_head);
    if (h->n_head % h->n_head_kv)
        return llm_fail(err, LLM_ERR_FORMAT, "head count %d is not a multiple of the KV head count %d",
                        h->n_head, h->n_head_kv);
    if (h->n_rot <= 0 || h->n_rot > h->head_dim || h->n_rot % 2)
        return llm_fail(err, LLM_ERR_FORMAT, "rope dimension %d must be even and at most the head size %d",
                        h->n_rot, h->head_dim);
    if (!(h->rope_base > 0) || !(h->rms_eps >= 0))
        return llm_fail(err, LLM_ERR_FORMAT, "rope base %g or rms epsilon %g out of range",
                        (double)h->rope_base, (double)h->rms_eps);
    return LLM_OK;
}

llm_status llm_model_validate(const llm_model *m, llm_error *err) {
    const llm_hparams *h = &m->hp;
    llm_status s = llm_hparams_validate(h, err);
    if (s) return s;
    if (m->vocab.n != h->n_vocab)
        return llm_fail(err, LLM_ERR_FORMAT, "vocabulary has %d tokens but the embedding has %d rows",
                        m->vocab.n, h->n_vocab);
    return LLM_OK;
}

/* ---------------------------------------------------------------- GGUF */

/* Reads one weight of the expected shape (ne0 columns, ne1 rows; ne1 == 1
 * for vectors) into a view of the mapped data. Shape and type are checked
 * here so the forward pass never has to. */
static llm_status gguf_weight(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1,
                              llm_tensor *t, llm_error *err) {
    const gguf_tensor *g = gguf_find_tensor(f, name);
    if (!g) return llm_fail(err, LLM_ERR_FORMAT, "missing tensor '%s'", name);
    if (g->ne[0] != ne0 || g->ne[1] != ne1 || g->ne[2] != 1 || g->ne[3] != 1)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
                        (long long)g->ne[0], (long long)g->ne[1], (long long)g->ne[2],
                        (long long)g->ne[3], (long long)ne0, (long long)ne1);
    if (!llm_dtype_supported(g->type))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "tensor '%s' has type %s, which this build cannot compute with",
                        name, llm_dtype_name(g->type));
    t->data = g->data;
    t->type = g->type;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    return LLM_OK;
}

static llm_status layer_weights(const gguf_file *f, const llm_hparams *h, int l, llm_layer *L,
                                llm_error *err) {
    int64_t dim = h->n_embd, q_dim = (int64_t)h->n_head * h->head_dim;
    int64_t kv_dim = (int64_t)h->n_head_kv * h->head_dim, ff = h->n_ff;
    struct { const char *name; llm_tensor *t; int64_t ne0, ne1; } w[] = {
        {"attn_norm", &L->attn_norm, dim, 1},  {"attn_q", &L->wq, dim, q_dim},
        {"attn_k", &L->wk, dim, kv_dim},       {"attn_v", &L->wv, dim, kv_dim},
        {"attn_output", &L->wo, q_dim, dim},   {"ffn_norm", &L->ffn_norm, dim, 1},
        {"ffn_gate", &L->w_gate, dim, ff},     {"ffn_down", &L->w_down, ff, dim},
        {"ffn_up", &L->w_up, dim, ff},
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, w[i].name);
        llm_status s = gguf_weight(f, name, w[i].ne0, w[i].ne1, w[i].t, err);
        if (s) return s;
    }
    return LLM_OK;
}

static llm_status gguf_u32_or(const gguf_file *f, const char *key, uint32_t def, int32_t *out,
                              llm_error *err) {
    uint32_t v = def;
    if (gguf_find_kv(f, key)) {
        llm_status s = gguf_get_u32(f, key, &v, err);
        if (s) return s;
    }
    if (v > INT32_MAX) return llm_fail(err, LLM_ERR_FORMAT, "metadata key '%s' is out of range", key);
    *out = (int32_t)v;
    return LLM_OK;
}

static llm_status gguf_f32_or(const gguf_file *f, const char *key, float def, float *out,
                              llm_error *err) {
    *out = def;
    return gguf_find_kv(f, key) ? gguf_get_f32(f, key, out, err) : LLM_OK;
}

/* Hyper-parameters from the llama.* keys. Required keys have no default
 * (UINT32_MAX marks them); optional ones default as llama.cpp does. */
static llm_status gguf_hparams(const gguf_file *f, llm_hparams *h, llm_error *err) {
    struct { const char *key; int32_t *out; uint32_t def; } ints[] = {
        {"llama.embedding_length", &h->n_embd, UINT32_MAX},
        {"llama.feed_forward_length", &h->n_ff, UINT32_MAX},
        {"llama.block_count", &h->n_layer, UINT32_MAX},
        {"llama.attention.head_count", &h->n_head, UINT32_MAX},
        {"llama.context_length", &h->n_ctx_train, UINT32_MAX},
    };
    llm_status s;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!gguf_find_kv(f, ints[i].key))
            return llm_fail(err, LLM_ERR_FORMAT, "missing metadata key '%s'", ints[i].key);
        if ((s = gguf_u32_or(f, ints[i].key, ints[i].def, ints[i].out, err))) return s;
    }
    if (h->n_head <= 0 || h->n_embd % h->n_head)
        return llm_fail(err, LLM_ERR_FORMAT, "embedding size %d is not a multiple of the head count %d",
                        h->n_embd, h->n_head);
    h->head_dim = h->n_embd / h->n_head;
    if ((s = gguf_u32_or(f, "llama.attention.head_count_kv", (uint32_t)h->n_head, &h->n_head_kv, err)) ||
        (s = gguf_u32_or(f, "llama.rope.dimension_count", (uint32_t)h->head_dim, &h->n_rot, err)) ||
        (s = gguf_f32_or(f, "llama.rope.freq_base", 10000.0f, &h->rope_base, err)) ||
        (s = gguf_f32_or(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &h->rms_eps, err)))
        return s;
    return LLM_OK;
}

llm_status llm_model_load_gguf(llm_model *m, const char *path, llm_error *err) {
    llm_status s = gguf_open(&m->gguf, path, err);
    return s ? s : llm_model_from_gguf(m, err);
}

llm_status llm_model_from_gguf(llm_model *m, llm_error *err) {
    const gguf_file *f = &m->gguf;
    gguf_str arch;
    llm_status s = gguf_get_str(f, "general.architecture", &arch, err);
    if (s) return s;
    if (!gguf_str_eq(arch, "llama"))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (llama is)",
                        (int)(arch.len > 32 ? 32 : arch.len), arch.ptr);
    snprintf(m->arch, sizeof m->arch, "llama");
    llm_hparams *h = &m->hp;
    if ((s = gguf_hparams(f, h, err))) return s;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return llm_fail(err, LLM_ERR_FORMAT, "missing tensor 'token_embd.weight'");
    h->n_vocab = emb->ne[1] > LLM_MAX_VOCAB ? -1 : (int32_t)emb->ne[1];
    if ((s = llm_vocab_from_gguf(&m->vocab, f, err)) || (s = llm_model_validate(m, err))) return s;
    if ((s = gguf_weight(f, "token_embd.weight", h->n_embd, h->n_vocab, &m->tok_embd, err)) ||
        (s = gguf_weight(f, "output_norm.weight", h->n_embd, 1, &m->output_norm, err)))
        return s;
    if (gguf_find_tensor(f, "output.weight")) {
        if ((s = gguf_weight(f, "output.weight", h->n_embd, h->n_vocab, &m->output, err))) return s;
    } else {
        m->output = m->tok_embd;
    }
    m->layers = llm_calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %d layers", h->n_layer);
    for (int l = 0; l < h->n_layer; l++)
        if ((s = layer_weights(f, h, l, &m->layers[l], err))) return s;
    m->ftype = m->layers[0].wq.type;
    return LLM_OK;
}

/* ---------------------------------------------------------------- public */

llm_model *llm_model_load(const char *path, const llm_model_params *params, llm_error *err) {
    if (!path) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_model_load: path is NULL");
        return NULL;
    }
    llm_model_params p = params ? *params : llm_model_default_params();
    llm_model *m = llm_calloc(1, sizeof *m);
    if (!m) {
        llm_fail(err, LLM_ERR_NOMEM, "out of memory for the model");
        return NULL;
    }
    llm_map probe;
    llm_status s = llm_map_open(&probe, path, err);
    if (s == LLM_OK) {
        bool is_gguf = gguf_is_gguf(probe.data, probe.size);
        llm_map_close(&probe);
        s = is_gguf ? llm_model_load_gguf(m, path, err)
                    : llm_model_load_llama2c(m, path, p.tokenizer_path, err);
    }
    if (s) {
        if (err && !strstr(err->msg, path)) llm_error_prefix(err, path);
        llm_model_free(m);
        return NULL;
    }
    return m;
}

void llm_model_free(llm_model *m) {
    if (!m) return;
    free(m->layers);
    llm_vocab_free(&m->vocab);
    gguf_close(&m->gguf);
    llm_map_close(&m->map);
    free(m);
}

int32_t llm_model_n_vocab(const llm_model *m) { return m ? m->hp.n_vocab : 0; }
int32_t llm_model_n_ctx_train(const llm_model *m) { return m ? m->hp.n_ctx_train : 0; }
int32_t llm_model_n_embd(const llm_model *m) { return m ? m->hp.n_embd : 0; }
int32_t llm_model_n_layer(const llm_model *m) { return m ? m->hp.n_layer : 0; }
int32_t llm_model_n_head(const llm_model *m) { return m ? m->hp.n_head : 0; }
int32_t llm_model_n_head_kv(const llm_model *m) { return m ? m->hp.n_head_kv : 0; }

llm_status llm_model_desc(const llm_model *m, char *buf, size_t cap, size_t *needed) {
    if (!m || (!buf && cap)) return LLM_ERR_INVALID_ARG;
    const llm_hparams *h = &m->hp;
    char tmp[256];
    int n = snprintf(tmp, sizeof tmp,
                     "%s, %s, dim %d, ffn %d, %d layers, %d heads (%d kv), vocab %d, context %d",
                     m->arch, llm_dtype_name(m->ftype), h->n_embd, h->n_ff, h->n_layer, h->n_head,
                     h->n_head_kv, h->n_vocab, h->n_ctx_train);
    size_t len = (size_t)n + 1;
    if (needed) *needed = len;
    if (len > cap) return LLM_ERR_BUFFER_TOO_SMALL;
    memcpy(buf, tmp, len);
    return LLM_OK;
}
