/* Allocation failure at every allocation site (builds configured with
 * -Dfault_injection=true only). Each test repeats one operation with the
 * 1st, 2nd, 3rd ... allocation failing until a run makes fewer
 * allocations than the one that was to fail, i.e. succeeds untouched.
 * Every run with a failure must come back as LLM_ERR_NOMEM with a
 * message, and leave nothing allocated: the suite runs under ASan's leak
 * checker in ./build.sh sanitize, which builds with the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "error.h"
#include "gguf.h"
#include "llm.h"
#include "model.h"
#include "ollama_store.h"
#include "testutil.h"

/* One attempt of the operation under test: returns the status, with err
 * filled on failure, and releases whatever it made on success. */
typedef llm_status (*attempt_fn)(void *arg, llm_error *err);

/* Runs fn with allocation n failing, for n = 1, 2, ... until it succeeds
 * without reaching n. Returns the number of allocation sites exercised.
 * With may_degrade, a run may also succeed despite its failed allocation
 * (a documented fallback; fn then checks the result is the same). */
static uint64_t fail_each(attempt_fn fn, void *arg, const char *what, bool may_degrade) {
    for (uint64_t n = 1;; n++) {
        llm_error err = {0};
        llm_fault_fail_at(n);
        llm_status s = fn(arg, &err);
        uint64_t count = llm_fault_count();
        llm_fault_fail_at(0);
        if (count < n) {
            if (s) fail_msg("%s: failed with no allocation failing: %s", what, err.msg);
            return n - 1;
        }
        if (s == LLM_OK && may_degrade) continue;
        if (s != LLM_ERR_NOMEM || err.code != LLM_ERR_NOMEM || !err.msg[0])
            fail_msg("%s, allocation %llu failing: status %d '%s', expected LLM_ERR_NOMEM with a message", what,
                     (unsigned long long)n, s, err.msg);
    }
}

/* ------------------------------------------------------------- attempts */

typedef struct load_arg {
    const char *path;
    const char *tokenizer; /* llama2.c only */
} load_arg;

static llm_status load(void *arg, llm_error *err) {
    const load_arg *a = arg;
    llm_model_params p = llm_model_default_params();
    p.tokenizer_path = a->tokenizer;
    llm_model *m = llm_model_load(a->path, &p, err);
    llm_model_free(m);
    return m ? LLM_OK : err->code;
}

typedef struct ctx_arg {
    const llm_model *m;
    int32_t n_threads;
} ctx_arg;

/* A context, and one decode in it (which allocates nothing, so a failure
 * there would show up as an unexpected error). */
static llm_status new_ctx(void *arg, llm_error *err) {
    const ctx_arg *a = arg;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 64; /* a batch this long takes the BLAS path, with its own scratch */
    cp.n_threads = a->n_threads;
    llm_ctx *c = llm_ctx_new(a->m, &cp, err);
    if (!c) return err->code;
    int32_t tok = llm_token_bos(a->m);
    llm_status s = llm_decode(c, &tok, 1, err);
    llm_ctx_free(c);
    return s;
}

/* Tokenizing a text long enough to grow every scratch buffer, then
 * detokenizing it and sampling with a full chain (logit bias and
 * penalties included). */
static llm_status text_round(void *arg, llm_error *err) {
    const llm_model *m = arg;
    static const char text[] = "Once upon a time, there was a little girl named Lily. She loved to play "
                               "outside in the sunshine. \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82 <s>!";
    int32_t toks[256];
    size_t n;
    llm_status s = llm_tokenize(m, text, sizeof text - 1, toks, 256, &n,
                                LLM_TOKENIZE_ADD_BOS | LLM_TOKENIZE_SPECIAL, err);
    if (s) return s;
    llm_detok *d = llm_detok_new(m, err);
    if (!d) return err->code;
    llm_detok_free(d);
    llm_logit_bias bias[2] = {{3, -1.0f}, {5, 2.0f}};
    llm_sampler_params sp = llm_sampler_default_params();
    sp.repeat_penalty = 1.1f;
    sp.presence_penalty = 0.5f;
    sp.logit_bias = bias;
    sp.n_logit_bias = 2;
    llm_sampler *smp = llm_sampler_from_params(&sp, err);
    if (!smp) return err->code;
    static float logits[512];
    int32_t tok = llm_sampler_sample_accept(smp, logits, 512, err);
    llm_sampler_free(smp);
    return tok < 0 ? err->code : LLM_OK;
}

typedef struct bpe_arg {
    char path[4096];
    int32_t want[128]; /* the tokens of a run without failures */
    size_t n_want;
} bpe_arg;

/* A byte-level BPE vocabulary (merges, compiled pre-tokenizer, whose
 * PCRE2 allocations go through llm_malloc too) read from a vocabulary-only
 * GGUF file, then a text through it. PCRE2's JIT compiler may run out of
 * memory: the expressions are then interpreted, which must give the same
 * tokens. */
static llm_status bpe_vocab(void *arg, llm_error *err) {
    bpe_arg *a = arg;
    gguf_file f;
    llm_model m;
    memset(&m, 0, sizeof m);
    llm_status s = gguf_open(&f, a->path, err);
    if (s) return s;
    s = llm_vocab_from_gguf(&m.vocab, &f, err);
    gguf_close(&f);
    if (s) return s;
    m.hp.n_vocab = m.vocab.n;
    static const char text[] = "Hello world! It's 2024, isn't it? \xe6\x97\xa5\xe6\x9c\xac  \n\n  done";
    int32_t toks[128];
    size_t n;
    s = llm_tokenize(&m, text, sizeof text - 1, toks, 128, &n, 0, err);
    llm_vocab_free(&m.vocab);
    if (s == LLM_OK && a->n_want == 0) {
        memcpy(a->want, toks, n * sizeof *toks);
        a->n_want = n;
    } else if (s == LLM_OK && (n != a->n_want || memcmp(toks, a->want, n * sizeof *toks) != 0)) {
        s = llm_fail(err, LLM_ERR_FORMAT, "different tokens after an allocation failure");
    }
    return s;
}

/* A model in an Ollama store by name: the manifest, its JSON, the params
 * layer's values and stop strings, the system layer. */
static llm_status ollama(void *arg, llm_error *err) {
    llm_ollama_model m;
    llm_status s = llm_ollama_resolve("tiny", arg, &m, err);
    if (s == LLM_OK && (m.n_stop != 2 || !m.system)) s = llm_fail(err, LLM_ERR_FORMAT, "a layer went missing");
    llm_ollama_model_free(&m);
    return s;
}

/* The embedder's calls that allocate: a context with embeddings, a
 * decode asking for every position's logits (which grows the outputs), a
 * state saved to a file and loaded into a second context. */
static llm_status outputs_state(void *arg, llm_error *err) {
    const llm_model *m = arg;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 32;
    cp.embeddings = true;
    llm_ctx *a = llm_ctx_new(m, &cp, err), *b = a ? llm_ctx_new(m, &cp, err) : NULL;
    llm_status s = b ? LLM_OK : err->code;
    int32_t toks[8] = {1, 300, 301, 302, 303, 304, 305, 306};
    int8_t all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const char *path = test_write_tmp("", 0);
    if (!s) s = llm_decode_ex(a, toks, 8, all, err);
    if (!s) s = llm_state_save_file(a, path, err);
    if (!s) s = llm_state_load_file(b, path, err);
    test_cleanup_tmp();
    llm_ctx_free(a);
    llm_ctx_free(b);
    return s;
}

/* A vocabulary-only model from a file and a full one from memory. */
static llm_status vocab_and_buffer(void *arg, llm_error *err) {
    const load_arg *a = arg;
    llm_model_params p = llm_model_default_params();
    p.vocab_only = true;
    llm_model *v = llm_model_load(a->path, &p, err);
    if (!v) return err->code;
    llm_model_free(v);
    size_t size;
    char *img = test_read_file(test_model_path("stories260K.gguf"), &size);
    llm_model *m = llm_model_load_from_buffer(img, size, NULL, err);
    free(img);
    llm_model_free(m);
    return m ? LLM_OK : err->code;
}

/* ---------------------------------------------------------------- tests */

static void test_load_gguf(void **state) {
    (void)state;
    const char *files[] = {"stories260K.gguf", "stories260K-q8_0.gguf", "llama-2-tiny-random.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        load_arg a = {test_model_path(files[i]), NULL};
        uint64_t sites = fail_each(load, &a, files[i], false);
        assert_true(sites >= 5); /* model, GGUF index (2), duplicate check, vocabulary, layers */
    }
}

static void test_load_llama2c(void **state) {
    (void)state;
    char tok[4096];
    snprintf(tok, sizeof tok, "%s", test_model_path("tok512.bin"));
    load_arg a = {test_model_path("stories260K.bin"), tok};
    assert_true(fail_each(load, &a, "stories260K.bin", false) >= 5);
}

static void test_context(void **state) {
    (void)state;
    llm_error err = {0};
    llm_model *m = llm_model_load(test_model_path("stories260K.gguf"), NULL, &err);
    if (!m) fail_msg("%s", err.msg);
    for (int32_t threads = 1; threads <= 3; threads++) {
        ctx_arg a = {m, threads};
        char what[64];
        snprintf(what, sizeof what, "llm_ctx_new with %d threads", threads);
        uint64_t sites = fail_each(new_ctx, &a, what, false);
        assert_true(sites >= (uint64_t)(threads == 1 ? 4 : 5 + threads)); /* ctx, pool, workers, scratch */
    }
    llm_model_free(m);
}

static void test_text(void **state) {
    (void)state;
    llm_error err = {0};
    llm_model *m = llm_model_load(test_model_path("stories260K.gguf"), NULL, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_true(fail_each(text_round, m, "tokenize, detokenizer, sampler", false) >= 8);
    llm_model_free(m);
}

static void test_bpe_vocab(void **state) {
    (void)state;
    const char *files[] = {"vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-deepseek-llm.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        bpe_arg a = {.n_want = 0};
        snprintf(a.path, sizeof a.path, "%s", test_model_path(files[i]));
        llm_error err = {0};
        if (bpe_vocab(&a, &err)) fail_msg("%s", err.msg); /* the reference tokens */
        assert_true(fail_each(bpe_vocab, &a, files[i], true) >= 8);
    }
}

static void test_ollama(void **state) {
    (void)state;
    const char *store = ollama_store_new();
    assert_non_null(store);
    assert_true(fail_each(ollama, (void *)store, "llm_ollama_resolve", false) >= 8);
    ollama_store_free();
}

static void test_outputs_state(void **state) {
    (void)state;
    llm_error err = {0};
    llm_model *m = llm_model_load(test_model_path("stories260K.gguf"), NULL, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_true(fail_each(outputs_state, m, "outputs, state", false) >= 8);
    llm_model_free(m);
    char path[4096];
    snprintf(path, sizeof path, "%s", test_model_path("vocab/ggml-vocab-phi-3.gguf"));
    load_arg a = {path, NULL};
    assert_true(fail_each(vocab_and_buffer, &a, "vocabulary-only, from memory", false) >= 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_gguf),
        cmocka_unit_test(test_load_llama2c),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_bpe_vocab),
        cmocka_unit_test(test_ollama),
        cmocka_unit_test(test_outputs_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
