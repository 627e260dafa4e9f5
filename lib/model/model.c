#include "model.h"

#include <math.h>
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
#define MAX_HEAD_DIM 1024

llm_model_params llm_model_default_params(void) {
    llm_model_params p = {.tokenizer_path = NULL, .vocab_only = false};
    return p;
}

/* The architectures' scales, caps and window: finite, and positive where
 * they multiply (a zero cap means none). */
static llm_status arch_hparams_validate(const llm_hparams *h, llm_error *err) {
    struct { const char *what; float v; bool zero_ok; } f[] = {
        {"embedding scale", h->embd_scale, false}, {"residual scale", h->residual_scale, false},
        {"attention scale", h->attn_scale, false}, {"logit scale", h->logit_scale, false},
        {"attention soft-cap", h->attn_softcap, true}, {"logit soft-cap", h->final_softcap, true},
        {"sliding-window rope base", h->rope_base_swa, false}, {"sliding-window rope scale", h->rope_scale_swa, false},
        {"rope attention factor", h->rope_attn_factor, false},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!((f[i].v > 0.0f || (f[i].zero_ok && f[i].v == 0.0f)) && f[i].v < 1e30f))
            return llm_fail(err, LLM_ERR_FORMAT, "%s %g out of range", f[i].what, (double)f[i].v);
    if (h->swa_window < 0 || h->swa_period < 0 || h->swa_period > MAX_LAYER)
        return llm_fail(err, LLM_ERR_FORMAT, "sliding window %d or its layer pattern %d out of range", h->swa_window,
                        h->swa_period);
    return LLM_OK;
}

llm_status llm_hparams_validate(const llm_hparams *h, llm_error *err) {
    if (h->n_embd <= 0 || h->n_embd > MAX_EMBD || h->n_ff <= 0 || h->n_ff > MAX_FF ||
        h->n_layer <= 0 || h->n_layer > MAX_LAYER || h->n_head <= 0 || h->n_head > MAX_HEAD ||
        h->n_head_kv <= 0 || h->n_vocab <= 0 || h->n_vocab > LLM_MAX_VOCAB || h->n_ctx_train <= 0)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "hyper-parameters out of range: dim %d, ffn %d, layers %d, heads %d, kv heads %d, vocab %d, context %d",
                        h->n_embd, h->n_ff, h->n_layer, h->n_head, h->n_head_kv, h->n_vocab, h->n_ctx_train);
    if (h->head_dim <= 0 || h->head_dim > MAX_HEAD_DIM)
        return llm_fail(err, LLM_ERR_FORMAT, "head size %d out of range (1 to %d)", h->head_dim, MAX_HEAD_DIM);
    if (h->n_head % h->n_head_kv)
        return llm_fail(err, LLM_ERR_FORMAT, "head count %d is not a multiple of the KV head count %d",
                        h->n_head, h->n_head_kv);
    if (h->n_rot <= 0 || h->n_rot > h->head_dim || h->n_rot % 2)
        return llm_fail(err, LLM_ERR_FORMAT, "rope dimension %d must be even and at most the head size %d",
                        h->n_rot, h->head_dim);
    return arch_hparams_validate(h, err);
}

llm_status llm_check_range(const char *what, double v, double lo, double hi, llm_error *err) {
    if (v >= lo && v <= hi) return LLM_OK;
    return llm_fail(err, LLM_ERR_FORMAT, "%s is %g, not a number from %g to %g", what, v, lo, hi);
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

void llm_layer_set(llm_layer *L, const llm_model *m, llm_lt which, const llm_tensor *t) {
    const llm_layer_tensor *lt = &llm_layer_tensors[which];
    uint64_t row = 0;
    llm_dtype_row_size(t->type, (uint64_t)t->ne[0], &row);
    int64_t first = 0;
    for (int i = 0; i < lt->n_parts; i++) {
        llm_tensor *v = (llm_tensor *)((char *)L + lt->field[i]);
        *v = *t;
        v->data = (const char *)t->data + (uint64_t)first * row;
        v->ne[1] = lt->n_parts > 1 ? llm_arch_dim(m->arch, &m->hp, lt->part[i]) : t->ne[1];
        first += v->ne[1];
    }
}

/* Layer l's tensors, those the architecture requires and those of its
 * optional ones the file has, each checked for its shape. */
static llm_status layer_weights(const gguf_file *f, const llm_model *m, int l, llm_layer *L, llm_error *err) {
    uint32_t all = llm_arch_all_tensors(m->arch);
    for (int i = 0; i < LLM_LT_COUNT; i++) {
        const llm_layer_tensor *lt = &llm_layer_tensors[i];
        char name[64];
        snprintf(name, sizeof name, "blk.%d.%s", l, lt->gguf);
        if (!(all & LLM_BIT(i)) || (!(m->arch->tensors & LLM_BIT(i)) && !gguf_find_tensor(f, name))) continue;
        llm_tensor t;
        llm_status s = gguf_weight(f, name, llm_arch_dim(m->arch, &m->hp, lt->ne0), llm_arch_rows(m->arch, &m->hp, lt), &t, err);
        if (s) return s;
        if (lt->f32 && t.type != LLM_DT_F32)
            return llm_fail(err, LLM_ERR_UNSUPPORTED, "tensor '%s' has type %s; only F32 is supported for it", name,
                            llm_type_name(t.type));
        llm_layer_set(L, m, (llm_lt)i, &t);
    }
    return LLM_OK;
}

void llm_layer_rules(llm_model *m) {
    const llm_hparams *h = &m->hp;
    int nope = m->arch->nope_period;
    for (int l = 0; l < h->n_layer; l++) {
        llm_layer *L = &m->layers[l];
        bool swa = h->swa_window > 0 && (h->swa_period == 0 || l % h->swa_period < h->swa_period - 1);
        L->window = swa ? h->swa_window : 0;
        L->rope = nope > 0 && (l + 1) % nope == 0 ? -1 : swa ? 1 : 0;
    }
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

static llm_status arch_u32(const gguf_file *f, const char *arch, const char *key, uint32_t def,
                           int32_t *out, llm_error *err) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (def == UINT32_MAX && !gguf_find_kv(f, full))
        return llm_fail(err, LLM_ERR_FORMAT, "missing metadata key '%s'", full);
    return gguf_u32_or(f, full, def, out, err);
}

/* ARCH.key, or def when absent; either must lie in [lo, hi]. */
static llm_status arch_f32(const gguf_file *f, const char *arch, const char *key, float def, double lo,
                           double hi, float *out, llm_error *err) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    llm_status s = gguf_f32_or(f, full, def, out, err);
    return s ? s : llm_check_range(full, *out, lo, hi, err);
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
    if ((s = arch_f32(f, arch, "rope.scale_linear", 1.0f, 1.0, 1e6, &factor, err)) ||
        (s = arch_f32(f, arch, "rope.scaling.factor", factor, 1.0, 1e6, &factor, err)))
        return s;
    h->rope_scale = 1.0f / factor;
    return LLM_OK;
}

/* An optional vector of per-pair divisors of the RoPE frequencies: each
 * must lie in [LLM_ROPE_FREQ_MIN, LLM_ROPE_FREQ_MAX], or the angles of
 * later positions overflow to inf and every logit is NaN. */
static llm_status rope_divisors(const gguf_file *f, const char *name, int n, llm_tensor *t, llm_error *err) {
    llm_status s = gguf_opt_vector(f, name, n, t, err);
    if (s || !t->data) return s;
    const float *v = t->data;
    for (int i = 0; i < n; i++)
        if (!(v[i] >= LLM_ROPE_FREQ_MIN && v[i] <= LLM_ROPE_FREQ_MAX))
            return llm_fail(err, LLM_ERR_FORMAT, "tensor '%s': factor %d is %g, not a positive number from %g to %g",
                            name, i, (double)v[i], LLM_ROPE_FREQ_MIN, LLM_ROPE_FREQ_MAX);
    return LLM_OK;
}

/* RoPE divisors: Llama 3.1's rope_freqs.weight, or Phi-3.5's LongRoPE
 * pair, rope_factors_short.weight for contexts up to the original length
 * (hp.n_ctx_orig) and rope_factors_long.weight beyond it, which the
 * context picks. */
static llm_status rope_factors(const gguf_file *f, llm_model *m, llm_error *err) {
    int n = m->hp.n_rot / 2;
    llm_status s;
    if ((s = rope_divisors(f, "rope_freqs.weight", n, &m->rope_freqs, err))) return s;
    if (m->rope_freqs.data || !gguf_find_tensor(f, "rope_factors_short.weight")) return LLM_OK;
    if ((s = rope_divisors(f, "rope_factors_short.weight", n, &m->rope_freqs, err))) return s;
    return rope_divisors(f, "rope_factors_long.weight", n, &m->rope_freqs_long, err);
}

void llm_hparams_defaults(llm_hparams *h) {
    h->rope_base_swa = h->rope_base;
    h->rope_scale_swa = h->rope_scale;
    h->embd_scale = h->residual_scale = h->logit_scale = h->rope_attn_factor = 1.0f;
    h->n_ctx_orig = h->n_ctx_train;
    h->attn_scale = 1.0f / sqrtf((float)h->head_dim);
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
    char key_length[96];
    snprintf(key_length, sizeof key_length, "%s.attention.key_length", arch);
    if (!gguf_find_kv(f, key_length) && (h->n_head <= 0 || h->n_embd % h->n_head))
        return llm_fail(err, LLM_ERR_FORMAT,
                        "embedding size %d is not a multiple of the head count %d, and no '%s' gives the head size",
                        h->n_embd, h->n_head, key_length);
    int32_t value_dim = 0;
    if ((s = arch_u32(f, arch, "attention.key_length", h->n_head > 0 ? (uint32_t)(h->n_embd / h->n_head) : 0,
                      &h->head_dim, err)) ||
        (s = arch_u32(f, arch, "attention.value_length", (uint32_t)h->head_dim, &value_dim, err)))
        return s;
    if (value_dim != h->head_dim)
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "value heads of %d differ from key heads of %d, which libllm cannot run",
                        value_dim, h->head_dim);
    if ((s = arch_u32(f, arch, "attention.head_count_kv", (uint32_t)h->n_head, &h->n_head_kv, err)) ||
        (s = arch_u32(f, arch, "rope.dimension_count", (uint32_t)h->head_dim, &h->n_rot, err)) ||
        (s = arch_f32(f, arch, "rope.freq_base", 10000.0f, LLM_ROPE_BASE_MIN, LLM_ROPE_BASE_MAX, &h->rope_base,
                      err)) ||
        (s = arch_f32(f, arch, "attention.layer_norm_rms_epsilon", 1e-5f, LLM_RMS_EPS_MIN, LLM_RMS_EPS_MAX,
                      &h->rms_eps, err)))
        return s;
    return rope_scaling(f, arch, h, err);
}

/* What the architecture adds to the common hyper-parameters: its scales,
 * soft-caps and sliding window, each from its key or the arch's default. */
static llm_status arch_hparams(const gguf_file *f, const llm_arch *a, llm_hparams *h, llm_error *err) {
    const char *p = a->name;
    llm_status s;
    llm_hparams_defaults(h);
    if ((s = arch_f32(f, p, "rope.scaling.attn_factor", 1.0f, 1.0 / LLM_SCALE_MAX, LLM_SCALE_MAX,
                      &h->rope_attn_factor, err)) ||
        (s = arch_u32(f, p, "rope.scaling.original_context_length", (uint32_t)h->n_ctx_orig, &h->n_ctx_orig, err)))
        return s;
    h->rope_neox = a->rope_neox;
    h->gelu = a->act == LLM_ACT_GELU_TANH;
    if (a->embd_scale_sqrt) h->embd_scale = sqrtf((float)h->n_embd);
    if (a->big_scale_layers && h->n_layer == a->big_scale_layers && h->n_head > 0)
        h->attn_scale = 1.0f / sqrtf((float)(h->n_embd / h->n_head));
    h->attn_softcap = a->keys & LLM_KEYS_ATTN_SOFTCAP ? a->attn_softcap : 0.0f;
    h->final_softcap = a->keys & LLM_KEYS_FINAL_SOFTCAP ? a->final_softcap : 0.0f;
    if ((s = arch_f32(f, p, "attention.scale", h->attn_scale, 0.0, LLM_SCALE_MAX, &h->attn_scale, err))) return s;
    if ((a->keys & LLM_KEYS_ATTN_SOFTCAP) &&
        (s = arch_f32(f, p, "attn_logit_softcapping", h->attn_softcap, 0.0, LLM_SCALE_MAX, &h->attn_softcap, err)))
        return s;
    if ((a->keys & LLM_KEYS_FINAL_SOFTCAP) &&
        (s = arch_f32(f, p, "final_logit_softcapping", h->final_softcap, 0.0, LLM_SCALE_MAX, &h->final_softcap,
                          err)))
        return s;
    if (a->keys & LLM_KEYS_SWA) {
        h->swa_period = a->swa_period;
        if (a->rope_base_swa > 0) {
            h->rope_base_swa = a->rope_base_swa;
            h->rope_scale_swa = 1.0f;
        }
        if ((s = arch_u32(f, p, "attention.sliding_window", 0, &h->swa_window, err)) ||
            (s = arch_u32(f, p, "attention.sliding_window_pattern", (uint32_t)h->swa_period, &h->swa_period, err)) ||
            (s = arch_f32(f, p, "rope.freq_base_swa", h->rope_base_swa, LLM_ROPE_BASE_MIN, LLM_ROPE_BASE_MAX,
                          &h->rope_base_swa, err)))
            return s;
    }
    if (a->keys & LLM_KEYS_GRANITE) {
        float logit = 1.0f;
        if ((s = arch_f32(f, p, "embedding_scale", 1.0f, 0.0, LLM_SCALE_MAX, &h->embd_scale, err)) ||
            (s = arch_f32(f, p, "residual_scale", 1.0f, 0.0, LLM_SCALE_MAX, &h->residual_scale, err)) ||
            (s = arch_f32(f, p, "logit_scale", 1.0f, 1.0 / LLM_SCALE_MAX, LLM_SCALE_MAX, &logit, err)))
            return s;
        h->logit_scale = 1.0f / logit;
    }
    return LLM_OK;
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

/* The norm views of layer l (l == n_layer: the output norm), n of them. */
static int norm_views(llm_model *m, int l, llm_tensor **v) {
    if (l == m->hp.n_layer) return v[0] = &m->output_norm, 1;
    llm_layer *L = &m->layers[l];
    v[0] = &L->attn_norm, v[1] = &L->attn_post_norm, v[2] = &L->ffn_norm, v[3] = &L->ffn_post_norm;
    return 4;
}

/* Norm weights stored narrower than F32 (F16 or BF16 attn_norm, ffn_norm,
 * post-norms, output_norm in some files; any readable type) are converted
 * once here into
 * m->norms, and their views become F32 views of it: the forward pass reads
 * every norm as floats in place. The conversion is exact, so results are
 * those of converting on each use. */
static llm_status norms_to_f32(llm_model *m, llm_error *err) {
    size_t n = 0;
    llm_tensor *v[4];
    for (int l = 0; l <= m->hp.n_layer; l++)
        for (int i = 0, k = norm_views(m, l, v); i < k; i++)
            if (v[i]->data && v[i]->type != LLM_DT_F32) n += (size_t)v[i]->ne[0];
    if (n == 0) return LLM_OK;
    if (!(m->norms = llm_malloc(n * sizeof *m->norms)))
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %zu norm weights as floats", n);
    float *p = m->norms;
    for (int l = 0; l <= m->hp.n_layer; l++)
        for (int i = 0, k = norm_views(m, l, v); i < k; i++) {
            if (!v[i]->data || v[i]->type == LLM_DT_F32) continue;
            llm_dtype(v[i]->type)->to_f32(v[i]->data, p, v[i]->ne[0]);
            *v[i] = (llm_tensor){p, LLM_DT_F32, {v[i]->ne[0], 1}};
            p += v[i]->ne[0];
        }
    return LLM_OK;
}

llm_status llm_model_from_gguf(llm_model *m, llm_error *err) {
    const gguf_file *f = &m->gguf;
    gguf_str arch;
    llm_status s = gguf_get_str(f, "general.architecture", &arch, err);
    if (s) return s;
    if (!(m->arch = llm_arch_find(arch.ptr, arch.len))) {
        char names[256];
        llm_arch_list(names, sizeof names);
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (%s are)",
                        (int)(arch.len > 32 ? 32 : arch.len), arch.ptr, names);
    }
    llm_hparams *h = &m->hp;
    if ((s = gguf_hparams(f, m->arch->name, h, err)) || (s = arch_hparams(f, m->arch, h, err))) return s;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return llm_fail(err, LLM_ERR_FORMAT, "missing tensor 'token_embd.weight'");
    h->n_vocab = emb->ne[1] > LLM_MAX_VOCAB ? -1 : (int32_t)emb->ne[1];
    if ((s = llm_vocab_from_gguf(&m->vocab, f, err)) || (s = llm_model_validate(m, err))) return s;
    if ((s = chat_template(f, m, err))) return s;
    if ((s = gguf_weight(f, "token_embd.weight", h->n_embd, h->n_vocab, &m->tok_embd, err)) ||
        (s = gguf_weight(f, "output_norm.weight", h->n_embd, 1, &m->output_norm, err)))
        return s;
    if (m->arch->head_required || gguf_find_tensor(f, "output.weight")) {
        if ((s = gguf_weight(f, "output.weight", h->n_embd, h->n_vocab, &m->output, err))) return s;
    } else {
        m->output = m->tok_embd;
    }
    if ((s = rope_factors(f, m, err))) return s;
    m->layers = llm_calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %d layers", h->n_layer);
    for (int l = 0; l < h->n_layer; l++)
        if ((s = layer_weights(f, m, l, &m->layers[l], err))) return s;
    llm_layer_rules(m);
    m->ftype = m->layers[0].wq.type;
    return norms_to_f32(m, err);
}

/* ---------------------------------------------------------------- public */

/* The vocabulary-only half of a GGUF model: the tokenizer, of any
 * architecture (nothing will run; m->arch is set when libllm knows it). */
static llm_status vocab_from_gguf(llm_model *m, llm_error *err) {
    gguf_str arch;
    llm_status s;
    if (gguf_find_kv(&m->gguf, "general.architecture")) {
        if ((s = gguf_get_str(&m->gguf, "general.architecture", &arch, err))) return s;
        m->arch = llm_arch_find(arch.ptr, arch.len);
    }
    if ((s = llm_vocab_from_gguf(&m->vocab, &m->gguf, err))) return s;
    m->hp.n_vocab = m->vocab.n;
    m->vocab_only = true;
    return LLM_OK;
}

static llm_status from_gguf(llm_model *m, const llm_model_params *p, llm_error *err) {
    return p->vocab_only ? vocab_from_gguf(m, err) : llm_model_from_gguf(m, err);
}

/* A zeroed model, or NULL with err filled. */
static llm_model *new_model(llm_error *err) {
    llm_model *m = llm_calloc(1, sizeof *m);
    if (!m) llm_fail(err, LLM_ERR_NOMEM, "out of memory for the model");
    return m;
}

/* The loaders' common end: the model, or NULL with the message naming
 * the source, which the parsers below never name themselves. */
static llm_model *loaded(llm_model *m, llm_status s, const char *source, llm_error *err) {
    if (!s) return m;
    llm_error_prefix(err, source);
    llm_model_free(m);
    return NULL;
}

/* The file is mapped once, into m->map, and read by the loader its first
 * bytes name. A failure to map is named with the path by llm_map_open;
 * any later one gets the path prefixed by loaded(). */
llm_model *llm_model_load(const char *path, const llm_model_params *params, llm_error *err) {
    if (!path) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_model_load: path is NULL");
        return NULL;
    }
    llm_model_params p = params ? *params : llm_model_default_params();
    llm_model *m = new_model(err);
    if (!m) return NULL;
    if (llm_map_open(&m->map, path, err)) {
        llm_model_free(m);
        return NULL;
    }
    llm_status s;
    if (gguf_is_gguf(m->map.data, m->map.size)) {
        if (!(s = gguf_parse(&m->gguf, m->map.data, m->map.size, err))) s = from_gguf(m, &p, err);
    } else if (!(s = llm_model_load_llama2c(m, path, p.tokenizer_path, err))) {
        m->vocab_only = p.vocab_only;
    }
    return loaded(m, s, path, err);
}

llm_model *llm_model_load_from_buffer(const void *data, size_t size, const llm_model_params *params,
                                      llm_error *err) {
    if (!data) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_model_load_from_buffer: data is NULL");
        return NULL;
    }
    if (!gguf_is_gguf(data, size)) {
        llm_fail(err, LLM_ERR_UNSUPPORTED, "llm_model_load_from_buffer: not a GGUF image (only GGUF is read from memory)");
        return NULL;
    }
    llm_model_params p = params ? *params : llm_model_default_params();
    llm_model *m = new_model(err);
    if (!m) return NULL;
    llm_status s = gguf_parse(&m->gguf, data, size, err);
    return loaded(m, s ? s : from_gguf(m, &p, err), "model in memory", err);
}

void llm_model_free(llm_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->norms);
    free(m->chat_template);
    llm_vocab_free(&m->vocab);
    gguf_close(&m->gguf);
    llm_map_close(&m->map);
    free(m);
}

int llm_model_vocab_only(const llm_model *m) { return m && m->vocab_only; }
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
    gguf_str arch = {"unknown", 7};
    if (m->arch) arch = (gguf_str){m->arch->name, strlen(m->arch->name)};
    else if (gguf_find_kv(&m->gguf, "general.architecture")) gguf_get_str(&m->gguf, "general.architecture", &arch, NULL);
    int n = m->vocab_only ? snprintf(tmp, sizeof tmp, "%.*s, vocabulary only, vocab %d",
                                     (int)(arch.len > 32 ? 32 : arch.len), arch.ptr, h->n_vocab)
                          : snprintf(tmp, sizeof tmp,
                     "%s, %s, dim %d, ffn %d, %d layers, %d heads (%d kv), vocab %d, context %d",
                     m->arch->name, llm_type_name(m->ftype), h->n_embd, h->n_ff, h->n_layer, h->n_head,
                     h->n_head_kv, h->n_vocab, h->n_ctx_train);
    size_t len = (size_t)n + 1;
    if (needed) *needed = len;
    if (len > cap) return LLM_ERR_BUFFER_TOO_SMALL;
    memcpy(buf, tmp, len);
    return LLM_OK;
}
