#include "arch_util.h"

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **arch_fixture_names(int *n) {
    const char *dir = test_golden_path("arch");
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open the fixture directory %s", dir);
    char **names = NULL;
    *n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".gguf")) continue;
        names = realloc(names, sizeof *names * (size_t)(*n + 1));
        assert_non_null(names);
        names[*n] = strndup(e->d_name, len - 5);
        assert_non_null(names[(*n)++]);
    }
    closedir(d);
    if (*n == 0) fail_msg("no *.gguf in %s", dir);
    qsort(names, (size_t)*n, sizeof *names, by_name);
    return names;
}

void arch_names_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

const char *arch_fixture_model(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "arch/%s.gguf", name);
    return test_golden_path(rel);
}

/* Up to ARCH_MAX_IDS ids, one per line. */
static int read_ids(const char *name, const char *ext, int32_t *ids) {
    char rel[128];
    snprintf(rel, sizeof rel, "arch/%s.%s", name, ext);
    const char *path = test_golden_path(rel);
    char *text = test_read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    int n = 0;
    char *end;
    for (char *p = text; n < ARCH_MAX_IDS; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[n++] = (int32_t)v;
    }
    free(text);
    if (n == 0) fail_msg("%s holds no ids", path);
    return n;
}

/* tolerance.txt: "NAME TOL" lines, "*" for every other model. */
static double read_tolerance(const char *name) {
    const char *path = test_golden_path("arch/tolerance.txt");
    char *text = test_read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    double tol = -1.0, any = -1.0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char key[64];
        double v;
        if (line[0] == '#' || sscanf(line, "%63s %lf", key, &v) != 2) continue;
        if (strcmp(key, name) == 0) tol = v;
        if (strcmp(key, "*") == 0) any = v;
    }
    free(text);
    if (tol < 0) tol = any;
    if (!(tol > 0)) fail_msg("%s gives no tolerance for %s", path, name);
    return tol;
}

void arch_fixture_load(arch_fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->n_prompt = read_ids(name, "prompt.ids", f->prompt);
    f->n_greedy = read_ids(name, "greedy.ids", f->greedy);
    f->tol = read_tolerance(name);
    char rel[128];
    snprintf(rel, sizeof rel, "arch/%s.logits.f32", name);
    const char *path = test_golden_path(rel);
    size_t size = 0;
    f->logits = (float *)test_read_file(path, &size);
    if (!f->logits || size % ((size_t)f->n_prompt * sizeof(float)))
        fail_msg("%s is missing or not %d rows of floats", path, f->n_prompt);
    f->n_vocab = (int)(size / sizeof(float) / (size_t)f->n_prompt);
}

void arch_fixture_free(arch_fixture *f) {
    free(f->logits);
    f->logits = NULL;
}

int arch_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

double arch_check(llm_model *m, const arch_fixture *f, const llm_ctx_params *cp) {
    llm_error err;
    assert_int_equal(llm_model_n_vocab(m), f->n_vocab);
    llm_ctx *ctx = llm_ctx_new(m, cp, &err);
    if (!ctx) fail_msg("%s: %s", f->name, err.msg);
    double max_diff = 0.0;
    for (int i = 0; i < f->n_prompt; i++) {
        if (llm_decode(ctx, &f->prompt[i], 1, &err)) fail_msg("%s: %s", f->name, err.msg);
        const float *got = llm_logits(ctx), *want = f->logits + (size_t)i * f->n_vocab;
        for (int v = 0; v < f->n_vocab; v++) max_diff = fmax(max_diff, fabs((double)got[v] - want[v]));
        if (!(max_diff <= f->tol))
            fail_msg("%s: position %d: logits differ by %g (bound %g)", f->name, i, max_diff, f->tol);
        if (arch_argmax(got, f->n_vocab) != arch_argmax(want, f->n_vocab))
            fail_msg("%s: position %d: argmax %d, llama.cpp's %d", f->name, i, arch_argmax(got, f->n_vocab),
                     arch_argmax(want, f->n_vocab));
    }
    for (int i = 0; i < f->n_greedy; i++) {
        int32_t tok = arch_argmax(llm_logits(ctx), f->n_vocab);
        if (tok != f->greedy[i]) fail_msg("%s: greedy token %d is %d, llama.cpp's %d", f->name, i, tok, f->greedy[i]);
        if (llm_decode(ctx, &tok, 1, &err)) fail_msg("%s: %s", f->name, err.msg);
    }
    llm_ctx_free(ctx);
    return max_diff;
}
