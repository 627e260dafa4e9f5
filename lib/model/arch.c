/* The architecture tables. Each entry of llm_archs says, in data, what
 * llama.cpp's load_hparams / load_tensors / build graph do differently
 * for that family (as of llama.cpp 3f545be); see arch.h for the fields. */
#include "arch.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

#define F(view) (uint16_t)offsetof(llm_layer, view)
#define VEC(gguf, hf, l2c, n, view, f32) {gguf, hf, l2c, n, 1, {LLM_D_ONE}, {F(view)}, LLM_PERM_NONE, f32}
#define MAT(gguf, hf, l2c, in, out, view, perm) {gguf, hf, l2c, in, 1, {out}, {F(view)}, perm, false}

/* In llama2.c's file order first: llm_model_load_llama2c reads the
 * entries with an l2c name as its stacks, in this order. */
const llm_layer_tensor llm_layer_tensors[LLM_LT_COUNT] = {
    [LLM_LT_ATTN_NORM] = VEC("attn_norm.weight", "input_layernorm.weight", "rms_att", LLM_D_EMBD, attn_norm, false),
    [LLM_LT_Q] = MAT("attn_q.weight", "self_attn.q_proj.weight", "wq", LLM_D_EMBD, LLM_D_Q, wq, LLM_PERM_HEAD),
    [LLM_LT_K] = MAT("attn_k.weight", "self_attn.k_proj.weight", "wk", LLM_D_EMBD, LLM_D_KV, wk, LLM_PERM_KV),
    [LLM_LT_V] = MAT("attn_v.weight", "self_attn.v_proj.weight", "wv", LLM_D_EMBD, LLM_D_KV, wv, LLM_PERM_NONE),
    [LLM_LT_O] = MAT("attn_output.weight", "self_attn.o_proj.weight", "wo", LLM_D_Q, LLM_D_EMBD, wo, LLM_PERM_NONE),
    [LLM_LT_FFN_NORM] = VEC("ffn_norm.weight", "post_attention_layernorm.weight", "rms_ffn", LLM_D_EMBD, ffn_norm,
                            false),
    [LLM_LT_GATE] = MAT("ffn_gate.weight", "mlp.gate_proj.weight", "w1", LLM_D_EMBD, LLM_D_FF, w_gate, LLM_PERM_NONE),
    [LLM_LT_DOWN] = MAT("ffn_down.weight", "mlp.down_proj.weight", "w2", LLM_D_FF, LLM_D_EMBD, w_down, LLM_PERM_NONE),
    [LLM_LT_UP] = MAT("ffn_up.weight", "mlp.up_proj.weight", "w3", LLM_D_EMBD, LLM_D_FF, w_up, LLM_PERM_NONE),
    [LLM_LT_QKV] = {"attn_qkv.weight", "self_attn.qkv_proj.weight", NULL, LLM_D_EMBD, 3,
                    {LLM_D_Q, LLM_D_KV, LLM_D_KV}, {F(wq), F(wk), F(wv)}, LLM_PERM_NONE, false},
    [LLM_LT_BQ] = {"attn_q.bias", "self_attn.q_proj.bias", NULL, LLM_D_Q, 1, {LLM_D_ONE}, {F(bq)}, LLM_PERM_HEAD, true},
    [LLM_LT_BK] = {"attn_k.bias", "self_attn.k_proj.bias", NULL, LLM_D_KV, 1, {LLM_D_ONE}, {F(bk)}, LLM_PERM_KV, true},
    [LLM_LT_BV] = VEC("attn_v.bias", "self_attn.v_proj.bias", NULL, LLM_D_KV, bv, true),
    [LLM_LT_Q_NORM] = VEC("attn_q_norm.weight", "self_attn.q_norm.weight", NULL, LLM_D_QNORM, q_norm, true),
    [LLM_LT_K_NORM] = VEC("attn_k_norm.weight", "self_attn.k_norm.weight", NULL, LLM_D_KNORM, k_norm, true),
    [LLM_LT_ATTN_POST_NORM] = VEC("post_attention_norm.weight", "post_attention_layernorm.weight", NULL, LLM_D_EMBD,
                                  attn_post_norm, false),
    [LLM_LT_FFN_PRE_NORM] = VEC("ffn_norm.weight", "pre_feedforward_layernorm.weight", NULL, LLM_D_EMBD, ffn_norm,
                                false),
    [LLM_LT_FFN_POST_NORM] = VEC("post_ffw_norm.weight", "post_feedforward_layernorm.weight", NULL, LLM_D_EMBD,
                                 ffn_post_norm, false),
    [LLM_LT_GATE_UP] = {"ffn_up.weight", "mlp.gate_up_proj.weight", NULL, LLM_D_EMBD, 2, {LLM_D_FF, LLM_D_FF},
                        {F(w_gate), F(w_up)}, LLM_PERM_NONE, false},
};

#define B LLM_BIT
/* The Llama block: pre-norms, separate q, k, v, SwiGLU. */
#define LLAMA_LAYER (B(LLM_LT_ATTN_NORM) | B(LLM_LT_Q) | B(LLM_LT_K) | B(LLM_LT_V) | B(LLM_LT_O) | \
                     B(LLM_LT_FFN_NORM) | B(LLM_LT_GATE) | B(LLM_LT_DOWN) | B(LLM_LT_UP))
#define QKV_BIAS (B(LLM_LT_BQ) | B(LLM_LT_BK) | B(LLM_LT_BV))
#define QK_NORM (B(LLM_LT_Q_NORM) | B(LLM_LT_K_NORM))
/* Gemma's and OLMo 2's norms of each sub-block's output. */
#define POST_NORMS (B(LLM_LT_ATTN_POST_NORM) | B(LLM_LT_FFN_POST_NORM))
#define GEMMA_LAYER (B(LLM_LT_ATTN_NORM) | B(LLM_LT_Q) | B(LLM_LT_K) | B(LLM_LT_V) | B(LLM_LT_O) | \
                     B(LLM_LT_FFN_PRE_NORM) | B(LLM_LT_GATE) | B(LLM_LT_DOWN) | B(LLM_LT_UP) | POST_NORMS)

static const llm_arch llm_archs[] = {
    {.name = "llama", .hf_types = "llama mistral", .tensors = LLAMA_LAYER, .optional = QKV_BIAS},
    {.name = "qwen2", .hf_types = "qwen2", .tensors = LLAMA_LAYER, .optional = QKV_BIAS, .rope_neox = true},
    {.name = "qwen3", .hf_types = "qwen3", .tensors = LLAMA_LAYER | QK_NORM, .rope_neox = true},
    {.name = "gemma2", .hf_types = "gemma2", .tensors = GEMMA_LAYER, .rope_neox = true, .act = LLM_ACT_GELU_TANH,
     .embd_scale_sqrt = true, .keys = LLM_KEYS_SWA | LLM_KEYS_ATTN_SOFTCAP | LLM_KEYS_FINAL_SOFTCAP,
     .swa_period = 2, .attn_softcap = 50.0f, .final_softcap = 30.0f, .big_scale_layers = 46, .hf_tied = true,
     .hf_norm_plus_one = true},
    {.name = "gemma3", .hf_types = "gemma3_text gemma3", .tensors = GEMMA_LAYER | QK_NORM, .rope_neox = true,
     .act = LLM_ACT_GELU_TANH, .embd_scale_sqrt = true, .keys = LLM_KEYS_SWA | LLM_KEYS_FINAL_SOFTCAP,
     .swa_period = 6, .rope_base_swa = 10000.0f, .big_scale_layers = 62, .hf_tied = true, .hf_norm_plus_one = true},
    {.name = "phi3", .hf_types = "phi3",
     .tensors = B(LLM_LT_ATTN_NORM) | B(LLM_LT_QKV) | B(LLM_LT_O) | B(LLM_LT_FFN_NORM) | B(LLM_LT_GATE_UP) |
                B(LLM_LT_DOWN),
     .rope_neox = true},
    {.name = "olmo2", .hf_types = "olmo2",
     .tensors = B(LLM_LT_Q) | B(LLM_LT_K) | B(LLM_LT_V) | B(LLM_LT_O) | B(LLM_LT_GATE) | B(LLM_LT_DOWN) |
                B(LLM_LT_UP) | QK_NORM | POST_NORMS,
     .head_required = true, .rope_neox = true, .qk_norm_whole = true},
    {.name = "smollm3", .hf_types = "smollm3", .tensors = LLAMA_LAYER, .nope_period = 4, .hf_tied = true},
    {.name = "granite", .hf_types = "granite", .tensors = LLAMA_LAYER, .optional = QKV_BIAS,
     .keys = LLM_KEYS_GRANITE},
};
#define N_ARCHS (sizeof llm_archs / sizeof llm_archs[0])

const llm_arch *llm_arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (strlen(llm_archs[i].name) == len && memcmp(llm_archs[i].name, name, len) == 0) return &llm_archs[i];
    return NULL;
}

/* model_type is one of the space-separated words of hf_types. */
const llm_arch *llm_arch_from_hf(const char *model_type) {
    size_t len = strlen(model_type);
    for (size_t i = 0; i < N_ARCHS; i++)
        for (const char *p = llm_archs[i].hf_types; *p;) {
            size_t n = strcspn(p, " ");
            if (n == len && memcmp(p, model_type, n) == 0) return &llm_archs[i];
            p += n + (p[n] == ' ');
        }
    return NULL;
}

void llm_arch_list(char *buf, size_t cap) {
    size_t pos = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_ARCHS && pos < cap; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%s", i ? ", " : "", llm_archs[i].name);
}

const llm_arch *llm_arch_llama(void) { return &llm_archs[0]; }

int64_t llm_arch_dim(const llm_arch *a, const struct llm_hparams *h, int d) {
    switch (d) {
    case LLM_D_EMBD: return h->n_embd;
    case LLM_D_Q: return (int64_t)h->n_head * h->head_dim;
    case LLM_D_KV: return (int64_t)h->n_head_kv * h->head_dim;
    case LLM_D_FF: return h->n_ff;
    case LLM_D_QNORM: return a->qk_norm_whole ? (int64_t)h->n_head * h->head_dim : h->head_dim;
    case LLM_D_KNORM: return a->qk_norm_whole ? (int64_t)h->n_head_kv * h->head_dim : h->head_dim;
    default: return 1;
    }
}

int64_t llm_arch_rows(const llm_arch *a, const struct llm_hparams *h, const llm_layer_tensor *lt) {
    int64_t rows = 0;
    for (int i = 0; i < lt->n_parts; i++) rows += llm_arch_dim(a, h, lt->part[i]);
    return rows;
}
