/* The end-to-end check: greedy generation reproduces the reference
 * implementation's tokens and text for every case in golden/stories260K,
 * from the GGUF file and from the llama2.c checkpoint + tokenizer.bin, and
 * the `llm` example prints exactly the reference text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels.h"
#include "llm.h"
#include "testutil.h"

static const char *llm_exe; /* path of examples/llm, from argv[1] */

typedef struct golden {
    char name[64];
    int steps;            /* tokens after BOS, the number in the name */
    char *prompt;
    size_t prompt_len;
    int32_t ids[1024];    /* expected tokens after BOS */
    int n_ids;
    char *text;           /* what run.c printed */
    size_t text_len;
} golden;

static const char *cases[] = {"short-1", "beach-128", "dog-200", "noprompt-256"};

static void load_golden(golden *g, const char *name) {
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->steps = atoi(strrchr(name, '-') + 1);
    char rel[128];
    snprintf(rel, sizeof rel, "stories260K/%s.prompt", name);
    g->prompt = test_read_file(test_golden_path(rel), &g->prompt_len);
    snprintf(rel, sizeof rel, "stories260K/%s.txt", name);
    g->text = test_read_file(test_golden_path(rel), &g->text_len);
    snprintf(rel, sizeof rel, "stories260K/%s.ids", name);
    char *ids = test_read_file(test_golden_path(rel), NULL);
    assert_non_null(g->prompt);
    assert_non_null(g->text);
    assert_non_null(ids);
    for (char *p = strtok(ids, "\n"); p; p = strtok(NULL, "\n")) {
        assert_true(g->n_ids < 1024);
        g->ids[g->n_ids++] = atoi(p);
    }
    free(ids);
}

static void free_golden(golden *g) {
    free(g->prompt);
    free(g->text);
}

/* Appends the decoded bytes of tok to out. */
static void detok_append(llm_detok *d, int32_t tok, char *out, size_t *len, size_t cap) {
    char buf[256];
    size_t n;
    assert_int_equal(llm_detok_push(d, tok, buf, sizeof buf, &n), LLM_OK);
    assert_true(*len + n < cap);
    memcpy(out + *len, buf, n);
    *len += n;
}

/* Runs one golden case through the public API: prompt with BOS, then
 * greedy steps until `steps` tokens follow BOS or BOS is sampled. */
static void run_case(llm_model *m, const golden *g, const llm_ctx_params *cp) {
    llm_error err;
    int32_t toks[1100];
    size_t n_prompt;
    assert_int_equal(llm_tokenize(m, g->prompt, g->prompt_len, toks, 1100, &n_prompt,
                                  LLM_TOKENIZE_ADD_BOS, &err), LLM_OK);
    assert_true(n_prompt >= 1);
    assert_int_equal(toks[0], llm_token_bos(m));
    llm_ctx *ctx = llm_ctx_new(m, cp, &err);
    llm_sampler *s = llm_sampler_new(0, &err);
    llm_detok *d = llm_detok_new(m, &err);
    if (!ctx) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(ctx);
    assert_non_null(s);
    assert_non_null(d);
    char text[8192];
    size_t len = 0;
    int n = (int)n_prompt;
    for (int i = 0; i < n; i++) detok_append(d, toks[i], text, &len, sizeof text);
    assert_int_equal(llm_decode(ctx, toks, n, &err), LLM_OK);
    while (n - 1 < g->steps) {
        int32_t tok = llm_sampler_sample(s, llm_logits(ctx), llm_model_n_vocab(m), &err);
        if (tok == llm_token_bos(m)) break;
        toks[n++] = tok;
        detok_append(d, tok, text, &len, sizeof text);
        if (n - 1 < g->steps) assert_int_equal(llm_decode(ctx, &tok, 1, &err), LLM_OK);
    }
    size_t tail;
    assert_int_equal(llm_detok_flush(d, text + len, sizeof text - len, &tail), LLM_OK);
    len += tail;
    text[len++] = '\n';
    if (n - 1 != g->n_ids)
        fprintf(stderr, "%s (%s, %d threads, batch %d): %d tokens, golden has %d\n", g->name,
                llm_ctx_kernels(ctx), cp->n_threads, cp->n_batch, n - 1, g->n_ids);
    assert_int_equal(n - 1, g->n_ids);
    for (int i = 0; i < g->n_ids; i++) {
        if (toks[i + 1] != g->ids[i])
            fprintf(stderr, "%s (%s, %d threads, batch %d): token %d is %d, golden %d\n", g->name,
                    llm_ctx_kernels(ctx), cp->n_threads, cp->n_batch, i, toks[i + 1], g->ids[i]);
        assert_int_equal(toks[i + 1], g->ids[i]);
    }
    assert_int_equal(len, g->text_len);
    assert_memory_equal(text, g->text, len);
    llm_detok_free(d);
    llm_sampler_free(s);
    llm_ctx_free(ctx);
}

/* Every case, on every kernel set this CPU runs, with 1 to 4 threads, the
 * prompt in one batch and token by token: the tokens may not change. */
static void run_all(llm_model *m) {
    assert_non_null(m);
    for (const llm_kernels *const *k = llm_kernels_all(); *k; k++) {
        if (!llm_kernels_get((*k)->name)) continue;
        for (int threads = 1; threads <= 4; threads++) {
            llm_ctx_params cp = llm_ctx_default_params();
            cp.kernels = (*k)->name;
            cp.n_threads = threads;
            cp.n_batch = threads == 3 ? 1 : 512;
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                golden g;
                load_golden(&g, cases[i]);
                run_case(m, &g, &cp);
                free_golden(&g);
            }
        }
    }
    llm_model_free(m);
}

static void test_gguf(void **state) {
    (void)state;
    llm_error err = {0};
    llm_model *m = llm_model_load(test_model_path("stories260K.gguf"), NULL, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    run_all(m);
}

static void test_llama2c(void **state) {
    (void)state;
    llm_error err = {0};
    char tok[4096];
    snprintf(tok, sizeof tok, "%s", test_model_path("tok512.bin"));
    llm_model_params p = llm_model_default_params();
    p.tokenizer_path = tok;
    llm_model *m = llm_model_load(test_model_path("stories260K.bin"), &p, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    run_all(m);
}

/* The example program's stdout, byte for byte, against the golden text. */
static void test_llm_example(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        golden g;
        load_golden(&g, cases[i]);
        for (size_t j = 0; j < g.prompt_len; j++) assert_true(g.prompt[j] != '\'');
        /* the prompt's token count: the golden ids begin with them */
        llm_error err;
        llm_model *m = llm_model_load(test_model_path("stories260K.gguf"), NULL, &err);
        assert_non_null(m);
        size_t np;
        assert_int_equal(llm_tokenize(m, g.prompt, g.prompt_len, NULL, 0, &np, 0, &err),
                         g.prompt_len ? LLM_ERR_BUFFER_TOO_SMALL : LLM_OK);
        int n_new = g.steps > (int)np ? g.steps - (int)np : 0;
        llm_model_free(m);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p '%s' -n %d --temp 0 2>/dev/null", llm_exe,
                 test_model_path("stories260K.gguf"), g.prompt, n_new);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char out[8192];
        size_t len = fread(out, 1, sizeof out, p);
        assert_int_equal(pclose(p), 0);
        assert_int_equal(len, g.text_len);
        assert_memory_equal(out, g.text, len);
        free_golden(&g);
    }
}

int main(int argc, char **argv) {
    llm_exe = argc > 1 ? argv[1] : "examples/llm";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf),
        cmocka_unit_test(test_llama2c),
        cmocka_unit_test(test_llm_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
