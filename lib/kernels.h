/* Kernel sets: the inner loops of the matrix products, one set per
 * instruction set (kernels_scalar.c is the reference; kernels_avx2.c,
 * kernels_avx512.c, kernels_neon.c are faster variants). A context picks
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
 * K-quant weights (Q4_K, Q5_K, Q6_K; super-blocks of 256) meet the float
 * activations as they are: their products take float x, not Q8_0 blocks,
 * and add no activation rounding. */
#ifndef LLM_KERNELS_H
#define LLM_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct llm_kernels {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */
    /* dot products of one weight row of n elements with x */
    float (*dot_f32)(int64_t n, const float *w, const float *x);
    float (*dot_f16)(int64_t n, const uint16_t *w, const float *x);
    float (*dot_bf16)(int64_t n, const uint16_t *w, const float *x);
    /* w: n/32 weight blocks; xq: n/32 Q8_0 blocks of the activations */
    float (*dot_q8_0)(int64_t n, const void *w, const void *xq);
    float (*dot_q4_0)(int64_t n, const void *w, const void *xq);
    /* Optional (NULL: matmul.c uses the scalar set's). w: n/256 K-quant
     * super-blocks; x: n FLOAT activations, not quantized. */
    float (*dot_q4_k)(int64_t n, const void *w, const float *x);
    float (*dot_q5_k)(int64_t n, const void *w, const float *x);
    float (*dot_q6_k)(int64_t n, const void *w, const float *x);
    /* activations to Q8_0 blocks (n a multiple of 32); every set's bytes
     * equal llm_quantize_row_q8_0's for every input, NaN and inf included */
    void (*quantize_act)(const float *x, void *yq, int64_t n);
    /* Optional (NULL: matmul.c loops over the dot products). Products of
     * nr weight rows (w_stride bytes apart) with nt quantized activation
     * vectors (x_stride bytes apart), out[t * ldo + r], tiled so that each
     * weight block loaded serves several vectors. Every output must equal
     * the set's dot product bit for bit, so batching never changes
     * results. */
    void (*gemm_q8_0)(int64_t n, const void *w, size_t w_stride, int nr, const void *xq,
                      size_t x_stride, int nt, float *out, size_t ldo);
    void (*gemm_q4_0)(int64_t n, const void *w, size_t w_stride, int nr, const void *xq,
                      size_t x_stride, int nt, float *out, size_t ldo);
} llm_kernels;

/* The set with this name if this CPU can run it, else NULL. name NULL or
 * "auto" means: $LLM_KERNELS if set, else the best supported set. */
const llm_kernels *llm_kernels_get(const char *name);
/* All sets compiled into this build, best first, NULL-terminated (whether
 * or not the CPU supports them: check with llm_kernels_get). */
const llm_kernels *const *llm_kernels_all(void);

#endif
