/* Kernel sets: the inner loops of the matrix products, one set per
 * instruction set (kernels/scalar.c is the reference; kernels/avx2.c,
 * kernels/avx512.c, kernels/neon.c are faster variants). A context picks
 * one set when it is created: the best the CPU supports, or one named by
 * the caller (llm_ctx_params.kernels) or by the LLM_KERNELS environment
 * variable, so tests can run every variant against the reference.
 *
 * Quantized weights meet activations quantized on the fly: before a
 * product with Q8_0 or Q4_0 weights, the input vector is quantized to Q8_0
 * blocks (quantize_act) and the dot product runs on integers per block,
 * scaled by both blocks' fp16 scales. This is what the reference
 * implementations do; it adds the activation's rounding error (at most
 * half a step, amax/254 per block) on top of the weights' own.
 *
 * K-quant weights (Q4_K, Q5_K, Q6_K; super-blocks of 256) meet the same
 * Q8_0 activation blocks, eight per super-block: activation block j
 * scales weight sub-block j (Q6_K: sub-blocks 2j and 2j + 1). This
 * activation scale, one per 32 elements, is finer than the one per 256 of
 * llama.cpp's Q8_K, so the rounding added is at most that of Q8_0. */
#ifndef LLM_KERNELS_H
#define LLM_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

/* The dot product of one weight row of n elements, w, with activations x
 * in the type the weight's traits name (llm_dtype_info.act_type): floats
 * for F32/F16/BF16 rows, n/32 Q8_0 blocks for the quantized ones (whose
 * rows are n/32 blocks, or n/256 K-quant super-blocks). */
typedef float (*llm_dot_fn)(int64_t n, const void *w, const void *x);

/* Most vectors a set's gemv_multi takes at once. */
#define LLM_GEMV_VECS 5

typedef struct llm_kernels {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */
    /* indexed by weight type; NULL for the types not computed with */
    llm_dot_fn dot[LLM_DT_COUNT];
    /* activations to Q8_0 blocks (n a multiple of 32); every set's bytes
     * equal llm_quantize_row_q8_0's for every input, NaN and inf included */
    void (*quantize_act)(const float *x, void *yq, int64_t n);
    /* Optional (NULL: matmul.c's own loops). Batched products for
     * prompts, for the weight types gemm_takes says yes to on this CPU.
     * Per product, gemm_act prepares vectors [t0, t1) of the nt
     * activations (x_stride bytes apart: Q8_0 blocks for quantized types,
     * floats for F16/BF16) in act (gemm_act_size bytes), one range per
     * thread if need be; then gemm computes nr weight rows (w_stride bytes
     * apart) against them, out[t * ldo + r], in gemm_scratch_size(n)
     * bytes of scratch of the calling thread's own. Outputs agree with the
     * dot products within the bound the implementation states. */
    bool (*gemm_takes)(uint32_t type);
    size_t (*gemm_act_size)(int64_t n, int nt);
    void (*gemm_act)(uint32_t type, int64_t n, const void *x, size_t x_stride, int nt, int t0, int t1,
                     void *act);
    size_t (*gemm_scratch_size)(int64_t n);
    void (*gemm)(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *act, int nt,
                 float *out, size_t ldo, void *scratch);
    /* Attention's float products (attention.c): c[i * ldc + j] +=
     * sum over p < k of a[i * lda + p] * b[p * ldb + j], for i < m and
     * j < n. Each c element is accumulated one product at a time in order
     * of p, whatever m and n, so a row's results do not depend on the
     * rows and columns computed with it. */
    void (*attn_gemm)(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                      size_t ldc);
    /* One block of an online softmax over n >= 1 scores: raises *max to
     * the largest x[i] (NaNs are skipped), replaces each x[i] with
     * exp(x[i] - *max) (within a few ulp of expf) and returns their sum. */
    float (*attn_exp)(int n, float *x, float *max);
    /* n F16 elements (src 2-byte aligned) to floats, exactly: each the
     * value llm_f16_to_f32 gives (a NaN stays a NaN, its payload bits may
     * differ). Attention reads an F16 cache's blocks through it. */
    void (*f16_to_f32)(int64_t n, const void *src, float *dst);
    /* Optional (NULL: the dot products). Matrix-vector products for
     * decoding: out[r] = row r of w (nr rows, w_stride bytes apart) times
     * the n/32 Q8_0 blocks xq, for the quantized types (Q8_0, Q4_0, Q4_K,
     * Q5_K, Q6_K; n as for their dot products), in gemv_scratch_size()
     * bytes of scratch of the calling thread's own. Outputs agree with
     * the dot products within the bound the implementation states. */
    size_t (*gemv_scratch_size)(void);
    void (*gemv)(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *xq, float *out,
                 void *scratch);
    /* Optional, with gemv (NULL: gemv a vector at a time). gemv of nv <=
     * LLM_GEMV_VECS vectors at once, vector v's blocks at xq + v *
     * x_stride bytes and its outputs at out + v * out_stride floats, each
     * bit for bit what gemv gives for that vector alone, so that several
     * sequences decoded together (llm_decode_multi) read each weight row
     * once; gemv_scratch_size() covers the nv vectors. */
    void (*gemv_multi)(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *xq,
                       size_t x_stride, int nv, float *out, size_t out_stride, void *scratch);
} llm_kernels;

/* The set with this name if this CPU can run it, else NULL. name NULL or
 * "auto" means: $LLM_KERNELS if set, else the best supported set. */
const llm_kernels *llm_kernels_get(const char *name);
/* All sets compiled into this build, best first, NULL-terminated (whether
 * or not the CPU supports them: check with llm_kernels_get). */
const llm_kernels *const *llm_kernels_all(void);

#endif
