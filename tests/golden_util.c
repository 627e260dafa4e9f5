#include "golden_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

const char *const golden_cases[] = {"short-1", "beach-128", "dog-200", "noprompt-256", NULL};

void golden_load(golden *g, const char *name) {
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

void golden_free(golden *g) {
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

void golden_run(llm_model *m, const golden *g, const llm_ctx_params *cp) {
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

void golden_run_cases(llm_model *m, const llm_ctx_params *cp) {
    size_t n = test_quick() ? 2 : SIZE_MAX; /* quick: the two shortest */
    for (const char *const *c = golden_cases; *c && n > 0; c++, n--) {
        golden g;
        golden_load(&g, *c);
        golden_run(m, &g, cp);
        golden_free(&g);
    }
}
