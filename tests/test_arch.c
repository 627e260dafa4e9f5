/* Every architecture libllm runs against llama.cpp: for each model of
 * ../shared/golden/arch (whatever *.gguf is there), every prompt
 * position's logits within tolerance.txt's bound with the same argmax,
 * and the same 32 greedy tokens, through the public API; token by token
 * on every kernel set this CPU runs, and with the prompt as one batch on
 * two threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "arch_util.h"
#include "kernels.h"
#include "llm.h"
#include "testutil.h"

static llm_model *load(const char *name) {
    llm_error err;
    llm_model *m = llm_model_load(arch_fixture_model(name), NULL, &err);
    if (!m) fail_msg("%s: %s", name, err.msg);
    return m;
}

/* One token per llm_decode, so llm_logits gives every position's row. */
static void test_token_by_token(void **state) {
    (void)state;
    int n;
    char **names = arch_fixture_names(&n);
    for (int i = 0; i < n; i++) {
        arch_fixture f;
        arch_fixture_load(&f, names[i]);
        llm_model *m = load(names[i]);
        for (const llm_kernels *const *k = llm_kernels_all(); *k; k++) {
            if (!llm_kernels_get((*k)->name)) continue;
            llm_ctx_params cp = llm_ctx_default_params();
            cp.kernels = (*k)->name;
            double d = arch_check(m, &f, &cp);
            fprintf(stderr, "%-18s %-7s max |logit - llama.cpp| %.3g (bound %g)\n", names[i], (*k)->name, d, f.tol);
        }
        llm_model_free(m);
        arch_fixture_free(&f);
    }
    arch_names_free(names, n);
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* The prompt in one llm_decode (the batched products, two threads): the
 * last position's logits within the bound, then the greedy tokens. */
static void test_batched(void **state) {
    (void)state;
    int n;
    char **names = arch_fixture_names(&n);
    for (int i = 0; i < n; i++) {
        arch_fixture f;
        arch_fixture_load(&f, names[i]);
        llm_model *m = load(names[i]);
        llm_error err;
        llm_ctx_params cp = llm_ctx_default_params();
        cp.n_threads = 2;
        llm_ctx *ctx = llm_ctx_new(m, &cp, &err);
        if (!ctx || llm_decode(ctx, f.prompt, f.n_prompt, &err)) fail_msg("%s: %s", names[i], err.msg);
        const float *got = llm_logits(ctx), *want = f.logits + (size_t)(f.n_prompt - 1) * f.n_vocab;
        double d = 0.0;
        for (int v = 0; v < f.n_vocab; v++) d = fmax(d, fabs((double)got[v] - want[v]));
        if (!(d <= f.tol)) fail_msg("%s: batched prompt: last logits differ by %g (bound %g)", names[i], d, f.tol);
        for (int g = 0; g < f.n_greedy; g++) {
            int32_t tok = argmax(llm_logits(ctx), f.n_vocab);
            if (tok != f.greedy[g])
                fail_msg("%s: after a batched prompt, greedy token %d is %d, llama.cpp's %d", names[i], g, tok,
                         f.greedy[g]);
            if (llm_decode(ctx, &tok, 1, &err)) fail_msg("%s: %s", names[i], err.msg);
        }
        llm_ctx_free(ctx);
        llm_model_free(m);
        arch_fixture_free(&f);
    }
    arch_names_free(names, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_by_token),
        cmocka_unit_test(test_batched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
