/* Sampler tests: greedy picks against a brute-force argmax, draws against
 * softmax frequencies, filters by which tokens can never come out, and the
 * argument checks. Draws use fixed seeds, so every run sees the same
 * numbers; tolerances are still several standard deviations wide. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "llm.h"
#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

/* Deterministic logits in [-8, 8), from a tiny LCG. */
static void random_logits(float *l, int n, uint32_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        l[i] = (float)(seed >> 8) / (float)(1u << 24) * 16.0f - 8.0f;
    }
}

/* Reference argmax, ties to the lowest id. */
static int32_t argmax(const float *l, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

static int32_t sample(llm_sampler *s, const float *l, int n) {
    llm_error err = {0};
    int32_t tok = llm_sampler_sample(s, l, n, &err);
    assert_true(tok >= 0 && tok < n);
    return tok;
}

/* counts[i] = how often token i came out of `draws` samples. */
static void draw_counts(llm_sampler *s, const float *l, int n, int draws, int *counts) {
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int i = 0; i < draws; i++) counts[sample(s, l, n)]++;
}

static llm_sampler *new_sampler(uint64_t seed) {
    llm_error err = {0};
    llm_sampler *s = llm_sampler_new(seed, &err);
    assert_non_null(s);
    return s;
}

/* ---------------------------------------------------------------- greedy */

static void test_default_params(void **state) {
    (void)state;
    llm_sampler_params p = llm_sampler_default_params();
    assert_true(p.temperature == 0.8f);
    assert_int_equal(p.top_k, 40);
    assert_true(p.top_p == 0.95f);
    assert_true(p.min_p == 0.05f);
    assert_true(p.repeat_penalty == 1.0f);
    assert_int_equal(p.repeat_last_n, 64);
    assert_true(p.seed == 0xC0FFEE);
}

static void test_empty_chain_is_greedy(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(1);
    const float ties[4] = {1.0f, 3.0f, 3.0f, 0.0f};
    assert_int_equal(sample(s, ties, 4), 1); /* ties go to the lowest id */
    float l[1000];
    for (uint32_t k = 0; k < 20; k++) {
        random_logits(l, 1000, k);
        assert_int_equal(sample(s, l, 1000), argmax(l, 1000));
    }
    llm_sampler_free(s);
}

static void test_greedy_stage(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(1);
    assert_int_equal(llm_sampler_add_temperature(s, 1.0f, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_greedy(s, NULL), LLM_OK);
    float l[500];
    for (uint32_t k = 0; k < 20; k++) {
        random_logits(l, 500, 100 + k);
        assert_int_equal(sample(s, l, 500), argmax(l, 500));
    }
    llm_sampler_free(s);
}

static void test_temperature_zero_is_greedy(void **state) {
    (void)state;
    llm_sampler_params p = llm_sampler_default_params();
    p.temperature = 0.0f;
    llm_error err = {0};
    llm_sampler *a = llm_sampler_from_params(&p, &err);
    assert_non_null(a);
    llm_sampler *b = new_sampler(2), *c = new_sampler(3);
    assert_int_equal(llm_sampler_add_temperature(b, 0.0f, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_temperature(c, -1.0f, NULL), LLM_OK); /* <= 0: greedy */
    float l[2000];
    for (uint32_t k = 0; k < 20; k++) {
        random_logits(l, 2000, 200 + k);
        int32_t want = argmax(l, 2000);
        assert_int_equal(sample(a, l, 2000), want);
        assert_int_equal(sample(b, l, 2000), want);
        assert_int_equal(sample(c, l, 2000), want);
    }
    llm_sampler_free(a);
    llm_sampler_free(b);
    llm_sampler_free(c);
}

static void test_top_k_1_is_greedy(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(4);
    assert_int_equal(llm_sampler_add_top_k(s, 1, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_temperature(s, 1.0f, NULL), LLM_OK);
    float l[3000];
    for (uint32_t k = 0; k < 20; k++) {
        random_logits(l, 3000, 300 + k);
        assert_int_equal(sample(s, l, 3000), argmax(l, 3000));
    }
    llm_sampler_free(s);
}

/* ---------------------------------------------------------------- draws */

static void test_same_seed_same_sequence(void **state) {
    (void)state;
    llm_sampler_params p = llm_sampler_default_params();
    p.temperature = 1.5f;
    llm_sampler *a = llm_sampler_from_params(&p, NULL);
    llm_sampler *b = llm_sampler_from_params(&p, NULL);
    p.seed = 12345;
    llm_sampler *c = llm_sampler_from_params(&p, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    const float l[8] = {0.1f, 0.2f, 0.0f, -0.1f, 0.3f, 0.05f, -0.2f, 0.15f};
    int32_t seq[1000];
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        seq[i] = sample(a, l, 8);
        assert_int_equal(sample(b, l, 8), seq[i]);
        differ += sample(c, l, 8) != seq[i];
    }
    assert_true(differ > 500); /* ~7/8 of the steps for independent streams */
    /* reset restarts the generator: the same sequence again */
    llm_sampler_reset(a);
    for (int i = 0; i < 1000; i++) assert_int_equal(sample(a, l, 8), seq[i]);
    llm_sampler_free(a);
    llm_sampler_free(b);
    llm_sampler_free(c);
}

/* Frequencies over 100k draws converge to softmax(logits / t): the
 * standard deviation of a frequency is at most 0.0016 here. */
static void check_softmax_frequencies(float t) {
    const float l[4] = {1.0f, 2.0f, 0.5f, -1.0f};
    llm_sampler *s = new_sampler(99);
    assert_int_equal(llm_sampler_add_temperature(s, t, NULL), LLM_OK);
    int counts[4];
    const int draws = 100000;
    draw_counts(s, l, 4, draws, counts);
    double z = 0;
    for (int i = 0; i < 4; i++) z += exp(l[i] / t);
    for (int i = 0; i < 4; i++) {
        double want = exp(l[i] / t) / z, got = (double)counts[i] / draws;
        assert_true(fabs(got - want) < 0.01);
    }
    llm_sampler_free(s);
}

static void test_draws_follow_softmax(void **state) {
    (void)state;
    check_softmax_frequencies(1.0f);
    check_softmax_frequencies(0.5f);
    check_softmax_frequencies(3.0f);
}

/* ---------------------------------------------------------------- filters */

static const float *g_sort_logits; /* qsort has no context argument */

/* Ids by descending logit, ties to the lower id. */
static int cmp_ids(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const float *l = g_sort_logits;
    if (l[x] != l[y]) return l[x] > l[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* With a high temperature every survivor is drawn often, so the set of
 * drawn tokens must equal the brute-force k best (ties to the lower id:
 * the logits are rounded to create many). */
static void test_top_k_keeps_the_k_best(void **state) {
    (void)state;
    enum { N = 1000, K = 50 };
    float l[N];
    random_logits(l, N, 7);
    for (int i = 0; i < N; i++) l[i] = roundf(l[i] * 2.0f) / 2.0f;
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = i;
    g_sort_logits = l;
    qsort(ids, N, sizeof ids[0], cmp_ids);
    bool want[N] = {0};
    for (int i = 0; i < K; i++) want[ids[i]] = true;

    llm_sampler *s = new_sampler(5);
    assert_int_equal(llm_sampler_add_top_k(s, K, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_temperature(s, 1000.0f, NULL), LLM_OK);
    int counts[N];
    draw_counts(s, l, N, 20000, counts);
    for (int i = 0; i < N; i++) assert_int_equal(counts[i] > 0, want[i]);
    llm_sampler_free(s);
}

/* Probabilities 0.5, 0.3, 0.15, 0.05 as logits. */
static void four_probs(float l[4]) {
    const double p[4] = {0.5, 0.3, 0.15, 0.05};
    for (int i = 0; i < 4; i++) l[i] = (float)log(p[i]);
}

static void test_top_p(void **state) {
    (void)state;
    float l[4];
    four_probs(l);
    llm_sampler *s = new_sampler(6);
    assert_int_equal(llm_sampler_add_top_p(s, 0.75f, NULL), LLM_OK); /* 0.5 + 0.3 */
    assert_int_equal(llm_sampler_add_temperature(s, 1.0f, NULL), LLM_OK);
    int counts[4];
    draw_counts(s, l, 4, 20000, counts);
    assert_int_equal(counts[2], 0);
    assert_int_equal(counts[3], 0);
    assert_true(fabs(counts[0] / 20000.0 - 0.625) < 0.02); /* renormalized 0.5/0.8 */
    llm_sampler_free(s);

    s = new_sampler(6);
    assert_int_equal(llm_sampler_add_top_p(s, 0.0f, NULL), LLM_OK); /* keeps one */
    draw_counts(s, l, 4, 1000, counts);
    assert_int_equal(counts[0], 1000);
    llm_sampler_free(s);
}

/* A flat distribution over 1000 makes top-p sort past its first chunks:
 * 0.4995 of the mass is reached at 500 tokens, the lowest ids by tie. */
static void test_top_p_flat(void **state) {
    (void)state;
    if (test_quick()) skip(); /* 50000 sorts of 1000: minutes under valgrind */
    enum { N = 1000 };
    float l[N] = {0};
    llm_sampler *s = new_sampler(8);
    assert_int_equal(llm_sampler_add_top_p(s, 0.4995f, NULL), LLM_OK);
    int counts[N];
    draw_counts(s, l, N, 50000, counts);
    for (int i = 0; i < N; i++) assert_int_equal(counts[i] > 0, i < 500);
    llm_sampler_free(s);
}

static void test_min_p(void **state) {
    (void)state;
    float l[4];
    four_probs(l);
    llm_sampler *s = new_sampler(9);
    assert_int_equal(llm_sampler_add_min_p(s, 0.2f, NULL), LLM_OK); /* cut at 0.1 */
    int counts[4];
    draw_counts(s, l, 4, 20000, counts);
    assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
    assert_int_equal(counts[3], 0);
    llm_sampler_free(s);

    s = new_sampler(9);
    assert_int_equal(llm_sampler_add_min_p(s, 1.0f, NULL), LLM_OK); /* only the best, */
    const float ties[4] = {1.0f, 0.5f, 1.0f, 0.0f};            /* all of them */
    draw_counts(s, ties, 4, 1000, counts);
    assert_true(counts[0] > 300 && counts[2] > 300 && counts[0] + counts[2] == 1000);
    llm_sampler_free(s);
}

/* ---------------------------------------------------------------- penalty */

static void test_penalty(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(10);
    assert_int_equal(llm_sampler_add_penalty(s, 2.0f, 2, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_greedy(s, NULL), LLM_OK);
    const float l[3] = {1.0f, 3.0f, 2.0f};
    assert_int_equal(sample(s, l, 3), 1);
    llm_sampler_accept(s, 1);
    assert_int_equal(sample(s, l, 3), 2); /* 3 / 2 < 2 */

    /* each token is penalized once however often it was seen */
    const float close[3] = {1.0f, 3.0f, 1.4f};
    llm_sampler_accept(s, 1);
    assert_int_equal(sample(s, close, 3), 1); /* 1.5 > 1.4 */

    /* the window holds the last 2 tokens: 1 slides out */
    llm_sampler_accept(s, 0);
    llm_sampler_accept(s, 0);
    assert_int_equal(sample(s, l, 3), 1);

    /* negative logits are multiplied */
    const float neg[2] = {-1.0f, -0.6f};
    llm_sampler_accept(s, 1);
    llm_sampler_accept(s, 1); /* the window is now 1, 1 */
    assert_int_equal(sample(s, neg, 2), 0); /* -1.2 < -1 */

    /* reset empties the window */
    llm_sampler_reset(s);
    assert_int_equal(sample(s, neg, 2), 1);
    assert_int_equal(sample(s, l, 3), 1);

    /* ids outside the vocabulary are harmless */
    llm_sampler_accept(s, 1000000);
    llm_sampler_accept(s, LLM_TOKEN_NULL);
    assert_int_equal(sample(s, l, 3), 1);
    llm_sampler_free(s);
}

/* The window grows to the largest last_n and keeps what it held. */
static void test_penalty_window_grows(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(11);
    assert_int_equal(llm_sampler_add_penalty(s, 1.0f, 2, NULL), LLM_OK); /* no-op stage */
    llm_sampler_accept(s, 0);
    llm_sampler_accept(s, 1);
    llm_sampler_accept(s, 2); /* the ring of 2 now holds 1, 2 */
    assert_int_equal(llm_sampler_add_penalty(s, 4.0f, 8, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_greedy(s, NULL), LLM_OK);
    const float l[4] = {2.0f, 3.0f, 2.5f, 1.0f};
    assert_int_equal(sample(s, l, 4), 0); /* 0.75, 0.625 penalized; 0 slid out */
    llm_sampler_free(s);
}

/* Order matters. Logits 2.0 and 1.9, token 0 just seen, penalty 1.5:
 * penalty then top-k 1 lowers token 0 to 1.33 before the cut, so token 1
 * survives; top-k 1 then penalty cuts first and token 0 is all that is
 * left to penalize. With top-k 2 first the penalty runs on a reordered
 * list and still demotes token 0. */
static void test_chain_order_matters(void **state) {
    (void)state;
    float l[100];
    for (int i = 0; i < 100; i++) l[i] = -(float)i;
    l[0] = 2.0f;
    l[1] = 1.9f;
    llm_sampler *penalty_first = new_sampler(12), *cut_first = new_sampler(12);
    llm_sampler *cut2_first = new_sampler(12);
    assert_int_equal(llm_sampler_add_penalty(penalty_first, 1.5f, 8, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_top_k(penalty_first, 1, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_top_k(cut_first, 1, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_penalty(cut_first, 1.5f, 8, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_top_k(cut2_first, 2, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_penalty(cut2_first, 1.5f, 8, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_greedy(cut2_first, NULL), LLM_OK);
    llm_sampler_accept(penalty_first, 0);
    llm_sampler_accept(cut_first, 0);
    llm_sampler_accept(cut2_first, 0);
    assert_int_equal(sample(penalty_first, l, 100), 1);
    assert_int_equal(sample(cut_first, l, 100), 0);
    assert_int_equal(sample(cut2_first, l, 100), 1);
    llm_sampler_free(penalty_first);
    llm_sampler_free(cut_first);
    llm_sampler_free(cut2_first);
}

static void test_from_params_penalty(void **state) {
    (void)state;
    llm_sampler_params p = llm_sampler_default_params();
    p.temperature = 0.0f;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 4;
    llm_sampler *s = llm_sampler_from_params(&p, NULL);
    assert_non_null(s);
    const float l[3] = {1.0f, 3.0f, 2.0f};
    llm_sampler_accept(s, 1);
    assert_int_equal(sample(s, l, 3), 2);
    llm_sampler_free(s);
}

/* ---------------------------------------------------------------- odd input */

static void test_nan_and_inf_logits(void **state) {
    (void)state;
    llm_sampler *g = new_sampler(13), *d = new_sampler(13);
    assert_int_equal(llm_sampler_add_temperature(d, 1.0f, NULL), LLM_OK);
    const float nan4[4] = {NAN, 1.0f, NAN, 0.5f};
    assert_int_equal(sample(g, nan4, 4), 1);
    int counts[4];
    draw_counts(d, nan4, 4, 10000, counts);
    assert_true(counts[0] == 0 && counts[2] == 0 && counts[1] > 0 && counts[3] > 0);

    const float all_nan[4] = {NAN, NAN, NAN, NAN}; /* all -inf: uniform */
    assert_int_equal(sample(g, all_nan, 4), 0);
    draw_counts(d, all_nan, 4, 10000, counts);
    for (int i = 0; i < 4; i++) assert_true(counts[i] > 2000);

    const float inf4[4] = {0.0f, INFINITY, 3.0f, INFINITY}; /* the +inf share */
    draw_counts(d, inf4, 4, 10000, counts);
    assert_true(counts[0] == 0 && counts[2] == 0 && counts[1] > 4000 && counts[3] > 4000);
    llm_sampler_free(g);
    llm_sampler_free(d);
}

static void test_vocab_size_changes(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(14);
    assert_int_equal(llm_sampler_add_top_k(s, 10, NULL), LLM_OK);
    assert_int_equal(llm_sampler_add_temperature(s, 0.0f, NULL), LLM_OK);
    static float l[5000];
    const int sizes[] = {4, 5000, 1, 37, 5000, 4};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        random_logits(l, sizes[i], 400 + (uint32_t)i);
        assert_int_equal(sample(s, l, sizes[i]), argmax(l, sizes[i]));
    }
    llm_sampler_free(s);
}

/* A failed add leaves the chain as it was (here: empty, so greedy), and
 * its message names the argument and its range. */
static void test_invalid_stage_args(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(15);
    assert_fails(llm_sampler_add_top_k(s, -1, err), LLM_ERR_INVALID_ARG, "top-k -1 must be >= 0");
    const float bad_p[] = {NAN, -0.1f, 1.5f, INFINITY};
    for (size_t i = 0; i < sizeof bad_p / sizeof bad_p[0]; i++) {
        assert_fails(llm_sampler_add_top_p(s, bad_p[i], err), LLM_ERR_INVALID_ARG, "must be in [0, 1]");
        assert_fails(llm_sampler_add_min_p(s, bad_p[i], err), LLM_ERR_INVALID_ARG, "must be in [0, 1]");
        assert_int_equal(llm_sampler_add_top_p(s, bad_p[i], NULL), LLM_ERR_INVALID_ARG); /* no error struct */
    }
    assert_fails(llm_sampler_add_top_p(s, 1.5f, err), LLM_ERR_INVALID_ARG, "top-p 1.5 must be in [0, 1]");
    assert_fails(llm_sampler_add_min_p(s, -0.1f, err), LLM_ERR_INVALID_ARG, "min-p -0.1 must be in [0, 1]");
    assert_fails(llm_sampler_add_temperature(s, NAN, err), LLM_ERR_INVALID_ARG, "temperature nan must be finite");
    assert_fails(llm_sampler_add_temperature(s, INFINITY, err), LLM_ERR_INVALID_ARG, "temperature inf must be finite");
    const float bad_penalty[] = {0.0f, -1.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_penalty / sizeof bad_penalty[0]; i++)
        assert_fails(llm_sampler_add_penalty(s, bad_penalty[i], 8, err), LLM_ERR_INVALID_ARG,
                     "must be finite and > 0");
    assert_fails(llm_sampler_add_penalty(s, 0.0f, 8, err), LLM_ERR_INVALID_ARG, "repeat penalty 0 must be");
    assert_fails(llm_sampler_add_penalty(s, 1.1f, -1, err), LLM_ERR_INVALID_ARG, "repeat_last_n -1 must be in 0..");
    const float l[4] = {0.0f, 0.1f, 0.3f, 0.2f};
    for (int i = 0; i < 50; i++) assert_int_equal(sample(s, l, 4), 2);
    llm_sampler_free(s);

    assert_fails(llm_sampler_add_penalty(NULL, 1.1f, 8, err), LLM_ERR_INVALID_ARG, "sampler is NULL");
    assert_fails(llm_sampler_add_top_k(NULL, 1, err), LLM_ERR_INVALID_ARG, "sampler is NULL");
    assert_fails(llm_sampler_add_top_p(NULL, 0.5f, err), LLM_ERR_INVALID_ARG, "sampler is NULL");
    assert_fails(llm_sampler_add_min_p(NULL, 0.5f, err), LLM_ERR_INVALID_ARG, "sampler is NULL");
    assert_fails(llm_sampler_add_temperature(NULL, 1.0f, err), LLM_ERR_INVALID_ARG, "sampler is NULL");
    assert_fails(llm_sampler_add_greedy(NULL, err), LLM_ERR_INVALID_ARG, "sampler is NULL");
    assert_int_equal(llm_sampler_add_greedy(NULL, NULL), LLM_ERR_INVALID_ARG);
}

static void expect_params_error(const llm_sampler_params *p, const char *word) {
    llm_error err = {0};
    assert_null(llm_sampler_from_params(p, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, word));
}

static void test_invalid_params(void **state) {
    (void)state;
    const llm_sampler_params d = llm_sampler_default_params();
    llm_sampler_params p;
    p = d; p.temperature = NAN;      expect_params_error(&p, "temperature");
    p = d; p.top_k = -3;             expect_params_error(&p, "top-k");
    p = d; p.top_p = 1.01f;          expect_params_error(&p, "top-p");
    p = d; p.top_p = NAN;            expect_params_error(&p, "top-p");
    p = d; p.min_p = -0.5f;          expect_params_error(&p, "min-p");
    p = d; p.repeat_penalty = 0.0f;  expect_params_error(&p, "penalty");
    p = d; p.repeat_last_n = -1;     expect_params_error(&p, "repeat_last_n");
    /* checked even where the stage would be left out */
    p = d; p.temperature = 0.0f; p.top_k = -1; expect_params_error(&p, "top-k");
    expect_params_error(NULL, "NULL");
    assert_null(llm_sampler_from_params(NULL, NULL));
}

static void test_sample_null_and_size(void **state) {
    (void)state;
    llm_sampler *s = new_sampler(16);
    const float l[4] = {0};
    llm_error err = {0};
    assert_int_equal(llm_sampler_sample(NULL, l, 4, &err), LLM_TOKEN_NULL);
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "sampler"));
    err = (llm_error){0};
    assert_int_equal(llm_sampler_sample(s, NULL, 4, &err), LLM_TOKEN_NULL);
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "logits"));
    err = (llm_error){0};
    assert_int_equal(llm_sampler_sample(s, l, 0, &err), LLM_TOKEN_NULL);
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "n_vocab"));
    assert_int_equal(llm_sampler_sample(s, l, -5, NULL), LLM_TOKEN_NULL);
    llm_sampler_free(s);
    llm_sampler_free(NULL);
    llm_sampler_accept(NULL, 1);
    llm_sampler_reset(NULL);
}

/* Presence and frequency: a token seen c times loses presence + c *
 * frequency, in id order (first stage) and after a reordering stage. */
static void test_presence_frequency(void **state) {
    (void)state;
    for (int reorder = 0; reorder < 2; reorder++) {
        llm_sampler *s = new_sampler(12);
        if (reorder) assert_int_equal(llm_sampler_add_top_k(s, 3, NULL), LLM_OK);
        assert_int_equal(llm_sampler_add_presence_frequency(s, 0.5f, 0.25f, 8, NULL), LLM_OK);
        assert_int_equal(llm_sampler_add_greedy(s, NULL), LLM_OK);
        const float l[3] = {2.0f, 2.6f, 1.0f};
        assert_int_equal(sample(s, l, 3), 1);
        llm_sampler_accept(s, 1); /* 2.6 - 0.75 = 1.85 < 2 */
        assert_int_equal(sample(s, l, 3), 0);
        llm_sampler_accept(s, 0);
        llm_sampler_accept(s, 0); /* 0: 2 - 1.0 = 1.0; 1: 1.85; 2: 1.0 */
        assert_int_equal(sample(s, l, 3), 1);
        llm_sampler_accept(s, 1); /* 1: 2.6 - 1.0 = 1.6 still best */
        assert_int_equal(sample(s, l, 3), 1);
        llm_sampler_accept(s, 1); /* 1: 2.6 - 1.25 = 1.35 */
        const float m[3] = {1.2f, 2.6f, 1.4f};
        assert_int_equal(sample(s, m, 3), 2);
        llm_sampler_free(s);
    }
    /* a negative presence penalty encourages repeats */
    llm_sampler *s = new_sampler(12);
    assert_int_equal(llm_sampler_add_presence_frequency(s, -1.0f, 0.0f, 4, NULL), LLM_OK);
    const float l[2] = {1.0f, 0.5f};
    llm_sampler_accept(s, 1);
    assert_int_equal(sample(s, l, 2), 1);
    llm_sampler_free(s);
}

/* Logit bias: -inf bans a token, a positive bias lifts one, repeated
 * entries add up, ids outside the vocabulary are ignored; the entries are
 * copied, so the caller's array may change afterwards. */
static void test_logit_bias(void **state) {
    (void)state;
    for (int reorder = 0; reorder < 2; reorder++) {
        llm_logit_bias b[] = {{0, -INFINITY}, {2, 0.75f}, {9999, 5.0f}, {2, 0.75f}, {-3, 1.0f}};
        llm_sampler *s = new_sampler(13);
        if (reorder) assert_int_equal(llm_sampler_add_top_k(s, 3, NULL), LLM_OK);
        assert_int_equal(llm_sampler_add_logit_bias(s, b, 5, NULL), LLM_OK);
        b[0].bias = 100.0f;
        const float l[3] = {5.0f, 2.0f, 1.0f};
        assert_int_equal(sample(s, l, 3), 2); /* 1 + 1.5 > 2, and 0 is banned */
        const float m[3] = {5.0f, 2.6f, 1.0f};
        assert_int_equal(sample(s, m, 3), 1);
        llm_sampler_free(s);
    }
    llm_logit_bias ban = {1, -INFINITY};
    llm_sampler_params p = llm_sampler_default_params();
    p.temperature = 0.0f;
    p.logit_bias = &ban;
    p.n_logit_bias = 1;
    llm_error err = {0};
    llm_sampler *s = llm_sampler_from_params(&p, &err);
    assert_non_null(s);
    const float l[3] = {1.0f, 3.0f, 2.0f};
    assert_int_equal(sample(s, l, 3), 2);
    llm_sampler_free(s);
    /* bad entries are refused */
    s = new_sampler(13);
    llm_logit_bias nan = {1, NAN}, inf = {1, INFINITY};
    assert_fails(llm_sampler_add_logit_bias(s, &nan, 1, err), LLM_ERR_INVALID_ARG,
                 "logit bias nan of token 1 must be a number below +inf");
    assert_fails(llm_sampler_add_logit_bias(s, &inf, 1, err), LLM_ERR_INVALID_ARG, "logit bias inf of token 1");
    assert_fails(llm_sampler_add_logit_bias(s, NULL, 1, err), LLM_ERR_INVALID_ARG, "logit bias: 1 entries");
    assert_fails(llm_sampler_add_logit_bias(s, &ban, -1, err), LLM_ERR_INVALID_ARG, "logit bias: -1 entries");
    assert_fails(llm_sampler_add_presence_frequency(s, NAN, 0.0f, 4, err), LLM_ERR_INVALID_ARG,
                 "presence penalty nan and frequency penalty 0 must be finite");
    assert_fails(llm_sampler_add_presence_frequency(s, 0.0f, INFINITY, 4, err), LLM_ERR_INVALID_ARG,
                 "frequency penalty inf");
    assert_fails(llm_sampler_add_presence_frequency(s, 0.0f, 0.0f, -1, err), LLM_ERR_INVALID_ARG,
                 "penalty window -1 must be in 0..");
    assert_int_equal(llm_sampler_add_presence_frequency(s, 0.0f, 0.0f, -1, NULL), LLM_ERR_INVALID_ARG);
    p.n_logit_bias = 1;
    p.logit_bias = &nan;
    assert_null(llm_sampler_from_params(&p, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    llm_sampler_free(s);
}

/* llm_sampler_sample records nothing; llm_sampler_sample_accept records
 * what it picked, so the repeat penalty sees it. */
static void test_sample_accept(void **state) {
    (void)state;
    llm_sampler_params p = llm_sampler_default_params();
    p.temperature = 0.0f;
    p.repeat_penalty = 2.0f;
    llm_error err = {0};
    llm_sampler *s = llm_sampler_from_params(&p, &err);
    assert_non_null(s);
    const float l[3] = {1.0f, 3.0f, 2.0f};
    assert_int_equal(llm_sampler_sample(s, l, 3, &err), 1);
    assert_int_equal(llm_sampler_sample(s, l, 3, &err), 1); /* not recorded */
    assert_int_equal(llm_sampler_sample_accept(s, l, 3, &err), 1);
    assert_int_equal(llm_sampler_sample_accept(s, l, 3, &err), 2); /* 1 was recorded */
    assert_int_equal(llm_sampler_sample_accept(s, NULL, 3, &err), LLM_TOKEN_NULL);
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    llm_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_params),
        cmocka_unit_test(test_empty_chain_is_greedy),
        cmocka_unit_test(test_greedy_stage),
        cmocka_unit_test(test_temperature_zero_is_greedy),
        cmocka_unit_test(test_top_k_1_is_greedy),
        cmocka_unit_test(test_same_seed_same_sequence),
        cmocka_unit_test(test_draws_follow_softmax),
        cmocka_unit_test(test_top_k_keeps_the_k_best),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_top_p_flat),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_penalty),
        cmocka_unit_test(test_penalty_window_grows),
        cmocka_unit_test(test_chain_order_matters),
        cmocka_unit_test(test_from_params_penalty),
        cmocka_unit_test(test_nan_and_inf_logits),
        cmocka_unit_test(test_vocab_size_changes),
        cmocka_unit_test(test_invalid_stage_args),
        cmocka_unit_test(test_invalid_params),
        cmocka_unit_test(test_sample_null_and_size),
        cmocka_unit_test(test_presence_frequency),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_sample_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
