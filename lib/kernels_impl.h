/* Internal to the kernel files: the sets each file defines, for the
 * dispatcher in kernels.c. Which sets exist depends on the target
 * (x86_64: avx2 and avx512; aarch64: neon); the scalar set always does.
 * kernels.c probes the CPU and hands a set out only when its required
 * features are there (avx2: AVX2, FMA, F16C; avx512: F, BW, VL; neon:
 * always on aarch64), so a set's functions may assume them. Optional
 * extensions (e.g. AVX512-VNNI) are the set's own business to check. */
#ifndef LLM_KERNELS_IMPL_H
#define LLM_KERNELS_IMPL_H

#include "dtype.h"
#include "kernels.h"
#include "quant.h"

extern const llm_kernels llm_kernels_scalar;
extern const llm_kernels llm_kernels_avx2;
extern const llm_kernels llm_kernels_avx512;
extern const llm_kernels llm_kernels_neon;

/* gemm_vnni.c (x86_64, AVX512-VNNI): the quantized products of the
 * avx512 set when the CPU has VNNI; see kernels.h for the contract. */
float llm_vnni_dot_q8_0(int64_t n, const void *w, const void *xq);
float llm_vnni_dot_q4_0(int64_t n, const void *w, const void *xq);
void llm_vnni_gemm_q8_0(int64_t n, const void *w, size_t w_stride, int nr, const void *xq,
                        size_t x_stride, int nt, float *out, size_t ldo);
void llm_vnni_gemm_q4_0(int64_t n, const void *w, size_t w_stride, int nr, const void *xq,
                        size_t x_stride, int nt, float *out, size_t ldo);

#endif
