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

#include "golden_util.h"
#include "kernels.h"
#include "llm.h"
#include "testutil.h"

static const char *llm_exe; /* path of examples/llm, from argv[1] */

/* Every case, on every kernel set this CPU runs, with 1 to 4 threads, the
 * prompt in one batch and token by token: the tokens may not change. A
 * quick run (under valgrind) keeps 1 and 3 threads, which still cover both
 * batch sizes and the thread pool. */
static void run_all(llm_model *m) {
    assert_non_null(m);
    int step = test_quick() ? 2 : 1;
    for (const llm_kernels *const *k = llm_kernels_all(); *k; k++) {
        if (!llm_kernels_get((*k)->name)) continue;
        for (int threads = 1; threads <= 4; threads += step) {
            llm_ctx_params cp = llm_ctx_default_params();
            cp.kernels = (*k)->name;
            cp.n_threads = threads;
            cp.n_batch = threads == 3 ? 1 : 512;
            golden_run_cases(m, &cp);
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
    for (size_t i = 0; golden_cases[i]; i++) {
        golden g;
        golden_load(&g, golden_cases[i]);
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
        golden_free(&g);
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
