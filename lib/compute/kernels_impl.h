/* Internal to the kernel files: the sets each file defines, for the
 * dispatcher in kernels.c. Which sets exist depends on the target
 * (x86_64: avx2 and avx512; aarch64: neon); the scalar set always does.
 * kernels.c probes the CPU and hands a set out only when its required
 * features are there (avx2: AVX2, FMA, F16C; avx512: F, BW, VL and VNNI;
 * neon: always on aarch64), so a set's functions may assume them. Further
 * extensions (AVX512-BF16 for the avx512 set's float batched products,
 * DotProd on aarch64) are the set's own business to check. */
#ifndef LLM_KERNELS_IMPL_H
#define LLM_KERNELS_IMPL_H

#include "dtype.h"
#include "kernels.h"
#include "quant.h"

extern const llm_kernels llm_kernels_scalar;
extern const llm_kernels llm_kernels_avx2;
extern const llm_kernels llm_kernels_avx512;
extern const llm_kernels llm_kernels_neon;

/* A set's attn_gemm (kernels.h) from its always-inline ROWS(R, n, k, a,
 * lda, b, ldb, c, ldc), which computes R <= 4 rows with R a constant:
 * rows four at a time, then the last one to three. */
#define LLM_DEFINE_ATTN_GEMM(ROWS)                                                                          \
    static void attn_gemm(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb,      \
                          float *c, size_t ldc) {                                                           \
        int i = 0;                                                                                          \
        for (; i + 4 <= m; i += 4) ROWS(4, n, k, a + (size_t)i * lda, lda, b, ldb, c + (size_t)i * ldc, ldc); \
        const float *ai = a + (size_t)i * lda;                                                              \
        float *ci = c + (size_t)i * ldc;                                                                    \
        switch (m - i) {                                                                                    \
        case 3: ROWS(3, n, k, ai, lda, b, ldb, ci, ldc); break;                                             \
        case 2: ROWS(2, n, k, ai, lda, b, ldb, ci, ldc); break;                                             \
        case 1: ROWS(1, n, k, ai, lda, b, ldb, ci, ldc); break;                                             \
        }                                                                                                   \
    }

/* dot_vnni.c and gemm_vnni.c (x86_64, AVX512-VNNI): the quantized
 * products of the avx512 set; see kernels.h for the contracts. */
float llm_vnni_dot_q8_0(int64_t n, const void *w, const void *xq);
float llm_vnni_dot_q4_0(int64_t n, const void *w, const void *xq);
size_t llm_vnni_gemm_act_size(int64_t n, int nt);
void llm_vnni_gemm_act(uint32_t type, int64_t n, const void *xq, size_t x_stride, int nt, int t0, int t1,
                       void *act);
size_t llm_vnni_gemm_scratch_size(int64_t n);
void llm_vnni_gemm(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *act, int nt,
                   float *out, size_t ldo, void *scratch);

/* gemv_avx512.c (x86_64, AVX512-VNNI): the avx512 set's gemv. */
size_t llm_avx512_gemv_scratch_size(void);
void llm_avx512_gemv_multi(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *xq,
                           size_t x_stride, int nv, float *out, size_t out_stride, void *scratch);
void llm_avx512_gemv(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *xq, float *out,
                     void *scratch);

/* The 6-bit scales and mins of a Q4_K/Q5_K super-block's 8 sub-blocks,
 * from its 12 packed bytes p (layout in quant.h), four to a 32-bit word:
 * byte k of sc[h] (m[h]) is sub-block 4h + k's scale (min). The values
 * of quant.c's unpacking, a word at a time, for the SIMD K-quant dots. */
static inline void llm_kquant_unpack(const uint8_t *p, uint32_t sc[2], uint32_t m[2]) {
    uint32_t u[3];
    for (int i = 0; i < 3; i++)
        u[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    sc[0] = u[0] & 0x3f3f3f3fu;
    m[0] = u[1] & 0x3f3f3f3fu;
    sc[1] = (u[2] & 0x0f0f0f0fu) | (u[0] >> 6 & 0x03030303u) << 4;
    m[1] = (u[2] >> 4 & 0x0f0f0f0fu) | (u[1] >> 6 & 0x03030303u) << 4;
}

/* gemm_bf16.c (x86_64, AVX512-BF16): the avx512 set's batched products
 * of F16/BF16 weights, taken only when llm_cpu_has_avx512bf16(). */
bool llm_cpu_has_avx512bf16(void);
size_t llm_bf16_gemm_act_size(int64_t n, int nt);
void llm_bf16_gemm_act(int64_t n, const void *x, size_t x_stride, int t0, int t1, void *act);
size_t llm_bf16_gemm_scratch_size(int64_t n);
void llm_bf16_gemm(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *act, int nt,
                   float *out, size_t ldo, void *scratch);

/* The core of the sets' exp(x) (attn_exp), written once: x = n ln 2 + r
 * with n = round(x log2 e) and ln 2 in two parts (so r is nearly exact),
 * e^r by Cephes expf's polynomial. Defines exp_core(x, &n), returning e^r
 * and storing n; the set clamps x before and scales by 2^n after, each in
 * its own way. V is the vector type, SET1 a broadcast, FMA(a, b, c)
 * a * b + c fused, ROUND to nearest. */
#define LLM_DEFINE_EXP_CORE(V, SET1, MUL, ADD, FMA, ROUND)                    \
    static inline V exp_core(V x, V *n_out) {                                 \
        V n = ROUND(MUL(x, SET1(1.44269504f)));                               \
        V r = FMA(n, SET1(-0.693359375f), x);                                 \
        r = FMA(n, SET1(2.12194440e-4f), r);                                  \
        V p = SET1(1.9875691500e-4f);                                         \
        p = FMA(p, r, SET1(1.3981999507e-3f));                                \
        p = FMA(p, r, SET1(8.3334519073e-3f));                                \
        p = FMA(p, r, SET1(4.1665795894e-2f));                                \
        p = FMA(p, r, SET1(1.6666665459e-1f));                                \
        p = FMA(p, r, SET1(5.0000001201e-1f));                                \
        *n_out = n;                                                           \
        return FMA(p, MUL(r, r), ADD(r, SET1(1.0f)));                         \
    }

/* A set's float dot products (F32, F16, BF16) from its always-inline
 * DOT_FLOAT(n, w, x, load), which covers n a multiple of W with loaders
 * LOAD##_f32, LOAD##_f16 and LOAD##_bf16: the elements past the last whole
 * multiple go through the scalar reference. */
#define LLM_DEFINE_FLOAT_DOTS(W, DOT_FLOAT, LOAD)                                                      \
    static float dot_tail(int64_t n, const void *w, const float *x, size_t esize, uint32_t type) {     \
        int64_t nw = n & ~(int64_t)(W - 1);                                                            \
        float head = type == LLM_DT_F32   ? DOT_FLOAT(nw, w, x, LOAD##_f32)                            \
                     : type == LLM_DT_F16 ? DOT_FLOAT(nw, w, x, LOAD##_f16)                            \
                                          : DOT_FLOAT(nw, w, x, LOAD##_bf16);                          \
        return head + llm_kernels_scalar.dot[type](n - nw, (const char *)w + (size_t)nw * esize, x + nw); \
    }                                                                                                  \
    static float dot_f32(int64_t n, const void *w, const void *x) { return dot_tail(n, w, x, 4, LLM_DT_F32); } \
    static float dot_f16(int64_t n, const void *w, const void *x) { return dot_tail(n, w, x, 2, LLM_DT_F16); } \
    static float dot_bf16(int64_t n, const void *w, const void *x) { return dot_tail(n, w, x, 2, LLM_DT_BF16); }

#endif
