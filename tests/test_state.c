/* Saved state: a round trip through a buffer and a file continues
 * generation exactly; truncated, corrupted and mismatched states are
 * refused with a message and leave the context as it was; a copied
 * prefix continues like the context it came from; a shifted cache holds
 * the keys a fresh decode of the shortened sequence would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attention.h"
#include "context.h"
#include "fixture.h"
#include "llm.h"
#include "testutil.h"

#define N_PROMPT 20
#define HEADER 96 /* bytes of the state header (lib/run/state.c) */

static llm_model *load(const char *rel) {
    llm_model *m = test_load_model(rel);
    assert_non_null(m);
    return m;
}

static llm_ctx *new_ctx_kv(const llm_model *m, int n_ctx, int n_batch, int threads, llm_type kv_type) {
    llm_error err = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.n_threads = threads;
    p.kv_type = kv_type;
    llm_ctx *c = llm_ctx_new(m, &p, &err);
    assert_non_null(c);
    return c;
}

static llm_ctx *new_ctx(const llm_model *m, int n_ctx, int n_batch, int threads) {
    return new_ctx_kv(m, n_ctx, n_batch, threads, LLM_TYPE_F32);
}

static void prompt(const llm_model *m, int32_t *toks, int n) {
    for (int i = 0; i < n; i++) toks[i] = i == 0 ? 1 : (i * 37) % llm_model_n_vocab(m);
}

/* n greedy tokens from the context's current logits. */
static void greedy(llm_ctx *c, const llm_model *m, int32_t *out, int n) {
    llm_error err = {0};
    for (int i = 0; i < n; i++) {
        const float *l = llm_logits(c);
        assert_non_null(l);
        int32_t best = 0;
        for (int32_t t = 1; t < llm_model_n_vocab(m); t++)
            if (l[t] > l[best]) best = t;
        out[i] = best;
        assert_int_equal(llm_decode(c, &best, 1, &err), LLM_OK);
    }
}

/* A context with the prompt decoded, and its saved state (malloc'd). */
static llm_ctx *prompted(const llm_model *m, void **state, size_t *size) {
    llm_ctx *c = new_ctx(m, 128, 512, 1);
    int32_t toks[N_PROMPT];
    prompt(m, toks, N_PROMPT);
    llm_error err = {0};
    assert_int_equal(llm_decode(c, toks, N_PROMPT, &err), LLM_OK);
    *size = llm_state_size(c);
    assert_true(*size > HEADER);
    *state = malloc(*size);
    size_t written = 0;
    assert_int_equal(llm_state_save(c, *state, *size, &written, &err), LLM_OK);
    assert_int_equal(written, *size);
    return c;
}

/* Saved, then loaded into a fresh context of another size, batch and
 * thread count (and from a file): the next 64 greedy tokens are those of
 * the original context. */
static void test_round_trip(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    void *buf;
    size_t size;
    llm_ctx *a = prompted(m, &buf, &size);
    llm_ctx *b = new_ctx(m, 256, 7, 2);
    llm_error err = {0};
    assert_int_equal(llm_state_load(b, buf, size, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(b), N_PROMPT);
    assert_memory_equal(llm_logits(b), llm_logits(a), (size_t)llm_model_n_vocab(m) * sizeof(float));
    const char *path = test_write_tmp("", 0);
    assert_int_equal(llm_state_save_file(a, path, &err), LLM_OK);
    llm_ctx *f = new_ctx(m, 100, 512, 1);
    assert_int_equal(llm_state_load_file(f, path, &err), LLM_OK);
    test_cleanup_tmp();
    int32_t ga[64], gb[64], gf[64];
    greedy(a, m, ga, 64);
    greedy(b, m, gb, 64);
    greedy(f, m, gf, 64);
    assert_memory_equal(ga, gb, sizeof ga);
    assert_memory_equal(ga, gf, sizeof ga);
    /* a buffer too small says how much is needed */
    size_t need = 0;
    assert_int_equal(llm_state_save(a, buf, HEADER, &need, &err), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(need, llm_state_size(a));
    assert_int_equal(llm_state_save(NULL, buf, size, &need, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_state_load(a, NULL, 0, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_state_load_file(a, "/nonexistent/state", &err), LLM_ERR_IO);
    assert_int_equal(llm_state_save_file(a, "/nonexistent/dir/state", &err), LLM_ERR_IO);
    /* an empty context saves and loads too */
    llm_ctx *e = new_ctx(m, 64, 512, 1);
    size_t es = llm_state_size(e);
    assert_int_equal(es, HEADER);
    assert_int_equal(llm_state_save(e, buf, size, NULL, &err), LLM_OK);
    assert_int_equal(llm_state_load(b, buf, es, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(b), 0);
    assert_null(llm_logits(b));
    free(buf);
    llm_ctx_free(a);
    llm_ctx_free(b);
    llm_ctx_free(e);
    llm_ctx_free(f);
    llm_model_free(m);
}

/* Loading must fail with want and leave c's position and logits alone. */
static void expect_refused(llm_ctx *c, const void *buf, size_t size, llm_status want, const char *what) {
    llm_error err = {0};
    int32_t pos = llm_ctx_pos(c);
    const float *l = llm_logits(c);
    float first = l ? l[0] : 0.0f;
    llm_status s = llm_state_load(c, buf, size, &err);
    if (s != want) fprintf(stderr, "%s: got %d (%s), want %d\n", what, s, err.msg, want);
    assert_int_equal(s, want);
    assert_int_equal(err.code, want);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(llm_ctx_pos(c), pos);
    assert_true(llm_logits(c) == l && (!l || l[0] == first));
}

/* Every truncation of a state, every single-byte change of its header
 * (but the informative n_ctx), a state of another model of another shape
 * and one of the same shape with other weights, and one that does not
 * fit, are all refused. */
static void test_hostile_states(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    void *buf;
    size_t size;
    llm_ctx *a = prompted(m, &buf, &size);
    llm_ctx *c = new_ctx(m, 128, 512, 1);
    int32_t tok = 1;
    llm_error err = {0};
    assert_int_equal(llm_decode(c, &tok, 1, &err), LLM_OK);
    size_t step = test_quick() ? 97 : 1;
    for (size_t n = 0; n < size; n += step) expect_refused(c, buf, n, LLM_ERR_FORMAT, "truncated");
    unsigned char *copy = malloc(size + 1);
    memcpy(copy, buf, size);
    copy[size] = 0;
    expect_refused(c, copy, size + 1, LLM_ERR_FORMAT, "one byte too many");
    for (size_t i = 0; i < HEADER; i++) {
        if (i >= 72 && i < 76) continue; /* n_ctx: informative while >= pos */
        for (int bit = 0; bit < 8; bit += test_quick() ? 7 : 1) {
            memcpy(copy, buf, size);
            copy[i] ^= (unsigned char)(1u << bit);
            char what[64];
            snprintf(what, sizeof what, "header byte %zu bit %d", i, bit);
            expect_refused(c, copy, size, LLM_ERR_FORMAT, what);
        }
    }
    /* another shape */
    llm_model *other = load("llama-2-tiny-random.gguf");
    llm_ctx *o = new_ctx(other, 128, 512, 1);
    expect_refused(o, buf, size, LLM_ERR_FORMAT, "other model");
    /* the same shape, other weights */
    llm_model *q = load("stories260K-q8_0.gguf");
    llm_ctx *qc = new_ctx(q, 128, 512, 1);
    llm_status s = llm_state_load(qc, buf, size, &err);
    assert_int_equal(s, LLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "fingerprint"));
    assert_int_equal(llm_ctx_copy_prefix(qc, a, 5, &err), LLM_ERR_INVALID_ARG);
    /* too many positions for the context */
    llm_ctx *small = new_ctx(m, 16, 512, 1);
    expect_refused(small, buf, size, LLM_ERR_CONTEXT_FULL, "too long");
    free(copy);
    free(buf);
    llm_ctx_free(a);
    llm_ctx_free(c);
    llm_ctx_free(o);
    llm_ctx_free(qc);
    llm_ctx_free(small);
    llm_model_free(other);
    llm_model_free(q);
    llm_model_free(m);
}

/* A prefix copied from a context continues as the original does when fed
 * the same tokens in the same batches; the whole of it brings the logits. */
static void test_copy_prefix(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    int nv = llm_model_n_vocab(m);
    int32_t toks[N_PROMPT];
    prompt(m, toks, N_PROMPT);
    llm_ctx *src = new_ctx(m, 128, 512, 1), *ref = new_ctx(m, 128, 512, 1), *dst = new_ctx(m, 64, 4, 2);
    llm_error err = {0};
    assert_int_equal(llm_decode(src, toks, N_PROMPT, &err), LLM_OK);
    assert_int_equal(llm_decode(ref, toks, 10, &err), LLM_OK);
    assert_int_equal(llm_decode(ref, toks + 10, N_PROMPT - 10, &err), LLM_OK);
    assert_int_equal(llm_ctx_copy_prefix(dst, src, 10, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(dst), 10);
    assert_null(llm_logits(dst));
    llm_ctx *dst1 = new_ctx(m, 64, 512, 1);
    assert_int_equal(llm_ctx_copy_prefix(dst1, dst, 10, &err), LLM_OK); /* n_batch 4 to 512 */
    assert_int_equal(llm_decode(dst1, toks + 10, N_PROMPT - 10, &err), LLM_OK);
    assert_memory_equal(llm_logits(dst1), llm_logits(ref), (size_t)nv * sizeof(float));
    assert_int_equal(llm_ctx_copy_prefix(dst, src, N_PROMPT, &err), LLM_OK);
    assert_memory_equal(llm_logits(dst), llm_logits(src), (size_t)nv * sizeof(float));
    int32_t g1[16], g2[16];
    greedy(dst, m, g1, 16);
    greedy(src, m, g2, 16);
    assert_memory_equal(g1, g2, sizeof g1);
    /* refusals */
    assert_int_equal(llm_ctx_copy_prefix(dst, src, llm_ctx_pos(src) + 1, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_ctx_copy_prefix(dst, src, -1, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_ctx_copy_prefix(NULL, src, 0, &err), LLM_ERR_INVALID_ARG);
    llm_ctx *tiny = new_ctx(m, 8, 512, 1);
    assert_int_equal(llm_ctx_copy_prefix(tiny, src, 20, &err), LLM_ERR_CONTEXT_FULL);
    /* onto itself: a truncation */
    assert_int_equal(llm_ctx_copy_prefix(src, src, 5, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(src), 5);
    assert_null(llm_logits(src));
    llm_ctx_free(src);
    llm_ctx_free(ref);
    llm_ctx_free(dst);
    llm_ctx_free(dst1);
    llm_ctx_free(tiny);
    llm_model_free(m);
}

/* Largest |a - b| and |b| over the layer-l keys of positions 0 .. n - 1. */
static void compare_keys(const llm_ctx *a, const llm_ctx *b, int l, int n, float *diff, float *scale) {
    const llm_hparams *h = &a->model->hp;
    size_t row = (size_t)h->n_head_kv * h->head_dim;
    float *ka = malloc((size_t)n * row * sizeof(float)), *kb = malloc((size_t)n * row * sizeof(float));
    llm_attn_load_keys(&a->kv, llm_ctx_layer_keys(a, l), 0, n, ka, LLM_DT_F32);
    llm_attn_load_keys(&b->kv, llm_ctx_layer_keys(b, l), 0, n, kb, LLM_DT_F32);
    *diff = *scale = 0;
    for (size_t i = 0; i < (size_t)n * row; i++) {
        float d = ka[i] > kb[i] ? ka[i] - kb[i] : kb[i] - ka[i], m = kb[i] < 0 ? -kb[i] : kb[i];
        if (d > *diff) *diff = d;
        if (m > *scale) *scale = m;
    }
    free(ka);
    free(kb);
}

/* 60 tokens, then shift(keep 5, discard 17): the layer-0 keys (which
 * depend only on each token and its position) must be those of a fresh
 * decode of the 43 remaining tokens within 1e-4 of the largest (the
 * angles' float rounding; measured ~1e-6) in an F32 cache, 2e-3 in an F16
 * one (a rotated key rounds to F16 again: an ulp is 2^-11 relative), the
 * layer-0 values equal, and the position 43; the next decode then runs. */
static void check_shift_kv(llm_model *m, const char *what, llm_type kv_type) {
    enum { N = 60, KEEP = 5, DISCARD = 17 };
    int32_t toks[N], fresh[N - DISCARD];
    prompt(m, toks, N);
    memcpy(fresh, toks, KEEP * sizeof *toks);
    memcpy(fresh + KEEP, toks + KEEP + DISCARD, (N - KEEP - DISCARD) * sizeof *toks);
    llm_ctx *a = new_ctx_kv(m, 128, 16, 1, kv_type), *b = new_ctx_kv(m, 128, 16, 1, kv_type);
    llm_error err = {0};
    float bound = kv_type == LLM_TYPE_F16 ? 2e-3f : 1e-4f;
    assert_int_equal(llm_decode(a, toks, N, &err), LLM_OK);
    assert_int_equal(llm_ctx_shift(a, KEEP, DISCARD, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(a), N - DISCARD);
    assert_non_null(llm_logits(a));
    assert_int_equal(llm_decode(b, fresh, N - DISCARD, &err), LLM_OK);
    float diff, scale;
    compare_keys(a, b, 0, N - DISCARD, &diff, &scale);
    if (diff > bound * scale) fprintf(stderr, "%s: layer-0 keys differ by %g of %g\n", what, (double)diff, (double)scale);
    assert_true(diff <= bound * scale);
    size_t row = (size_t)m->hp.n_head_kv * m->hp.head_dim * (kv_type == LLM_TYPE_F16 ? 2 : 4);
    assert_memory_equal(a->value_cache, b->value_cache, (size_t)(N - DISCARD) * row);
    int32_t next = 7;
    assert_int_equal(llm_decode(a, &next, 1, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(a), N - DISCARD + 1);
    /* refusals and the no-op */
    assert_int_equal(llm_ctx_shift(a, 0, 0, &err), LLM_OK);
    assert_int_equal(llm_ctx_shift(a, 40, 5, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_ctx_shift(a, -1, 5, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_ctx_shift(a, 0, -1, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_ctx_shift(NULL, 0, 0, &err), LLM_ERR_INVALID_ARG);
    llm_ctx_free(a);
    llm_ctx_free(b);
}

static void check_shift(llm_model *m, const char *what) {
    check_shift_kv(m, what, LLM_TYPE_F32);
    check_shift_kv(m, what, LLM_TYPE_F16);
}

static llm_model *fixture_model(const fixture_spec *spec, void **img) {
    llm_error err = {0};
    size_t size;
    *img = fixture_build(spec, &size, &err);
    assert_non_null(*img);
    llm_model *m = llm_model_load_from_buffer(*img, size, NULL, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    return m;
}

/* Interleaved RoPE (stories260K), NeoX (a qwen2 fixture), and Llama 3.1
 * frequency factors with linear scaling (a llama fixture). */
static void test_shift(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    check_shift(m, "stories260K");
    llm_model_free(m);
    void *img;
    fixture_spec q = fixture_default();
    q.arch = "qwen2";
    q.qkv_bias = true;
    m = fixture_model(&q, &img);
    assert_true(m->hp.rope_neox);
    check_shift(m, "qwen2");
    llm_model_free(m);
    free(img);
    fixture_spec l = fixture_default();
    float factors[4] = {1.0f, 2.0f, 4.0f, 8.0f};
    l.rope_freqs = factors;
    l.n_rope_freqs = 4;
    l.rope_scaling = "linear";
    l.rope_factor = 4.0f;
    m = fixture_model(&l, &img);
    assert_true(m->rope_freqs.data != NULL && m->hp.rope_scale != 1.0f);
    check_shift(m, "llama, rope_freqs, linear");
    llm_model_free(m);
    free(img);
}

/* An F16 cache: its state holds half the cache bytes, round-trips to the
 * same 64 greedy tokens, and refuses to load into an F32 context; a
 * prefix copied from an F32 context into an F16 one (converted on the
 * way) continues with the same 40 greedy tokens as the F16 context. */
static void test_f16_state(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    int32_t toks[N_PROMPT];
    prompt(m, toks, N_PROMPT);
    llm_ctx *a = new_ctx_kv(m, 128, 512, 1, LLM_TYPE_F16), *f32 = new_ctx(m, 128, 512, 1);
    llm_error err = {0};
    assert_int_equal(llm_decode(a, toks, N_PROMPT, &err), LLM_OK);
    assert_int_equal(llm_decode(f32, toks, N_PROMPT, &err), LLM_OK);
    size_t logits = (size_t)llm_model_n_vocab(m) * sizeof(float);
    size_t size = llm_state_size(a);
    assert_int_equal(2 * (size - HEADER - logits), llm_state_size(f32) - HEADER - logits);
    void *buf = malloc(size);
    assert_int_equal(llm_state_save(a, buf, size, NULL, &err), LLM_OK);
    llm_ctx *b = new_ctx_kv(m, 100, 7, 2, LLM_TYPE_F16);
    assert_int_equal(llm_state_load(b, buf, size, &err), LLM_OK);
    expect_refused(f32, buf, size, LLM_ERR_FORMAT, "F16 state into an F32 context");
    llm_ctx *c = new_ctx_kv(m, 64, 512, 1, LLM_TYPE_F16);
    assert_int_equal(llm_ctx_copy_prefix(c, f32, N_PROMPT, &err), LLM_OK);
    int32_t ga[64], gb[64], gc[64];
    greedy(a, m, ga, 64);
    greedy(b, m, gb, 64);
    greedy(c, m, gc, 40);
    assert_memory_equal(ga, gb, sizeof ga);
    assert_memory_equal(ga, gc, 40 * sizeof *gc);
    llm_ctx_params bad = llm_ctx_default_params();
    bad.kv_type = LLM_TYPE_Q8_0;
    assert_null(llm_ctx_new(m, &bad, &err));
    assert_int_equal(err.code, LLM_ERR_UNSUPPORTED);
    free(buf);
    llm_ctx_free(a);
    llm_ctx_free(b);
    llm_ctx_free(c);
    llm_ctx_free(f32);
    llm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile_states),
        cmocka_unit_test(test_copy_prefix),
        cmocka_unit_test(test_shift),
        cmocka_unit_test(test_f16_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
