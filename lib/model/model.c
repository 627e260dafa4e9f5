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
                        name, llm_type_name(g->type));
    t->data = g->data;
    t->type = g->type;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    return LLM_OK;
}

/* An optional F32 vector of n elements: absent leaves t zeroed (data NULL). */
static llm_status gguf_opt_vector(const gguf_file *f, const char *name, int64_t n, llm_tensor *t,
                                  llm_error *err) {
    if (!gguf_find_tensor(f, name)) return LLM_OK;
    llm_status s = gguf_weight(f, name, n, 1, t, err);
    if (s == LLM_OK && t->type != LLM_DT_F32)
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "tensor '%s' has type %s; only F32 is supported for it",
                        name, llm_type_name(t->type));
    return s;
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
    struct { const char *name; llm_tensor *t; int64_t n; } b[] = {
        {"attn_q", &L->bq, q_dim}, {"attn_k", &L->bk, kv_dim}, {"attn_v", &L->bv, kv_dim},
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.%s.bias", l, b[i].name);
        llm_status s = gguf_opt_vector(f, name, b[i].n, b[i].t, err);
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

/* The architectures libllm runs: all are the Llama block; they differ in
 * the RoPE layout and in whether q, k, v carry biases (optional tensors,
 * picked up whenever present). */
static const struct { const char *name; bool rope_neox; } archs[] = {
    {"llama", false},
    {"qwen2", true},
};

static llm_status arch_u32(const gguf_file *f, const char *arch, const char *key, uint32_t def,
                           int32_t *out, llm_error *err) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (def == UINT32_MAX && !gguf_find_kv(f, full))
        return llm_fail(err, LLM_ERR_FORMAT, "missing metadata key '%s'", full);
    return gguf_u32_or(f, full, def, out, err);
}

static llm_status arch_f32(const gguf_file *f, const char *arch, const char *key, float def,
                           float *out, llm_error *err) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_f32_or(f, full, def, out, err);
}

/* Linear RoPE scaling: positions are compressed by a factor, from
 * ARCH.rope.scaling.factor (with ARCH.rope.scaling.type "linear", or no
 * type at all, as llama.cpp reads it) or the older ARCH.rope.scale_linear.
 * Other scaling types are refused by name rather than silently ignored. */
static llm_status rope_scaling(const gguf_file *f, const char *arch, llm_hparams *h, llm_error *err) {
    char key[96];
    float factor = 1.0f;
    llm_status s;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (gguf_find_kv(f, key)) {
        gguf_str type;
        if ((s = gguf_get_str(f, key, &type, err))) return s;
        if (gguf_str_eq(type, "none")) {
            h->rope_scale = 1.0f;
            return LLM_OK;
        }
        if (!gguf_str_eq(type, "linear"))
            return llm_fail(err, LLM_ERR_UNSUPPORTED, "RoPE scaling '%.*s' is not supported (none and linear are)",
                            (int)(type.len > 32 ? 32 : type.len), type.ptr);
    }
    if ((s = arch_f32(f, arch, "rope.scale_linear", 1.0f, &factor, err)) ||
        (s = arch_f32(f, arch, "rope.scaling.factor", factor, &factor, err)))
        return s;
    if (!(factor >= 1.0f && factor <= 1e6f))
        return llm_fail(err, LLM_ERR_FORMAT, "RoPE scaling factor %g out of range (1 to 1e6)", (double)factor);
    h->rope_scale = 1.0f / factor;
    return LLM_OK;
}

/* The optional per-pair divisors of the RoPE frequencies: each must be a
 * positive finite number, or every angle after it would be NaN or inf. */
static llm_status rope_factors(const gguf_file *f, llm_model *m, llm_error *err) {
    llm_status s = gguf_opt_vector(f, "rope_freqs.weight", m->hp.n_rot / 2, &m->rope_freqs, err);
    if (s || !m->rope_freqs.data) return s;
    const float *v = m->rope_freqs.data;
    for (int i = 0; i < m->hp.n_rot / 2; i++)
        if (!(v[i] > 0.0f && v[i] <= 1e30f))
            return llm_fail(err, LLM_ERR_FORMAT, "tensor 'rope_freqs.weight': factor %d is %g, not a positive number",
                            i, (double)v[i]);
    return LLM_OK;
}

/* Hyper-parameters from the ARCH.* keys. Required keys have no default
 * (UINT32_MAX marks them); optional ones default as llama.cpp does. */
static llm_status gguf_hparams(const gguf_file *f, const char *arch, llm_hparams *h, llm_error *err) {
    struct { const char *key; int32_t *out; } ints[] = {
        {"embedding_length", &h->n_embd},     {"feed_forward_length", &h->n_ff},
        {"block_count", &h->n_layer},         {"attention.head_count", &h->n_head},
        {"context_length", &h->n_ctx_train},
    };
    llm_status s;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if ((s = arch_u32(f, arch, ints[i].key, UINT32_MAX, ints[i].out, err))) return s;
    if (h->n_head <= 0 || h->n_embd % h->n_head)
        return llm_fail(err, LLM_ERR_FORMAT, "embedding size %d is not a multiple of the head count %d",
                        h->n_embd, h->n_head);
    h->head_dim = h->n_embd / h->n_head;
    if ((s = arch_u32(f, arch, "attention.head_count_kv", (uint32_t)h->n_head, &h->n_head_kv, err)) ||
        (s = arch_u32(f, arch, "rope.dimension_count", (uint32_t)h->head_dim, &h->n_rot, err)) ||
        (s = arch_f32(f, arch, "rope.freq_base", 10000.0f, &h->rope_base, err)) ||
        (s = arch_f32(f, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &h->rms_eps, err)))
        return s;
    return rope_scaling(f, arch, h, err);
}

llm_status llm_model_load_gguf(llm_model *m, const char *path, llm_error *err) {
    llm_status s = gguf_open(&m->gguf, path, err);
    return s ? s : llm_model_from_gguf(m, err);
}

/* tokenizer.chat_template, when the file has one: kept as a C string for
 * llm_chat_apply. One holding a NUL byte is no template (C strings cannot
 * carry it), which leaves the model usable with a built-in one. */
static llm_status chat_template(const gguf_file *f, llm_model *m, llm_error *err) {
    if (!gguf_find_kv(f, "tokenizer.chat_template")) return LLM_OK;
    gguf_str t;
    llm_status s = gguf_get_str(f, "tokenizer.chat_template", &t, err);
    if (s) return s;
    if (memchr(t.ptr, 0, t.len)) return LLM_OK;
    if (!(m->chat_template = gguf_str_dup(t)))
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the chat template");
    return LLM_OK;
}

llm_status llm_model_from_gguf(llm_model *m, llm_error *err) {
    const gguf_file *f = &m->gguf;
    gguf_str arch;
    llm_status s = gguf_get_str(f, "general.architecture", &arch, err);
    if (s) return s;
    size_t a = 0;
    while (a < sizeof archs / sizeof archs[0] && !gguf_str_eq(arch, archs[a].name)) a++;
    if (a == sizeof archs / sizeof archs[0])
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (llama and qwen2 are)",
                        (int)(arch.len > 32 ? 32 : arch.len), arch.ptr);
    snprintf(m->arch, sizeof m->arch, "%s", archs[a].name);
    llm_hparams *h = &m->hp;
    if ((s = gguf_hparams(f, m->arch, h, err))) return s;
    h->rope_neox = archs[a].rope_neox;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return llm_fail(err, LLM_ERR_FORMAT, "missing tensor 'token_embd.weight'");
    h->n_vocab = emb->ne[1] > LLM_MAX_VOCAB ? -1 : (int32_t)emb->ne[1];
    if ((s = llm_vocab_from_gguf(&m->vocab, f, err)) || (s = llm_model_validate(m, err))) return s;
    if ((s = chat_template(f, m, err))) return s;
    if ((s = gguf_weight(f, "token_embd.weight", h->n_embd, h->n_vocab, &m->tok_embd, err)) ||
        (s = gguf_weight(f, "output_norm.weight", h->n_embd, 1, &m->output_norm, err)))
        return s;
    if (gguf_find_tensor(f, "output.weight")) {
        if ((s = gguf_weight(f, "output.weight", h->n_embd, h->n_vocab, &m->output, err))) return s;
    } else {
        m->output = m->tok_embd;
    }
    if ((s = rope_factors(f, m, err))) return s;
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
    free(m->chat_template);
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
                     m->arch, llm_type_name(m->ftype), h->n_embd, h->n_ff, h->n_layer, h->n_head,
                     h->n_head_kv, h->n_vocab, h->n_ctx_train);
    size_t len = (size_t)n + 1;
    if (needed) *needed = len;
    if (len > cap) return LLM_ERR_BUFFER_TOO_SMALL;
    memcpy(buf, tmp, len);
    return LLM_OK;
}
