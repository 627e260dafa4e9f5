/* What a decode gives back and how it can be stopped: the logits of
 * chosen positions (llm_decode_ex, llm_logits_ith) against decoding token
 * by token, and the abort callback (llm_ctx_set_abort): LLM_ERR_ABORTED,
 * no position advanced, and the next decode as if nothing had happened;
 * and the embeddings (llm_get_embeddings): the classifier applied to a
 * token's embedding gives its logits, pooling and normalization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm.h"
#include "matmul.h"
#include "model.h"
#include "testutil.h"

#define N_TOK 40

static llm_model *load(const char *rel) {
    llm_model *m = test_load_model(rel);
    assert_non_null(m);
    return m;
}

static llm_ctx *new_ctx(const llm_model *m, int n_batch, int threads) {
    llm_error err = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.n_batch = n_batch;
    p.n_threads = threads;
    llm_ctx *c = llm_ctx_new(m, &p, &err);
    if (!c) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(c);
    return c;
}

/* BOS, then a fixed spread of ids over the vocabulary. */
static void prompt(const llm_model *m, int32_t *toks, int n) {
    for (int i = 0; i < n; i++) toks[i] = i == 0 ? 1 : (i * 37) % llm_model_n_vocab(m);
}

static float max_abs(const float *v, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = v[i] > m ? v[i] : -v[i] > m ? -v[i] : m;
    return m;
}

static float max_diff(const float *a, const float *b, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) {
        float d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        if (d > m) m = d;
    }
    return m;
}

/* Every position's logits from one llm_decode_ex of N_TOK tokens (in
 * sub-batches of 16, so the batched products and the sub-batch split are
 * both crossed) against one llm_decode per token. The batch goes through
 * the batched products (and the output head over 16 rows at once), token
 * by token through the dot products, so they differ by float rounding —
 * and, where the batched products round activations differently (bf16
 * for F16 weights) or where a rounding difference flips an activation's
 * Q8_0 rounding in the next layer, by more. Bounds, relative to the
 * largest logit of the position: 1e-4 with F32 (and the Q4_0 fixture,
 * whose Q4_0 tensors meet the same products either way; measured 2e-7),
 * 2e-2 for Q8_0 and the F16 model on the AVX-512 batched products
 * (measured 8e-3 and 5e-3; 0 on the scalar set). */
static void check_all_positions(const char *rel, float bound) {
    llm_model *m = load(rel);
    int nv = llm_model_n_vocab(m);
    int32_t toks[N_TOK];
    int8_t all[N_TOK];
    prompt(m, toks, N_TOK);
    memset(all, 1, sizeof all);
    llm_ctx *batch = new_ctx(m, 16, 2), *single = new_ctx(m, 16, 1);
    llm_error err = {0};
    assert_int_equal(llm_decode_ex(batch, toks, N_TOK, all, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(batch), N_TOK);
    float worst = 0;
    for (int i = 0; i < N_TOK; i++) {
        assert_int_equal(llm_decode(single, &toks[i], 1, &err), LLM_OK);
        const float *ref = llm_logits(single), *got = llm_logits_ith(batch, i);
        assert_non_null(got);
        float rel_diff = max_diff(got, ref, nv) / max_abs(ref, nv);
        if (rel_diff > worst) worst = rel_diff;
    }
    if (worst > bound) fprintf(stderr, "%s: worst relative difference %g\n", rel, (double)worst);
    assert_true(worst <= bound);
    assert_ptr_equal(llm_logits(batch), llm_logits_ith(batch, N_TOK - 1));
    assert_ptr_equal(llm_logits_ith(batch, -N_TOK), llm_logits_ith(batch, 0));
    assert_null(llm_logits_ith(batch, N_TOK));
    assert_null(llm_logits_ith(batch, -N_TOK - 1));
    llm_ctx_free(batch);
    llm_ctx_free(single);
    llm_model_free(m);
}

static void test_all_positions(void **state) {
    (void)state;
    check_all_positions("stories260K.gguf", 1e-4f);
    if (test_quick()) return;
    check_all_positions("stories260K-q8_0.gguf", 2e-2f);
    check_all_positions("stories260K-q4_0.gguf", 1e-4f);
    check_all_positions("llama-2-tiny-random.gguf", 2e-2f);
}

/* A mask keeps exactly the rows it marks, in token order, with the same
 * values as asking for all of them (the output head's rows do not depend
 * on which others share the product: below 6 rows the dot products, at or
 * above the batched ones; both give each row the same sums). The last
 * token not asked for means no llm_logits. A plain llm_decode afterwards
 * gives the last token only. */
static void test_mask(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    int nv = llm_model_n_vocab(m);
    int32_t toks[N_TOK];
    int8_t all[N_TOK], odd[N_TOK];
    prompt(m, toks, N_TOK);
    for (int i = 0; i < N_TOK; i++) {
        all[i] = 1;
        odd[i] = (int8_t)(i % 2 == 1 && i < N_TOK - 1);
    }
    llm_ctx *a = new_ctx(m, 512, 1), *b = new_ctx(m, 512, 1);
    llm_error err = {0};
    assert_int_equal(llm_decode_ex(a, toks, N_TOK, all, &err), LLM_OK);
    assert_int_equal(llm_decode_ex(b, toks, N_TOK, odd, &err), LLM_OK);
    for (int i = 0; i < N_TOK; i++) {
        if (!odd[i]) {
            assert_null(llm_logits_ith(b, i));
            continue;
        }
        assert_non_null(llm_logits_ith(b, i));
        assert_true(max_diff(llm_logits_ith(a, i), llm_logits_ith(b, i), nv) <= 1e-5f * max_abs(llm_logits_ith(a, i), nv));
    }
    assert_null(llm_logits(b));
    int32_t next = 5;
    assert_int_equal(llm_decode(b, &next, 1, &err), LLM_OK);
    assert_non_null(llm_logits(b));
    assert_null(llm_logits_ith(b, -2));
    assert_int_equal(llm_ctx_truncate(b, 3, NULL), LLM_OK);
    assert_null(llm_logits(b));
    llm_ctx_free(a);
    llm_ctx_free(b);
    llm_model_free(m);
}

/* Says stop on its n-th call (counting every call in `calls`). */
typedef struct stopper {
    int calls, stop_at;
} stopper;

static bool stop_at_call(void *ud) {
    stopper *s = ud;
    return ++s->calls >= s->stop_at;
}

/* Decodes `first` tokens, then tries the rest with an abort callback that
 * stops after stop_at polls: LLM_ERR_ABORTED, position and logits as
 * documented, and a retry without the callback gives the same logits, bit
 * for bit, as a context that was never interrupted. */
static void check_abort(int threads, int stop_at) {
    llm_model *m = load("stories260K.gguf");
    int nv = llm_model_n_vocab(m);
    int32_t toks[N_TOK];
    int8_t all[N_TOK];
    prompt(m, toks, N_TOK);
    memset(all, 1, sizeof all);
    const int first = 7;
    llm_ctx *ref = new_ctx(m, 8, threads), *c = new_ctx(m, 8, threads);
    llm_error err = {0};
    assert_int_equal(llm_decode(ref, toks, first, &err), LLM_OK);
    assert_int_equal(llm_decode_ex(ref, toks + first, N_TOK - first, all, &err), LLM_OK);
    assert_int_equal(llm_decode(c, toks, first, &err), LLM_OK);
    stopper s = {0, stop_at};
    assert_int_equal(llm_ctx_set_abort(c, stop_at_call, &s), LLM_OK);
    assert_int_equal(llm_decode_ex(c, toks + first, N_TOK - first, all, &err), LLM_ERR_ABORTED);
    assert_int_equal(err.code, LLM_ERR_ABORTED);
    assert_non_null(strstr(err.msg, "abort"));
    assert_int_equal(s.calls, stop_at);
    assert_int_equal(llm_ctx_pos(c), first);
    assert_null(llm_logits(c));
    assert_int_equal(llm_ctx_set_abort(c, NULL, NULL), LLM_OK);
    assert_int_equal(llm_decode_ex(c, toks + first, N_TOK - first, all, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(c), N_TOK);
    for (int i = 0; i < N_TOK - first; i++)
        assert_memory_equal(llm_logits_ith(c, i), llm_logits_ith(ref, i), (size_t)nv * sizeof(float));
    llm_ctx_free(ref);
    llm_ctx_free(c);
    llm_model_free(m);
}

static void test_abort(void **state) {
    (void)state;
    check_abort(1, 1);   /* at the first poll */
    check_abort(1, 20);  /* in a later sub-batch */
    check_abort(2, 5);   /* with workers */
    assert_int_equal(llm_ctx_set_abort(NULL, NULL, NULL), LLM_ERR_INVALID_ARG);
    assert_string_equal(llm_strerror(LLM_ERR_ABORTED), "aborted");
}

/* A callback that never says stop changes nothing. */
static bool never(void *ud) {
    ++*(int *)ud;
    return false;
}

static void test_abort_never(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    int32_t toks[N_TOK];
    prompt(m, toks, N_TOK);
    llm_ctx *ref = new_ctx(m, 8, 1), *c = new_ctx(m, 8, 1);
    int calls = 0;
    llm_ctx_set_abort(c, never, &calls);
    llm_error err = {0};
    assert_int_equal(llm_decode(ref, toks, N_TOK, &err), LLM_OK);
    assert_int_equal(llm_decode(c, toks, N_TOK, &err), LLM_OK);
    assert_true(calls > 0);
    assert_memory_equal(llm_logits(c), llm_logits(ref), (size_t)llm_model_n_vocab(m) * sizeof(float));
    llm_ctx_free(ref);
    llm_ctx_free(c);
    llm_model_free(m);
}

static llm_ctx *embedding_ctx(const llm_model *m, llm_pooling pooling, bool normalize) {
    llm_error err = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.embeddings = true;
    p.pooling = pooling;
    p.normalize = normalize;
    p.n_batch = 16;
    llm_ctx *c = llm_ctx_new(m, &p, &err);
    assert_non_null(c);
    return c;
}

/* Each token's embedding, through the classifier (its rows read with
 * llm_tensor_row, summed in double), gives that token's logits within
 * float rounding (1e-5 of the largest; F32 weights); the pooled vectors
 * are the mean, last and first of them, and normalizing gives unit
 * vectors in the same directions. */
static void test_embeddings(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    int nv = llm_model_n_vocab(m), dim = llm_model_n_embd(m);
    int32_t toks[N_TOK];
    int8_t all[N_TOK];
    prompt(m, toks, N_TOK);
    memset(all, 1, sizeof all);
    llm_ctx *c = embedding_ctx(m, LLM_POOLING_MEAN, false);
    llm_error err = {0};
    assert_null(llm_get_embeddings(c));
    assert_null(llm_get_embeddings_ith(c, 0));
    assert_int_equal(llm_decode_ex(c, toks, N_TOK, all, &err), LLM_OK);
    float *row = malloc((size_t)dim * sizeof *row), *mean = calloc((size_t)dim, sizeof *mean);
    for (int i = 0; i < N_TOK; i++) {
        const float *e = llm_get_embeddings_ith(c, i), *l = llm_logits_ith(c, i);
        assert_non_null(e);
        float worst = 0;
        for (int r = 0; r < nv; r++) {
            llm_tensor_row(&m->output, r, row);
            double dot = 0;
            for (int j = 0; j < dim; j++) dot += (double)row[j] * e[j];
            float d = (float)dot - l[r];
            if (d < 0) d = -d;
            if (d > worst) worst = d;
        }
        assert_true(worst <= 1e-5f * max_abs(l, nv));
        for (int j = 0; j < dim; j++) mean[j] += e[j] / N_TOK;
    }
    assert_true(max_diff(llm_get_embeddings(c), mean, dim) <= 1e-5f * max_abs(mean, dim));
    assert_ptr_equal(llm_get_embeddings_ith(c, -1), llm_get_embeddings_ith(c, N_TOK - 1));
    assert_null(llm_get_embeddings_ith(c, N_TOK));
    llm_pooling kinds[] = {LLM_POOLING_LAST, LLM_POOLING_FIRST, LLM_POOLING_NONE};
    for (int k = 0; k < 3; k++) {
        llm_ctx *p = embedding_ctx(m, kinds[k], false), *q = embedding_ctx(m, kinds[k], true);
        int8_t none[N_TOK] = {0};
        assert_int_equal(llm_decode_ex(p, toks, N_TOK, none, &err), LLM_OK);
        assert_int_equal(llm_decode_ex(q, toks, N_TOK, none, &err), LLM_OK);
        assert_null(llm_logits(p));
        if (kinds[k] == LLM_POOLING_NONE) {
            assert_null(llm_get_embeddings(p));
        } else {
            int at = kinds[k] == LLM_POOLING_LAST ? N_TOK - 1 : 0;
            assert_memory_equal(llm_get_embeddings(p), llm_get_embeddings_ith(c, at), (size_t)dim * sizeof(float));
        }
        for (int i = 0; i < N_TOK; i += 13) {
            const float *raw = llm_get_embeddings_ith(p, i), *unit = llm_get_embeddings_ith(q, i);
            double norm = 0, cos = 0;
            for (int j = 0; j < dim; j++) norm += (double)raw[j] * raw[j];
            for (int j = 0; j < dim; j++) cos += raw[j] * unit[j] / sqrt(norm);
            double un = 0;
            for (int j = 0; j < dim; j++) un += (double)unit[j] * unit[j];
            assert_true(un > 1 - 1e-5 && un < 1 + 1e-5);
            assert_true(cos > 1 - 1e-5);
        }
        llm_ctx_free(p);
        llm_ctx_free(q);
    }
    assert_int_equal(llm_ctx_truncate(c, 0, NULL), LLM_OK);
    assert_null(llm_get_embeddings(c));
    llm_ctx *plain = new_ctx(m, 16, 1);
    assert_int_equal(llm_decode(plain, toks, 4, &err), LLM_OK);
    assert_null(llm_get_embeddings_ith(plain, 0));
    assert_null(llm_get_embeddings(plain));
    llm_ctx_params bad = llm_ctx_default_params();
    bad.pooling = (llm_pooling)7;
    assert_null(llm_ctx_new(m, &bad, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    free(row);
    free(mean);
    llm_ctx_free(plain);
    llm_ctx_free(c);
    llm_model_free(m);
}

/* An F16 cache against an F32 one: every position's logits of a 40-token
 * decode within bound of the largest. Keys and values are rounded to 11
 * significant bits: 5e-3 for float weights (measured 6e-4 on stories260K,
 * 2e-4 on the F16 model), 5e-2 for Q8_0, where a rounding difference can
 * flip an activation's Q8_0 rounding in the next layer (measured 1.7e-2). */
static void check_f16_cache(const char *rel, float bound) {
    llm_model *m = load(rel);
    int nv = llm_model_n_vocab(m);
    int32_t toks[N_TOK];
    int8_t all[N_TOK];
    prompt(m, toks, N_TOK);
    memset(all, 1, sizeof all);
    llm_error err = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.n_batch = 16;
    llm_ctx *f32 = llm_ctx_new(m, &p, &err);
    p.kv_type = LLM_TYPE_F16;
    llm_ctx *f16 = llm_ctx_new(m, &p, &err);
    assert_non_null(f32);
    assert_non_null(f16);
    assert_int_equal(llm_decode_ex(f32, toks, N_TOK, all, &err), LLM_OK);
    assert_int_equal(llm_decode_ex(f16, toks, N_TOK, all, &err), LLM_OK);
    float worst = 0;
    for (int i = 0; i < N_TOK; i++) {
        float d = max_diff(llm_logits_ith(f16, i), llm_logits_ith(f32, i), nv) / max_abs(llm_logits_ith(f32, i), nv);
        if (d > worst) worst = d;
    }
    if (worst > bound) fprintf(stderr, "%s: F16 cache, worst relative difference %g\n", rel, (double)worst);
    assert_true(worst <= bound);
    assert_true(worst > 0); /* the cache really is F16 */
    llm_ctx_free(f32);
    llm_ctx_free(f16);
    llm_model_free(m);
}

static void test_f16_cache(void **state) {
    (void)state;
    check_f16_cache("stories260K.gguf", 5e-3f);
    if (test_quick()) return;
    check_f16_cache("llama-2-tiny-random.gguf", 5e-3f);
    check_f16_cache("stories260K-q8_0.gguf", 5e-2f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_positions),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_abort_never),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_f16_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
