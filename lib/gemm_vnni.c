/* Products of quantized weights (Q8_0, Q4_0) with Q8_0 activation blocks
 * on AVX512-VNNI: a dot product for one vector (decoding) and a tiled
 * product for a batch (prompt processing), computed with the same float
 * operations so that batching never changes a result.
 *
 * The lane layout both share: vpdpbusd sums four byte products per int32
 * lane, so block b's 32 products land in 8 lanes, exactly. Blocks of even
 * index accumulate, scaled by d_w * d_x in float, into lanes 0-7 of a
 * 16-lane accumulator, odd blocks into lanes 8-15. At the end the two
 * halves are added lane by lane and the 8 lanes summed in a fixed order.
 * The dot product keeps the halves in two 256-bit registers (on Zen 4,
 * streaming weights from memory, 256-bit loads run faster); the tile keeps
 * them in one 512-bit register per (row, vector) and reuses each weight
 * block for several vectors and each vector block for several rows.
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

static inline float finish512(__m512 acc) {
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
    return finish256(_mm512_castps512_ps256(acc), hi);
}

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

static inline __m512i q8_start512(__m512i w) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), w);
    return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, 7));
}

static inline __m512i q4_start512(__m512i x) {
    return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x));
}

static inline __m256i to_unsigned256(__m256i x) { return _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)); }
static inline __m512i to_unsigned512(__m512i x) { return _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)); }

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

/* ------------------------------------------------------------ tiles */

/* Blocks b and b + 1 side by side in one register. */
static inline __m512i pair512(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m512 scale_pair(float lo, float hi) {
    __m512d v = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_set1_ps(lo)));
    return _mm512_castpd_ps(_mm512_insertf64x4(v, _mm256_castps_pd(_mm256_set1_ps(hi)), 1));
}

#define TILE_R 4
#define TILE_T 4

/* R rows times T vectors, R <= TILE_R, T <= TILE_T, compile-time after
 * inlining. w[r] and x[t] point at each row's and vector's first block.
 * The last (odd) block adds into lanes 0-7 only (mask), so lanes 8-15
 * see the same operations as in the dot product. */
/* One step of a tile: blocks b and b + 1 (lanes 0-7 and 8-15), or with
 * tail set only block b, whose lanes 8-15 are then left alone (mask), so
 * every lane sees exactly the operations of the dot product. */
#define DEFINE_STEP(NAME, WBLOCK, WBYTES, START, SIGNED_X)                                         \
    static inline __attribute__((always_inline)) void NAME(                                        \
        int64_t b, int tail, const WBLOCK *const *w, int R, const block_q8_0 *const *x, int T,     \
        __m512 acc[TILE_R][TILE_T]) {                                                              \
        __mmask16 m = tail ? 0x00ff : 0xffff;                                                      \
        __m512i W[TILE_R], X[TILE_T], C[TILE_R > TILE_T ? TILE_R : TILE_T];                        \
        __m512 dw[TILE_R], dx[TILE_T];                                                             \
        for (int r = 0; r < R; r++) {                                                              \
            W[r] = pair512(WBYTES(&w[r][b]), tail ? _mm256_setzero_si256() : WBYTES(&w[r][b + 1])); \
            dw[r] = scale_pair(fp16(w[r][b].d), tail ? 0.0f : fp16(w[r][b + 1].d));               \
        }                                                                                          \
        for (int t = 0; t < T; t++) {                                                              \
            __m512i xv = pair512(q8_bytes(&x[t][b]), tail ? _mm256_setzero_si256() : q8_bytes(&x[t][b + 1])); \
            X[t] = SIGNED_X ? xv : to_unsigned512(xv);                                             \
            dx[t] = scale_pair(fp16(x[t][b].d), tail ? 0.0f : fp16(x[t][b + 1].d));                \
        }                                                                                          \
        for (int i = 0; i < (SIGNED_X ? T : R); i++) C[i] = START(SIGNED_X ? X[i] : W[i]);         \
        for (int r = 0; r < R; r++)                                                                \
            for (int t = 0; t < T; t++) {                                                          \
                __m512i isum = _mm512_dpbusd_epi32(C[SIGNED_X ? t : r], SIGNED_X ? W[r] : X[t],    \
                                                   SIGNED_X ? X[t] : W[r]);                        \
                acc[r][t] = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw[r], dx[t]), \
                                                  acc[r][t], m);                                   \
            }                                                                                      \
    }

/* R rows times T vectors, R <= TILE_R, T <= TILE_T, compile-time after
 * inlining. w[r] and x[t] point at each row's and vector's first block. */
#define DEFINE_TILE(NAME, STEP, WBLOCK)                                                            \
    static inline __attribute__((always_inline)) void NAME(int64_t nb, const WBLOCK *const *w, int R, \
                                                           const block_q8_0 *const *x, int T,      \
                                                           float *out, size_t ldo) {               \
        __m512 acc[TILE_R][TILE_T];                                                                \
        for (int r = 0; r < R; r++)                                                                \
            for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();                           \
        int64_t b = 0;                                                                             \
        for (; b + 2 <= nb; b += 2) STEP(b, 0, w, R, x, T, acc);                                   \
        if (b < nb) STEP(b, 1, w, R, x, T, acc);                                                   \
        for (int r = 0; r < R; r++)                                                                \
            for (int t = 0; t < T; t++) out[(size_t)t * ldo + (size_t)r] = finish512(acc[r][t]);   \
    }

DEFINE_STEP(step_q8_0, block_q8_0, q8_bytes, q8_start512, 0)
DEFINE_STEP(step_q4_0, block_q4_0, q4_bytes, q4_start512, 1)
DEFINE_TILE(tile_q8_0, step_q8_0, block_q8_0)
DEFINE_TILE(tile_q4_0, step_q4_0, block_q4_0)

/* Walks the nr x nt outputs in tiles of TILE_R rows by TILE_T vectors
 * (edges in smaller tiles). A single vector takes the dot product, which
 * gives the same bits and streams weights faster. */
#define DEFINE_GEMM(NAME, TILE, DOT, WBLOCK, QK)                                                   \
    void NAME(int64_t n, const void *w, size_t w_stride,   \
                                                    int nr, const void *xq, size_t x_stride, int nt, \
                                                    float *out, size_t ldo) {                      \
        if (nt == 1) {                                                                             \
            for (int r = 0; r < nr; r++) out[r] = DOT(n, (const char *)w + (size_t)r * w_stride, xq); \
            return;                                                                                \
        }                                                                                          \
        for (int r0 = 0; r0 < nr; r0 += TILE_R) {                                                  \
            const WBLOCK *wr[TILE_R];                                                              \
            int R = nr - r0 < TILE_R ? nr - r0 : TILE_R;                                           \
            for (int r = 0; r < R; r++) wr[r] = (const WBLOCK *)((const char *)w + (size_t)(r0 + r) * w_stride); \
            for (int t0 = 0; t0 < nt; t0 += TILE_T) {                                              \
                const block_q8_0 *xt[TILE_T];                                                      \
                int T = nt - t0 < TILE_T ? nt - t0 : TILE_T;                                       \
                for (int t = 0; t < T; t++) xt[t] = (const block_q8_0 *)((const char *)xq + (size_t)(t0 + t) * x_stride); \
                float *o = out + (size_t)t0 * ldo + (size_t)r0;                                    \
                if (R == TILE_R && T == TILE_T)                                                    \
                    TILE(n / QK, wr, TILE_R, xt, TILE_T, o, ldo);                                  \
                else                                                                               \
                    TILE(n / QK, wr, R, xt, T, o, ldo);                                            \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_GEMM(llm_vnni_gemm_q8_0, tile_q8_0, llm_vnni_dot_q8_0, block_q8_0, QK8_0)
DEFINE_GEMM(llm_vnni_gemm_q4_0, tile_q4_0, llm_vnni_dot_q4_0, block_q4_0, QK4_0)
