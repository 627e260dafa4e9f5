/* One model shared by 8 contexts generating in 8 threads at once, each
 * with its own prompt, sampler seed and detokenizer, must give every
 * thread exactly the tokens and text that the same job gives when run
 * alone; with 1 and with 2 threads per context (the latter starts a thread
 * pool in each). Two prompts are long enough for the sgemm path, whose
 * OpenBLAS calls then run concurrently too. Built with -Db_sanitize=thread
 * (./build.sh tsan) this is the data-race check of the shared model, the
 * pools and the library's lack of global state. A quick run (test_quick)
 * generates fewer tokens, on the F32 GGUF model only. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "llm.h"
#include "testutil.h"

#define N_JOBS 8
#define N_GEN 40

typedef struct job {
    const llm_model *m;
    int32_t n_threads;    /* per context */
    int index;            /* picks the prompt and the seed */
    int32_t toks[N_GEN];  /* generated */
    int n_toks;
    char text[4096];      /* prompt and continuation, detokenized */
    size_t text_len;
    char error[LLM_ERROR_MSG_SIZE];
} job;

static const char *const prompts[N_JOBS] = {
    "Once upon a time", "The little dog",
    "Lily and Ben went to the park. They saw a big tree with red apples. Lily wanted an apple, but "
    "the tree was too tall. Ben had an idea.",
    "", "One day, a big",
    "She was sad because", "Tom had a red ball. He liked to throw it high in the sky and catch it. "
    "One day the ball flew over the fence into the garden of an old man.",
    "\xe6\x97\xa5\xe6\x9c\xac and a cat",
};

/* Appends the bytes of tok to the job's text. */
static int emit(job *j, llm_detok *d, int32_t tok) {
    size_t n;
    if (llm_detok_push(d, tok, j->text + j->text_len, sizeof j->text - j->text_len, &n)) return -1;
    j->text_len += n;
    return 0;
}

/* Tokenizes the prompt, decodes it, then samples N_GEN tokens (stopping
 * early at end of generation) with a seeded sampler, decoding each. Any
 * failure is left in j->error. */
static void run_job(job *j) {
    llm_error err = {0};
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_threads = j->n_threads;
    llm_sampler_params sp = llm_sampler_default_params();
    sp.seed = 1000 + (uint64_t)j->index;
    llm_ctx *c = llm_ctx_new(j->m, &cp, &err);
    llm_sampler *s = c ? llm_sampler_from_params(&sp, &err) : NULL;
    llm_detok *d = s ? llm_detok_new(j->m, &err) : NULL;
    int32_t prompt[128];
    size_t n = 0;
    const char *p = prompts[j->index % N_JOBS];
    if (d && !llm_tokenize(j->m, p, strlen(p), prompt, 128, &n, LLM_TOKENIZE_ADD_BOS, &err) &&
        !llm_decode(c, prompt, (int32_t)n, &err)) {
        for (size_t i = 0; i < n && emit(j, d, prompt[i]) == 0; i++) llm_sampler_accept(s, prompt[i]);
        int n_gen = test_quick() ? 8 : N_GEN;
        while (j->n_toks < n_gen) {
            int32_t tok = llm_sampler_sample(s, llm_logits(c), llm_model_n_vocab(j->m), &err);
            if (tok < 0 || llm_token_is_eog(j->m, tok)) break;
            j->toks[j->n_toks++] = tok;
            llm_sampler_accept(s, tok);
            if (emit(j, d, tok) || llm_decode(c, &tok, 1, &err)) break;
        }
    }
    if (err.msg[0]) snprintf(j->error, sizeof j->error, "%s", err.msg);
    llm_detok_free(d);
    llm_sampler_free(s);
    llm_ctx_free(c);
}

static void *job_thread(void *arg) {
    run_job(arg);
    return NULL;
}

/* The N_JOBS jobs alone, one after the other, then all at once. */
static void check_concurrent(const llm_model *m, int32_t n_threads, const char *what) {
    static job ref[N_JOBS], par[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) {
        ref[i] = (job){.m = m, .n_threads = n_threads, .index = i};
        par[i] = ref[i];
        run_job(&ref[i]);
        if (ref[i].error[0]) fail_msg("%s, job %d alone: %s", what, i, ref[i].error);
        assert_true(ref[i].n_toks > 0);
    }
    pthread_t th[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) assert_int_equal(pthread_create(&th[i], NULL, job_thread, &par[i]), 0);
    for (int i = 0; i < N_JOBS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < N_JOBS; i++) {
        if (par[i].error[0]) fail_msg("%s, job %d in a thread: %s", what, i, par[i].error);
        if (par[i].n_toks != ref[i].n_toks || memcmp(par[i].toks, ref[i].toks, sizeof ref[i].toks) != 0 ||
            par[i].text_len != ref[i].text_len || memcmp(par[i].text, ref[i].text, ref[i].text_len) != 0)
            fail_msg("%s, job %d: %d tokens '%.*s' in a thread, %d '%.*s' alone", what, i, par[i].n_toks,
                     (int)par[i].text_len, par[i].text, ref[i].n_toks, (int)ref[i].text_len, ref[i].text);
    }
}

static llm_model *load(const char *rel, const char *tokenizer) {
    char tok[4096];
    llm_model_params p = llm_model_default_params();
    if (tokenizer) {
        snprintf(tok, sizeof tok, "%s", test_model_path(tokenizer));
        p.tokenizer_path = tok;
    }
    llm_error err = {0};
    llm_model *m = llm_model_load(test_model_path(rel), &p, &err);
    if (!m) fail_msg("%s", err.msg);
    return m;
}

static void check_model(const char *rel, const char *tokenizer) {
    llm_model *m = load(rel, tokenizer);
    for (int32_t threads = 1; threads <= 2; threads++) {
        char what[128];
        snprintf(what, sizeof what, "%s, %d thread%s per context", rel, threads, threads > 1 ? "s" : "");
        check_concurrent(m, threads, what);
    }
    llm_model_free(m);
}

static void test_gguf_f32(void **state) {
    (void)state;
    check_model("stories260K.gguf", NULL);
}

static void test_gguf_q4_0(void **state) {
    (void)state;
    if (test_quick()) skip();
    check_model("stories260K-q4_0.gguf", NULL);
}

static void test_llama2c(void **state) {
    (void)state;
    if (test_quick()) skip();
    check_model("stories260K.bin", "tok512.bin");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_f32),
        cmocka_unit_test(test_gguf_q4_0),
        cmocka_unit_test(test_llama2c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
