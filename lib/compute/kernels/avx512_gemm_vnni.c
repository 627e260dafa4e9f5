/* Batched products of quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)
 * with Q8_0 activation blocks on AVX512-VNNI: prompt processing, where
 * every weight row meets hundreds of activation vectors.
 *
 * Every type is first seen as integers: element i of a row is
 *     w[i] = scale[s] * (q[i] - off) - min[s],   s = i / sub,
 * q an unsigned byte, scale and min floats per sub-block of sub = 32
 * elements (16 for Q6_K), off a per-type constant (128 for Q8_0 made
 * unsigned, 8 for Q4_0, 32 for Q6_K, 0 for Q4_K/Q5_K, which have mins).
 * With the activation block's quants a and scale dx,
 *     sum_i w[i] x[i] = dx * (scale * (sum q a - off * sum a) - min * sum a)
 * where the bracketed integer sums are exact.
 *
 * A panel is 16 weight rows in that form, repacked so that one 512-bit
 * register holds four consecutive q of each of the 16 rows (lane r = row
 * r). vpdpbusd multiplies it by four activation bytes broadcast to every
 * lane, so each instruction advances 16 rows by four elements, for one
 * vector; a tile runs up to TILE_T vectors against the panel, reusing
 * each loaded weight register for all of them. The panel is built once
 * (per 16 rows, in the calling thread's scratch, never stored) and serves
 * all the vectors of the batch; the model file stays untouched.
 *
 * The activations are prepared once per product (gemm_act): per vector
 * its quants, per sub-block -off * sum a (the integer sum's starting
 * value), per block dx and -dx * sum a (for the min term) as floats.
 *
 * Results: the integer sums are those of the dot products; the float
 * steps (scale, then dx, added block by block per row) differ from the
 * dot products' order, so outputs agree with them to float rounding, not
 * bit for bit (tests/test_kernels.c bounds the difference). */
#include <immintrin.h>
#include <string.h>

#include "kernels_impl.h"

#define PANEL_R 16
#define TILE_T 8

/* ------------------------------------------------------------ the integer form */

typedef struct qform {
    int sub;      /* elements per sub-block: 32, or 16 for Q6_K */
    int off;      /* subtracted from every q */
    bool has_min; /* Q4_K, Q5_K: a min per sub-block */
    int block;    /* elements per weight block (32 or QK_K) */
} qform;

static qform form_of(uint32_t type) {
    switch (type) {
    case LLM_DT_Q8_0: return (qform){32, 128, false, QK8_0};
    case LLM_DT_Q4_0: return (qform){32, 8, false, QK4_0};
    case LLM_DT_Q4_K: return (qform){32, 0, true, QK_K};
    case LLM_DT_Q5_K: return (qform){32, 0, true, QK_K};
    default: return (qform){16, 32, false, QK_K}; /* Q6_K */
    }
}

static inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

static inline __m256i nibbles_lo(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(0x0f)); }
static inline __m256i nibbles_hi(__m256i v) { return nibbles_lo(_mm256_srli_epi16(v, 4)); }
static inline __m256i load32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline void store32(uint8_t *p, __m256i v) { _mm256_storeu_si256((__m256i *)p, v); }

/* One weight block in integer form: its q bytes from q on, the scales
 * (and mins) of its sub-blocks from sc (and mn) on. One unpacker per
 * type, each the layout of quant.h read with 256-bit operations. */
typedef void (*unpack_fn)(const void *blk, uint8_t *q, float *sc, float *mn);

static void unpack_q8_0(const void *blk, uint8_t *q, float *sc, float *mn) {
    (void)mn;
    const block_q8_0 *b = blk;
    store32(q, _mm256_xor_si256(load32((const uint8_t *)b->qs), _mm256_set1_epi8((char)0x80)));
    sc[0] = fp16(b->d);
}

static void unpack_q4_0(const void *blk, uint8_t *q, float *sc, float *mn) {
    (void)mn;
    const block_q4_0 *b = blk;
    __m128i v = _mm_loadu_si128((const __m128i *)b->qs), m = _mm_set1_epi8(0x0f);
    _mm_storeu_si128((__m128i *)q, _mm_and_si128(v, m));
    _mm_storeu_si128((__m128i *)(q + 16), _mm_and_si128(_mm_srli_epi16(v, 4), m));
    sc[0] = fp16(b->d);
}

/* Q4_K and Q5_K: 32 bytes of qs hold sub-blocks 2c (low nibbles) and
 * 2c + 1 (high); Q5_K's fifth bit of element i is bit i / 32 of qh[i % 32]. */
static void unpack_q4_K(const void *blk, uint8_t *q, float *sc, float *mn) {
    const block_q4_K *b = blk;
    llm_kquant_sub_scales(b->d, b->dmin, b->scales, sc, mn);
    for (int c = 0; c < 4; c++) {
        __m256i v = load32(b->qs + 32 * c);
        store32(q + 64 * c, nibbles_lo(v));
        store32(q + 64 * c + 32, nibbles_hi(v));
    }
}

static void unpack_q5_K(const void *blk, uint8_t *q, float *sc, float *mn) {
    const block_q5_K *b = blk;
    llm_kquant_sub_scales(b->d, b->dmin, b->scales, sc, mn);
    __m256i h = load32(b->qh), one = _mm256_set1_epi8(1);
    for (int c = 0; c < 4; c++) {
        __m256i v = load32(b->qs + 32 * c);
        __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * c), one), 4);
        __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * c + 1), one), 4);
        store32(q + 64 * c, _mm256_or_si256(nibbles_lo(v), h0));
        store32(q + 64 * c + 32, _mm256_or_si256(nibbles_hi(v), h1));
    }
}

/* Q6_K: per half of 128 elements, quarter j takes low bits from ql
 * (bytes 32 (j % 2) on, low nibbles for j < 2, high after) and two high
 * bits from qh at bit 2j. */
static void unpack_q6_K(const void *blk, uint8_t *q, float *sc, float *mn) {
    (void)mn;
    const block_q6_K *b = blk;
    float d = fp16(b->d);
    for (int j = 0; j < QK_K / 16; j++) sc[j] = d * (float)b->scales[j];
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b->ql + 64 * half;
        __m256i h = load32(b->qh + 32 * half), three = _mm256_set1_epi8(3);
        for (int j = 0; j < 4; j++) {
            __m256i l = load32(ql + 32 * (j % 2));
            __m256i lo = j < 2 ? nibbles_lo(l) : nibbles_hi(l);
            __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * j), three), 4);
            store32(q + 128 * half + 32 * j, _mm256_or_si256(lo, hi));
        }
    }
}

static unpack_fn unpacker(uint32_t type) {
    switch (type) {
    case LLM_DT_Q8_0: return unpack_q8_0;
    case LLM_DT_Q4_0: return unpack_q4_0;
    case LLM_DT_Q4_K: return unpack_q4_K;
    case LLM_DT_Q5_K: return unpack_q5_K;
    default: return unpack_q6_K;
    }
}

/* ------------------------------------------------------------ panels */

/* Per sub-block, a panel holds G = sub / 4 registers of q (register g:
 * lane r = bytes 4g..4g+3 of row r's sub-block), then the 16 scales, then
 * (types with mins) the 16 mins. */
static size_t panel_stride(qform f) { return (size_t)(f.sub / 4) * 64 + 64 + (f.has_min ? 64 : 0); }

/* Scratch per thread: the panel, and the 16 rows unpacked row-major
 * before they are interleaved. */
static size_t scratch_size(int64_t n) {
    size_t nsub = (size_t)n / 16;
    return nsub * (4 * 64 + 128) + PANEL_R * ((size_t)n + 2 * nsub * sizeof(float)) + 64;
}

/* Builds the panel of rows [0, nr) (nr <= 16; missing rows are zero, so
 * their outputs are 0 and never stored) in scratch. The gathers index
 * with 32-bit offsets up to 16 n: model.c caps rows at 2^18 elements. */
static const uint8_t *build_panel(qform f, unpack_fn unpack, size_t blk_bytes, int64_t n, const void *w,
                                  size_t w_stride, int nr, void *scratch) {
    int64_t nsub = n / f.sub, spb = f.block / f.sub;
    size_t stride = panel_stride(f);
    uint8_t *panel = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint8_t *q = panel + (size_t)nsub * stride;
    float *sc = (float *)(q + PANEL_R * (size_t)n), *mn = sc + PANEL_R * nsub;
    for (int r = 0; r < PANEL_R; r++) {
        uint8_t *qr = q + (size_t)r * (size_t)n;
        float *scr = sc + r * nsub, *mnr = mn + r * nsub;
        if (r >= nr) {
            memset(qr, 0, (size_t)n);
            memset(scr, 0, (size_t)nsub * sizeof *scr);
            memset(mnr, 0, (size_t)nsub * sizeof *mnr);
            continue;
        }
        const char *row = (const char *)w + (size_t)r * w_stride;
        for (int64_t b = 0; b < n / f.block; b++)
            unpack(row + (size_t)b * blk_bytes, qr + b * f.block, scr + b * spb, mnr + b * spb);
    }
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)n));
    const __m512i srows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)nsub));
    for (int64_t s = 0; s < nsub; s++) {
        uint8_t *p = panel + (size_t)s * stride;
        for (int g = 0; g < f.sub / 4; g++)
            _mm512_store_si512(p + 64 * g, _mm512_i32gather_epi32(rows, q + s * f.sub + 4 * g, 1));
        p += f.sub / 4 * 64;
        _mm512_store_ps(p, _mm512_i32gather_ps(srows, sc + s, 4));
        if (f.has_min) _mm512_store_ps(p + 64, _mm512_i32gather_ps(srows, mn + s, 4));
    }
    return panel;
}

/* ------------------------------------------------------------ activations */

/* Where the prepared activations of nt vectors of n elements live in one
 * buffer: the quants, the integer sums' starting values per sub-block of
 * 16 or 32, dx and -dx * sum a per block of 32. */
typedef struct act_view {
    const int8_t *qs;     /* (nt, qs_pitch(n)) */
    const int32_t *start; /* (nt, n / sub) */
    const float *dx;      /* (nt, n / 32) */
    const float *nsx;     /* (nt, n / 32) */
} act_view;

/* Bytes from one vector's quants to the next: whole cache lines plus
 * one, so that the vectors a tile reads at once do not all fall into the
 * same L1 sets when n is a power of two. */
static size_t qs_pitch(int64_t n) { return ((size_t)n + 63) / 64 * 64 + 64; }

static size_t act_size(int64_t n, int nt) {
    return (size_t)nt * (qs_pitch(n) + (size_t)(n / 16) * sizeof(int32_t) + 2 * (size_t)(n / 32) * sizeof(float)) + 64;
}

static act_view act_layout(const void *act, int64_t n, int nt) {
    act_view a;
    a.qs = act;
    a.start = (const int32_t *)(a.qs + (size_t)nt * qs_pitch(n));
    a.dx = (const float *)(a.start + (size_t)nt * (size_t)(n / 16));
    a.nsx = a.dx + (size_t)nt * (size_t)(n / 32);
    return a;
}

static int32_t sum_bytes(const int8_t *a, int len) {
    int32_t s = 0;
    for (int i = 0; i < len; i++) s += a[i];
    return s;
}

/* Vectors [t0, t1) of nt, from their Q8_0 blocks. */
static void prepare_act(uint32_t type, int64_t n, const void *xq, size_t x_stride, int nt, int t0, int t1,
                        void *act) {
    qform f = form_of(type);
    act_view a = act_layout(act, n, nt);
    int8_t *qs = (int8_t *)a.qs;
    int32_t *start = (int32_t *)a.start;
    float *dx = (float *)a.dx, *nsx = (float *)a.nsx;
    int64_t nb = n / QK8_0, nsub = n / f.sub;
    for (int t = t0; t < t1; t++) {
        const block_q8_0 *x = (const block_q8_0 *)((const char *)xq + (size_t)t * x_stride);
        for (int64_t b = 0; b < nb; b++) {
            int8_t *dst = qs + (size_t)t * qs_pitch(n) + b * QK8_0;
            memcpy(dst, x[b].qs, QK8_0);
            float d = fp16(x[b].d);
            dx[(size_t)t * nb + b] = d;
            nsx[(size_t)t * nb + b] = -d * (float)sum_bytes(dst, QK8_0);
            for (int j = 0; j < QK8_0 / f.sub; j++)
                start[(size_t)t * nsub + b * (QK8_0 / f.sub) + j] = -f.off * sum_bytes(dst + j * f.sub, f.sub);
        }
    }
}

/* ------------------------------------------------------------ tiles */

/* The panel times T vectors (T <= TILE_T; G, HAS_MIN and T are constants
 * after inlining): per sub-block, each vector's integer sums start at
 * -off * sum a, take G steps of four elements, then join the float sums
 * as (isum * scale) * dx [+ min * (-dx sum a)]. */
static inline __attribute__((always_inline)) void tile(const uint8_t *panel, int64_t nsub, int G, bool HAS_MIN,
                                                       act_view a, int64_t n, int t0, int T, float *out,
                                                       size_t ldo, __mmask16 rmask) {
    const int spb = 32 / (4 * G); /* sub-blocks per activation block */
    const size_t stride = (size_t)G * 64 + 64 + (HAS_MIN ? 64 : 0);
    const int64_t nb = n / 32;
    __m512 acc[TILE_T];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const size_t pitch = qs_pitch(n);
    const int8_t *qs = a.qs + (size_t)t0 * pitch;
    const int32_t *start = a.start + (size_t)t0 * (size_t)nsub;
    const float *dx = a.dx + (size_t)t0 * (size_t)nb, *nsx = a.nsx + (size_t)t0 * (size_t)nb;
    for (int64_t s = 0; s < nsub; s++) {
        const uint8_t *p = panel + (size_t)s * stride;
        __m512i isum[TILE_T];
        for (int t = 0; t < T; t++) isum[t] = _mm512_set1_epi32(start[(size_t)t * nsub + s]);
        for (int g = 0; g < G; g++) {
            __m512i wv = _mm512_load_si512(p + 64 * g);
            for (int t = 0; t < T; t++) {
                int32_t x4;
                memcpy(&x4, qs + (size_t)t * pitch + s * 4 * G + 4 * g, sizeof x4);
                isum[t] = _mm512_dpbusd_epi32(isum[t], wv, _mm512_set1_epi32(x4));
            }
        }
        __m512 sc = _mm512_load_ps(p + 64 * G);
        int64_t b = s / spb;
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum[t]), sc),
                                     _mm512_set1_ps(dx[(size_t)t * nb + b]), acc[t]);
        if (HAS_MIN) {
            __m512 mn = _mm512_load_ps(p + 64 * G + 64);
            for (int t = 0; t < T; t++) acc[t] = _mm512_fmadd_ps(mn, _mm512_set1_ps(nsx[(size_t)t * nb + b]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(out + (size_t)(t0 + t) * ldo, rmask, acc[t]);
}

/* All nt vectors against one panel, TILE_T at a time, the last tile
 * smaller; one instance per integer form. */
#define DEFINE_PANEL_RUN(NAME, G, HAS_MIN)                                                          \
    static void NAME(const uint8_t *panel, int64_t nsub, act_view a, int64_t n, int nt, float *out,  \
                     size_t ldo, __mmask16 rmask) {                                                 \
        int t0 = 0;                                                                                 \
        for (; t0 + TILE_T <= nt; t0 += TILE_T) tile(panel, nsub, G, HAS_MIN, a, n, t0, TILE_T, out, ldo, rmask); \
        switch (nt - t0) {                                                                          \
        case 7: tile(panel, nsub, G, HAS_MIN, a, n, t0, 7, out, ldo, rmask); break;                 \
        case 6: tile(panel, nsub, G, HAS_MIN, a, n, t0, 6, out, ldo, rmask); break;                 \
        case 5: tile(panel, nsub, G, HAS_MIN, a, n, t0, 5, out, ldo, rmask); break;                 \
        case 4: tile(panel, nsub, G, HAS_MIN, a, n, t0, 4, out, ldo, rmask); break;                 \
        case 3: tile(panel, nsub, G, HAS_MIN, a, n, t0, 3, out, ldo, rmask); break;                 \
        case 2: tile(panel, nsub, G, HAS_MIN, a, n, t0, 2, out, ldo, rmask); break;                 \
        case 1: tile(panel, nsub, G, HAS_MIN, a, n, t0, 1, out, ldo, rmask); break;                 \
        }                                                                                           \
    }

DEFINE_PANEL_RUN(run_plain, 8, false)
DEFINE_PANEL_RUN(run_min, 8, true)
DEFINE_PANEL_RUN(run_16, 4, false)

/* ------------------------------------------------------------ entry points */

size_t llm_vnni_gemm_act_size(int64_t n, int nt) { return act_size(n, nt); }

void llm_vnni_gemm_act(uint32_t type, int64_t n, const void *xq, size_t x_stride, int nt, int t0, int t1,
                       void *act) {
    prepare_act(type, n, xq, x_stride, nt, t0, t1, act);
}

size_t llm_vnni_gemm_scratch_size(int64_t n) { return scratch_size(n); }

void llm_vnni_gemm(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *act, int nt,
                   float *out, size_t ldo, void *scratch) {
    qform f = form_of(type);
    unpack_fn unpack = unpacker(type);
    size_t blk_bytes = llm_dtype(type)->size;
    act_view a = act_layout(act, n, nt);
    int64_t nsub = n / f.sub;
    for (int r0 = 0; r0 < nr; r0 += PANEL_R) {
        int rows = nr - r0 < PANEL_R ? nr - r0 : PANEL_R;
        const uint8_t *panel =
            build_panel(f, unpack, blk_bytes, n, (const char *)w + (size_t)r0 * w_stride, w_stride, rows, scratch);
        __mmask16 rmask = (__mmask16)((1u << rows) - 1);
        float *o = out + r0;
        if (f.sub == 16)
            run_16(panel, nsub, a, n, nt, o, ldo, rmask);
        else if (f.has_min)
            run_min(panel, nsub, a, n, nt, o, ldo, rmask);
        else
            run_plain(panel, nsub, a, n, nt, o, ldo, rmask);
    }
}
