/* llm_decode_multi: several contexts decoded one token each in one pass
 * give, bit for bit, the logits (and so the greedy continuations) and the
 * embeddings of each
 * decoded alone with llm_decode, for 1..7 contexts at different positions
 * (7 runs as passes of 5 and 2), on stories260K (F32 and Q4_0) and on the
 * golden architecture models; every refused argument leaves every
 * context as it was; an abort advances none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm.h"
#include "testutil.h"

#define MAX_SEQS 7
#define STEPS 4

static llm_ctx *new_ctx_emb(llm_model *m, int threads, int n_ctx, bool emb) {
    llm_ctx_params p = llm_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = threads;
    p.embeddings = emb;
    p.normalize = emb;
    llm_error err = {0};
    llm_ctx *c = llm_ctx_new(m, &p, &err);
    if (!c) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(c);
    return c;
}

static llm_ctx *new_ctx(llm_model *m, int threads, int n_ctx) { return new_ctx_emb(m, threads, n_ctx, false); }

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* Context i's prompt: 1 + 3 * i tokens, so every context is at its own
 * position. */
static void prompt(llm_ctx *c, int i, int n_vocab) {
    int32_t toks[1 + 3 * MAX_SEQS];
    int n = 1 + 3 * i;
    for (int j = 0; j < n; j++) toks[j] = (int32_t)((7 + 31 * i + 13 * j) % n_vocab);
    llm_error err = {0};
    assert_int_equal(llm_decode(c, toks, n, &err), LLM_OK);
}

/* The embeddings of a and b (kept, normalized, mean-pooled) equal bit
 * for bit. */
static void same_embeddings(const llm_ctx *a, const llm_ctx *b, int dim) {
    assert_non_null(llm_get_embeddings(a));
    assert_memory_equal(llm_get_embeddings(a), llm_get_embeddings(b), (size_t)dim * sizeof(float));
    assert_memory_equal(llm_get_embeddings_ith(a, -1), llm_get_embeddings_ith(b, -1), (size_t)dim * sizeof(float));
}

/* S contexts decoded together and S alone from the same prompts, STEPS
 * greedy steps: the logits (and with emb the embeddings) equal bit for
 * bit at every step. */
static void check_same(llm_model *m, int s, int threads, bool emb) {
    llm_ctx *multi[MAX_SEQS], *solo[MAX_SEQS];
    int nv = llm_model_n_vocab(m);
    for (int i = 0; i < s; i++) {
        multi[i] = new_ctx_emb(m, threads, 64, emb);
        solo[i] = new_ctx_emb(m, threads, 64, emb);
        prompt(multi[i], i, nv);
        prompt(solo[i], i, nv);
    }
    llm_error err = {0};
    for (int step = 0; step < STEPS; step++) {
        int32_t toks[MAX_SEQS];
        for (int i = 0; i < s; i++) {
            const float *a = llm_logits(multi[i]), *b = llm_logits(solo[i]);
            assert_non_null(a);
            assert_non_null(b);
            if (memcmp(a, b, (size_t)nv * sizeof(float)) != 0)
                fail_msg("S %d, %d threads, step %d: context %d's logits differ from its solo decode", s, threads, step, i);
            if (emb && step > 0) same_embeddings(multi[i], solo[i], llm_model_n_embd(m));
            toks[i] = argmax(a, nv);
            assert_int_equal(toks[i], argmax(b, nv));
        }
        assert_int_equal(llm_decode_multi(multi, toks, s, &err), LLM_OK);
        for (int i = 0; i < s; i++) {
            assert_int_equal(llm_decode(solo[i], &toks[i], 1, &err), LLM_OK);
            assert_int_equal(llm_ctx_pos(multi[i]), llm_ctx_pos(solo[i]));
        }
    }
    for (int i = 0; i < s; i++) {
        assert_memory_equal(llm_logits(multi[i]), llm_logits(solo[i]), (size_t)nv * sizeof(float));
        llm_ctx_free(multi[i]);
        llm_ctx_free(solo[i]);
    }
}

static void check_model(llm_model *m) {
    assert_non_null(m);
    for (int s = 1; s <= MAX_SEQS; s++) check_same(m, s, 1, false);
    check_same(m, 4, 2, false);
    check_same(m, MAX_SEQS, 2, true);
}

static void test_same_stories(void **state) {
    (void)state;
    llm_model *m = test_load_model("stories260K.gguf");
    check_model(m);
    llm_model_free(m);
    m = test_load_model("stories260K-q4_0.gguf");
    check_model(m);
    llm_model_free(m);
}

/* Models with biases, q/k norms, sliding windows, soft-caps, NeoX RoPE. */
static void test_same_arch(void **state) {
    (void)state;
    const char *names[] = {"gemma2", "gemma3", "qwen2", "qwen3", "phi3", "llama-gqa"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "arch/%s.gguf", names[i]);
        llm_error err = {0};
        llm_model *m = llm_model_load(test_golden_path(rel), NULL, &err);
        if (!m) fail_msg("%s: %s", rel, err.msg);
        check_model(m);
        llm_model_free(m);
    }
}

/* A refused call: the status, a message naming the problem, and every
 * context where it was with its logits unchanged. */
static void expect_refused(llm_ctx *const *cs, const int32_t *toks, int n, llm_ctx *const *all, int n_all,
                           llm_status want, const char *substr) {
    int32_t pos[8];
    const float *lg[8];
    float first[8];
    for (int i = 0; i < n_all; i++) {
        pos[i] = llm_ctx_pos(all[i]);
        lg[i] = llm_logits(all[i]);
        first[i] = lg[i] ? lg[i][0] : 0.0f;
    }
    llm_error err = {0};
    assert_int_equal(llm_decode_multi(cs, toks, n, &err), want);
    assert_int_equal(err.code, want);
    if (!strstr(err.msg, substr)) fail_msg("message '%s' lacks '%s'", err.msg, substr);
    for (int i = 0; i < n_all; i++) {
        assert_int_equal(llm_ctx_pos(all[i]), pos[i]);
        assert_ptr_equal(llm_logits(all[i]), lg[i]);
        if (lg[i]) assert_true(lg[i][0] == first[i]);
    }
}

static void on_view(const llm_view *v, void *ud) {
    (void)v;
    (void)ud;
}

static void test_refused(void **state) {
    (void)state;
    llm_model *m = test_load_model("stories260K.gguf"), *m2 = test_load_model("stories260K.gguf");
    assert_non_null(m);
    assert_non_null(m2);
    llm_ctx *a = new_ctx(m, 1, 64), *b = new_ctx(m, 1, 64), *full = new_ctx(m, 1, 4);
    llm_ctx *other = new_ctx(m2, 1, 64), *two = new_ctx(m, 2, 64);
    llm_ctx_params p = llm_ctx_default_params();
    p.n_batch = 1;
    llm_error err = {0};
    llm_ctx *small = llm_ctx_new(m, &p, &err);
    assert_non_null(small);
    prompt(a, 1, 512);
    prompt(full, 1, 512); /* 4 tokens: full */
    llm_ctx *all[] = {a, b, full, other, two, small};
    int n_all = 6;
    int32_t toks[] = {5, 6, 7};
    expect_refused(NULL, toks, 2, all, n_all, LLM_ERR_INVALID_ARG, "NULL");
    expect_refused((llm_ctx *[]){a, b}, NULL, 2, all, n_all, LLM_ERR_INVALID_ARG, "NULL");
    expect_refused((llm_ctx *[]){a, b}, toks, 0, all, n_all, LLM_ERR_INVALID_ARG, "n 0");
    expect_refused((llm_ctx *[]){a, b}, toks, -1, all, n_all, LLM_ERR_INVALID_ARG, "n -1");
    expect_refused((llm_ctx *[]){a, NULL}, toks, 2, all, n_all, LLM_ERR_INVALID_ARG, "context 1 is NULL");
    expect_refused((llm_ctx *[]){a, b, a}, toks, 3, all, n_all, LLM_ERR_INVALID_ARG, "contexts 0 and 2 are the same");
    expect_refused((llm_ctx *[]){a, other}, toks, 2, all, n_all, LLM_ERR_INVALID_ARG, "context 1 has another model");
    expect_refused((llm_ctx *[]){a, two}, toks, 2, all, n_all, LLM_ERR_INVALID_ARG, "context 1 has kernels");
    expect_refused((llm_ctx *[]){a, b, full}, toks, 3, all, n_all, LLM_ERR_CONTEXT_FULL, "context 2 is full");
    expect_refused((llm_ctx *[]){a, b}, (int32_t[]){5, 512}, 2, all, n_all, LLM_ERR_INVALID_ARG,
                   "token 512 for context 1");
    expect_refused((llm_ctx *[]){a, b}, (int32_t[]){-1, 5}, 2, all, n_all, LLM_ERR_INVALID_ARG,
                   "token -1 for context 0");
    expect_refused((llm_ctx *[]){small, b}, toks, 2, all, n_all, LLM_ERR_INVALID_ARG, "n_batch 1");
    assert_int_equal(llm_ctx_set_observer(b, on_view, NULL), LLM_OK);
    expect_refused((llm_ctx *[]){a, b}, toks, 2, all, n_all, LLM_ERR_UNSUPPORTED, "context 1 has an observer");
    assert_int_equal(llm_ctx_set_observer(b, NULL, NULL), LLM_OK);
    /* n_batch 1 is enough for one context alone */
    assert_int_equal(llm_decode_multi((llm_ctx *[]){small}, toks, 1, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(small), 1);
    for (int i = 0; i < n_all; i++) llm_ctx_free(all[i]);
    llm_model_free(m);
    llm_model_free(m2);
}

/* Reference kernels are refused, not run another way. */
static void test_refused_reference(void **state) {
    (void)state;
    llm_model *m = test_load_model("stories260K.gguf");
    assert_non_null(m);
    llm_ctx_params p = llm_ctx_default_params();
    p.n_ctx = 64;
    p.kernels = "reference";
    llm_error err = {0};
    llm_ctx *ref = llm_ctx_new(m, &p, &err);
    assert_non_null(ref);
    expect_refused((llm_ctx *[]){ref}, (int32_t[]){5}, 1, &ref, 1, LLM_ERR_UNSUPPORTED,
                   "context 0 has reference kernels");
    llm_ctx_free(ref);
    llm_model_free(m);
}

static int polls_left;
static bool stop_after(void *ud) {
    (void)ud;
    return polls_left-- <= 0;
}

/* An abort (context 0's callback) in the first pass or in the second:
 * no context advanced, none has logits; the next call goes on as if the
 * aborted one had not been made. */
static void test_abort(void **state) {
    (void)state;
    llm_model *m = test_load_model("stories260K.gguf");
    assert_non_null(m);
    llm_ctx *cs[MAX_SEQS], *solo = new_ctx(m, 1, 64);
    for (int i = 0; i < MAX_SEQS; i++) {
        cs[i] = new_ctx(m, 1, 64);
        prompt(cs[i], i, 512);
    }
    prompt(solo, MAX_SEQS - 1, 512);
    int32_t toks[MAX_SEQS] = {10, 11, 12, 13, 14, 15, 16};
    llm_error err = {0};
    for (int after = 0; after < 12; after += 3) {
        polls_left = after;
        assert_int_equal(llm_ctx_set_abort(cs[0], stop_after, NULL), LLM_OK);
        assert_int_equal(llm_decode_multi(cs, toks, MAX_SEQS, &err), LLM_ERR_ABORTED);
        for (int i = 0; i < MAX_SEQS; i++) {
            assert_int_equal(llm_ctx_pos(cs[i]), 1 + 3 * i);
            assert_null(llm_logits(cs[i]));
        }
    }
    assert_int_equal(llm_ctx_set_abort(cs[0], NULL, NULL), LLM_OK);
    assert_int_equal(llm_decode_multi(cs, toks, MAX_SEQS, &err), LLM_OK);
    assert_int_equal(llm_decode(solo, &toks[MAX_SEQS - 1], 1, &err), LLM_OK);
    assert_memory_equal(llm_logits(cs[MAX_SEQS - 1]), llm_logits(solo), 512 * sizeof(float));
    for (int i = 0; i < MAX_SEQS; i++) llm_ctx_free(cs[i]);
    llm_ctx_free(solo);
    llm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_stories), cmocka_unit_test(test_same_arch), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_refused_reference), cmocka_unit_test(test_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
