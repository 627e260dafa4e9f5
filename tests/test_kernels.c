/* Quantized formats and kernel sets: the quantizers against files written
 * by llama.cpp, dequantization against an independent implementation
 * (gguf-py), the K-quants' round trips against their error bound, every
 * kernel set this CPU runs against the scalar reference, and a model with
 * K-quant weights against the same model dequantized to F32. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dtype.h"
#include "fixture.h"
#include "gguf.h"
#include "kernels.h"
#include "llm.h"
#include "matmul.h"
#include "quant.h"
#include "quantize.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static void open_model(gguf_file *f, const char *rel) {
    llm_error e = {0};
    llm_status s = gguf_open(f, test_model_path(rel), &e);
    if (s) fail_msg("%s: %s", rel, e.msg);
}

static uint64_t n_elements(const gguf_tensor *t) {
    return (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

/* xorshift64: the same data on every run and platform. */
static uint64_t rng_state;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Uniform in [-1, 1). */
static float rnd_unit(void) { return (float)rnd() / 2147483648.0f - 1.0f; }

static float *rnd_floats(int64_t n) {
    float *v = xmalloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = rnd_unit();
    return v;
}

/* ------------------------------------------------------------ against llama.cpp */

/* Every Q8_0/Q4_0 tensor in a file llama.cpp quantized from
 * stories260K.gguf must equal, byte for byte, our quantization of the
 * same F32 tensor. Returns how many tensors of type `type` were checked. */
static int check_quantized_file(const char *rel, uint32_t type) {
    gguf_file src, q;
    open_model(&src, "stories260K.gguf");
    open_model(&q, rel);
    int checked = 0;
    for (uint64_t i = 0; i < q.n_tensors; i++) {
        const gguf_tensor *t = &q.tensors[i];
        if (t->type != type) continue;
        char name[256];
        assert_true(t->name.len < sizeof name);
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = '\0';
        const gguf_tensor *f = gguf_find_tensor(&src, name);
        assert_non_null(f);
        assert_int_equal(f->type, LLM_DT_F32);
        assert_memory_equal(f->ne, t->ne, sizeof t->ne);
        int64_t n = (int64_t)n_elements(t);
        void *out = xmalloc(t->nbytes);
        if (type == LLM_DT_Q8_0) {
            assert_int_equal(t->nbytes, n / QK8_0 * sizeof(block_q8_0));
            llm_quantize_row_q8_0(f->data, out, n);
        } else {
            assert_int_equal(t->nbytes, n / QK4_0 * sizeof(block_q4_0));
            llm_quantize_row_q4_0(f->data, out, n);
        }
        if (memcmp(out, t->data, t->nbytes) != 0) fail_msg("%s: %s differs from llama.cpp's", rel, name);
        free(out);
        checked++;
    }
    gguf_close(&q);
    gguf_close(&src);
    return checked;
}

/* stories260K has 5 layers with 4 attention matrices each, plus
 * token_embd: 21 tensors of the file's type; output is Q8_0 in both. */
static void test_matches_llama_cpp_q8_0(void **state) {
    (void)state;
    assert_int_equal(check_quantized_file("stories260K-q8_0.gguf", LLM_DT_Q8_0), 22);
}

static void test_matches_llama_cpp_q4_0(void **state) {
    (void)state;
    assert_int_equal(check_quantized_file("stories260K-q4_0.gguf", LLM_DT_Q4_0), 21);
    assert_int_equal(check_quantized_file("stories260K-q4_0.gguf", LLM_DT_Q8_0), 1);
}

/* Rows of the block types through quant.c. */
static void dequantize(uint32_t type, const void *q, float *y, int64_t n) {
    switch (type) {
    case LLM_DT_Q8_0: llm_dequantize_row_q8_0(q, y, n); break;
    case LLM_DT_Q4_0: llm_dequantize_row_q4_0(q, y, n); break;
    case LLM_DT_Q4_K: llm_dequantize_row_q4_K(q, y, n); break;
    case LLM_DT_Q5_K: llm_dequantize_row_q5_K(q, y, n); break;
    case LLM_DT_Q6_K: llm_dequantize_row_q6_K(q, y, n); break;
    default: fail_msg("no dequantizer for type %u", type);
    }
}

static void quantize(uint32_t type, const float *x, void *q, int64_t n) {
    switch (type) {
    case LLM_DT_Q4_K: llm_quantize_row_q4_K(x, q, n); break;
    case LLM_DT_Q5_K: llm_quantize_row_q5_K(x, q, n); break;
    case LLM_DT_Q6_K: llm_quantize_row_q6_K(x, q, n); break;
    default: fail_msg("no quantizer for type %u", type);
    }
}

/* Dequantizing NAME gives exactly NAME.f32, which gguf-py computed. */
static void check_conformance(const gguf_file *f, const char *name, uint32_t type) {
    char f32name[64];
    snprintf(f32name, sizeof f32name, "%s.f32", name);
    const gguf_tensor *t = gguf_find_tensor(f, name), *want = gguf_find_tensor(f, f32name);
    assert_non_null(t);
    assert_non_null(want);
    assert_int_equal(t->type, type);
    assert_int_equal(want->type, LLM_DT_F32);
    int64_t n = (int64_t)n_elements(t);
    assert_int_equal(n_elements(want), n);
    assert_true(n > 0 && n % (int64_t)llm_dtype(type)->blck == 0);
    float *got = xmalloc((size_t)n * sizeof *got);
    dequantize(type, t->data, got, n);
    const float *ref = want->data;
    for (int64_t i = 0; i < n; i++)
        if (!(got[i] == ref[i])) fail_msg("%s[%lld]: %.9g, want %.9g", name, (long long)i, got[i], ref[i]);
    free(got);
}

static void test_conformance(void **state) {
    (void)state;
    gguf_file f;
    open_model(&f, "quant-conformance.gguf");
    check_conformance(&f, "q8_0", LLM_DT_Q8_0);
    check_conformance(&f, "q4_0", LLM_DT_Q4_0);
    check_conformance(&f, "q4_k", LLM_DT_Q4_K);
    check_conformance(&f, "q5_k", LLM_DT_Q5_K);
    check_conformance(&f, "q6_k", LLM_DT_Q6_K);
    gguf_close(&f);
}

/* The K-quants' error bound, checked per element: one step of a uniform
 * grid with the format's number of levels (16, 32, 64) spanning the
 * super-block's [-amax, amax], i.e. amax / 8, amax / 16, amax / 32. The
 * formats' own grids are finer (a sub-block's range, not the
 * super-block's, in nmax steps) but the reference quantizer trades single
 * elements for a smaller weighted squared error, rounds the sub-block
 * scales to 6 or 8 bits of the largest, and clamps, so single elements can
 * miss their sub-block's half step; measured worst cases reach 55-80% of
 * this bound. A misplaced bit or scale is off by a large part of amax. */
static void check_kquant_round_trip(uint32_t type, const float *x, int64_t n) {
    const llm_dtype_info *info = llm_dtype(type);
    float levels = type == LLM_DT_Q4_K ? 16.0f : type == LLM_DT_Q5_K ? 32.0f : 64.0f;
    void *q = xmalloc((size_t)(n / QK_K) * info->size);
    float *y = xmalloc((size_t)n * sizeof *y);
    quantize(type, x, q, n);
    dequantize(type, q, y, n);
    for (int64_t b = 0; b < n / QK_K; b++) {
        float amax = 0;
        for (int i = 0; i < QK_K; i++) amax = fmaxf(amax, fabsf(x[b * QK_K + i]));
        for (int64_t i = b * QK_K; i < (b + 1) * QK_K; i++)
            if (!(fabsf(y[i] - x[i]) <= 2.0f * amax / levels))
                fail_msg("%s [%lld]: %.9g round trips to %.9g (amax %g)", info->name, (long long)i, x[i], y[i], amax);
    }
    free(q), free(y);
}

/* Quantizing what llama.cpp's blocks dequantize to, and random data of
 * several shapes (uniform with varied scales, bell-shaped, small values
 * with large outliers, all zero), stays within the bound. */
static void test_kquant_round_trip(void **state) {
    (void)state;
    static const uint32_t types[] = {LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
    static const char *const names[] = {"q4_k.f32", "q5_k.f32", "q6_k.f32"};
    gguf_file f;
    open_model(&f, "quant-conformance.gguf");
    for (int t = 0; t < 3; t++) {
        const gguf_tensor *w = gguf_find_tensor(&f, names[t]);
        assert_non_null(w);
        check_kquant_round_trip(types[t], w->data, (int64_t)n_elements(w));
    }
    gguf_close(&f);

    rng_state = 0x853c49e6748fea9bu;
    const int64_t n = QK_K * 64;
    float *x = xmalloc((size_t)n * sizeof *x);
    for (int shape = 0; shape < 4; shape++) {
        for (int64_t i = 0; i < n; i++) {
            float u = rnd_unit();
            if (shape == 0) x[i] = u * (float)(1 + i / 32 % 7);
            if (shape == 1) x[i] = (u + rnd_unit() + rnd_unit() + rnd_unit()) * 0.01f * (float)(1 + i / QK_K % 5);
            if (shape == 2) x[i] = i % 97 == 0 ? u * 2.0f : u * 0.01f;
            if (shape == 3) x[i] = 0.0f;
        }
        for (int t = 0; t < 3; t++) check_kquant_round_trip(types[t], x, n);
    }
    free(x);
}

/* Hostile values (NaN, infinities, huge and subnormal numbers) in one
 * super-block quantize without undefined behaviour (the sanitizer build
 * checks) and leave the next super-block's bytes as they are alone. */
static void test_kquant_hostile(void **state) {
    (void)state;
    static const uint32_t types[] = {LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
    static const float special[] = {NAN, INFINITY, -INFINITY, 3e38f, -3e38f, 1e-45f, -2e-42f, 0.0f};
    rng_state = 0x94d049bb133111ebu;
    float *x = rnd_floats(2 * QK_K);
    for (int i = 0; i < QK_K; i++) x[i] = i % 3 ? special[i / 3 % 8] : x[i];
    for (int t = 0; t < 3; t++) {
        size_t bs = llm_dtype(types[t])->size;
        unsigned char *both = xmalloc(2 * bs), *alone = xmalloc(bs);
        quantize(types[t], x, both, 2 * QK_K);
        quantize(types[t], x + QK_K, alone, QK_K);
        assert_memory_equal(both + bs, alone, bs);
        free(both), free(alone);
    }
    free(x);
}

/* ------------------------------------------------------------ quantizers */

/* Hand-checked blocks: the reference rounds halves away from zero (Q8_0)
 * and truncates x/d + 8.5 (Q4_0). amax 127 makes d = 1, so x/d = x. */
static void test_rounding(void **state) {
    (void)state;
    float x[32] = {127.0f, 0.5f, -0.5f, 2.5f, -2.5f, 1.49f, -126.5f};
    block_q8_0 q8;
    llm_quantize_row_q8_0(x, &q8, 32);
    assert_int_equal(q8.d, llm_f32_to_f16(1.0f));
    int8_t want8[7] = {127, 1, -1, 3, -3, 1, -127};
    assert_memory_equal(q8.qs, want8, sizeof want8);

    /* max = -16 gives d = 2: x/d + 8.5 truncated, capped at 15. */
    float y[32] = {-16.0f, 16.0f, 15.0f, 1.0f, -1.0f, 0.9f};
    block_q4_0 q4;
    llm_quantize_row_q4_0(y, &q4, 32);
    assert_true(llm_f16_to_f32(q4.d) == 2.0f);
    uint8_t want4[6] = {0, 15, 15, 9, 8, 8};
    for (int j = 0; j < 6; j++) assert_int_equal(q4.qs[j] & 0x0f, want4[j]);
    assert_int_equal(q4.qs[0] >> 4, 8); /* element 16 is 0 */
}

/* Round trips stay within half a step, up to the two further roundings:
 * the scale is stored as fp16 (each quant q moves by |q| * |d - fp16(d)|)
 * and x * (1/d) is a float product (relative 2^-23 of |x/d| <= 128, which
 * the 1e-4 d slack covers). Q4_0's cap at 15 moves the largest elements of
 * the sign opposite to max by up to one whole step. */
static void test_round_trip(void **state) {
    (void)state;
    rng_state = 0x9e3779b97f4a7c15u;
    const int64_t n = 32 * 512;
    float *x = rnd_floats(n), *y = xmalloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) x[i] *= (float)(1 + i / 32 % 7); /* varied scales */
    block_q8_0 *q8 = xmalloc((size_t)(n / 32) * sizeof *q8);
    block_q4_0 *q4 = xmalloc((size_t)(n / 32) * sizeof *q4);
    llm_quantize_row_q8_0(x, q8, n);
    llm_dequantize_row_q8_0(q8, y, n);
    for (int64_t i = 0; i < n; i++) {
        const float *xb = x + i / 32 * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127, d16 = llm_f16_to_f32(q8[i / 32].d);
        int q = q8[i / 32].qs[i % 32];
        assert_true(fabsf(x[i] - y[i]) <= d * (0.5f + 1e-4f) + (float)abs(q) * fabsf(d - d16));
    }
    llm_quantize_row_q4_0(x, q4, n);
    llm_dequantize_row_q4_0(q4, y, n);
    int capped = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xb = x + i / 32 * 32;
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (fabsf(xb[j]) > amax) amax = fabsf(xb[j]), max = xb[j];
        float d = max / -8, d16 = llm_f16_to_f32(q4[i / 32].d);
        int j = (int)(i % 32);
        int q = (j < 16 ? q4[i / 32].qs[j] & 0x0f : q4[i / 32].qs[j - 16] >> 4) - 8;
        float step = x[i] / d > 7.5f ? 1.0f : 0.5f;
        capped += step == 1.0f;
        assert_true(fabsf(x[i] - y[i]) <= fabsf(d) * (step + 1e-4f) + (float)abs(q) * fabsf(d - d16));
    }
    assert_true(capped > 0); /* the cap case did occur */
    free(x), free(y), free(q8), free(q4);
}

/* ------------------------------------------------------------ kernel sets */

static void test_selection(void **state) {
    (void)state;
    const llm_kernels *const *all = llm_kernels_all();
    const llm_kernels *scalar = llm_kernels_get("scalar");
    assert_non_null(scalar);
    assert_string_equal(scalar->name, "scalar");
    assert_null(llm_kernels_get("bogus"));

    unsetenv("LLM_KERNELS");
    const llm_kernels *best = NULL;
    int n = 0, has_scalar = 0;
    for (const llm_kernels *const *k = all; *k; k++, n++) {
        has_scalar += *k == scalar;
        for (const llm_kernels *const *o = all; o < k; o++) assert_string_not_equal((*o)->name, (*k)->name);
        if (!best && llm_kernels_get((*k)->name)) best = *k;
        assert_true(!llm_kernels_get((*k)->name) || llm_kernels_get((*k)->name) == *k);
    }
    assert_true(n >= 1);
    assert_int_equal(has_scalar, 1);
    assert_ptr_equal(llm_kernels_get(NULL), best);     /* best first */
    assert_ptr_equal(llm_kernels_get("auto"), best);

    setenv("LLM_KERNELS", "scalar", 1);
    assert_ptr_equal(llm_kernels_get(NULL), scalar);
    assert_ptr_equal(llm_kernels_get("auto"), scalar);
    assert_ptr_equal(llm_kernels_get(best->name), best); /* explicit names ignore it */
    setenv("LLM_KERNELS", "bogus", 1);
    assert_null(llm_kernels_get(NULL));
    setenv("LLM_KERNELS", "", 1);
    assert_ptr_equal(llm_kernels_get(NULL), best);
    unsetenv("LLM_KERNELS");
}

static const int64_t block_lengths[] = {32, 64, 96, 288, 768, 2048, 5632};
/* Not a multiple of any SIMD width: every tail path runs. */
static const int64_t odd_lengths[] = {1, 7, 31, 33, 100, 1023};

/* Tolerance. Both results are float sums of the same products (exact
 * per-block integers for the quantized types) in different orders, so
 * each differs from the exact sum by at most about n * 2^-24 * sum|w*x|
 * in the worst case; with random signs the error grows like sqrt(n), and
 * for n <= 5632 it stays well under 1e-5 * sum|w*x|, the bound checked.
 * sum|w*x| is computed in double from the values the kernels see. */
static void expect_close(const char *set, const char *fn, int64_t n, float got, float ref, double abs_sum) {
    if (fabs((double)got - (double)ref) > 1e-5 * abs_sum)
        fail_msg("%s %s n=%lld: %.9g, scalar %.9g (sum|wx| %.9g)", set, fn, (long long)n, got, ref, abs_sum);
}

/* The float types, each weight row starting one element off alignment
 * so that unaligned loads are exercised; buffers are exactly n long so
 * that any over-read is caught by the address sanitizer. */
static void check_float_dots(const llm_kernels *k, const llm_kernels *ref, int64_t n) {
    float *x = rnd_floats(n), *w = rnd_floats(n + 1);
    uint16_t *h = xmalloc((size_t)(n + 1) * sizeof *h), *b = xmalloc((size_t)(n + 1) * sizeof *b);
    double s32 = 0, s16 = 0, sb16 = 0;
    for (int64_t i = 0; i < n + 1; i++) {
        h[i] = llm_f32_to_f16(w[i]);
        b[i] = llm_f32_to_bf16(w[i]);
    }
    for (int64_t i = 0; i < n; i++) {
        s32 += fabs((double)w[i + 1] * x[i]);
        s16 += fabs((double)llm_f16_to_f32(h[i + 1]) * x[i]);
        sb16 += fabs((double)llm_bf16_to_f32(b[i + 1]) * x[i]);
    }
    expect_close(k->name, "dot_f32", n, k->dot[LLM_DT_F32](n, w + 1, x), ref->dot[LLM_DT_F32](n, w + 1, x), s32);
    expect_close(k->name, "dot_f16", n, k->dot[LLM_DT_F16](n, h + 1, x), ref->dot[LLM_DT_F16](n, h + 1, x), s16);
    expect_close(k->name, "dot_bf16", n, k->dot[LLM_DT_BF16](n, b + 1, x), ref->dot[LLM_DT_BF16](n, b + 1, x), sb16);
    free(x), free(w), free(h), free(b);
}

/* Random weight blocks over the formats' whole ranges, -128 included (the
 * reference quantizer never writes it, but a file may hold it), with
 * random scales; activations through the reference quantizer. */
static void check_quant_dots(const llm_kernels *k, const llm_kernels *ref, int64_t n) {
    int64_t nb = n / 32;
    float *x = rnd_floats(n), *wf = xmalloc((size_t)n * sizeof *wf), *xf = xmalloc((size_t)n * sizeof *xf);
    block_q8_0 *xq = xmalloc((size_t)nb * sizeof *xq), *w8 = xmalloc((size_t)nb * sizeof *w8);
    block_q4_0 *w4 = xmalloc((size_t)nb * sizeof *w4);
    ref->quantize_act(x, xq, n);
    for (int64_t b = 0; b < nb; b++) {
        w8[b].d = llm_f32_to_f16(rnd_unit() / 64);
        w4[b].d = llm_f32_to_f16(rnd_unit() / 4);
        for (int j = 0; j < 32; j++) w8[b].qs[j] = (int8_t)(rnd() >> 24);
        for (int j = 0; j < 16; j++) w4[b].qs[j] = (uint8_t)(rnd() >> 24);
    }
    llm_dequantize_row_q8_0(xq, xf, n);
    double s8 = 0, s4 = 0;
    llm_dequantize_row_q8_0(w8, wf, n);
    for (int64_t i = 0; i < n; i++) s8 += fabs((double)wf[i] * xf[i]);
    llm_dequantize_row_q4_0(w4, wf, n);
    for (int64_t i = 0; i < n; i++) s4 += fabs((double)wf[i] * xf[i]);
    expect_close(k->name, "dot_q8_0", n, k->dot[LLM_DT_Q8_0](n, w8, xq), ref->dot[LLM_DT_Q8_0](n, w8, xq), s8);
    expect_close(k->name, "dot_q4_0", n, k->dot[LLM_DT_Q4_0](n, w4, xq), ref->dot[LLM_DT_Q4_0](n, w4, xq), s4);
    free(x), free(wf), free(xf), free(xq), free(w8), free(w4);
}

/* quantize_act's bytes equal the reference quantizer's. */
static void check_quantize_act(const llm_kernels *k, const float *x, int64_t n) {
    int64_t nb = n / 32;
    block_q8_0 *got = xmalloc((size_t)nb * sizeof *got), *want = xmalloc((size_t)nb * sizeof *want);
    k->quantize_act(x, got, n);
    llm_quantize_row_q8_0(x, want, n);
    for (int64_t b = 0; b < nb; b++)
        if (memcmp(&got[b], &want[b], sizeof got[b]) != 0) fail_msg("%s quantize_act n=%lld: block %lld differs", k->name, (long long)n, (long long)b);
    free(got), free(want);
}

/* Blocks that take every rounding and clamping path: exact halves (amax
 * 127 makes x * (1/d) = x), zeros, NaN and infinities, subnormals whose
 * scale's inverse overflows, values of very different magnitudes. */
static float *edge_activations(int64_t *n) {
    static const float special[][4] = {
        {127.0f, 0.5f, -0.5f, 2.5f},   {-126.5f, 1.5f, -1.5f, 0.0f},
        {0.0f, -0.0f, 0.0f, 0.0f},     {NAN, 1.0f, -2.0f, 3.0f},
        {INFINITY, 1.0f, -1.0f, 0.0f}, {-INFINITY, NAN, 5.0f, 0.0f},
        {1e-44f, -3e-45f, 1e-45f, 0},  {2e-42f, 1.5e-42f, -2e-42f, 7e-43f},
        {1e30f, -1e-30f, 3e29f, 0},    {-1.0f, 1e-8f, 0.25f, 1.0f},
    };
    int64_t nb = (int64_t)(sizeof special / sizeof special[0]);
    *n = nb * 32;
    float *x = rnd_floats(*n);
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 32; j++) x[b * 32 + j] = special[b][j % 4] * (j < 4 ? 1.0f : (float)(j % 3) * 0.5f);
    return x;
}

/* ------------------------------------------------------------ K-quant dots */

typedef float (*kdot_fn)(int64_t n, const void *w, const void *xq);

static const uint32_t ktypes[] = {LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
/* One super-block up to the longest rows of the models at hand. */
static const int64_t kquant_lengths[] = {256, 512, 768, 2816, 5632};

static kdot_fn kdot(const llm_kernels *k, uint32_t type) {
    return type == LLM_DT_Q4_K ? k->dot[LLM_DT_Q4_K] : type == LLM_DT_Q5_K ? k->dot[LLM_DT_Q5_K] : k->dot[LLM_DT_Q6_K];
}

/* Byte offsets of a super-block's fp16 d and (Q4_K, Q5_K) dmin. */
static size_t kquant_d_offset(uint32_t type) {
    return type == LLM_DT_Q6_K ? offsetof(block_q6_K, d) : type == LLM_DT_Q5_K ? offsetof(block_q5_K, d) : offsetof(block_q4_K, d);
}

static size_t kquant_dmin_offset(uint32_t type) {
    return type == LLM_DT_Q5_K ? offsetof(block_q5_K, dmin) : offsetof(block_q4_K, dmin);
}

/* n / 256 super-blocks of random bytes (every quant, sub-block scale and
 * min in its full range), with the fp16 scales kept finite: their top
 * exponent bit, in the high byte, cleared. */
static unsigned char *rnd_kquant(uint32_t type, int64_t n) {
    size_t bs = llm_dtype(type)->size, size = (size_t)(n / QK_K) * bs;
    unsigned char *w = xmalloc(size);
    for (size_t i = 0; i < size; i++) w[i] = (unsigned char)(rnd() >> 24);
    for (size_t b = 0; b < size / bs; b++) {
        w[b * bs + kquant_d_offset(type) + 1] &= 0xbf;
        if (type != LLM_DT_Q6_K) w[b * bs + kquant_dmin_offset(type) + 1] &= 0xbf;
    }
    return w;
}

/* n random activations, of a different size in each block, quantized by
 * the set's quantize_act; xf gets the blocks dequantized. */
static block_q8_0 *rnd_act(const llm_kernels *k, int64_t n, float *xf) {
    float *x = rnd_floats(n);
    for (int64_t i = 0; i < n; i++) x[i] *= (float)(1 + i / 32 % 7);
    block_q8_0 *xq = xmalloc((size_t)(n / QK8_0) * sizeof *xq);
    k->quantize_act(x, xq, n);
    llm_dequantize_row_q8_0(xq, xf, n);
    free(x);
    return xq;
}

/* The size of the terms a K-quant dot adds up, in double: the sum over
 * elements of |x_i| (|d sc q_i| + |dmin m|) for Q4_K and Q5_K, whose dots
 * sum the scale and the min parts apart (the two parts are the
 * dequantization of copies with dmin, or d, zeroed), and of |w_i x_i| for
 * Q6_K. Every partial sum of any summation order is at most this. */
static double kquant_magnitude(uint32_t type, const unsigned char *w, const float *xf, int64_t n) {
    size_t bs = llm_dtype(type)->size, size = (size_t)(n / QK_K) * bs;
    float *part = xmalloc((size_t)n * sizeof *part);
    double mag = 0.0;
    for (int zero = 0; zero < (type == LLM_DT_Q6_K ? 1 : 2); zero++) {
        unsigned char *c = xmalloc(size);
        memcpy(c, w, size);
        for (size_t b = 0; b < size / bs && type != LLM_DT_Q6_K; b++)
            memset(c + b * bs + (zero ? kquant_d_offset(type) : kquant_dmin_offset(type)), 0, sizeof(uint16_t));
        dequantize(type, c, part, n);
        for (int64_t i = 0; i < n; i++) mag += fabs((double)part[i] * xf[i]);
        free(c);
    }
    free(part);
    return mag;
}

/* The set's K-quant dots against the scalar reference's, on random
 * super-blocks and activations: both add the same exact integer sums
 * under float scales in different orders and groupings, so they agree to
 * 1e-5 of kquant_magnitude (expect_close's bound, argued there). */
static void check_kquant_dots(const llm_kernels *k, const llm_kernels *ref, int64_t n) {
    float *xf = xmalloc((size_t)n * sizeof *xf);
    block_q8_0 *xq = rnd_act(k, n, xf);
    for (size_t t = 0; t < sizeof ktypes / sizeof ktypes[0]; t++) {
        unsigned char *w = rnd_kquant(ktypes[t], n);
        char fn[16];
        snprintf(fn, sizeof fn, "dot_%s", llm_type_name(ktypes[t]));
        expect_close(k->name, fn, n, kdot(k, ktypes[t])(n, w, xq), kdot(ref, ktypes[t])(n, w, xq),
                     kquant_magnitude(ktypes[t], w, xf, n));
        assert_true(kdot(k, ktypes[t])(0, w, xq) == 0.0f);
        free(w);
    }
    free(xf), free(xq);
}

/* The scalar K-quant dots are the product of the dequantized row with the
 * dequantized activations: dot_f32 of the two agrees to 1e-5 of
 * kquant_magnitude. dot_f32 rounds each product and each of n additions,
 * the reference a few operations per block, so the difference is a sum of
 * roundings of at most 2^-24 of terms that kquant_magnitude bounds; with
 * random signs it grows like sqrt(n), measured below 1e-6 for these
 * lengths. */
static void test_kquant_dots(void **state) {
    (void)state;
    const llm_kernels *k = llm_kernels_get("scalar");
    rng_state = 0xda942042e4dd58b5u;
    for (size_t i = 0; i < sizeof kquant_lengths / sizeof kquant_lengths[0]; i++) {
        int64_t n = kquant_lengths[i];
        float *xf = xmalloc((size_t)n * sizeof *xf), *wf = xmalloc((size_t)n * sizeof *wf);
        block_q8_0 *xq = rnd_act(k, n, xf);
        for (size_t t = 0; t < sizeof ktypes / sizeof ktypes[0]; t++) {
            unsigned char *w = rnd_kquant(ktypes[t], n);
            dequantize(ktypes[t], w, wf, n);
            float got = kdot(k, ktypes[t])(n, w, xq), want = k->dot[LLM_DT_F32](n, wf, xf);
            double mag = kquant_magnitude(ktypes[t], w, xf, n);
            if (!(fabs((double)got - want) <= 1e-5 * mag))
                fail_msg("%s n=%lld: dot %.9g, dot_f32 of the dequantized rows %.9g (magnitude %.9g)",
                         llm_type_name(ktypes[t]), (long long)n, got, want, mag);
            free(w);
        }
        free(xf), free(wf), free(xq);
    }
}

/* f16_to_f32 gives llm_f16_to_f32's value, bit for bit (a NaN only as a
 * NaN), for every one of the 65536 halves, from any element offset and
 * for lengths that leave a tail past the last whole vector. */
static void check_f16_to_f32(const llm_kernels *k) {
    enum { ALL = 65536 };
    uint16_t *h = xmalloc(sizeof(uint16_t) * (ALL + 1));
    float *got = xmalloc(sizeof(float) * (ALL + 1));
    for (int i = 0; i <= ALL; i++) h[i] = (uint16_t)(i * 40503u);
    static const int64_t lengths[] = {0, 1, 7, 15, 17, 33, 100, ALL};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
        for (int off = 0; off < 2 && off + lengths[l] <= ALL + 1; off++) {
            int64_t n = lengths[l];
            for (int64_t i = 0; i <= n && i <= ALL - off; i++) got[i] = -1.0f;
            k->f16_to_f32(n, h + off, got);
            for (int64_t i = 0; i < n; i++) {
                float want = llm_f16_to_f32(h[off + i]);
                if (isnan(want) ? !isnan(got[i]) : memcmp(&want, &got[i], sizeof want) != 0)
                    fail_msg("%s f16_to_f32 n=%lld: element %lld (0x%04x) is %g, want %g", k->name, (long long)n,
                             (long long)i, h[off + i], (double)got[i], (double)want);
            }
            if (n < ALL && got[n] != -1.0f) fail_msg("%s f16_to_f32 n=%lld wrote past the end", k->name, (long long)n);
        }
    free(h), free(got);
}

static void test_sets_against_scalar(void **state) {
    (void)state;
    const llm_kernels *ref = llm_kernels_get("scalar");
    int tested = 0;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k) continue; /* compiled in, but this CPU cannot run it */
        rng_state = 0x2545f4914f6cdd1du;
        for (size_t i = 0; i < sizeof block_lengths / sizeof block_lengths[0]; i++) {
            int64_t n = block_lengths[i];
            check_float_dots(k, ref, n);
            check_quant_dots(k, ref, n);
            float *x = rnd_floats(n);
            for (int64_t j = 0; j < n; j++) x[j] *= (float)(1 + j % 5) * 10.0f;
            check_quantize_act(k, x, n);
            free(x);
        }
        for (size_t i = 0; i < sizeof odd_lengths / sizeof odd_lengths[0]; i++) check_float_dots(k, ref, odd_lengths[i]);
        for (size_t i = 0; i < sizeof kquant_lengths / sizeof kquant_lengths[0]; i++)
            check_kquant_dots(k, ref, kquant_lengths[i]);
        int64_t n;
        float *edge = edge_activations(&n);
        check_quantize_act(k, edge, n);
        free(edge);
        check_f16_to_f32(k);
        tested++;
    }
    assert_true(tested >= 1);
}

/* One random row of n weights of a quantized type (any bytes, the fp16
 * scales finite: Q8_0/Q4_0 as check_quant_dots makes them, K-quants as
 * rnd_kquant) and the size of the terms its dot products add up with
 * the dequantized activations xf (expect_close's sum |w x|;
 * kquant_magnitude for the K-quants). */
static unsigned char *rnd_quant_row(uint32_t type, int64_t n, const float *xf, double *mag) {
    if (type == LLM_DT_Q4_K || type == LLM_DT_Q5_K || type == LLM_DT_Q6_K) {
        unsigned char *w = rnd_kquant(type, n);
        *mag = kquant_magnitude(type, w, xf, n);
        return w;
    }
    size_t bs = llm_dtype(type)->size;
    unsigned char *w = xmalloc((size_t)(n / 32) * bs);
    float *wf = xmalloc((size_t)n * sizeof *wf);
    for (int64_t b = 0; b < n / 32; b++) {
        uint16_t d = llm_f32_to_f16(rnd_unit() / (type == LLM_DT_Q8_0 ? 64 : 4));
        memcpy(w + b * bs, &d, sizeof d);
        for (size_t j = sizeof d; j < bs; j++) w[b * bs + j] = (unsigned char)(rnd() >> 24);
    }
    dequantize(type, w, wf, n);
    *mag = 0.0;
    for (int64_t i = 0; i < n; i++) *mag += fabs((double)wf[i] * xf[i]);
    free(wf);
    return w;
}

/* A set's gemv (kernels.h) against the scalar dot products, row by row:
 * the same exact integer sums, float steps in another order, so within
 * 1e-5 of each row's sum of terms (expect_close's bound). The rows lie
 * 2 bytes more than a row apart (blocks need only their fp16's
 * alignment), the last one ending the buffer. */
static void check_gemv(const llm_kernels *k, const llm_kernels *ref, uint32_t type, int64_t n, int nr) {
    size_t row = (size_t)(n / llm_dtype(type)->blck) * llm_dtype(type)->size, stride = row + 2;
    unsigned char *w = xmalloc(stride * (size_t)(nr - 1) + row);
    float *xf = xmalloc((size_t)n * sizeof *xf), *out = xmalloc((size_t)nr * sizeof *out);
    double *mag = xmalloc((size_t)nr * sizeof *mag);
    block_q8_0 *xq = rnd_act(k, n, xf);
    for (int r = 0; r < nr; r++) {
        unsigned char *q = rnd_quant_row(type, n, xf, &mag[r]);
        memcpy(w + (size_t)r * stride, q, row);
        free(q);
    }
    void *scratch = xmalloc(k->gemv_scratch_size());
    k->gemv(type, n, w, stride, nr, xq, out, scratch);
    free(scratch);
    float (*dot)(int64_t, const void *, const void *) =
        type == LLM_DT_Q8_0 ? ref->dot[LLM_DT_Q8_0] : type == LLM_DT_Q4_0 ? ref->dot[LLM_DT_Q4_0] : kdot(ref, type);
    for (int r = 0; r < nr; r++) {
        char fn[48];
        snprintf(fn, sizeof fn, "gemv %s row %d of %d", llm_type_name(type), r, nr);
        expect_close(k->name, fn, n, out[r], dot(n, w + (size_t)r * stride, xq), mag[r]);
    }
    free(w), free(xf), free(out), free(mag), free(xq);
}

static void test_gemv(void **state) {
    (void)state;
    static const uint32_t types[] = {LLM_DT_Q8_0, LLM_DT_Q4_0, LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
    static const int64_t lengths[] = {256, 2048, 5632};
    static const int rows[] = {1, 3, 4, 5, 16, 17};
    const llm_kernels *ref = llm_kernels_get("scalar");
    int tested = 0;
    rng_state = 0x6a09e667f3bcc909u;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k || !k->gemv) continue;
        tested++;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
                for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) check_gemv(k, ref, types[t], lengths[i], rows[r]);
            if (types[t] == LLM_DT_Q8_0 || types[t] == LLM_DT_Q4_0) /* block counts 1-17: pairs of groups, a group, a part */
                for (int64_t n = 32; n <= 544; n += 32) check_gemv(k, ref, types[t], n, 3);
            check_gemv(k, ref, types[t], 16384 + 768, 2); /* rows longer than one activation segment */
        }
    }
    if (!tested) skip(); /* no kernel set with a gemv on this CPU: nothing was tested */
}

/* A set's gemv_multi (kernels.h) against its gemv a vector at a time:
 * bit for bit, for nv vectors of blocks x_stride bytes apart (one block
 * more than a vector's) and outputs out_stride floats apart. */
static void check_gemv_multi(const llm_kernels *k, uint32_t type, int64_t n, int nr, int nv) {
    size_t row = (size_t)(n / llm_dtype(type)->blck) * llm_dtype(type)->size, stride = row + 2;
    size_t x_stride = (size_t)(n / QK8_0 + 1) * sizeof(block_q8_0), out_stride = (size_t)nr + 3;
    unsigned char *w = xmalloc(stride * (size_t)(nr - 1) + row), *xq = xmalloc(x_stride * (size_t)nv);
    float *xf = xmalloc((size_t)n * sizeof *xf);
    float *out = xmalloc(out_stride * (size_t)nv * sizeof *out), *one = xmalloc((size_t)nr * sizeof *one);
    for (int v = 0; v < nv; v++) {
        block_q8_0 *x = rnd_act(k, n, xf);
        memcpy(xq + (size_t)v * x_stride, x, (size_t)(n / QK8_0) * sizeof(block_q8_0));
        free(x);
    }
    for (int r = 0; r < nr; r++) {
        double mag;
        unsigned char *q = rnd_quant_row(type, n, xf, &mag);
        memcpy(w + (size_t)r * stride, q, row);
        free(q);
    }
    void *scratch = xmalloc(k->gemv_scratch_size());
    k->gemv_multi(type, n, w, stride, nr, xq, x_stride, nv, out, out_stride, scratch);
    for (int v = 0; v < nv; v++) {
        k->gemv(type, n, w, stride, nr, xq + (size_t)v * x_stride, one, scratch);
        if (memcmp(one, out + (size_t)v * out_stride, (size_t)nr * sizeof *one))
            fail_msg("%s gemv_multi %s n %lld, %d vectors: vector %d differs from gemv's", k->name,
                     llm_type_name(type), (long long)n, nv, v);
    }
    free(scratch), free(w), free(xq), free(xf), free(out), free(one);
}

static void test_gemv_multi(void **state) {
    (void)state;
    static const uint32_t types[] = {LLM_DT_Q8_0, LLM_DT_Q4_0, LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
    static const int64_t lengths[] = {96, 256, 2048, 5632, 16384 + 768};
    int tested = 0;
    rng_state = 0x510e527fade682d1u;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k || !k->gemv_multi) continue;
        tested++;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
                if (lengths[i] % llm_dtype(types[t])->blck) continue;
                for (int nv = 1; nv <= LLM_GEMV_VECS; nv++) check_gemv_multi(k, types[t], lengths[i], 5, nv);
            }
    }
    if (!tested) skip(); /* no kernel set with a gemv_multi on this CPU: nothing was tested */
}

/* The batched products (kernels.h: gemm) against a double-precision sum
 * over the weights and activations as the products see them (quantized
 * types: dequantized weights and Q8_0 activations; F16/BF16: the weights
 * and the float activations), for row counts around the 16-row panel and
 * vector counts around the tiles. Quantized types: the integer sums are
 * exact, the float steps (per block a scale, an activation scale, an add,
 * and a min term for Q4_K/Q5_K) may each round, so the bound is 1e-5 of
 * sum_i (|w_i| + max |w|) |x_i| (a max |w| per element covers the min
 * term's own size). F16/BF16 run on bf16 products (gemm_bf16.c): weights
 * and activations rounded to 8 significant bits (each by at most 2^-8 of
 * itself), so 2^-7 of sum |w_i x_i|. */
static bool is_float16(uint32_t type) { return type == LLM_DT_F16 || type == LLM_DT_BF16; }

/* nr random rows of n weights of type in w (row bytes apart) and, in wf,
 * their values. */
static void random_weights(uint32_t type, int64_t n, int nr, char *w, size_t row, float *wf) {
    for (int r = 0; r < nr; r++) {
        float *x = rnd_floats(n), *y = wf + (size_t)r * (size_t)n;
        void *q = w + (size_t)r * row;
        uint16_t *h = q;
        for (int64_t i = 0; i < n && is_float16(type); i++) {
            h[i] = type == LLM_DT_F16 ? llm_f32_to_f16(x[i]) : llm_f32_to_bf16(x[i]);
            y[i] = type == LLM_DT_F16 ? llm_f16_to_f32(h[i]) : llm_bf16_to_f32(h[i]);
        }
        if (type == LLM_DT_Q8_0) llm_quantize_row_q8_0(x, q, n);
        else if (type == LLM_DT_Q4_0) llm_quantize_row_q4_0(x, q, n);
        else if (!is_float16(type)) quantize(type, x, q, n);
        if (!is_float16(type)) dequantize(type, q, y, n);
        free(x);
    }
}

static void check_gemm(const llm_kernels *k, uint32_t type, int64_t n, int nr, int nt) {
    size_t row = (size_t)(n / llm_dtype(type)->blck) * llm_dtype(type)->size;
    size_t xrow = is_float16(type) ? (size_t)n * sizeof(float) : (size_t)(n / QK8_0) * sizeof(block_q8_0);
    char *w = xmalloc(row * (size_t)nr), *x = xmalloc(xrow * (size_t)nt);
    float *wf = xmalloc((size_t)n * (size_t)nr * sizeof(float)), *xf = xmalloc((size_t)n * (size_t)nt * sizeof(float));
    float *out = xmalloc((size_t)nr * (size_t)nt * sizeof(float));
    void *act = xmalloc(k->gemm_act_size(n, nt)), *scratch = xmalloc(k->gemm_scratch_size(n));
    for (int t = 0; t < nt; t++) {
        float *v = rnd_floats(n), *dst = xf + (size_t)t * (size_t)n;
        if (is_float16(type)) {
            memcpy(x + (size_t)t * xrow, v, xrow);
            memcpy(dst, v, xrow);
        } else {
            k->quantize_act(v, x + (size_t)t * xrow, n);
            llm_dequantize_row_q8_0((const block_q8_0 *)(x + (size_t)t * xrow), dst, n);
        }
        free(v);
    }
    random_weights(type, n, nr, w, row, wf);
    k->gemm_act(type, n, x, xrow, nt, 0, nt / 2, act);
    k->gemm_act(type, n, x, xrow, nt, nt / 2, nt, act);
    for (int i = 0; i < nr * nt; i++) out[i] = NAN;
    k->gemm(type, n, w, row, nr, act, nt, out, (size_t)nr, scratch);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) {
            const float *wr = wf + (size_t)r * (size_t)n, *xt = xf + (size_t)t * (size_t)n;
            double ref = 0.0, mag = 0.0, wmax = 0.0;
            for (int64_t i = 0; i < n; i++) wmax = fmax(wmax, fabs(wr[i]));
            for (int64_t i = 0; i < n; i++) {
                ref += (double)wr[i] * xt[i];
                mag += (fabs(wr[i]) + (is_float16(type) ? 0.0 : wmax)) * fabs(xt[i]);
            }
            double bound = (is_float16(type) ? 1.0 / 128 : 1e-5) * mag;
            float got = out[t * nr + r];
            if (!(fabs(got - ref) <= bound))
                fail_msg("%s gemm %s n %lld, %d x %d: out[%d][%d] %.9g, reference %.9g (bound %.3g)", k->name,
                         llm_type_name(type), (long long)n, nr, nt, t, r, got, ref, bound);
        }
    free(w), free(x), free(wf), free(xf), free(out), free(act), free(scratch);
}

static void test_gemm(void **state) {
    (void)state;
    static const uint32_t types[] = {LLM_DT_Q8_0, LLM_DT_Q4_0, LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K, LLM_DT_F16, LLM_DT_BF16};
    static const int64_t lengths[] = {256, 768, 2048, 5632};
    static const int rows[] = {1, 5, 16, 17, 40};
    static const int vectors[] = {1, 2, 7, 8, 9, 13, 24};
    int tested = 0;
    rng_state = 0x9e3779b97f4a7c15u;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k || !k->gemm) continue;
        for (size_t ty = 0; ty < sizeof types / sizeof types[0]; ty++) {
            if (!k->gemm_takes(types[ty])) continue;
            tested++;
            for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
                for (size_t a = 0; a < sizeof rows / sizeof rows[0]; a++)
                    for (size_t b = (i + a) % 3; b < sizeof vectors / sizeof vectors[0]; b += 3)
                        check_gemm(k, types[ty], lengths[i], rows[a], vectors[b]);
        }
        check_gemm(k, LLM_DT_Q4_0, 96, 3, 5); /* blocks not a multiple of 256 */
        check_gemm(k, LLM_DT_Q8_0, 32, 16, 1);
        if (k->gemm_takes(LLM_DT_F16)) /* odd lengths */
            for (int64_t n = 1; n < 40; n += 3) check_gemm(k, n % 2 ? LLM_DT_F16 : LLM_DT_BF16, n, 3, 13);
    }
    if (!tested) skip(); /* no kernel set with batched products on this CPU */
}

/* llm_matmul_many over products sharing their activations (q/k/v,
 * gate/up; types mixed as in Q4_K_M) gives bit for bit what each product
 * gives alone, in every set, on one thread and on a pool of 2, for batches
 * on the dot products (1..5 vectors) and past them (8 and 40 vectors,
 * where it runs them one by one); row counts not multiples of the 4-row
 * tiles too. */
static void check_many(const llm_kernels *k, llm_pool *pool, const uint32_t *types, const int *rows, int m, int64_t n_in) {
    static const int batches[] = {1, 2, 3, 5, 8, 40};
    llm_compute mc;
    llm_error err;
    if (llm_compute_init(&mc, pool, k, 40, n_in, &err) != LLM_OK) fail_msg("%s", err.msg);
    llm_tensor w[LLM_MATMUL_MAX];
    float *one[LLM_MATMUL_MAX], *all[LLM_MATMUL_MAX];
    llm_product p[LLM_MATMUL_MAX];
    float *x = rnd_floats(n_in * 40);
    for (int i = 0; i < m; i++) {
        size_t row = (size_t)(n_in / llm_dtype(types[i])->blck) * llm_dtype(types[i])->size;
        char *data = xmalloc(row * (size_t)rows[i]);
        float *wf = xmalloc((size_t)n_in * (size_t)rows[i] * sizeof *wf);
        random_weights(types[i], n_in, rows[i], data, row, wf);
        free(wf);
        w[i] = (llm_tensor){data, types[i], {n_in, rows[i]}};
        one[i] = xmalloc((size_t)rows[i] * 40 * sizeof(float));
        all[i] = xmalloc((size_t)rows[i] * 40 * sizeof(float));
        p[i] = (llm_product){all[i], &w[i]};
    }
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        int n = batches[b];
        for (int i = 0; i < m; i++) llm_matmul(&mc, one[i], &w[i], x, n);
        llm_matmul_many(&mc, p, m, x, n);
        for (int i = 0; i < m; i++)
            if (memcmp(one[i], all[i], (size_t)rows[i] * (size_t)n * sizeof(float)) != 0)
                fail_msg("%s, %d threads: product %d of %d (%s, %d x %lld) differs from llm_matmul for %d vectors",
                         k->name, llm_pool_size(pool), i, m, llm_type_name(types[i]), rows[i], (long long)n_in, n);
    }
    for (int i = 0; i < m; i++) free((void *)w[i].data), free(one[i]), free(all[i]);
    free(x);
    llm_compute_free(&mc);
}

static void test_matmul_many(void **state) {
    (void)state;
    static const uint32_t types[] = {LLM_DT_F16, LLM_DT_BF16, LLM_DT_Q8_0, LLM_DT_Q4_0, LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
    static const int qkv[] = {64, 16, 16}, odd[] = {37, 9, 21, 6}, gate_up[] = {176, 176};
    llm_pool *pool;
    llm_error err;
    if (llm_pool_new(&pool, 2, &err) != LLM_OK) fail_msg("%s", err.msg);
    rng_state = 0x853c49e6748fea9bu;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k) continue;
        for (int threads = 1; threads <= 2; threads++) {
            llm_pool *pl = threads == 1 ? NULL : pool;
            for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
                uint32_t same[LLM_MATMUL_MAX] = {types[t], types[t], types[t], types[t]};
                check_many(k, pl, same, qkv, 3, 512);
                check_many(k, pl, same, odd, 4, 256);
                check_many(k, pl, same, gate_up, 2, 768);
            }
            /* Q4_K_M's mixture: attn_v and ffn_down in Q6_K; F16 beside Q8_0 (acts differ) */
            check_many(k, pl, (const uint32_t[]){LLM_DT_Q4_K, LLM_DT_Q4_K, LLM_DT_Q6_K}, qkv, 3, 512);
            check_many(k, pl, (const uint32_t[]){LLM_DT_Q8_0, LLM_DT_F16, LLM_DT_Q4_0}, odd, 3, 256);
        }
    }
    llm_pool_free(pool);
}

/* Products of length 0 are 0 in every set. */
static void test_empty(void **state) {
    (void)state;
    float x = 1.0f;
    uint16_t h = 0x3c00;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k) continue;
        assert_true(k->dot[LLM_DT_F32](0, &x, &x) == 0.0f);
        assert_true(k->dot[LLM_DT_F16](0, &h, &x) == 0.0f);
        assert_true(k->dot[LLM_DT_BF16](0, &h, &x) == 0.0f);
        assert_true(k->dot[LLM_DT_Q8_0](0, &x, &x) == 0.0f);
        assert_true(k->dot[LLM_DT_Q4_0](0, &x, &x) == 0.0f);
    }
}

/* ------------------------------------------------------------ K-quant models */

static const int32_t kq_tokens[] = {1, 260, 301, 7, 288, 45, 270, 305, 199, 262};
#define KQ_N_TOKENS ((int)(sizeof kq_tokens / sizeof kq_tokens[0]))

/* Last-token logits after kq_tokens, one llm_decode per token or all in
 * one, with the named kernel set (NULL: the CPU's best). */
static void model_logits(const llm_model *m, const char *kernels, bool one_by_one, float *out) {
    llm_error e = {0};
    llm_ctx_params p = llm_ctx_default_params();
    p.n_ctx = 32;
    p.kernels = kernels;
    llm_ctx *c = llm_ctx_new(m, &p, &e);
    if (!c) fail_msg("llm_ctx_new: %s", e.msg);
    for (int i = 0; i < KQ_N_TOKENS; i += one_by_one ? 1 : KQ_N_TOKENS)
        if (llm_decode(c, kq_tokens + i, one_by_one ? 1 : KQ_N_TOKENS, &e)) fail_msg("llm_decode: %s", e.msg);
    memcpy(out, llm_logits(c), sizeof(float) * FIXTURE_N_VOCAB);
    llm_ctx_free(c);
}

static void quantize_model(const char *in, const char *out, uint32_t type, const llm_quant_rule *rules,
                           size_t n_rules, bool mixture_m) {
    llm_error e = {0};
    llm_quantize_params p = {.type = type, .rules = rules, .n_rules = n_rules, .mixture_m = mixture_m};
    if (llm_quantize_file(in, out, &p, &e)) fail_msg("llm_quantize_file %s: %s", out, e.msg);
}

/* The fixture model of spec, written to path. */
static void write_fixture(const fixture_spec *spec, const char *path) {
    size_t size;
    llm_error e = {0};
    void *img = fixture_build(spec, &size, &e);
    if (!img) fail_msg("fixture_build: %s", e.msg);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(img, 1, size, fp), size);
    assert_int_equal(fclose(fp), 0);
    free(img);
}

static void expect_type(const gguf_file *f, const char *name, uint32_t type) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    assert_non_null(t);
    if (t->type != type) fail_msg("%s is %s, want %s", name, llm_type_name(t->type), llm_type_name(type));
}

/* A model with K-quant matrices (Q4_K, ffn_down Q5_K by a rule, the
 * output head Q6_K as llm_quantize_file gives it with Q4_K; written from a
 * random F32 fixture of dim 256)
 * against the same model dequantized to F32 (llm_quantize_file again).
 * The K-quant products meet Q8_0-quantized activations, the F32 ones the
 * floats, so the logits differ by the activations' rounding: measured up
 * to 0.95% of 1 + max |logit| (a Q8_0 model against its F32
 * dequantization differs as much, 0.92%), bound 3e-2 * (1 + max |logit|)
 * (it was 0, bit for bit, with the scalar set and 1e-4 with the best
 * when the K-quant products took float activations). The best set's
 * K-quant logits are not held closer to the scalar set's: a last-bit
 * difference in an activation can move its Q8_0 quant by one step, which
 * shows downstream at the scale of the rounding itself (measured 0.016
 * here, from sums agreeing to 1e-7). */
static void test_kquant_model(void **state) {
    (void)state;
    char dir[] = "/tmp/libllm-kquant-XXXXXX", src[64], kq[64], deq[64];
    assert_non_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/f32.gguf", dir);
    snprintf(kq, sizeof kq, "%s/kq.gguf", dir);
    snprintf(deq, sizeof deq, "%s/deq.gguf", dir);

    fixture_spec spec = fixture_default();
    spec.dim = 256, spec.ffn = 512, spec.n_head = 4, spec.n_head_kv = 2, spec.n_ctx = 64;
    write_fixture(&spec, src);
    static const llm_quant_rule rules[] = {{"ffn_down", LLM_DT_Q5_K}};
    quantize_model(src, kq, LLM_DT_Q4_K, rules, 1, false);
    quantize_model(kq, deq, LLM_DT_F32, NULL, 0, false);
    llm_error e = {0};
    gguf_file f;
    if (gguf_open(&f, kq, &e)) fail_msg("%s: %s", kq, e.msg);
    expect_type(&f, "token_embd.weight", LLM_DT_Q4_K);
    expect_type(&f, "blk.1.attn_q.weight", LLM_DT_Q4_K);
    expect_type(&f, "blk.1.ffn_down.weight", LLM_DT_Q5_K);
    expect_type(&f, "output.weight", LLM_DT_Q6_K);
    gguf_close(&f);

    llm_model *mk = llm_model_load(kq, NULL, &e);
    if (!mk) fail_msg("load %s: %s", kq, e.msg);
    llm_model *mf = llm_model_load(deq, NULL, &e);
    if (!mf) fail_msg("load %s: %s", deq, e.msg);
    float a[FIXTURE_N_VOCAB], b[FIXTURE_N_VOCAB];
    for (int run = 0; run < 4; run++) {
        const char *kernels = run < 2 ? "scalar" : NULL;
        bool one_by_one = run % 2 == 0;
        model_logits(mk, kernels, one_by_one, a);
        model_logits(mf, kernels, one_by_one, b);
        float max_ref = 0;
        for (int i = 0; i < FIXTURE_N_VOCAB; i++) max_ref = fmaxf(max_ref, fabsf(b[i]));
        for (int i = 0; i < FIXTURE_N_VOCAB; i++)
            if (!(fabsf(a[i] - b[i]) <= 3e-2f * (1.0f + max_ref)))
                fail_msg("%s kernels, %s: logit %d is %.9g with K-quants, %.9g with F32 (max |logit| %g)",
                         kernels ? kernels : "best", one_by_one ? "one by one" : "batch", i, a[i], b[i], max_ref);
    }
    llm_model_free(mk);
    llm_model_free(mf);
    assert_int_equal(unlink(src) | unlink(kq) | unlink(deq) | rmdir(dir), 0);
}

/* Q4_K_M of an 8-layer model: attn_v and ffn_down of layers 0 (the first
 * eighth), 7 (the last) and 3, 6 (every third between) are Q6_K, the
 * other matrices Q4_K but the head (Q6_K); the file type is llama.cpp's
 * MOSTLY_Q4_K_M (15). A mixture of Q8_0 is refused. */
static void test_kquant_mixture(void **state) {
    (void)state;
    char dir[] = "/tmp/libllm-kquant-XXXXXX", src[64], out[64], name[64];
    assert_non_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/f32.gguf", dir);
    snprintf(out, sizeof out, "%s/q4_k_m.gguf", dir);
    fixture_spec spec = fixture_default();
    spec.dim = 256, spec.ffn = 256, spec.n_layer = 8, spec.n_head = 4, spec.n_head_kv = 2;
    write_fixture(&spec, src);
    quantize_model(src, out, LLM_DT_Q4_K, NULL, 0, true);
    llm_error e = {0};
    gguf_file f;
    if (gguf_open(&f, out, &e)) fail_msg("%s: %s", out, e.msg);
    for (int i = 0; i < 8; i++) {
        uint32_t want = i == 0 || i == 3 || i == 6 || i == 7 ? LLM_DT_Q6_K : LLM_DT_Q4_K;
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", i);
        expect_type(&f, name, want);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", i);
        expect_type(&f, name, want);
        snprintf(name, sizeof name, "blk.%d.attn_k.weight", i);
        expect_type(&f, name, LLM_DT_Q4_K);
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", i);
        expect_type(&f, name, LLM_DT_Q4_K);
    }
    expect_type(&f, "token_embd.weight", LLM_DT_Q4_K);
    expect_type(&f, "output.weight", LLM_DT_Q6_K);
    uint32_t ftype = 0;
    if (gguf_get_u32(&f, "general.file_type", &ftype, &e)) fail_msg("general.file_type: %s", e.msg);
    assert_int_equal(ftype, 15);
    gguf_close(&f);
    llm_quantize_params bad = {.type = LLM_DT_Q8_0, .mixture_m = true};
    assert_int_equal(llm_quantize_file(src, out, &bad, &e), LLM_ERR_INVALID_ARG);
    assert_int_equal(unlink(src) | unlink(out) | rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_llama_cpp_q8_0),
        cmocka_unit_test(test_matches_llama_cpp_q4_0),
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_kquant_round_trip),
        cmocka_unit_test(test_kquant_hostile),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_sets_against_scalar),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_gemv),
        cmocka_unit_test(test_gemv_multi),
        cmocka_unit_test(test_matmul_many),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_kquant_dots),
        cmocka_unit_test(test_kquant_model),
        cmocka_unit_test(test_kquant_mixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
