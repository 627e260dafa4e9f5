/* What libllm knows about each architecture, in one place: the tensors of
 * a layer (their GGUF, Hugging Face and llama2.c names and shapes), which
 * of them an architecture has, and the rules that make one family's block
 * differ from another's (RoPE layout, activation, scales, soft-caps,
 * sliding-window and no-RoPE layers). The GGUF loader, the llama2.c reader
 * and the converter read these tables; the forward pass reads only what
 * the loader derived from them (llm_hparams, llm_layer), never the
 * architecture's name. */
#ifndef LLM_ARCH_H
#define LLM_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Dimensions a tensor's shape is made of, resolved by llm_arch_dim. */
enum {
    LLM_D_ONE,   /* 1: the row count of a vector */
    LLM_D_EMBD,  /* n_embd */
    LLM_D_Q,     /* n_head * head_dim */
    LLM_D_KV,    /* n_head_kv * head_dim */
    LLM_D_FF,    /* n_ff */
    LLM_D_QNORM, /* head_dim, or n_head * head_dim where q is normed as a whole (olmo2) */
    LLM_D_KNORM, /* head_dim, or n_head_kv * head_dim */
};

/* Hugging Face q/k rows to reorder for the interleaved RoPE layout. */
enum { LLM_PERM_NONE, LLM_PERM_HEAD, LLM_PERM_KV };

/* The tensors a layer may have, indices into llm_layer_tensors. */
typedef enum llm_lt {
    LLM_LT_ATTN_NORM,
    LLM_LT_Q,
    LLM_LT_K,
    LLM_LT_V,
    LLM_LT_O,
    LLM_LT_FFN_NORM,
    LLM_LT_GATE,
    LLM_LT_DOWN,
    LLM_LT_UP,
    LLM_LT_QKV,            /* q, k and v rows in one matrix (phi3) */
    LLM_LT_BQ,
    LLM_LT_BK,
    LLM_LT_BV,
    LLM_LT_Q_NORM,
    LLM_LT_K_NORM,
    LLM_LT_ATTN_POST_NORM,
    LLM_LT_FFN_PRE_NORM,   /* ffn_norm under the name HF gives it beside post-norms */
    LLM_LT_FFN_POST_NORM,
    LLM_LT_GATE_UP,        /* gate rows, then up rows, in one matrix (phi3) */
    LLM_LT_COUNT
} llm_lt;

#define LLM_BIT(t) (1u << (t))

/* One tensor of a layer. A matrix has ne0 inputs and the sum of its
 * parts' outputs; each part, a run of rows, becomes one view of the
 * layer (at byte offset field[i] of llm_layer), so a fused matrix is
 * split where it lies. A vector has ne0 elements and one part of
 * LLM_D_ONE. */
typedef struct llm_layer_tensor {
    const char *gguf;       /* blk.N.<gguf> */
    const char *hf;         /* model.layers.N.<hf> */
    const char *l2c;        /* llama2.c stack name; NULL where llama2.c has none */
    uint8_t ne0;            /* LLM_D_* */
    uint8_t n_parts;
    uint8_t part[3];        /* LLM_D_* rows of each part */
    uint16_t field[3];      /* offsetof(llm_layer, view) of each part */
    uint8_t perm;           /* LLM_PERM_*: HF rows to interleave (norm-RoPE archs) */
    bool f32;               /* must be stored as F32 (read as floats in place) */
} llm_layer_tensor;

extern const llm_layer_tensor llm_layer_tensors[LLM_LT_COUNT];

typedef enum llm_act { LLM_ACT_SILU, LLM_ACT_GELU_TANH } llm_act;

/* Metadata key groups an architecture reads beyond the common ones. */
enum {
    LLM_KEYS_SWA = 1 << 0,     /* attention.sliding_window(_pattern), rope.freq_base_swa */
    LLM_KEYS_ATTN_SOFTCAP = 1 << 1,  /* attn_logit_softcapping */
    LLM_KEYS_FINAL_SOFTCAP = 1 << 2, /* final_logit_softcapping */
    LLM_KEYS_GRANITE = 1 << 3,       /* embedding_scale, residual_scale, attention.scale, logit_scale */
};

typedef struct llm_arch {
    const char *name;        /* general.architecture, and the prefix of its keys */
    const char *hf_types;    /* the Hugging Face model_types converted to it, space-separated */
    uint32_t tensors;        /* LLM_BIT(llm_lt) set: the layer's tensors, all required */
    uint32_t optional;       /* those that may be absent (e.g. llama's biases) */
    bool head_required;      /* output.weight must be there (else tied to token_embd) */
    bool rope_neox;          /* pairs (i, i + n_rot/2), else (2i, 2i + 1) */
    bool qk_norm_whole;      /* q/k norms over whole rows, not per head */
    llm_act act;             /* the FFN's gate activation */
    bool embd_scale_sqrt;    /* token embeddings times sqrt(n_embd) (gemma) */
    uint32_t keys;           /* LLM_KEYS_* */
    int32_t swa_period;      /* default sliding_window_pattern P: layer il is SWA when il % P < P - 1 */
    float rope_base_swa;     /* default RoPE base of SWA layers, which then have no scaling; 0: as the others */
    int32_t nope_period;     /* layer il has no RoPE when (il + 1) % nope_period == 0; 0: all have it */
    float attn_softcap;      /* default score soft-cap; 0: none */
    float final_softcap;     /* default logit soft-cap; 0: none */
    int32_t big_scale_layers; /* with this many layers (Gemma 27B) q is scaled by 1/sqrt(n_embd / n_head) */
    /* for the converter */
    bool hf_tied;            /* tie_word_embeddings when config.json does not say */
    bool hf_norm_plus_one;   /* HF norms compute x * (1 + w); GGUF stores 1 + w (gemma) */
} llm_arch;

/* The architecture named `name` (len bytes, not NUL-terminated), or NULL. */
const llm_arch *llm_arch_find(const char *name, size_t len);
/* The architecture a Hugging Face model_type converts to, or NULL. */
const llm_arch *llm_arch_from_hf(const char *model_type);
/* The names of all architectures, ", "-separated, into buf (for messages). */
void llm_arch_list(char *buf, size_t cap);
/* The llama2.c checkpoint layout: the llama architecture. */
const llm_arch *llm_arch_llama(void);

struct llm_hparams;
/* The size a LLM_D_* dimension has in a model of a's hyper-parameters. */
int64_t llm_arch_dim(const llm_arch *a, const struct llm_hparams *h, int d);

/* The rows of tensor lt: the sum of its parts'. */
int64_t llm_arch_rows(const llm_arch *a, const struct llm_hparams *h, const llm_layer_tensor *lt);

/* The tensor set of `a`, required and optional. */
static inline uint32_t llm_arch_all_tensors(const llm_arch *a) { return a->tensors | a->optional; }

#endif
