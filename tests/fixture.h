/* A tiny random-weight llama model written as GGUF, for tests that need a
 * valid model file of a chosen shape (or one with a chosen defect) without
 * a real checkpoint. Weights come from a fixed-seed generator, so the same
 * spec always gives the same bytes.
 *
 * The vocabulary is SentencePiece-style: <unk> (0), <s> (1), </s> (2), the
 * 256 byte pieces <0x00>..<0xFF> (ids 3..258), then FIXTURE_N_PIECES
 * ordinary pieces ("▁", letters, a few merges) with descending scores. */
#ifndef LLM_TEST_FIXTURE_H
#define LLM_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"

#define FIXTURE_N_PIECES 48
#define FIXTURE_N_VOCAB (3 + 256 + FIXTURE_N_PIECES)

typedef struct fixture_spec {
    int32_t dim, ffn, n_layer, n_head, n_head_kv, n_ctx; /* written as ARCH.* keys */
    uint32_t wtype;      /* LLM_DT_F32, F16 or BF16: the 2-D weights (norms stay F32) */
    uint32_t ntype;      /* LLM_DT_F32 (0), F16 or BF16: the norm weights */
    bool norms_f16;      /* the norms' values rounded to F16's, whatever ntype */
    bool tied;           /* no output.weight: the classifier is token_embd */
    uint64_t seed;
    const char *arch;    /* general.architecture; the hyper-parameters are ARCH.* keys */
    float rope_base;     /* ARCH.rope.freq_base */
    const char *rope_scaling; /* ARCH.rope.scaling.type, written with ARCH.rope.scaling.factor
                                 = rope_factor; NULL writes neither key */
    float rope_factor;
    bool qkv_bias;       /* blk.N.attn_{q,k,v}.bias: 1-D F32, near 1 like the norms */
    const float *rope_freqs; /* n_rope_freqs values written as the F32 tensor
                                rope_freqs.weight; NULL: no such tensor */
    int32_t n_rope_freqs;
    const char *chat_template; /* written as tokenizer.chat_template; NULL: none */
    const char *user_piece; /* replaces the last ordinary piece ("z") as a
                               USER_DEFINED token; NULL: none */
    /* Deliberate defects for hostile tests; NULL names mean none. */
    const char *omit;    /* a metadata key or tensor left out of the file */
    const char *retype;  /* a tensor stored as retype_to (random bytes) */
    uint32_t retype_to;
    const char *reshape; /* a tensor given the shape reshape_ne (1-D: [0] only) */
    int64_t reshape_ne[2];
} fixture_spec;

/* dim 32, ffn 64, 2 layers, 4 heads, 2 KV heads, context 128, F32, untied;
 * llama, rope base 10000, no RoPE scaling, no biases. */
fixture_spec fixture_default(void);

/* The GGUF image, malloc'd (*size bytes), or NULL with err filled. Hyper-
 * parameters are written as given, and tensor shapes follow from them
 * (head_dim = dim / n_head), so inconsistent ones give a file whose
 * inconsistency the loader must find. */
void *fixture_build(const fixture_spec *spec, size_t *size, llm_error *err);

/* Builds the image and writes it with test_write_tmp; the path, or NULL. */
const char *fixture_write_tmp(const fixture_spec *spec);

/* Fails the running cmocka test (reporting file:line) unless a call failed
 * as expected: status and err->code equal want and err->msg has substr. */
void expect_error_at(const char *file, int line, const char *call, llm_status got,
                     const llm_error *err, llm_status want, const char *substr);
#define expect_error(call, got, err, want, substr) \
    expect_error_at(__FILE__, __LINE__, call, got, err, want, substr)

/* Evaluates call with `err` pointing at a fresh llm_error, then checks it
 * as expect_error does: assert_fails(f(x, err), LLM_ERR_FORMAT, "name"). */
#define assert_fails(call, want, substr)                  \
    do {                                                  \
        llm_error e_ = {0};                               \
        llm_error *err = &e_;                             \
        llm_status s_ = (call);                           \
        expect_error(#call, s_, err, want, substr);       \
    } while (0)

#endif
