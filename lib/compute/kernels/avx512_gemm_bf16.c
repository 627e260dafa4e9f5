/* Batched products of F16 and BF16 weights with float activations on
 * AVX512-BF16: prompt processing for the float types, as gemm_vnni.c is
 * for the quantized ones.
 *
 * vdpbf16ps multiplies pairs of bf16 numbers and adds both products to
 * a float lane: 32 multiply-adds per instruction where a float FMA does
 * 16, so a float product of F16 weights cannot reach the speed of this
 * one on the same cores (measured on Zen 4: one 512-bit instruction of
 * either kind per cycle). The price is precision: the activations are
 * rounded to bf16 (8 significant bits, relative error at most 2^-8, as
 * llama.cpp does for BF16 weights), and so are F16 weights (11 significant
 * bits to 8; BF16 weights are taken exactly). Sums are in float. Outputs
 * agree with the exact float products within 2^-7 of sum |w x| (tested;
 * for random data the error is far smaller, as roundings cancel);
 * decoding, one token at a time, uses the exact dot products.
 *
 * Layout as in gemm_vnni.c: a panel of 16 rows, one 512-bit register
 * holding an element pair of each row (lane r = row r), multiplied by a
 * pair of each activation vector broadcast to all lanes. */
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "kernels_impl.h"

#define PANEL_R 16
#define TILE_T 12

/* Whether the CPU has AVX512-BF16: CPUID leaf 7, sub-leaf 1, EAX bit 5
 * (the OS's saving of the AVX-512 registers is the avx512 set's check). */
bool llm_cpu_has_avx512bf16(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
}

/* Element pairs per row: n rounded up, the odd last element paired with 0. */
static int64_t pairs(int64_t n) { return (n + 1) / 2; }

/* Pairs from one prepared activation vector to the next: whole cache
 * lines plus one, so that the vectors a tile reads at once do not all
 * fall into the same L1 sets when n is a power of two. */
static int64_t x_pitch(int64_t n) { return (pairs(n) + 15) / 16 * 16 + 16; }

size_t llm_bf16_gemm_act_size(int64_t n, int nt) { return (size_t)nt * (size_t)x_pitch(n) * 4 + 64; }

size_t llm_bf16_gemm_scratch_size(int64_t n) { return 2 * PANEL_R * (size_t)pairs(n) * 4 + 64; }

/* 16 floats to bf16, rounding to nearest even. */
static inline __m256i to_bf16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

/* Vectors [t0, t1) of nt float vectors (x_stride bytes apart) as bf16
 * pairs, (nt, x_pitch(n)), the pad element 0. */
void llm_bf16_gemm_act(int64_t n, const void *x, size_t x_stride, int t0, int t1, void *act) {
    uint16_t *dst0 = act;
    for (int t = t0; t < t1; t++) {
        const float *xt = (const float *)((const char *)x + (size_t)t * x_stride);
        uint16_t *dst = dst0 + (size_t)t * (size_t)x_pitch(n) * 2;
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
            _mm256_mask_storeu_epi16(dst + i, m, to_bf16(_mm512_maskz_loadu_ps(m, xt + i)));
        }
        if (n % 2) dst[n] = 0;
    }
}

/* Row r of an F16 or BF16 tensor as bf16, n elements plus the pad. */
static void row_bf16(uint32_t type, const uint16_t *w, int64_t n, uint16_t *dst) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm256_maskz_loadu_epi16(m, w + i);
        if (type == LLM_DT_F16) h = to_bf16(_mm512_cvtph_ps(h));
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
    if (n % 2) dst[n] = 0;
}

/* The panel of rows [0, nr) (missing rows zero) in scratch: register k
 * holds pair k of each row. The gathers index with 32-bit offsets up to
 * 16 n: model.c caps rows at 2^18 elements. */
static const uint32_t *build_panel(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, void *scratch) {
    int64_t np = pairs(n);
    uint32_t *panel = (uint32_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint32_t *rows = panel + PANEL_R * (size_t)np;
    for (int r = 0; r < PANEL_R; r++) {
        if (r < nr)
            row_bf16(type, (const uint16_t *)((const char *)w + (size_t)r * w_stride), n, (uint16_t *)(rows + (size_t)r * (size_t)np));
        else
            memset(rows + (size_t)r * (size_t)np, 0, (size_t)np * 4);
    }
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)np));
    for (int64_t k = 0; k < np; k++) _mm512_store_si512(panel + 16 * k, _mm512_i32gather_epi32(idx, rows + k, 4));
    return panel;
}

/* The panel times T vectors (T <= TILE_T, a constant after inlining). */
static inline __attribute__((always_inline)) void tile(const uint32_t *panel, int64_t np, const uint32_t *x,
                                                       size_t pitch, int T,
                                                       float *out, size_t ldo, __mmask16 rmask) {
    __m512 acc[TILE_T];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < np; k++) {
        __m512bh wv = (__m512bh)_mm512_load_si512(panel + 16 * k);
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_dpbf16_ps(acc[t], wv, (__m512bh)_mm512_set1_epi32((int)x[(size_t)t * pitch + k]));
    }
    for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(out + (size_t)t * ldo, rmask, acc[t]);
}

void llm_bf16_gemm(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *act, int nt,
                   float *out, size_t ldo, void *scratch) {
    int64_t np = pairs(n);
    size_t pitch = (size_t)x_pitch(n);
    const uint32_t *x = act;
    for (int r0 = 0; r0 < nr; r0 += PANEL_R) {
        int rows = nr - r0 < PANEL_R ? nr - r0 : PANEL_R;
        const uint32_t *panel = build_panel(type, n, (const char *)w + (size_t)r0 * w_stride, w_stride, rows, scratch);
        __mmask16 rmask = (__mmask16)((1u << rows) - 1);
        int t0 = 0;
        for (; t0 + TILE_T <= nt; t0 += TILE_T)
            tile(panel, np, x + (size_t)t0 * pitch, pitch, TILE_T, out + (size_t)t0 * ldo + r0, ldo, rmask);
        const uint32_t *xt = x + (size_t)t0 * pitch;
        float *o = out + (size_t)t0 * ldo + r0;
        switch (nt - t0) {
        case 11: tile(panel, np, xt, pitch, 11, o, ldo, rmask); break;
        case 10: tile(panel, np, xt, pitch, 10, o, ldo, rmask); break;
        case 9: tile(panel, np, xt, pitch, 9, o, ldo, rmask); break;
        case 8: tile(panel, np, xt, pitch, 8, o, ldo, rmask); break;
        case 7: tile(panel, np, xt, pitch, 7, o, ldo, rmask); break;
        case 6: tile(panel, np, xt, pitch, 6, o, ldo, rmask); break;
        case 5: tile(panel, np, xt, pitch, 5, o, ldo, rmask); break;
        case 4: tile(panel, np, xt, pitch, 4, o, ldo, rmask); break;
        case 3: tile(panel, np, xt, pitch, 3, o, ldo, rmask); break;
        case 2: tile(panel, np, xt, pitch, 2, o, ldo, rmask); break;
        case 1: tile(panel, np, xt, pitch, 1, o, ldo, rmask); break;
        }
    }
}
