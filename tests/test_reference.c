/* The reference path (kernels "reference", lib/run/forward_ref.c) and
 * what looks inside through it: on every golden model and every
 * golden/arch fixture the reference and optimized paths agree at every
 * prompt position within the bound below, and the reference meets
 * llama.cpp's logits as the optimized path does; the observer sees the
 * logits llm_logits gives, attention rows that are distributions and
 * causal; the logit lens of the last layer is the model's output; the
 * two paths share one cache (a saved state moves between them) and the
 * abort callback stops the reference path too. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch_util.h"
#include "llm.h"
#include "testutil.h"

/* |reference - optimized| <= BOUND_F * max |logit| for float weights,
 * where the paths differ only in the order of float sums (measured: at
 * most 2e-6); BOUND_Q for quantized ones, whose optimized products round
 * the activations to Q8_0 while the reference multiplies floats
 * (measured on stories260K Q8_0 and Q4_0: 1.2e-2). */
#define BOUND_F 1e-4
#define BOUND_Q 2e-2
#define BOUND_F16 1e-3

static const char *const golden_models[] = {"stories260K.gguf", "stories260K-q8_0.gguf", "stories260K-q4_0.gguf",
                                            "llama-2-tiny-random.gguf"};
static const char golden_text[] = "Once upon a time, there was a little dog named Tim.";

static llm_model *load(const char *path) {
    llm_error err;
    llm_model *m = llm_model_load(path, NULL, &err);
    if (!m) fail_msg("%s: %s", path, err.msg);
    return m;
}

static llm_type kv_type = LLM_TYPE_F32; /* of the contexts ctx_new makes */

static llm_ctx *ctx_new(const llm_model *m, const char *kernels) {
    llm_error err;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 128;
    cp.kernels = kernels;
    cp.kv_type = kv_type;
    llm_ctx *c = llm_ctx_new(m, &cp, &err);
    if (!c) fail_msg("llm_ctx_new(%s): %s", kernels ? kernels : "auto", err.msg);
    return c;
}

static void decode(llm_ctx *c, const int32_t *toks, int n) {
    llm_error err;
    if (llm_decode(c, toks, n, &err) != LLM_OK) fail_msg("llm_decode: %s", err.msg);
}

/* BOS and the golden text's tokens; their count. */
static int golden_prompt(const llm_model *m, int32_t *toks, size_t cap) {
    size_t n = 0;
    llm_error err;
    if (llm_tokenize(m, golden_text, strlen(golden_text), toks, cap, &n, LLM_TOKENIZE_ADD_BOS, &err))
        fail_msg("llm_tokenize: %s", err.msg);
    return (int)n;
}

static double max_abs(const float *v, int n) {
    double m = 0.0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* Decodes toks one at a time through both paths; fails when a position's
 * logits differ by more than bound times their largest magnitude. Then
 * the whole prompt in one reference decode gives the token-by-token
 * logits bit for bit (batches run token by token). Returns the largest
 * relative difference. */
static double compare_paths(const char *name, const llm_model *m, const int32_t *toks, int n, double bound) {
    llm_ctx *opt = ctx_new(m, NULL), *ref = ctx_new(m, "reference");
    assert_string_equal(llm_ctx_kernels(ref), "reference");
    int nv = llm_model_n_vocab(m);
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        decode(opt, &toks[i], 1);
        decode(ref, &toks[i], 1);
        const float *a = llm_logits(opt), *b = llm_logits(ref);
        double d = 0.0, scale = fmax(max_abs(a, nv), 1e-6);
        for (int v = 0; v < nv; v++) d = fmax(d, fabs((double)a[v] - b[v]));
        worst = fmax(worst, d / scale);
        if (!(d <= bound * scale))
            fail_msg("%s: position %d: reference and optimized logits differ by %g (bound %g x %g)", name, i, d,
                     bound, scale);
    }
    float *last = malloc(sizeof(float) * (size_t)nv);
    assert_non_null(last);
    memcpy(last, llm_logits(ref), sizeof(float) * (size_t)nv);
    llm_ctx_truncate(ref, 0, NULL);
    decode(ref, toks, n);
    assert_memory_equal(last, llm_logits(ref), sizeof(float) * (size_t)nv);
    free(last);
    llm_ctx_free(opt);
    llm_ctx_free(ref);
    fprintf(stderr, "%-26s max |reference - optimized| / max |logit| %.3g (bound %g)\n", name, worst, bound);
    return worst;
}

static void test_golden_models(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof golden_models / sizeof *golden_models; i++) {
        llm_model *m = load(test_model_path(golden_models[i]));
        int32_t toks[64];
        int n = golden_prompt(m, toks, 64);
        bool quantized = strstr(golden_models[i], "q4_0") || strstr(golden_models[i], "q8_0");
        compare_paths(golden_models[i], m, toks, test_quick() ? 4 : n, quantized ? BOUND_Q : BOUND_F);
        llm_model_free(m);
    }
}

/* With an F16 cache: each path rounds its own keys and values to F16, and
 * a difference in the last float bit can round one element the other way
 * (2^-11 of it), so the bound is BOUND_F16 (measured: 6e-5). */
static void test_f16_cache(void **state) {
    (void)state;
    llm_model *m = load(test_model_path("stories260K.gguf"));
    int32_t toks[64];
    int n = golden_prompt(m, toks, 64);
    kv_type = LLM_TYPE_F16;
    compare_paths("stories260K.gguf, F16 cache", m, toks, n, BOUND_F16);
    kv_type = LLM_TYPE_F32;
    llm_model_free(m);
}

/* Every fixture of golden/arch: the paths agree, and the reference meets
 * llama.cpp's logits and greedy tokens within the fixture's own bound. */
static void test_arch_fixtures(void **state) {
    (void)state;
    int n;
    char **names = arch_fixture_names(&n);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.kernels = "reference";
    for (int i = 0; i < n; i++) {
        arch_fixture f;
        arch_fixture_load(&f, names[i]);
        llm_model *m = load(arch_fixture_model(names[i]));
        compare_paths(names[i], m, f.prompt, test_quick() && f.n_prompt > 4 ? 4 : f.n_prompt, BOUND_F);
        double d = arch_check(m, &f, &cp);
        fprintf(stderr, "%-26s max |reference - llama.cpp| %.3g (bound %g)\n", names[i], d, f.tol);
        llm_model_free(m);
        arch_fixture_free(&f);
    }
    arch_names_free(names, n);
}

/* What an observer collects: every view's name in order, the last
 * "logits" and last-layer "residual" rows, and the checks of each
 * "attn_weights" view made as it comes. */
typedef struct seen {
    int n_layer, n_vocab, n_embd, n_head, n_head_kv, head_dim;
    int views, logits_views, att_views;
    int32_t pos_of_logits;
    float logits[4096];
    float resid[512];
    char order[64][16];   /* the names of the first views, in order */
    float att0[8][64];    /* layer 0's head-0 row per position */
} seen;

static void watch(const llm_view *v, void *ud) {
    seen *s = ud;
    if (s->views < 64) snprintf(s->order[s->views], sizeof s->order[0], "%s", v->name);
    s->views++;
    if (strcmp(v->name, "logits") == 0) {
        assert_int_equal(v->ne0, s->n_vocab);
        assert_true(v->ne0 <= 4096);
        memcpy(s->logits, v->data, sizeof(float) * (size_t)v->ne0);
        s->logits_views++;
        s->pos_of_logits = v->pos;
    } else if (strcmp(v->name, "residual") == 0 && v->layer == s->n_layer - 1) {
        assert_int_equal(v->ne0, s->n_embd);
        memcpy(s->resid, v->data, sizeof(float) * (size_t)v->ne0);
    } else if (strcmp(v->name, "q") == 0 || strcmp(v->name, "k") == 0) {
        assert_int_equal(v->ne0, s->head_dim);
        assert_int_equal(v->ne1, v->name[0] == 'q' ? s->n_head : s->n_head_kv);
    } else if (strcmp(v->name, "attn_weights") == 0) {
        /* causal: exactly the positions 0 .. pos, a distribution each */
        assert_int_equal(v->ne0, v->pos + 1);
        for (int64_t h = 0; h < v->ne1; h++) {
            double sum = 0.0;
            for (int64_t j = 0; j < v->ne0; j++) {
                float p = v->data[h * v->ne0 + j];
                assert_true(p >= 0.0f && p <= 1.0f);
                sum += p;
            }
            if (fabs(sum - 1.0) > 1e-5) fail_msg("layer %d head %d pos %d: weights sum to %.9g", v->layer, (int)h, v->pos, sum);
        }
        if (v->layer == 0 && v->pos < 8) memcpy(s->att0[v->pos], v->data, sizeof(float) * (size_t)v->ne0);
        s->att_views++;
    }
}

static seen *watch_new(const llm_model *m) {
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->n_layer = llm_model_n_layer(m);
    s->n_vocab = llm_model_n_vocab(m);
    s->n_embd = llm_model_n_embd(m);
    s->n_head = llm_model_n_head(m);
    s->n_head_kv = llm_model_n_head_kv(m);
    s->head_dim = llm_model_head_dim(m);
    return s;
}

/* stories260K through an observer on an optimized context: the views
 * come in the documented order, the logits seen are llm_logits' and the
 * optimized path's (the observer switched the context to the reference
 * path), every token of a batch is observed (with its logits, as the
 * decode asks for all of them), the logit lens of the last layer's stream
 * is the output, and a decode without the observer stays on the kernels
 * it had. */
static void test_observer(void **state) {
    (void)state;
    llm_model *m = load(test_model_path("stories260K.gguf"));
    int32_t toks[64];
    int n = golden_prompt(m, toks, 64);
    if (n > 8) n = 8;
    llm_ctx *c = ctx_new(m, NULL), *plain = ctx_new(m, NULL);
    seen *s = watch_new(m);
    assert_int_equal(llm_ctx_set_observer(c, watch, s), LLM_OK);
    int8_t all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    llm_error err;
    if (llm_decode_ex(c, toks, n, all, &err) != LLM_OK) fail_msg("llm_decode_ex: %s", err.msg);
    decode(plain, toks, n);
    int nv = s->n_vocab, nl = s->n_layer;
    assert_int_equal(s->logits_views, n);
    assert_int_equal(s->att_views, n * nl);
    assert_int_equal(s->pos_of_logits, n - 1);
    assert_memory_equal(s->logits, llm_logits(c), sizeof(float) * (size_t)nv);
    const float *want = llm_logits(plain);
    for (int v = 0; v < nv; v++) assert_float_equal(s->logits[v], want[v], BOUND_F * max_abs(want, nv));
    static const char *const first[] = {"embedding", "attn_norm", "q", "k", "v", "attn_weights", "attn_out",
                                        "ffn_norm", "ffn_out", "residual", "attn_norm"};
    for (size_t i = 0; i < sizeof first / sizeof *first; i++) assert_string_equal(s->order[i], first[i]);
    assert_int_equal(s->views, n * (1 + 9 * nl + 2));
    /* the attention of a position does not change when a later token does */
    float before[8][64];
    memcpy(before, s->att0, sizeof before);
    int32_t other[8];
    memcpy(other, toks, sizeof other);
    other[n - 1] = (toks[n - 1] + 1) % nv;
    llm_ctx_truncate(c, 0, NULL);
    decode(c, other, n);
    for (int p = 0; p < n - 1; p++) assert_memory_equal(before[p], s->att0[p], sizeof(float) * (size_t)(p + 1));
    /* the logit lens of the last layer's stream is the output */
    float *lens = malloc(sizeof(float) * (size_t)nv);
    assert_non_null(lens);
    assert_int_equal(llm_logit_lens(c, s->resid, lens, &err), LLM_OK);
    assert_memory_equal(lens, llm_logits(c), sizeof(float) * (size_t)nv);
    free(lens);
    /* removed: nothing more is seen, the kernels are the context's own */
    assert_int_equal(llm_ctx_set_observer(c, NULL, NULL), LLM_OK);
    int views = s->views;
    decode(c, toks, 1);
    assert_int_equal(s->views, views);
    assert_string_not_equal(llm_ctx_kernels(c), "reference");
    free(s);
    llm_ctx_free(c);
    llm_ctx_free(plain);
    llm_model_free(m);
}

/* A sliding-window fixture (gemma2): weights before the window are 0. */
static void window_watch(const llm_view *v, void *ud) {
    int *zeros = ud;
    if (strcmp(v->name, "attn_weights") != 0) return;
    for (int64_t h = 0; h < v->ne1; h++)
        for (int64_t j = 0; j < v->ne0; j++) *zeros += v->data[h * v->ne0 + j] == 0.0f;
}

static void test_window(void **state) {
    (void)state;
    arch_fixture f;
    arch_fixture_load(&f, "gemma2");
    llm_model *m = load(arch_fixture_model("gemma2"));
    llm_ctx *c = ctx_new(m, "reference");
    int zeros = 0;
    llm_ctx_set_observer(c, window_watch, &zeros);
    decode(c, f.prompt, f.n_prompt);
    assert_true(zeros > 0); /* the fixture's window is shorter than its prompt (README.md) */
    llm_ctx_free(c);
    llm_model_free(m);
    arch_fixture_free(&f);
}

/* The caches are shared: a state saved from a reference context, loaded
 * into an optimized one, continues as the reference does (within the
 * bound), and the other way round. */
static void test_state(void **state) {
    (void)state;
    llm_model *m = load(test_model_path("stories260K.gguf"));
    int32_t toks[64];
    int n = golden_prompt(m, toks, 64), nv = llm_model_n_vocab(m);
    llm_ctx *ref = ctx_new(m, "reference"), *opt = ctx_new(m, NULL);
    decode(ref, toks, n - 1);
    size_t size = llm_state_size(ref), written;
    void *buf = malloc(size);
    assert_non_null(buf);
    llm_error err;
    assert_int_equal(llm_state_save(ref, buf, size, &written, &err), LLM_OK);
    if (llm_state_load(opt, buf, written, &err) != LLM_OK) fail_msg("llm_state_load: %s", err.msg);
    decode(ref, &toks[n - 1], 1);
    decode(opt, &toks[n - 1], 1);
    const float *a = llm_logits(ref), *b = llm_logits(opt);
    for (int v = 0; v < nv; v++) assert_float_equal(a[v], b[v], BOUND_F * max_abs(a, nv));
    free(buf);
    llm_ctx_free(ref);
    llm_ctx_free(opt);
    llm_model_free(m);
}

/* The abort callback stops an observed decode between layers: the decode
 * fails with LLM_ERR_ABORTED, no position is advanced, and the views stop. */
static bool stop_after_views(void *ud) { return ((seen *)ud)->views > 20; }

static void test_abort(void **state) {
    (void)state;
    llm_model *m = load(test_model_path("stories260K.gguf"));
    int32_t toks[64];
    int n = golden_prompt(m, toks, 64);
    llm_ctx *c = ctx_new(m, NULL);
    seen *s = watch_new(m);
    llm_ctx_set_observer(c, watch, s);
    assert_int_equal(llm_ctx_set_abort(c, stop_after_views, s), LLM_OK);
    llm_error err;
    assert_int_equal(llm_decode(c, toks, n, &err), LLM_ERR_ABORTED);
    assert_int_equal(llm_ctx_pos(c), 0);
    assert_null(llm_logits(c));
    assert_true(s->views > 20 && s->views < 30); /* stopped at the end of the layer that passed 20 */
    free(s);
    llm_ctx_free(c);
    llm_model_free(m);
}

static void test_errors(void **state) {
    (void)state;
    llm_error err = {0};
    float x[4] = {0};
    assert_int_equal(llm_ctx_set_observer(NULL, watch, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_logit_lens(NULL, x, x, &err), LLM_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "llm_logit_lens"));
    llm_model *m = load(test_model_path("stories260K.gguf"));
    setenv("LLM_KERNELS", "reference", 1);
    llm_ctx *c = ctx_new(m, NULL);
    unsetenv("LLM_KERNELS");
    assert_string_equal(llm_ctx_kernels(c), "reference");
    assert_int_equal(llm_logit_lens(c, NULL, x, &err), LLM_ERR_INVALID_ARG);
    llm_ctx_free(c);
    llm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_models),
        cmocka_unit_test(test_f16_cache),
        cmocka_unit_test(test_arch_fixtures),
        cmocka_unit_test(test_observer),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    test_cleanup_tmp();
    return rc;
}
