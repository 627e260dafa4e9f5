#include "fixture.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtype.h"
#include "error.h"
#include "gguf.h"
#include "gguf_write.h"
#include "testutil.h"
#include "vocab.h"

/* Merges first (highest scores), then the single characters they are made
 * of, as a SentencePiece BPE vocabulary orders them. */
static const char *const pieces[FIXTURE_N_PIECES] = {
    "\xe2\x96\x81t", "he", "\xe2\x96\x81" "a", "in", "\xe2\x96\x81the", "er", "an",
    "\xe2\x96\x81s", "nd", "\xe2\x96\x81" "and", "ed", "ou", "\xe2\x96\x81h", "it", "is", "on",
    "\xe2\x96\x81w", "re", "\xe2\x96\x81o", "at", "en", "\xe2\x96\x81",
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
    "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
};

fixture_spec fixture_default(void) {
    fixture_spec s = {
        .dim = 32, .ffn = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ctx = 128,
        .wtype = LLM_DT_F32, .seed = 0x5eed, .arch = "llama", .rope_base = 10000.0f,
    };
    return s;
}

/* splitmix64: a fixed, portable generator, so fixtures are reproducible. */
static uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_uniform(uint64_t *state) {
    return (float)(rng_next(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

/* Everything one build needs; tensor data must outlive serialization. */
typedef struct builder {
    const fixture_spec *s;
    gguf_writer *w;
    uint64_t rng;
    void **bufs;         /* (n_bufs) tensor data, freed at the end */
    size_t n_bufs;
    llm_error *err;
    char key[96];        /* the last ARCH.* key arch_key made */
} builder;

static bool named(const char *field, const char *name) {
    return field && strcmp(field, name) == 0;
}

/* Biases (1-D like the norms) stay F32 whatever the norms' type. */
static bool is_bias(const char *name) {
    size_t n = strlen(name);
    return n >= 5 && strcmp(name + n - 5, ".bias") == 0;
}

/* Fills n bytes of a tensor of `type` whose rows have ne0 elements: norms
 * near 1, other weights uniform with scale 1/sqrt(ne0) so activations stay
 * near unit size; types without a float encoding here get random bytes. */
static void fill(builder *b, unsigned char *p, uint64_t n, uint32_t type, int64_t ne0, bool norm) {
    bool round = norm && b->s->norms_f16;
    float scale = 1.0f / sqrtf((float)(ne0 > 0 ? ne0 : 1));
    uint32_t es = type == LLM_DT_F32 ? 4 : (type == LLM_DT_F16 || type == LLM_DT_BF16) ? 2 : 1;
    for (uint64_t i = 0; i + es <= n; i += es) {
        float x = norm ? 1.0f + 0.1f * rng_uniform(&b->rng) : scale * rng_uniform(&b->rng);
        if (round) x = llm_f16_to_f32(llm_f32_to_f16(x));
        if (type == LLM_DT_F32) {
            memcpy(p + i, &x, 4);
        } else if (es == 2) {
            uint16_t h = type == LLM_DT_F16 ? llm_f32_to_f16(x) : llm_f32_to_bf16(x);
            memcpy(p + i, &h, 2);
        } else {
            p[i] = (unsigned char)rng_next(&b->rng);
        }
    }
}

/* Adds one weight of ne0 columns and ne1 rows (ne1 == 0: a 1-D norm),
 * applying the spec's defects. */
static llm_status add_weight(builder *b, const char *name, int64_t ne0, int64_t ne1) {
    const fixture_spec *s = b->s;
    if (named(s->omit, name)) return LLM_OK;
    bool norm = ne1 == 0;
    int64_t ne[2] = {ne0, ne1};
    if (named(s->reshape, name)) {
        ne[0] = s->reshape_ne[0];
        ne[1] = s->reshape_ne[1];
    }
    uint32_t type = named(s->retype, name) ? s->retype_to : !norm ? s->wtype : is_bias(name) ? LLM_DT_F32 : s->ntype;
    uint64_t row;
    if (ne[0] < 0 || ne[1] < 0 || !llm_dtype_row_size(type, (uint64_t)ne[0], &row))
        return llm_fail(b->err, LLM_ERR_INVALID_ARG, "fixture: '%s' cannot have rows of %lld in type %s",
                        name, (long long)ne[0], llm_type_name(type));
    uint64_t n = row * (uint64_t)(norm ? 1 : ne[1]);
    unsigned char *p = malloc(n ? (size_t)n : 1);
    if (!p) return llm_fail(b->err, LLM_ERR_NOMEM, "fixture: out of memory");
    b->bufs[b->n_bufs++] = p;
    fill(b, p, n, type, ne[0], norm);
    return gguf_writer_add_tensor(b->w, name, norm ? 1 : 2, ne, type, p, n, b->err);
}

static llm_status add_weights(builder *b) {
    const fixture_spec *s = b->s;
    int64_t dim = s->dim, head_dim = s->n_head ? s->dim / s->n_head : 0;
    int64_t q_dim = s->n_head * head_dim, kv_dim = s->n_head_kv * head_dim;
    llm_status st;
    if ((st = add_weight(b, "token_embd.weight", dim, FIXTURE_N_VOCAB)) ||
        (st = add_weight(b, "output_norm.weight", dim, 0)) ||
        (!s->tied && (st = add_weight(b, "output.weight", dim, FIXTURE_N_VOCAB))))
        return st;
    struct { const char *name; int64_t ne0, ne1; } w[] = {
        {"attn_norm", dim, 0},      {"attn_q", dim, q_dim},  {"attn_k", dim, kv_dim},
        {"attn_v", dim, kv_dim},    {"attn_output", q_dim, dim}, {"ffn_norm", dim, 0},
        {"ffn_gate", dim, s->ffn},  {"ffn_down", s->ffn, dim},   {"ffn_up", dim, s->ffn},
    };
    if (s->rope_freqs) {
        int64_t ne[1] = {s->n_rope_freqs};
        uint64_t n = (uint64_t)(s->n_rope_freqs > 0 ? s->n_rope_freqs : 0) * sizeof(float);
        if ((st = gguf_writer_add_tensor(b->w, "rope_freqs.weight", 1, ne, LLM_DT_F32, s->rope_freqs, n, b->err)))
            return st;
    }
    for (int l = 0; l < s->n_layer; l++) {
        char name[64];
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, w[i].name);
            if ((st = add_weight(b, name, w[i].ne0, w[i].ne1))) return st;
        }
        for (size_t i = 1; s->qkv_bias && i <= 3; i++) { /* attn_q, attn_k, attn_v */
            snprintf(name, sizeof name, "blk.%d.%s.bias", l, w[i].name);
            if ((st = add_weight(b, name, w[i].ne1, 0))) return st;
        }
    }
    return LLM_OK;
}

static llm_status add_u32(builder *b, const char *key, uint32_t v) {
    return named(b->s->omit, key) ? LLM_OK : gguf_writer_add_u32(b->w, key, v, b->err);
}

static llm_status add_f32(builder *b, const char *key, float v) {
    return named(b->s->omit, key) ? LLM_OK : gguf_writer_add_f32(b->w, key, v, b->err);
}

static llm_status add_str(builder *b, const char *key, const char *v) {
    return named(b->s->omit, key) ? LLM_OK : gguf_writer_add_str(b->w, key, v, b->err);
}

/* "ARCH.key" in b->key, valid until the next call. */
static const char *arch_key(builder *b, const char *key) {
    snprintf(b->key, sizeof b->key, "%s.%s", b->s->arch, key);
    return b->key;
}

static llm_status add_hparams(builder *b) {
    const fixture_spec *s = b->s;
    llm_status st;
    if ((st = add_str(b, "general.architecture", s->arch)) ||
        (st = add_str(b, "general.name", "libllm test fixture")) ||
        (st = add_u32(b, arch_key(b, "context_length"), (uint32_t)s->n_ctx)) ||
        (st = add_u32(b, arch_key(b, "embedding_length"), (uint32_t)s->dim)) ||
        (st = add_u32(b, arch_key(b, "feed_forward_length"), (uint32_t)s->ffn)) ||
        (st = add_u32(b, arch_key(b, "block_count"), (uint32_t)s->n_layer)) ||
        (st = add_u32(b, arch_key(b, "attention.head_count"), (uint32_t)s->n_head)) ||
        (st = add_u32(b, arch_key(b, "attention.head_count_kv"), (uint32_t)s->n_head_kv)) ||
        (st = add_u32(b, arch_key(b, "rope.dimension_count"), (uint32_t)(s->n_head ? s->dim / s->n_head : 0))) ||
        (st = add_f32(b, arch_key(b, "rope.freq_base"), s->rope_base)) ||
        (st = add_f32(b, arch_key(b, "attention.layer_norm_rms_epsilon"), 1e-5f)))
        return st;
    if (s->rope_scaling &&
        ((st = add_str(b, arch_key(b, "rope.scaling.type"), s->rope_scaling)) ||
         (st = add_f32(b, arch_key(b, "rope.scaling.factor"), s->rope_factor))))
        return st;
    return LLM_OK;
}

static llm_status add_vocab(builder *b) {
    char byte_pieces[256][7];
    const char *tokens[FIXTURE_N_VOCAB];
    float scores[FIXTURE_N_VOCAB];
    int32_t types[FIXTURE_N_VOCAB];
    const char *special[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < FIXTURE_N_VOCAB; i++) {
        if (i < 3) {
            tokens[i] = special[i];
            types[i] = i == 0 ? LLM_TOKTYPE_UNKNOWN : LLM_TOKTYPE_CONTROL;
            scores[i] = 0.0f;
        } else if (i < 3 + 256) {
            snprintf(byte_pieces[i - 3], sizeof byte_pieces[0], "<0x%02X>", i - 3);
            tokens[i] = byte_pieces[i - 3];
            types[i] = LLM_TOKTYPE_BYTE;
            scores[i] = 0.0f;
        } else {
            tokens[i] = pieces[i - 259];
            types[i] = LLM_TOKTYPE_NORMAL;
            scores[i] = -(float)(i - 258);
        }
    }
    if (b->s->user_piece) {
        tokens[FIXTURE_N_VOCAB - 1] = b->s->user_piece;
        types[FIXTURE_N_VOCAB - 1] = LLM_TOKTYPE_USER_DEFINED;
    }
    llm_error *e = b->err;
    const char *omit = b->s->omit;
    llm_status st;
    if ((st = add_str(b, "tokenizer.ggml.model", "llama")) ||
        (!named(omit, "tokenizer.ggml.tokens") &&
         (st = gguf_writer_add_str_arr(b->w, "tokenizer.ggml.tokens", tokens, FIXTURE_N_VOCAB, e))) ||
        (!named(omit, "tokenizer.ggml.scores") &&
         (st = gguf_writer_add_arr(b->w, "tokenizer.ggml.scores", GGUF_F32, scores, FIXTURE_N_VOCAB, e))) ||
        (!named(omit, "tokenizer.ggml.token_type") &&
         (st = gguf_writer_add_arr(b->w, "tokenizer.ggml.token_type", GGUF_I32, types, FIXTURE_N_VOCAB, e))) ||
        (st = add_u32(b, "tokenizer.ggml.bos_token_id", 1)) ||
        (st = add_u32(b, "tokenizer.ggml.eos_token_id", 2)) ||
        (st = add_u32(b, "tokenizer.ggml.unknown_token_id", 0)) ||
        (b->s->chat_template && (st = add_str(b, "tokenizer.chat_template", b->s->chat_template))))
        return st;
    return LLM_OK;
}

void *fixture_build(const fixture_spec *spec, size_t *size, llm_error *err) {
    size_t max_bufs = 3 + 12 * (size_t)(spec->n_layer > 0 ? spec->n_layer : 0);
    builder b = {spec, gguf_writer_new(err), spec->seed, calloc(max_bufs, sizeof(void *)), 0, err, ""};
    void *image = NULL;
    llm_status st = !b.w || !b.bufs ? llm_fail(err, LLM_ERR_NOMEM, "fixture: out of memory") : LLM_OK;
    if (!st && !(st = add_hparams(&b)) && !(st = add_vocab(&b)) && !(st = add_weights(&b)))
        st = gguf_writer_to_mem(b.w, &image, size, err);
    for (size_t i = 0; i < b.n_bufs; i++) free(b.bufs[i]);
    free(b.bufs);
    gguf_writer_free(b.w);
    return st ? NULL : image;
}

const char *fixture_write_tmp(const fixture_spec *spec) {
    size_t size;
    llm_error err = {0};
    void *image = fixture_build(spec, &size, &err);
    if (!image) {
        fprintf(stderr, "fixture_build: %s\n", err.msg);
        return NULL;
    }
    const char *path = test_write_tmp(image, size);
    free(image);
    return path;
}

void expect_error_at(const char *file, int line, const char *call, llm_status got,
                     const llm_error *err, llm_status want, const char *substr) {
    if (got == want && err->code == want && strstr(err->msg, substr)) return;
    print_error("%s: status %d '%s', expected %d with '%s'\n", call, got, err->msg, want, substr);
    _fail(file, line);
}
