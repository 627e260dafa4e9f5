/* Quantized formats and kernel sets: the quantizers against files written
 * by llama.cpp, dequantization against an independent implementation
 * (gguf-py), and every kernel set this CPU runs against the scalar
 * reference. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtype.h"
#include "gguf.h"
#include "kernels.h"
#include "quant.h"
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
    assert_true(n > 0 && n % 32 == 0);
    float *got = xmalloc((size_t)n * sizeof *got);
    if (type == LLM_DT_Q8_0) llm_dequantize_row_q8_0(t->data, got, n);
    else llm_dequantize_row_q4_0(t->data, got, n);
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
    gguf_close(&f);
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
    expect_close(k->name, "dot_f32", n, k->dot_f32(n, w + 1, x), ref->dot_f32(n, w + 1, x), s32);
    expect_close(k->name, "dot_f16", n, k->dot_f16(n, h + 1, x), ref->dot_f16(n, h + 1, x), s16);
    expect_close(k->name, "dot_bf16", n, k->dot_bf16(n, b + 1, x), ref->dot_bf16(n, b + 1, x), sb16);
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
    expect_close(k->name, "dot_q8_0", n, k->dot_q8_0(n, w8, xq), ref->dot_q8_0(n, w8, xq), s8);
    expect_close(k->name, "dot_q4_0", n, k->dot_q4_0(n, w4, xq), ref->dot_q4_0(n, w4, xq), s4);
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
        int64_t n;
        float *edge = edge_activations(&n);
        check_quantize_act(k, edge, n);
        free(edge);
        tested++;
    }
    assert_true(tested >= 1);
}

/* Products of length 0 are 0 in every set. */
/* The tiled products equal the set's dot product for every output, bit for
 * bit (so a batched prompt gives the same logits as one token at a time),
 * for row and vector counts around the tile sizes and odd block counts. */
static void check_gemm(const llm_kernels *k, int64_t n, int nr, int nt) {
    int64_t nb = n / 32;
    size_t s8 = (size_t)nb * sizeof(block_q8_0), s4 = (size_t)nb * sizeof(block_q4_0);
    char *w8 = xmalloc(s8 * (size_t)nr), *w4 = xmalloc(s4 * (size_t)nr), *xq = xmalloc(s8 * (size_t)nt);
    float *out = xmalloc((size_t)nr * (size_t)nt * sizeof(float));
    for (int t = 0; t < nt; t++) {
        float *x = rnd_floats(n);
        k->quantize_act(x, xq + (size_t)t * s8, n);
        free(x);
    }
    for (int r = 0; r < nr; r++) {
        float *w = rnd_floats(n);
        llm_quantize_row_q8_0(w, (block_q8_0 *)(w8 + (size_t)r * s8), n);
        llm_quantize_row_q4_0(w, (block_q4_0 *)(w4 + (size_t)r * s4), n);
        free(w);
    }
    k->gemm_q8_0(n, w8, s8, nr, xq, s8, nt, out, (size_t)nr);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) {
            float d = k->dot_q8_0(n, w8 + (size_t)r * s8, xq + (size_t)t * s8);
            if (memcmp(&d, &out[t * nr + r], sizeof d))
                fail_msg("%s gemm_q8_0 n %lld, %d x %d: out[%d][%d] %g != dot %g", k->name, (long long)n, nr,
                         nt, t, r, out[t * nr + r], d);
        }
    k->gemm_q4_0(n, w4, s4, nr, xq, s8, nt, out, (size_t)nr);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) {
            float d = k->dot_q4_0(n, w4 + (size_t)r * s4, xq + (size_t)t * s8);
            if (memcmp(&d, &out[t * nr + r], sizeof d))
                fail_msg("%s gemm_q4_0 n %lld, %d x %d: out[%d][%d] %g != dot %g", k->name, (long long)n, nr,
                         nt, t, r, out[t * nr + r], d);
        }
    free(w8), free(w4), free(xq), free(out);
}

static void test_gemm_equals_dot(void **state) {
    (void)state;
    static const int counts[] = {1, 2, 3, 4, 5, 8, 9, 13};
    int tested = 0;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k || !k->gemm_q8_0) continue;
        tested++;
        for (size_t i = 0; i < sizeof block_lengths / sizeof block_lengths[0]; i++)
            for (size_t a = 0; a < sizeof counts / sizeof counts[0]; a++)
                for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b += 3)
                    check_gemm(k, block_lengths[i], counts[a], counts[b]);
    }
    if (!tested) fprintf(stderr, "no kernel set with tiled products on this CPU\n");
}

static void test_empty(void **state) {
    (void)state;
    float x = 1.0f;
    uint16_t h = 0x3c00;
    for (const llm_kernels *const *all = llm_kernels_all(); *all; all++) {
        const llm_kernels *k = llm_kernels_get((*all)->name);
        if (!k) continue;
        assert_true(k->dot_f32(0, &x, &x) == 0.0f);
        assert_true(k->dot_f16(0, &h, &x) == 0.0f);
        assert_true(k->dot_bf16(0, &h, &x) == 0.0f);
        assert_true(k->dot_q8_0(0, &x, &x) == 0.0f);
        assert_true(k->dot_q4_0(0, &x, &x) == 0.0f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_llama_cpp_q8_0),
        cmocka_unit_test(test_matches_llama_cpp_q4_0),
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_sets_against_scalar),
        cmocka_unit_test(test_gemm_equals_dot),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
