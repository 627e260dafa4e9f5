/* The compute peak of a kernel set's inner instructions (tools/peak.c). */
#ifndef LLM_TOOLS_PEAK_H
#define LLM_TOOLS_PEAK_H

/* Operations per second (a multiply-add counts two) that `threads`
 * threads reach with each inner instruction of the kernel set `set`
 * ("avx512", "avx2", ...): int8 products, BF16 products, F32 FMA; 0 where
 * the set (or this CPU) has no such instruction or this build no probe. */
typedef struct peak_ops {
    double int8;
    double bf16;
    double f32;
} peak_ops;

peak_ops peak_probe(const char *set, int threads);

#endif
