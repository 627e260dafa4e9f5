/* Dot products of quantized weights (Q8_0, Q4_0) with Q8_0 activation
 * blocks on AVX512-VNNI, for one vector at a time (decoding; batches go
 * to the panel products of gemm_vnni.c).
 *
 * vpdpbusd sums four byte products per int32 lane, so block b's 32
 * products land in 8 lanes, exactly. Blocks of even index accumulate,
 * scaled by d_w * d_x in float, into one 8-lane register, odd blocks into
 * another; at the end the two are added and the 8 lanes summed. 256-bit
 * registers: on Zen 4, streaming weights from memory, 256-bit loads run
 * faster than 512-bit ones.
 *
 * vpdpbusd multiplies unsigned by signed bytes:
 *  - Q8_0 weights are signed, so the activations are made unsigned,
 *    x + 128, and 128 * sum(w) is taken off again (in the accumulator's
 *    starting value, per lane, in integers: exact).
 *  - Q4_0 nibbles q are unsigned; sum (q - 8) x = sum q x - 8 sum x, the
 *    8 sum x likewise in the starting value. */
#include <immintrin.h>

#include "kernels_impl.h"

/* ------------------------------------------------------------ shared steps */

/* The fixed-order sum of 8 lanes. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float finish256(__m256 even, __m256 odd) { return hsum8(_mm256_add_ps(even, odd)); }


/* The 32 bytes of a Q8_0 block's quants, and a Q4_0 block's 32 nibbles
 * as bytes (elements 0-15 from the low nibbles, 16-31 from the high). */
static inline __m256i q8_bytes(const block_q8_0 *b) { return _mm256_loadu_si256((const __m256i *)b->qs); }

static inline __m256i q4_bytes(const block_q4_0 *b) {
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, mask)),
                                   _mm_and_si128(_mm_srli_epi16(v, 4), mask), 1);
}

/* Starting values of the integer sums: -128 * (sum of 4 weights) per lane
 * for Q8_0 (times unsigned x + 128); -8 * (sum of 4 activations) for Q4_0. */
static inline __m256i q8_start256(__m256i w) {
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), w);
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s, 7));
}

static inline __m256i q4_start256(__m256i x) {
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), x));
}

static inline __m256i to_unsigned256(__m256i x) { return _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)); }

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

/* ------------------------------------------------------------ dot products */

/* acc + d_w d_x * (block's integer sum): one block into one half. */
static inline __m256 scaled256(__m256i isum, float dw, float dx, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dw * dx), acc);
}

/* One block's integer sum, in 8 lanes. */
static inline __m256i q8_block(const block_q8_0 *w, const block_q8_0 *x) {
    __m256i q = q8_bytes(w);
    return _mm256_dpbusd_epi32(q8_start256(q), to_unsigned256(q8_bytes(x)), q);
}

static inline __m256i q4_block(const block_q4_0 *w, const block_q8_0 *x) {
    __m256i xs = q8_bytes(x);
    return _mm256_dpbusd_epi32(q4_start256(xs), q4_bytes(w), xs);
}

float llm_vnni_dot_q8_0(int64_t n, const void *w, const void *xq) {
    const block_q8_0 *wb = w, *xb = xq;
    __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
    int64_t nb = n / QK8_0, b = 0;
    for (; b < nb; b += 2) {
        even = scaled256(q8_block(&wb[b], &xb[b]), fp16(wb[b].d), fp16(xb[b].d), even);
        if (b + 1 < nb) odd = scaled256(q8_block(&wb[b + 1], &xb[b + 1]), fp16(wb[b + 1].d), fp16(xb[b + 1].d), odd);
    }
    return finish256(even, odd);
}

float llm_vnni_dot_q4_0(int64_t n, const void *w, const void *xq) {
    const block_q4_0 *wb = w;
    const block_q8_0 *xb = xq;
    __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
    int64_t nb = n / QK4_0, b = 0;
    for (; b < nb; b += 2) {
        even = scaled256(q4_block(&wb[b], &xb[b]), fp16(wb[b].d), fp16(xb[b].d), even);
        if (b + 1 < nb) odd = scaled256(q4_block(&wb[b + 1], &xb[b + 1]), fp16(wb[b + 1].d), fp16(xb[b + 1].d), odd);
    }
    return finish256(even, odd);
}

