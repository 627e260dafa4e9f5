/* Llama-3-family features of the forward pass, each checked against a plain
 * double-precision reference written here from the formulas, not from
 * lib/forward.c: the RoPE base from metadata, Llama 3.1 rope_freqs, linear
 * RoPE scaling, qwen2 (NeoX RoPE, q/k/v biases, tied embeddings) and a
 * single KV head. Each case also switches its features off in the
 * reference one at a time and requires the library to disagree with that,
 * so a feature the library ignored would fail the test. Last, the loader's
 * refusals of malformed or unsupported feature metadata. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtype.h"
#include "fixture.h"
#include "gguf.h"
#include "llm.h"
#include "testutil.h"

#define N_TOKENS 12

static const int32_t tokens[N_TOKENS] = {1, 260, 301, 7, 288, 45, 270, 305, 199, 262, 3, 280};

/* ------------------------------------------------------------ reference */

/* What the reference computes. A case states its model's true
 * configuration; changing one field gives "the model without that
 * feature". */
typedef struct ref_cfg {
    double rope_base;
    double rope_factor; /* linear scaling: every angle is divided by it */
    bool freqs;         /* divide pair i's frequency by rope_freqs.weight[i] */
    bool bias;          /* add blk.N.attn_{q,k,v}.bias */
    bool neox;          /* rotate (i, i + hd/2) instead of (2i, 2i + 1) */
    bool kv_modulo;     /* a wrong GQA mapping: query head h reads KV head h % n_kv */
} ref_cfg;

/* The model as the reference sees it: shapes from the fixture spec,
 * weights read by name from the parsed GGUF image (all F32). */
typedef struct ref_model {
    const gguf_file *f;
    int dim, ffn, n_layer, n_head, n_kv, hd;
    ref_cfg cfg;
} ref_model;

/* The data of tensor "blk.layer.name" (layer >= 0) or "name"; NULL when
 * the file has no such tensor. */
static const float *weight(const ref_model *r, int layer, const char *name) {
    char full[96];
    if (layer >= 0) snprintf(full, sizeof full, "blk.%d.%s", layer, name);
    else snprintf(full, sizeof full, "%s", name);
    const gguf_tensor *t = gguf_find_tensor(r->f, full);
    if (!t) return NULL;
    assert_int_equal(t->type, LLM_DT_F32);
    return t->data;
}

static const float *required(const ref_model *r, int layer, const char *name) {
    const float *w = weight(r, layer, name);
    if (!w) fail_msg("reference: tensor %d '%s' missing", layer, name);
    return w;
}

/* out = W x for W of rows x cols, stored row after row. */
static void matvec(double *out, const float *w, const double *x, int rows, int cols) {
    for (int i = 0; i < rows; i++) {
        double sum = 0.0;
        for (int j = 0; j < cols; j++) sum += (double)w[(size_t)i * cols + j] * x[j];
        out[i] = sum;
    }
}

static void rmsnorm(double *out, const double *x, const float *w, int n) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double inv = 1.0 / sqrt(ss / n + (double)1e-5f);
    for (int i = 0; i < n; i++) out[i] = w[i] * (x[i] * inv);
}

/* Rotates each of n_heads heads of v for position pos: pair i turns by
 * pos * theta_i, theta_i = base^(-2i/hd) / factor_i / linear factor. */
static void rope(const ref_model *r, double *v, int n_heads, int pos) {
    const ref_cfg *c = &r->cfg;
    const float *factors = c->freqs ? required(r, -1, "rope_freqs.weight") : NULL;
    int half = r->hd / 2;
    for (int i = 0; i < half; i++) {
        double theta = pow(c->rope_base, -2.0 * i / r->hd) / c->rope_factor;
        if (factors) theta /= factors[i];
        double cs = cos(pos * theta), sn = sin(pos * theta);
        int a = c->neox ? i : 2 * i, b = c->neox ? i + half : 2 * i + 1;
        for (int h = 0; h < n_heads; h++) {
            double *p = v + (size_t)h * r->hd;
            double x = p[a], y = p[b];
            p[a] = x * cs - y * sn;
            p[b] = x * sn + y * cs;
        }
    }
}

/* One projection of the normed input, plus its bias when the case uses it. */
static void project(const ref_model *r, int l, const char *name, double *out, const double *x, int rows) {
    char wname[48], bname[48];
    snprintf(wname, sizeof wname, "%s.weight", name);
    snprintf(bname, sizeof bname, "%s.bias", name);
    matvec(out, required(r, l, wname), x, rows, r->dim);
    if (!r->cfg.bias) return;
    const float *b = required(r, l, bname);
    for (int i = 0; i < rows; i++) out[i] += b[i];
}

/* Causal attention of layer l for tokens 0..n-1 (positions 0..n-1),
 * added to the residual stream x (n rows of dim). */
static void attention(const ref_model *r, int l, double *x, int n) {
    int q_dim = r->n_head * r->hd, kv_dim = r->n_kv * r->hd, group = r->n_head / r->n_kv;
    double *xn = malloc(sizeof(double) * r->dim), *q = malloc(sizeof(double) * (size_t)n * q_dim);
    double *k = malloc(sizeof(double) * (size_t)n * kv_dim), *v = malloc(sizeof(double) * (size_t)n * kv_dim);
    double *out = malloc(sizeof(double) * q_dim), *proj = malloc(sizeof(double) * r->dim);
    double *score = malloc(sizeof(double) * n);
    assert_true(xn && q && k && v && out && proj && score);
    for (int t = 0; t < n; t++) {
        rmsnorm(xn, x + (size_t)t * r->dim, required(r, l, "attn_norm.weight"), r->dim);
        project(r, l, "attn_q", q + (size_t)t * q_dim, xn, q_dim);
        project(r, l, "attn_k", k + (size_t)t * kv_dim, xn, kv_dim);
        project(r, l, "attn_v", v + (size_t)t * kv_dim, xn, kv_dim);
        rope(r, q + (size_t)t * q_dim, r->n_head, t);
        rope(r, k + (size_t)t * kv_dim, r->n_kv, t);
    }
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < r->n_head; h++) {
            int kvh = r->cfg.kv_modulo ? h % r->n_kv : h / group;
            const double *qh = q + (size_t)t * q_dim + (size_t)h * r->hd;
            double max = -INFINITY, sum = 0.0;
            for (int s = 0; s <= t; s++) {
                const double *ks = k + (size_t)s * kv_dim + (size_t)kvh * r->hd;
                double dot = 0.0;
                for (int i = 0; i < r->hd; i++) dot += qh[i] * ks[i];
                score[s] = dot / sqrt((double)r->hd);
                if (score[s] > max) max = score[s];
            }
            for (int s = 0; s <= t; s++) sum += score[s] = exp(score[s] - max);
            double *oh = out + (size_t)h * r->hd;
            for (int i = 0; i < r->hd; i++) {
                double acc = 0.0;
                for (int s = 0; s <= t; s++) acc += score[s] / sum * v[(size_t)s * kv_dim + (size_t)kvh * r->hd + i];
                oh[i] = acc;
            }
        }
        matvec(proj, required(r, l, "attn_output.weight"), out, r->dim, q_dim);
        for (int i = 0; i < r->dim; i++) x[(size_t)t * r->dim + i] += proj[i];
    }
    free(xn), free(q), free(k), free(v), free(out), free(proj), free(score);
}

/* SwiGLU feed-forward of layer l, added to each token's residual. */
static void ffn(const ref_model *r, int l, double *x, int n) {
    double *xn = malloc(sizeof(double) * r->dim), *gate = malloc(sizeof(double) * r->ffn);
    double *up = malloc(sizeof(double) * r->ffn), *down = malloc(sizeof(double) * r->dim);
    assert_true(xn && gate && up && down);
    for (int t = 0; t < n; t++) {
        double *xt = x + (size_t)t * r->dim;
        rmsnorm(xn, xt, required(r, l, "ffn_norm.weight"), r->dim);
        matvec(gate, required(r, l, "ffn_gate.weight"), xn, r->ffn, r->dim);
        matvec(up, required(r, l, "ffn_up.weight"), xn, r->ffn, r->dim);
        for (int i = 0; i < r->ffn; i++) gate[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
        matvec(down, required(r, l, "ffn_down.weight"), gate, r->dim, r->ffn);
        for (int i = 0; i < r->dim; i++) xt[i] += down[i];
    }
    free(xn), free(gate), free(up), free(down);
}

/* Logits (FIXTURE_N_VOCAB) of the last of n tokens at positions 0..n-1.
 * The classifier is output.weight, or token_embd.weight when the file has
 * none (tied embeddings). */
static void ref_logits(const ref_model *r, const int32_t *toks, int n, double *logits) {
    double *x = malloc(sizeof(double) * (size_t)n * r->dim), *xn = malloc(sizeof(double) * r->dim);
    assert_true(x && xn);
    const float *embd = required(r, -1, "token_embd.weight");
    for (int t = 0; t < n; t++)
        for (int i = 0; i < r->dim; i++) x[(size_t)t * r->dim + i] = embd[(size_t)toks[t] * r->dim + i];
    for (int l = 0; l < r->n_layer; l++) {
        attention(r, l, x, n);
        ffn(r, l, x, n);
    }
    rmsnorm(xn, x + (size_t)(n - 1) * r->dim, required(r, -1, "output_norm.weight"), r->dim);
    const float *out = weight(r, -1, "output.weight");
    matvec(logits, out ? out : embd, xn, FIXTURE_N_VOCAB, r->dim);
    free(x), free(xn);
}

/* ------------------------------------------------------------ library */

/* The library's last-token logits after all tokens, fed one llm_decode
 * call per token or all in one call, computed with the named kernel set
 * (NULL: the best the CPU has). */
static void lib_logits(const llm_model *m, const char *kernels, bool one_by_one, float *out) {
    llm_error e = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.n_ctx = 32;
    p.kernels = kernels;
    llm_ctx *c = llm_ctx_new(m, &p, &e);
    if (!c) fail_msg("llm_ctx_new: %s", e.msg);
    for (int i = 0; i < N_TOKENS; i += one_by_one ? 1 : N_TOKENS)
        if (llm_decode(c, tokens + i, one_by_one ? 1 : N_TOKENS, &e)) fail_msg("llm_decode: %s", e.msg);
    memcpy(out, llm_logits(c), sizeof(float) * FIXTURE_N_VOCAB);
    llm_ctx_free(c);
}

static double max_abs_diff(const float *lib, const double *ref) {
    double d = 0.0;
    for (int i = 0; i < FIXTURE_N_VOCAB; i++) d = fmax(d, fabs(lib[i] - ref[i]));
    return d;
}

/* dim 64 with 4 heads gives 8 RoPE pairs per head, so rope_freqs and the
 * base reach several distinct frequencies; 2 KV heads make it GQA. */
static fixture_spec small_spec(void) {
    fixture_spec s = fixture_default();
    s.dim = 64, s.ffn = 96, s.n_layer = 2, s.n_head = 4, s.n_head_kv = 2, s.n_ctx = 64;
    return s;
}

/* Builds the model of spec and checks the library (one token per call and
 * one batch; scalar and the CPU's best kernels) against the reference
 * with cfg, then requires each of the n_off configurations in off (the
 * model without one feature) to disagree with the library.
 *
 * Bound: max |lib - ref| <= 1e-4 * (1 + max |ref|). The library computes
 * in float (relative rounding 6e-8) through two layers of dot products of
 * length <= 96, a softmax and the classifier; the accumulated error is
 * ~1e-6 relative, so 1e-4 leaves a wide margin for any summation order,
 * and it is ten times below the 1e-3 a missing feature must exceed. */
static void check_case(const fixture_spec *spec, const ref_cfg *cfg, const ref_cfg *off, size_t n_off) {
    size_t size;
    llm_error e = {0};
    void *img = fixture_build(spec, &size, &e);
    if (!img) fail_msg("fixture_build: %s", e.msg);
    gguf_file f;
    if (gguf_parse(&f, img, size, &e)) fail_msg("gguf_parse: %s", e.msg);
    llm_model *m = llm_model_load(test_write_tmp(img, size), NULL, &e);
    if (!m) fail_msg("llm_model_load: %s", e.msg);
    ref_model r = {&f, spec->dim, spec->ffn, spec->n_layer, spec->n_head, spec->n_head_kv,
                   spec->dim / spec->n_head, *cfg};
    double ref[FIXTURE_N_VOCAB], wrong[FIXTURE_N_VOCAB], max_ref = 0.0;
    ref_logits(&r, tokens, N_TOKENS, ref);
    for (int i = 0; i < FIXTURE_N_VOCAB; i++) max_ref = fmax(max_ref, fabs(ref[i]));
    float lib[FIXTURE_N_VOCAB];
    for (int run = 0; run < 4; run++) {
        const char *kernels = run < 2 ? "scalar" : NULL;
        lib_logits(m, kernels, run % 2 == 0, lib);
        double d = max_abs_diff(lib, ref);
        if (!(d <= 1e-4 * (1.0 + max_ref)))
            fail_msg("%s kernels, %s: max |lib - ref| = %g, bound %g", kernels ? kernels : "best",
                     run % 2 == 0 ? "one by one" : "batch", d, 1e-4 * (1.0 + max_ref));
    }
    for (size_t i = 0; i < n_off; i++) {
        r.cfg = off[i];
        ref_logits(&r, tokens, N_TOKENS, wrong);
        double d = max_abs_diff(lib, wrong);
        if (!(d > 1e-3)) fail_msg("variant %zu without a feature: max |lib - ref| = %g, not > 1e-3", i, d);
    }
    llm_model_free(m);
    gguf_close(&f);
    free(img);
}

/* The model of spec, loaded from a file. */
static llm_model *load_spec(const fixture_spec *spec) {
    size_t size;
    llm_error e = {0};
    void *img = fixture_build(spec, &size, &e);
    if (!img) fail_msg("fixture_build: %s", e.msg);
    llm_model *m = llm_model_load(test_write_tmp(img, size), NULL, &e);
    free(img);
    if (!m) fail_msg("llm_model_load: %s", e.msg);
    return m;
}

/* Norm weights stored as F16 (converted to floats once, at load) give
 * bit for bit the logits of the same model with the norms stored as the
 * F32 values the F16 ones stand for: one token per call and one batch,
 * scalar and the CPU's best kernels. */
static void test_f16_norms(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    s.norms_f16 = true;
    llm_model *f32 = load_spec(&s);
    s.ntype = LLM_DT_F16;
    llm_model *f16 = load_spec(&s);
    float a[FIXTURE_N_VOCAB], b[FIXTURE_N_VOCAB];
    for (int run = 0; run < 4; run++) {
        const char *kernels = run < 2 ? "scalar" : NULL;
        lib_logits(f32, kernels, run % 2 == 0, a);
        lib_logits(f16, kernels, run % 2 == 0, b);
        assert_memory_equal(a, b, sizeof a);
    }
    llm_model_free(f32);
    llm_model_free(f16);
}

/* ------------------------------------------------------------ cases */

static const ref_cfg llama_cfg = {.rope_base = 10000.0, .rope_factor = 1.0};

/* Plain llama: interleaved RoPE with base 10000, query heads sharing KV
 * heads in consecutive groups. */
static void test_llama(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    ref_cfg neox = llama_cfg, modulo = llama_cfg;
    neox.neox = true;
    modulo.kv_modulo = true;
    check_case(&s, &llama_cfg, (ref_cfg[]){neox, modulo}, 2);
}

/* Llama 3.1: base 500000 from metadata and per-pair frequency divisors,
 * 1 for the high frequencies rising to 8 for the low ones. */
static void test_rope_freqs(void **state) {
    (void)state;
    static const float factors[8] = {1.0f, 1.0f, 1.5f, 2.5f, 4.0f, 6.0f, 8.0f, 8.0f};
    fixture_spec s = small_spec();
    s.rope_base = 500000.0f;
    s.rope_freqs = factors;
    s.n_rope_freqs = 8;
    ref_cfg cfg = llama_cfg;
    cfg.rope_base = 500000.0;
    cfg.freqs = true;
    ref_cfg no_freqs = cfg, base_10k = cfg;
    no_freqs.freqs = false;
    base_10k.rope_base = 10000.0;
    check_case(&s, &cfg, (ref_cfg[]){no_freqs, base_10k}, 2);
}

static void test_linear_scaling(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    s.rope_scaling = "linear";
    s.rope_factor = 4.0f;
    ref_cfg cfg = llama_cfg;
    cfg.rope_factor = 4.0;
    check_case(&s, &cfg, &llama_cfg, 1);
    /* a factor without a type is linear too, as llama.cpp reads it */
    s.omit = "llama.rope.scaling.type";
    check_case(&s, &cfg, &llama_cfg, 1);
}

/* qwen2: NeoX RoPE, q/k/v biases, and no output.weight (the classifier is
 * the embedding; there is no other classifier to leave it out for). */
static void test_qwen2(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    s.arch = "qwen2";
    s.qkv_bias = true;
    s.tied = true;
    s.rope_base = 1000000.0f;
    ref_cfg cfg = {.rope_base = 1000000.0, .rope_factor = 1.0, .bias = true, .neox = true};
    ref_cfg interleaved = cfg, no_bias = cfg;
    interleaved.neox = false;
    no_bias.bias = false;
    check_case(&s, &cfg, (ref_cfg[]){interleaved, no_bias}, 2);
}

/* One KV head for all query heads. With a single KV head every mapping
 * reads the same head, so no variant is left to switch off: the case
 * checks the cache layout and head indexing of n_head_kv = 1. */
static void test_one_kv_head(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    s.n_head_kv = 1;
    check_case(&s, &llama_cfg, NULL, 0);
}

/* ------------------------------------------------------------ hostile */

static void load_fails(const fixture_spec *spec, llm_status want, const char *msg) {
    const char *path = fixture_write_tmp(spec);
    assert_non_null(path);
    llm_error e = {0};
    llm_model *m = llm_model_load(path, NULL, &e);
    if (m) {
        llm_model_free(m);
        fail_msg("loaded, expected status %d with '%s'", want, msg);
    }
    expect_error("llm_model_load", e.code, &e, want, msg);
}

static void test_bad_bias(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    s.qkv_bias = true;
    s.reshape = "blk.1.attn_k.bias"; /* 2 KV heads of 16 */
    s.reshape_ne[0] = 33;
    load_fails(&s, LLM_ERR_FORMAT, "tensor 'blk.1.attn_k.bias' has shape [33, 1, 1, 1], expected [32, 1]");
    s.reshape = NULL;
    s.retype = "blk.0.attn_v.bias";
    s.retype_to = LLM_DT_F16;
    load_fails(&s, LLM_ERR_UNSUPPORTED, "tensor 'blk.0.attn_v.bias' has type F16");
}

static void test_bad_rope_freqs(void **state) {
    (void)state;
    static const float factors[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    fixture_spec s = small_spec();
    s.rope_freqs = factors;
    s.n_rope_freqs = 9;
    load_fails(&s, LLM_ERR_FORMAT, "tensor 'rope_freqs.weight' has shape [9, 1, 1, 1], expected [8, 1]");
    s.n_rope_freqs = 7;
    load_fails(&s, LLM_ERR_FORMAT, "tensor 'rope_freqs.weight' has shape [7, 1, 1, 1], expected [8, 1]");
    static const float zero[8] = {1, 1, 1, 0, 1, 1, 1, 1};
    s.rope_freqs = zero;
    s.n_rope_freqs = 8;
    load_fails(&s, LLM_ERR_FORMAT, "factor 3 is 0, not a positive number");
}

static void test_bad_scaling(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    s.rope_scaling = "yarn";
    s.rope_factor = 4.0f;
    load_fails(&s, LLM_ERR_UNSUPPORTED, "RoPE scaling 'yarn' is not supported");
    s.rope_scaling = "linear";
    s.rope_factor = 0.0f;
    load_fails(&s, LLM_ERR_FORMAT, "llama.rope.scaling.factor is 0, not a number from 1 to 1e+06");
}

static void test_bad_arch(void **state) {
    (void)state;
    fixture_spec s = small_spec();
    s.arch = "gpt-neox";
    load_fails(&s, LLM_ERR_UNSUPPORTED, "architecture 'gpt-neox' is not supported");
}

static int cleanup(void **state) {
    (void)state;
    test_cleanup_tmp();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_f16_norms),
        cmocka_unit_test(test_rope_freqs),
        cmocka_unit_test(test_linear_scaling),
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_one_kv_head),
        cmocka_unit_test(test_bad_bias),
        cmocka_unit_test(test_bad_rope_freqs),
        cmocka_unit_test(test_bad_scaling),
        cmocka_unit_test(test_bad_arch),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
