/* The NEON kernel set against the scalar reference, standalone (no
 * cmocka, no fixtures) so that tools/check-neon.sh can cross-compile it
 * and run it under an emulator on a machine that is not aarch64. The
 * checks are those of test_kernels.c: float, quantized and K-quant dot
 * products within the reordering tolerance, quantize_act's bytes equal.
 * Prints each failure; the exit code is 1 if there was any. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

static int failures;

/* xorshift64: the same data on every run. */
static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Uniform in [-1, 1). */
static float rnd_unit(void) { return (float)rnd() / 2147483648.0f - 1.0f; }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "neon_check: out of memory\n");
        exit(1);
    }
    return p;
}

static float *rnd_floats(int64_t n) {
    float *v = xmalloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = rnd_unit();
    return v;
}

/* Both results are float sums of the same products in different orders:
 * within 1e-5 of sum|w*x| (computed in double) for these lengths. */
static void expect_close(const char *fn, int64_t n, float got, float ref, double abs_sum) {
    if (fabs((double)got - (double)ref) <= 1e-5 * abs_sum) return;
    printf("FAIL %s n=%lld: neon %.9g, scalar %.9g (sum|wx| %.9g)\n", fn, (long long)n, got, ref, abs_sum);
    failures++;
}

/* Weight rows start one element off alignment; buffers are exactly as
 * long as the kernels may read. */
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
    expect_close("dot_f32", n, k->dot[LLM_DT_F32](n, w + 1, x), ref->dot[LLM_DT_F32](n, w + 1, x), s32);
    expect_close("dot_f16", n, k->dot[LLM_DT_F16](n, h + 1, x), ref->dot[LLM_DT_F16](n, h + 1, x), s16);
    expect_close("dot_bf16", n, k->dot[LLM_DT_BF16](n, b + 1, x), ref->dot[LLM_DT_BF16](n, b + 1, x), sb16);
    free(x), free(w), free(h), free(b);
}

/* Random weight blocks over the formats' whole ranges, -128 included,
 * with random scales; activations through the reference quantizer. */
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
    memset(w8[0].qs, 0x80, sizeof w8[0].qs); /* all -128 */
    llm_dequantize_row_q8_0(xq, xf, n);
    double s8 = 0, s4 = 0;
    llm_dequantize_row_q8_0(w8, wf, n);
    for (int64_t i = 0; i < n; i++) s8 += fabs((double)wf[i] * xf[i]);
    llm_dequantize_row_q4_0(w4, wf, n);
    for (int64_t i = 0; i < n; i++) s4 += fabs((double)wf[i] * xf[i]);
    expect_close("dot_q8_0", n, k->dot[LLM_DT_Q8_0](n, w8, xq), ref->dot[LLM_DT_Q8_0](n, w8, xq), s8);
    expect_close("dot_q4_0", n, k->dot[LLM_DT_Q4_0](n, w4, xq), ref->dot[LLM_DT_Q4_0](n, w4, xq), s4);
    free(x), free(wf), free(xf), free(xq), free(w8), free(w4);
}

static void check_quantize_act(const llm_kernels *k, const float *x, int64_t n) {
    int64_t nb = n / 32;
    block_q8_0 *got = xmalloc((size_t)nb * sizeof *got), *want = xmalloc((size_t)nb * sizeof *want);
    k->quantize_act(x, got, n);
    llm_quantize_row_q8_0(x, want, n);
    for (int64_t b = 0; b < nb; b++) {
        if (memcmp(&got[b], &want[b], sizeof got[b]) == 0) continue;
        printf("FAIL quantize_act n=%lld: block %lld differs\n", (long long)n, (long long)b);
        failures++;
    }
    free(got), free(want);
}

/* Blocks that take every rounding and clamping path: exact halves (amax
 * 127 makes x * (1/d) = x), zeros, quiet and signaling NaN, infinities,
 * subnormals whose scale's inverse overflows, very different magnitudes. */
static void check_edge_activations(const llm_kernels *k) {
    uint32_t snan_bits = 0x7f800001u;
    float snan;
    memcpy(&snan, &snan_bits, sizeof snan);
    const float special[][4] = {
        {127.0f, 0.5f, -0.5f, 2.5f},   {-126.5f, 1.5f, -1.5f, 0.0f},
        {0.0f, -0.0f, 0.0f, 0.0f},     {NAN, 1.0f, -2.0f, 3.0f},
        {INFINITY, 1.0f, -1.0f, 0.0f}, {-INFINITY, NAN, 5.0f, 0.0f},
        {1e-44f, -3e-45f, 1e-45f, 0},  {2e-42f, 1.5e-42f, -2e-42f, 7e-43f},
        {1e30f, -1e-30f, 3e29f, 0},    {-1.0f, 1e-8f, 0.25f, 1.0f},
        {snan, 0.75f, -3.0f, 1.0f},
    };
    int64_t nb = (int64_t)(sizeof special / sizeof special[0]), n = nb * 32;
    float *x = rnd_floats(n);
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 32; j++) x[b * 32 + j] = special[b][j % 4] * (j < 4 ? 1.0f : (float)(j % 3) * 0.5f);
    x[10 * 32 + 20] = snan; /* the multiplication above quieted the others */
    check_quantize_act(k, x, n);
    free(x);
}

/* attn_gemm within the reordering tolerance of the scalar set's (each
 * element's products are the same, fused or not), and each element the
 * same bit for bit when computed alone; attn_exp within a few ulp of
 * expf, its max and sum matching. */
static void check_attn(const llm_kernels *k, const llm_kernels *ref) {
    static const int ms[] = {1, 3, 4, 9}, ns[] = {1, 3, 4, 17, 64, 70}, ks[] = {1, 8, 64};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 6; b++)
            for (size_t c = 0; c < 3; c++) {
                int m = ms[a], n = ns[b], kk = ks[c];
                float *x = rnd_floats(m * kk), *y = rnd_floats(kk * n), *got = rnd_floats(m * n);
                float *want = xmalloc(sizeof(float) * (size_t)(m * n));
                memcpy(want, got, sizeof(float) * (size_t)(m * n));
                float last = got[m * n - 1];
                k->attn_gemm(m, n, kk, x, (size_t)kk, y, (size_t)n, got, (size_t)n);
                ref->attn_gemm(m, n, kk, x, (size_t)kk, y, (size_t)n, want, (size_t)n);
                for (int i = 0; i < m * n; i++) {
                    double abs_sum = fabs(want[i]) + 1.0;
                    for (int p = 0; p < kk; p++) abs_sum += fabs((double)x[i / n * kk + p] * y[p * n + i % n]);
                    expect_close("attn_gemm", kk, got[i], want[i], abs_sum);
                }
                k->attn_gemm(1, 1, kk, x + (m - 1) * kk, 1, y + n - 1, (size_t)n, &last, 1);
                if (memcmp(&last, &got[m * n - 1], sizeof last)) {
                    printf("FAIL attn_gemm %dx%dx%d: the last element alone differs\n", m, n, kk);
                    failures++;
                }
                free(x), free(y), free(got), free(want);
            }
    for (int n = 1; n <= 40; n++) {
        float x[40], y[40], mx = n % 3 ? -INFINITY : 5.0f, my = mx;
        for (int i = 0; i < n; i++) x[i] = y[i] = 60.0f * rnd_unit() - 60.0f;
        float sx = k->attn_exp(n, x, &mx), sy = ref->attn_exp(n, y, &my);
        if (mx != my || !(fabsf(sx - sy) <= 1e-6f * sy)) {
            printf("FAIL attn_exp n=%d: max %g sum %g, scalar %g %g\n", n, mx, sx, my, sy);
            failures++;
        }
        for (int i = 0; i < n; i++)
            if (!(fabsf(x[i] - y[i]) <= 4e-7f * y[i] + 2e-38f)) {
                printf("FAIL attn_exp n=%d: exp %d is %g, scalar %g\n", n, i, x[i], y[i]);
                failures++;
            }
    }
}

/* The K-quant dots on super-blocks of random bytes (the fp16 scales kept
 * finite: their top exponent bit cleared) and random activations, within
 * 1e-5 of the size of the terms they add: the sum over elements of
 * |x_i| (|d sc q_i| + |dmin m|) for Q4_K and Q5_K (the dequantization of
 * copies with dmin, or d, zeroed), of |w_i x_i| for Q6_K. */
static void check_kquant_dots(const llm_kernels *k, const llm_kernels *ref, int64_t n) {
    static const char *const names[] = {"dot_q4_k", "dot_q5_k", "dot_q6_k"};
    static const size_t sizes[] = {sizeof(block_q4_K), sizeof(block_q5_K), sizeof(block_q6_K)};
    static const size_t d_at[] = {offsetof(block_q4_K, d), offsetof(block_q5_K, d), offsetof(block_q6_K, d)};
    static const size_t dmin_at[] = {offsetof(block_q4_K, dmin), offsetof(block_q5_K, dmin)};
    float *x = rnd_floats(n), *xf = xmalloc((size_t)n * sizeof *xf), *part = xmalloc((size_t)n * sizeof *part);
    block_q8_0 *xq = xmalloc((size_t)(n / 32) * sizeof *xq);
    for (int64_t i = 0; i < n; i++) x[i] *= (float)(1 + i / 32 % 7);
    ref->quantize_act(x, xq, n);
    llm_dequantize_row_q8_0(xq, xf, n);
    for (int t = 0; t < 3; t++) {
        size_t bs = sizes[t], size = (size_t)(n / QK_K) * bs;
        unsigned char *w = xmalloc(size), *c = xmalloc(size);
        for (size_t i = 0; i < size; i++) w[i] = (unsigned char)(rnd() >> 24);
        for (size_t b = 0; b < size / bs; b++) {
            w[b * bs + d_at[t] + 1] &= 0xbf;
            if (t < 2) w[b * bs + dmin_at[t] + 1] &= 0xbf;
        }
        double mag = 0.0;
        for (int zero = 0; zero < (t < 2 ? 2 : 1); zero++) {
            memcpy(c, w, size);
            for (size_t b = 0; t < 2 && b < size / bs; b++) memset(c + b * bs + (zero ? d_at[t] : dmin_at[t]), 0, 2);
            if (t == 0) llm_dequantize_row_q4_K((const block_q4_K *)c, part, n);
            if (t == 1) llm_dequantize_row_q5_K((const block_q5_K *)c, part, n);
            if (t == 2) llm_dequantize_row_q6_K((const block_q6_K *)c, part, n);
            for (int64_t i = 0; i < n; i++) mag += fabs((double)part[i] * xf[i]);
        }
        float (*dk)(int64_t, const void *, const void *) = t == 0 ? k->dot[LLM_DT_Q4_K] : t == 1 ? k->dot[LLM_DT_Q5_K] : k->dot[LLM_DT_Q6_K];
        float (*dr)(int64_t, const void *, const void *) = t == 0 ? ref->dot[LLM_DT_Q4_K] : t == 1 ? ref->dot[LLM_DT_Q5_K] : ref->dot[LLM_DT_Q6_K];
        expect_close(names[t], n, dk(n, w, xq), dr(n, w, xq), mag);
        free(w), free(c);
    }
    free(x), free(xf), free(part), free(xq);
}

/* f16_to_f32 gives llm_f16_to_f32's bits (a NaN only as a NaN) for all
 * 65536 halves, from an odd element offset too, leaving tails. */
static void check_f16_to_f32(const llm_kernels *k) {
    static uint16_t h[65537];
    static float got[65537];
    static const int64_t lengths[] = {0, 1, 3, 5, 17, 65536};
    for (int i = 0; i <= 65536; i++) h[i] = (uint16_t)(i * 40503u);
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
        for (int off = 0; off < 2; off++) {
            int64_t n = lengths[l];
            k->f16_to_f32(n, h + off, got);
            for (int64_t i = 0; i < n; i++) {
                float want = llm_f16_to_f32(h[off + i]);
                if (isnan(want) ? !isnan(got[i]) : memcmp(&want, &got[i], sizeof want) != 0) {
                    printf("FAIL f16_to_f32 n=%lld: element %lld is %g, want %g\n", (long long)n, (long long)i,
                           (double)got[i], (double)want);
                    failures++;
                    break;
                }
            }
        }
}

int main(void) {
    const llm_kernels *k = &llm_kernels_neon, *ref = &llm_kernels_scalar;
    static const int64_t float_lengths[] = {0, 1, 3, 4, 7, 16, 31, 33, 100, 1023, 2048, 5632};
    static const int64_t block_lengths[] = {0, 32, 64, 96, 288, 768, 2048, 5632};
    if (strcmp(k->name, "neon") != 0) {
        printf("FAIL set is named %s\n", k->name);
        failures++;
    }
    for (size_t i = 0; i < sizeof float_lengths / sizeof float_lengths[0]; i++)
        check_float_dots(k, ref, float_lengths[i]);
    for (size_t i = 0; i < sizeof block_lengths / sizeof block_lengths[0]; i++) {
        int64_t n = block_lengths[i];
        if (n) check_quant_dots(k, ref, n);
        float *x = rnd_floats(n);
        for (int64_t j = 0; j < n; j++) x[j] *= (float)(1 + j % 5) * 10.0f;
        check_quantize_act(k, x, n);
        free(x);
    }
    static const int64_t kquant_lengths[] = {256, 512, 768, 2816, 5632};
    for (size_t i = 0; i < sizeof kquant_lengths / sizeof kquant_lengths[0]; i++)
        check_kquant_dots(k, ref, kquant_lengths[i]);
    check_edge_activations(k);
    check_attn(k, ref);
    check_f16_to_f32(k);
#ifdef __ARM_FEATURE_DOTPROD
    const char *path = "sdot";
#else
    const char *path = "widening multiply";
#endif
    printf("neon_check (%s): %d failure(s)\n", path, failures);
    return failures ? 1 : 0;
}
