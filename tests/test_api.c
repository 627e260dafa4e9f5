/* The public API's contract: argument checks, caller-sized buffers, the
 * context-full status, truncation, F16 models, and one model shared by
 * several contexts in different threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "fixture.h"
#include "llm.h"
#include "testutil.h"

static llm_model *load(const char *rel) {
    llm_model *m = test_load_model(rel);
    assert_non_null(m);
    return m;
}

static void test_null_args(void **state) {
    (void)state;
    llm_error err = {0};
    assert_null(llm_model_load(NULL, NULL, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    assert_null(llm_model_load("/nonexistent/model.gguf", NULL, &err));
    assert_int_equal(err.code, LLM_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    assert_null(llm_ctx_new(NULL, NULL, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_decode(NULL, NULL, 1, &err), LLM_ERR_INVALID_ARG);
    assert_null(llm_logits(NULL));
    assert_int_equal(llm_model_n_vocab(NULL), 0);
    assert_int_equal(llm_ctx_truncate(NULL, 0, NULL), LLM_ERR_INVALID_ARG);
    assert_fails(llm_ctx_truncate(NULL, 0, err), LLM_ERR_INVALID_ARG, "llm_ctx_truncate: ctx is NULL");
    size_t n;
    assert_int_equal(llm_tokenize(NULL, "a", 1, NULL, 0, &n, 0, &err), LLM_ERR_INVALID_ARG);
    llm_model_free(NULL);
    llm_ctx_free(NULL);
    llm_sampler_free(NULL);
    llm_detok_free(NULL);
    assert_string_equal(llm_strerror(LLM_ERR_CONTEXT_FULL), "context full");
}

static void test_model_info(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    assert_int_equal(llm_model_n_vocab(m), 512);
    assert_int_equal(llm_model_n_embd(m), 64);
    assert_int_equal(llm_model_n_layer(m), 5);
    assert_int_equal(llm_model_n_head(m), 8);
    assert_int_equal(llm_model_n_head_kv(m), 4);
    assert_int_equal(llm_model_n_ctx_train(m), 2048);
    size_t need;
    char small[8];
    assert_int_equal(llm_model_desc(m, small, sizeof small, &need), LLM_ERR_BUFFER_TOO_SMALL);
    assert_true(need > sizeof small);
    char *buf = malloc(need);
    assert_int_equal(llm_model_desc(m, buf, need, &need), LLM_OK);
    assert_int_equal(strlen(buf) + 1, need);
    assert_non_null(strstr(buf, "5 layers"));
    free(buf);
    llm_model_free(m);
}

/* Filling the cache exactly works; one more token is refused without
 * touching the state, and truncation makes room again. */
static void test_context_full(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    llm_error err = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.n_ctx = 8;
    llm_ctx *c = llm_ctx_new(m, &p, &err);
    assert_non_null(c);
    assert_null(llm_logits(c));
    int32_t toks[9] = {1, 300, 301, 302, 303, 304, 305, 306, 307};
    assert_int_equal(llm_decode(c, toks, 9, &err), LLM_ERR_CONTEXT_FULL);
    assert_non_null(strstr(err.msg, "context full"));
    assert_int_equal(llm_ctx_pos(c), 0);
    assert_int_equal(llm_decode(c, toks, 8, &err), LLM_OK);
    assert_int_equal(llm_ctx_pos(c), 8);
    float last[512];
    memcpy(last, llm_logits(c), sizeof last);
    assert_int_equal(llm_decode(c, toks, 1, &err), LLM_ERR_CONTEXT_FULL);
    assert_memory_equal(llm_logits(c), last, sizeof last);
    /* re-decoding the last token after truncation gives the same logits */
    assert_int_equal(llm_ctx_truncate(c, 7, NULL), LLM_OK);
    assert_null(llm_logits(c));
    assert_int_equal(llm_decode(c, toks + 7, 1, &err), LLM_OK);
    assert_memory_equal(llm_logits(c), last, sizeof last);
    assert_fails(llm_ctx_truncate(c, 9, err), LLM_ERR_INVALID_ARG, "llm_ctx_truncate: pos 9 outside 0..8");
    assert_fails(llm_ctx_truncate(c, -1, err), LLM_ERR_INVALID_ARG, "llm_ctx_truncate: pos -1 outside 0..8");
    int32_t bad = 512;
    assert_int_equal(llm_ctx_truncate(c, 0, NULL), LLM_OK);
    assert_int_equal(llm_decode(c, &bad, 1, &err), LLM_ERR_INVALID_ARG);
    bad = -1;
    assert_int_equal(llm_decode(c, &bad, 1, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_decode(c, toks, 0, &err), LLM_ERR_INVALID_ARG);
    llm_ctx_free(c);
    p.n_ctx = -1;
    assert_null(llm_ctx_new(m, &p, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    llm_model_free(m);
}

/* The F16 fixture with Llama 2's vocabulary loads and generates. */
static void test_f16_model(void **state) {
    (void)state;
    llm_model *m = load("llama-2-tiny-random.gguf");
    assert_int_equal(llm_model_n_vocab(m), 32000);
    llm_error err = {0};
    llm_ctx *c = llm_ctx_new(m, NULL, &err);
    llm_sampler_params sp = llm_sampler_default_params();
    sp.seed = 42;
    llm_sampler *s = llm_sampler_from_params(&sp, &err);
    assert_non_null(c);
    assert_non_null(s);
    int32_t tok = llm_token_bos(m);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(llm_decode(c, &tok, 1, &err), LLM_OK);
        const float *logits = llm_logits(c);
        for (int j = 0; j < 32000; j++) assert_true(logits[j] == logits[j]); /* no NaN */
        tok = llm_sampler_sample(s, logits, 32000, &err);
        assert_true(tok >= 0 && tok < 32000);
    }
    llm_sampler_free(s);
    llm_ctx_free(c);
    llm_model_free(m);
}

/* Logits of the last prompt token after one llm_decode with the given
 * batch size and thread count. */
static void prompt_logits(const llm_model *m, int n_batch, int threads, float *out) {
    llm_error err = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.n_batch = n_batch;
    p.n_threads = threads;
    llm_ctx *c = llm_ctx_new(m, &p, &err);
    assert_non_null(c);
    int32_t toks[100];
    for (int i = 0; i < 100; i++) toks[i] = i == 0 ? 1 : (i * 37) % llm_model_n_vocab(m);
    assert_int_equal(llm_decode(c, toks, 100, &err), LLM_OK);
    memcpy(out, llm_logits(c), (size_t)llm_model_n_vocab(m) * sizeof(float));
    llm_ctx_free(c);
}

/* A 100-token prompt in batches of 512, 7 and 1, on 1 to 3 threads, against
 * token by token on one thread. Quantized weights always go through the
 * same dot products, whatever the batch; float weights in batches of 32 or
 * more go through sgemm, whose other summation order moves logits by float
 * rounding. All these models have float weights (the quantized fixtures
 * keep their FFN in F32), so the bound is 1e-4 (measured: ~5e-6). */
static void check_batching(const char *rel) {
    const float bound = 1e-4f;
    llm_model *m = load(rel);
    int nv = llm_model_n_vocab(m);
    float *ref = malloc((size_t)nv * sizeof(float)), *got = malloc((size_t)nv * sizeof(float));
    prompt_logits(m, 1, 1, ref);
    int batches[] = {512, 7, 1};
    for (int b = 0; b < 3; b++)
        for (int threads = 1; threads <= (test_quick() ? 2 : 3); threads++) {
            prompt_logits(m, batches[b], threads, got);
            float max_diff = 0;
            for (int i = 0; i < nv; i++) {
                float d = got[i] > ref[i] ? got[i] - ref[i] : ref[i] - got[i];
                if (d > max_diff) max_diff = d;
            }
            if (max_diff > bound)
                fprintf(stderr, "%s: batch %d, %d threads: max |diff| %g\n", rel, batches[b], threads, max_diff);
            assert_true(max_diff <= bound);
        }
    free(ref);
    free(got);
    llm_model_free(m);
}

static void test_batching(void **state) {
    (void)state;
    check_batching("stories260K.gguf");
    if (test_quick()) return; /* under valgrind: one model is enough */
    check_batching("llama-2-tiny-random.gguf");
    check_batching("stories260K-q8_0.gguf");
    check_batching("stories260K-q4_0.gguf");
}

/* OpenBLAS's thread count is the process's: a context leaves it alone
 * unless n_threads_blas asks for a count, and then sets that one. The
 * prompt is long enough for sgemm (F32 weights, 40 tokens). */
static void test_blas_threads(void **state) {
    (void)state;
#ifdef OPENBLAS_VERSION
    llm_model *m = load("stories260K.gguf");
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = 1 + i;
    llm_error err;
    for (int asked = 0; asked <= 2; asked += 2) {
        openblas_set_num_threads(1);
        llm_ctx_params p = llm_ctx_default_params();
        p.n_threads = 2;
        p.n_threads_blas = asked;
        p.kernels = "scalar"; /* no batched products: float weights go to sgemm */
        llm_ctx *c = llm_ctx_new(m, &p, &err);
        assert_non_null(c);
        assert_int_equal(llm_decode(c, toks, 40, &err), LLM_OK);
        assert_int_equal(openblas_get_num_threads(), asked ? asked : 1);
        llm_ctx_free(c);
    }
    llm_ctx_params bad = llm_ctx_default_params();
    bad.n_threads_blas = -1;
    assert_null(llm_ctx_new(m, &bad, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    llm_model_free(m);
#else
    skip();
#endif
}

typedef struct job {
    const llm_model *m;
    int32_t out[64];
    int ok;
} job;

static void *generate(void *arg) {
    job *j = arg;
    llm_error err;
    llm_ctx *c = llm_ctx_new(j->m, NULL, &err);
    llm_sampler *s = llm_sampler_new(0, &err);
    if (!c || !s) return NULL;
    int32_t tok = llm_token_bos(j->m);
    j->ok = 1;
    for (int i = 0; i < 64 && j->ok; i++) {
        j->ok = llm_decode(c, &tok, 1, &err) == LLM_OK;
        tok = j->out[i] = llm_sampler_sample(s, llm_logits(c), llm_model_n_vocab(j->m), &err);
    }
    llm_sampler_free(s);
    llm_ctx_free(c);
    return NULL;
}

/* One model, four contexts in four threads: each produces the tokens a
 * lone context produces. */
static void test_shared_model_threads(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    job ref = {.m = m};
    generate(&ref);
    assert_true(ref.ok);
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){.m = m};
        assert_int_equal(pthread_create(&th[i], NULL, generate, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
        assert_memory_equal(jobs[i].out, ref.out, sizeof ref.out);
    }
    llm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_model_info),
        cmocka_unit_test(test_context_full),
        cmocka_unit_test(test_f16_model),
        cmocka_unit_test(test_shared_model_threads),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_blas_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
