/* The K-quant dot products of the two x86 sets (avx2.c and avx512.c),
 * written once: K-quant weights with Q8_0 activation blocks, the scalar
 * set defining the sums. A super-block meets 8 activation blocks, one per
 * 32 elements. Each block's integer sums come out exactly, in 8 int32
 * lanes, and are scaled in float by lane j of a vector of the
 * super-block's 8 per-block scales (dx * d * sc, -dx * dmin * m, dx * d),
 * which a few vector operations compute for all 8 blocks at once; eight
 * accumulators keep the FMA chains short. 256-bit registers in both sets.
 *
 * The sets differ in the integer product at the heart of it, so the file
 * that includes this one first defines
 *   __m256i kq_sum4(__m256i u, __m256i s): per int32 lane the sum of 4
 *       products of unsigned bytes u (at most 63) and signed bytes s
 *       (maddubs + madd on AVX2, one vpdpbusd with VNNI);
 *   __m256i kq_add16(__m256i q, __m256i hv, int j): q plus 16 in the bytes
 *       where bit j of hv's byte is set (Q5_K's fifth bit);
 *   float hsum(__m256 v): the sum of the 8 lanes;
 * and, after including it, q6_super_block (declared below), whose int16
 * (AVX2) and int32 (VNNI) steps differ too much to share. */
#ifndef LLM_KQUANT_X86_H
#define LLM_KQUANT_X86_H

#include <immintrin.h>

#include "kernels_impl.h"

/* The fp16 scales of 8 consecutive activation blocks, as floats. */
static inline __m256 act_scales(const block_q8_0 *x) {
    return _mm256_cvtph_ps(_mm_setr_epi16((short)x[0].d, (short)x[1].d, (short)x[2].d, (short)x[3].d,
                                          (short)x[4].d, (short)x[5].d, (short)x[6].d, (short)x[7].d));
}

/* The 8 unsigned bytes of two 32-bit words, as floats. */
static inline __m256 bytes8_ps(const uint32_t v[2]) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32((int)v[0], (int)v[1], 0, 0)));
}

/* acc + the 8 lanes of isum, as floats (exact), times lane j of s. */
static inline __m256 fma_lane(__m256i isum, __m256 s, int j, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(j)), acc);
}

static inline float sum_acc(const __m256 acc[8]) {
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])),
                             _mm256_add_ps(_mm256_add_ps(acc[4], acc[5]), _mm256_add_ps(acc[6], acc[7])));
    return hsum(s);
}

/* One Q4_K/Q5_K super-block (qh NULL for Q4_K) against its activation
 * blocks x. The 32 bytes at qs + 32k hold sub-block 2k in their low
 * nibbles and 2k + 1 in their high ones; Q5_K adds 16 where bit j of qh
 * is set. Quant sums times dx * d * sc go to acc[k], activation sums
 * times -dx * dmin * m to acc[4 + k]. */
static inline __attribute__((always_inline)) void affine_super_block(uint16_t d, uint16_t dmin, const uint8_t *scales,
                                                                     const uint8_t *qs, const uint8_t *qh,
                                                                     const block_q8_0 *x, __m256 acc[8]) {
    const __m256i low = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi8(1);
    uint32_t sc[2], m[2];
    llm_kquant_unpack(scales, sc, m);
    __m256 dx = act_scales(x);
    __m256 sd = _mm256_mul_ps(dx, _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(d)), bytes8_ps(sc)));
    __m256 sm = _mm256_mul_ps(dx, _mm256_mul_ps(_mm256_set1_ps(-_cvtsh_ss(dmin)), bytes8_ps(m)));
    __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * k));
        __m256i q[2] = {_mm256_and_si256(v, low), _mm256_and_si256(_mm256_srli_epi16(v, 4), low)};
        for (int h = 0; h < 2; h++) {
            int j = 2 * k + h;
            if (qh) q[h] = kq_add16(q[h], hv, j);
            __m256i a = _mm256_loadu_si256((const __m256i *)x[j].qs);
            acc[k] = fma_lane(kq_sum4(q[h], a), sd, j, acc[k]);
            acc[4 + k] = fma_lane(kq_sum4(ones, a), sm, j, acc[4 + k]);
        }
    }
}

static float dot_q4_k(int64_t n, const void *w, const void *xq) {
    const block_q4_K *wb = w;
    const block_q8_0 *xb = xq;
    __m256 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++)
        affine_super_block(wb[b].d, wb[b].dmin, wb[b].scales, wb[b].qs, NULL, xb + b * (QK_K / 32), acc);
    return sum_acc(acc);
}

static float dot_q5_k(int64_t n, const void *w, const void *xq) {
    const block_q5_K *wb = w;
    const block_q8_0 *xb = xq;
    __m256 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++)
        affine_super_block(wb[b].d, wb[b].dmin, wb[b].scales, wb[b].qs, wb[b].qh, xb + b * (QK_K / 32), acc);
    return sum_acc(acc);
}

/* One Q6_K super-block against its activation blocks x into acc[j]. */
static inline void q6_super_block(const block_q6_K *w, const block_q8_0 *x, __m256 acc[8]);

static float dot_q6_k(int64_t n, const void *w, const void *xq) {
    const block_q6_K *wb = w;
    const block_q8_0 *xb = xq;
    __m256 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) q6_super_block(&wb[b], xb + b * (QK_K / 32), acc);
    return sum_acc(acc);
}

#endif
