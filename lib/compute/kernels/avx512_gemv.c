/* Matrix-vector products of quantized weights (Q4_0, Q4_K, Q5_K; Q8_0
 * and Q6_K by their dot products, see llm_avx512_gemv) with one vector of Q8_0
 * activation blocks on AVX512-VNNI: the avx512 set's gemv (kernels.h),
 * for decoding.
 *
 * The dot products (dot_vnni.c, kernels_avx512.c) redo the activation
 * side's work for every row: widening fp16 scales one at a time, summing
 * activations for the offset and min terms. Here the activations of a
 * segment of up to SEG elements are laid out once per call, in the
 * calling thread's scratch, in the order the weight bytes of a 512-bit register come in,
 * with what the products need from them alone: per-lane starting values
 * of the integer sums (-off * sum x, off = 8 for Q4_0), the
 * scales dx as floats repeated over the lanes of their block, and for
 * Q4_K/Q5_K dx * (sum x) per block for the min terms. Then each row runs
 * against it, a step one 512-bit register of quants: 4 blocks of Q4_0,
 * 64 elements of a K-quant super-block. Block scales come out of the
 * weight bytes with word permutes (Q4_0) or a few vector operations
 * (K-quant packed scales) and are widened 16 at a time. Measured on Zen
 * 4, in cache, one core: Q4_0 27 GB/s of weights against the dot
 * product's 14.5, Q4_K and Q5_K 21-23 against 13.5. Q4_0 takes two
 * groups of 4 blocks per step: from memory, one core, 1.04-1.14x the speed
 * of one group per step (both in one process, alternately, by thread
 * CPU time, on a shared machine).
 *
 * Results: every int32 lane of vpdpbusd is an exact sum of four (with
 * the starting value: of four) products of the dot products' integer
 * sums; each lane is scaled in float by its block's scales (dw * dx;
 * K-quants dx * d * sc, the min term dx * sum x * dmin * m) and the lanes
 * are added in another order than the dot products add their blocks.
 * Every lane's value is at most the sum of |w x| over its elements (for
 * Q4_K/Q5_K the scale and min parts apart), so the outputs differ from
 * the dot products by float rounding of sums of terms bounded by
 * sum |w x| (Q4_K/Q5_K: sum |x| (|d sc q| + |dmin m|)), which stays
 * within 1e-5 of it for rows up to these models' (tests/test_kernels.c:
 * test_gemv). */
#include <immintrin.h>

#include "kernels_impl.h"

/* Activation elements per segment: a multiple of QK_K, and large enough
 * for the rows of the models at hand (up to 14336) in one segment: rows
 * longer than a segment are read in pieces, a pass over the rows per
 * segment, which streams from memory at a fraction of the speed. The
 * scratch takes 3 bytes per element (52 KB). */
#define SEG 16384

/* Bytes ahead of the row being read that each step asks the cache for:
 * on Zen 4 the hardware prefetcher alone left decoding 7-10% slower
 * (measured with one and two threads; 1 and 4 KB ahead did less). The
 * non-temporal hint (weights are read once per token) streamed Q4_0 and
 * Q4_K rows from memory 2-4% faster than the T0 hint, one core; T1 was
 * 22% slower. */
#define PREFETCH 2048

/* Vectors llm_avx512_gemv_multi takes at once. */
#define GEMV_VECS LLM_GEMV_VECS

/* One segment's activations, laid out for the type at hand: per 512-bit
 * register of weight quants, the register of activation bytes it meets
 * (x), the starting values of its integer lanes (off) and the scale of
 * each lane's block (dx); mb, Q4_K/Q5_K only: per super-block, lane 8 + j
 * is dx * (sum x) of activation block j, lanes 0-7 zero. */
typedef struct act_seg {
    __m512i x[SEG / 64];
    __m512i off[SEG / 64];
    __m512 dx[SEG / 64];
    __m512 mb[SEG / QK_K];
} act_seg;

/* 16 fp16 values, as floats. */
static inline __m512 halves_ps(const uint16_t h[16]) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h)); }

/* The 32 quants of activation block b. */
static inline __m256i act_q(const block_q8_0 *x, int b) { return _mm256_loadu_si256((const __m256i *)x[b].qs); }

static inline __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* -off * (sum of the four activation bytes) per lane. */
static inline __m512i start_values(__m512i x, int off) {
    return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), x));
}

/* Word indices of permutex2var_epi16 over 128 bytes of weights: lane i
 * takes word stride * (i / per) + skip + run * (i % per). */
static __m512i word_index(int stride, int per, int skip, int run) {
    uint16_t idx[32];
    for (int i = 0; i < 32; i++) idx[i] = (uint16_t)(stride * (i / per) + skip + run * (i % per));
    return _mm512_loadu_si512(idx);
}

/* Byte mask of the first n < 64 bytes. */
static inline __mmask64 first_bytes(int n) { return ((__mmask64)1 << n) - 1; }

/* ------------------------------------------------------------ Q4_0 */

/* Groups of 4 blocks (128 elements): x[2g] holds the first 16 quants of
 * each block (block k in 128-bit lane k), x[2g + 1] the last 16, the
 * order of a Q4_0 register's low and high nibbles. */
static void prep_q4_0(const block_q8_0 *x, int nb, act_seg *a) {
    for (int g = 0; g < (nb + 3) / 4; g++) {
        __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
        uint16_t d[16] = {0};
        for (int k = 0; k < 4 && 4 * g + k < nb; k++) {
            const block_q8_0 *b = &x[4 * g + k];
            lo = _mm512_mask_broadcast_i32x4(lo, (__mmask16)(0xf << 4 * k), _mm_loadu_si128((const __m128i *)b->qs));
            hi = _mm512_mask_broadcast_i32x4(hi, (__mmask16)(0xf << 4 * k), _mm_loadu_si128((const __m128i *)(b->qs + 16)));
            for (int i = 0; i < 4; i++) d[4 * k + i] = b->d;
        }
        a->x[2 * g] = lo;
        a->x[2 * g + 1] = hi;
        a->off[g] = _mm512_add_epi32(start_values(lo, 8), start_values(hi, 8));
        a->dx[g] = halves_ps(d);
    }
}

/* Group g's share of a Q4_0 row against one vector's segment, added to
 * acc: ql and qh hold the low and high nibbles of its 64 quant bytes
 * (block k's in 128-bit lane k), dw its blocks' scales, each over its 4
 * lanes. */
static inline __m512 group_q4_0(__m512i ql, __m512i qh, __m512 dw, const act_seg *a, int g, __m512 acc) {
    __m512i isum = _mm512_dpbusd_epi32(a->off[g], ql, a->x[2 * g]);
    isum = _mm512_dpbusd_epi32(isum, qh, a->x[2 * g + 1]);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, a->dx[g]), acc);
}

/* A row of nb Q4_0 blocks against nv activation segments a[0..nv):
 * 144 bytes (8 blocks, two groups) per step, into two accumulators per
 * vector, then the last group or two one at a time, the very last one's
 * loads masked to its blocks. Word permutes gather the quant bytes and
 * the block scales: over bytes 0-127 the first group's quants and all 8
 * scales (the last block's scale is bytes 126-127), over bytes 64-143
 * the second group's quants. Prefetches go every 48 bytes, so that every
 * cache line of the row is asked for. The unpacked quants meet each
 * vector in turn with the same operations in the same order, so sums[v]
 * is what the row gives with a[v] alone. */
static inline __attribute__((always_inline)) void row_q4_0_n(int nv, int nb, const char *w, const act_seg *a,
                                                             float *sums) {
    const __m512i qidx = word_index(9, 8, 1, 1), qidx2 = word_index(9, 8, 5, 1), didx = word_index(9, 4, 0, 0);
    const __m512i low = _mm512_set1_epi8(0x0f);
    __m512 acc[GEMV_VECS], acc2[GEMV_VECS];
    for (int v = 0; v < nv; v++) acc[v] = acc2[v] = _mm512_setzero_ps();
    int g = 0;
    for (; 4 * g + 8 <= nb; g += 2) {
        const char *p = w + (size_t)g * 4 * sizeof(block_q4_0);
        for (int ahead = 0; ahead < 144; ahead += 48) _mm_prefetch(p + PREFETCH + ahead, _MM_HINT_NTA);
        __m512i A = _mm512_loadu_si512(p), B = _mm512_loadu_si512(p + 64);
        __m512i C = _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)(p + 128)));
        __m512i d = _mm512_permutex2var_epi16(A, didx, B);
        __m512i q = _mm512_permutex2var_epi16(A, qidx, B), q2 = _mm512_permutex2var_epi16(B, qidx2, C);
        __m512i ql = _mm512_and_si512(q, low), qh = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
        __m512i ql2 = _mm512_and_si512(q2, low), qh2 = _mm512_and_si512(_mm512_srli_epi16(q2, 4), low);
        __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(d)), dw2 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(d, 1));
        for (int v = 0; v < nv; v++) {
            acc[v] = group_q4_0(ql, qh, dw, &a[v], g, acc[v]);
            acc2[v] = group_q4_0(ql2, qh2, dw2, &a[v], g + 1, acc2[v]);
        }
    }
    for (; 4 * g < nb; g++) {
        const char *p = w + (size_t)g * 4 * sizeof(block_q4_0);
        int full = 4 * g + 4 <= nb;
        _mm_prefetch(p + PREFETCH, _MM_HINT_NTA);
        __m512i A = full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(first_bytes((nb - 4 * g) * 18), p);
        __m512i B = full ? _mm512_zextsi128_si512(_mm_loadl_epi64((const __m128i *)(p + 64))) : _mm512_setzero_si512();
        __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(A, didx, B)));
        __m512i q = _mm512_permutex2var_epi16(A, qidx, B);
        __m512i ql = _mm512_and_si512(q, low), qh = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
        for (int v = 0; v < nv; v++) acc[v] = group_q4_0(ql, qh, dw, &a[v], g, acc[v]);
    }
    for (int v = 0; v < nv; v++) sums[v] = _mm512_reduce_add_ps(_mm512_add_ps(acc[v], acc2[v]));
}

static float row_q4_0(int nb, const char *w, const act_seg *a) {
    float sum;
    row_q4_0_n(1, nb, w, a, &sum);
    return sum;
}

/* ------------------------------------------------------------ Q4_K, Q5_K */

/* A register of 64 qs bytes holds, in its low nibbles, sub-block 2k in
 * bytes 0-31 and 2k + 2 in bytes 32-63, in its high nibbles 2k + 1 and
 * 2k + 3 (k = 0 for qs bytes 0-63, 2 for 64-127). Quant register z (the
 * low and high nibbles of the first 64 bytes, then of the last) meets
 * activation blocks affine_sub[z][0] and [1], its halves. */
static const int affine_sub[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};

static void prep_affine(const block_q8_0 *x, int nsb, act_seg *a) {
    for (int s = 0; s < nsb; s++) {
        const block_q8_0 *xs = x + 8 * s;
        float mb[16] = {0};
        for (int z = 0; z < 4; z++) {
            int j0 = affine_sub[z][0], j1 = affine_sub[z][1];
            uint16_t d[16];
            for (int i = 0; i < 8; i++) d[i] = xs[j0].d, d[8 + i] = xs[j1].d;
            __m512i v = join256(act_q(xs, j0), act_q(xs, j1));
            __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), v);
            a->x[4 * s + z] = v;
            a->dx[4 * s + z] = halves_ps(d);
            mb[8 + j0] = _cvtsh_ss(xs[j0].d) * (float)_mm512_mask_reduce_add_epi32(0x00ff, sums);
            mb[8 + j1] = _cvtsh_ss(xs[j1].d) * (float)_mm512_mask_reduce_add_epi32(0xff00, sums);
        }
        a->mb[s] = _mm512_loadu_ps(mb);
    }
}

/* A Q4_K/Q5_K super-block's sub-block scales from its first 16 bytes
 * (d, dmin, then the 12 packed bytes as words u0, u1, u2): lane j is
 * d * sc[j], lane 8 + j dmin * m[j], j < 8. llm_kquant_unpack's
 * arithmetic on the words at once: sc[0..3] = u0 & 0x3f.., m[0..3] =
 * u1 & 0x3f.., sc[4..7] = u2's low nibbles with u0's top bits as bits 4,
 * 5 (u0 >> 2 & 0x30..), m[4..7] = u2's high nibbles with u1's top bits. */
static inline __m512 affine_scales(const char *blk) {
    __m128i h = _mm_loadu_si128((const __m128i *)blk);
    __m128i a = _mm_srlv_epi32(_mm_shuffle_epi32(h, _MM_SHUFFLE(3, 2, 3, 1)), _mm_setr_epi32(0, 0, 0, 4));
    __m128i b = _mm_srli_epi32(_mm_shuffle_epi32(h, _MM_SHUFFLE(2, 2, 1, 1)), 2);
    __m128i sel = _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f);
    /* a's bits where sel is set, else b's; then 6 bits per byte: the
     * words sc[0..3], sc[4..7], m[0..3], m[4..7] */
    __m128i sm = _mm_and_si128(_mm_ternarylogic_epi32(sel, a, b, 0xca), _mm_set1_epi8(0x3f));
    __m256i dd = _mm256_permutexvar_epi16(_mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                          _mm256_castsi128_si256(h));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sm)), _mm512_cvtph_ps(dd));
}

/* A row of nsb Q4_K (five false) or Q5_K super-blocks. Per quant
 * register: one vpdpbusd, its lanes times dx, times the lane's d * sc
 * (a permute of the scales), into one of two accumulators (registers
 * alternating, halving the chain of dependent multiply-adds); the min
 * terms, dmin * m times dx * sum x, go to a third, one multiply-add per
 * super-block. Q5_K's
 * fifth bits: bit j of qh[t] adds 16 to element t of sub-block j. */
static inline __attribute__((always_inline)) float row_affine(bool five, int nsb, const char *w,
                                                               const act_seg *a) {
    const size_t bs = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t qs_at = five ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs);
    const __m512i low = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
    __m512i pick[4], bit[4];
    for (int z = 0; z < 4; z++) {
        pick[z] = _mm512_mask_set1_epi32(_mm512_set1_epi32(affine_sub[z][0]), 0xff00, affine_sub[z][1]);
        bit[z] = _mm512_mask_set1_epi8(_mm512_set1_epi8((char)(1 << affine_sub[z][0])), (__mmask64)0xffffffff << 32,
                                       (char)(1 << affine_sub[z][1]));
    }
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}, accm = _mm512_setzero_ps();
    for (int s = 0; s < nsb; s++) {
        const char *p = w + (size_t)s * bs;
        for (size_t ahead = 0; ahead < bs; ahead += 64) _mm_prefetch(p + PREFETCH + ahead, _MM_HINT_NTA);
        __m512 sc = affine_scales(p);
        accm = _mm512_fmadd_ps(sc, a->mb[s], accm);
        __m512i v0 = _mm512_loadu_si512(p + qs_at), v1 = _mm512_loadu_si512(p + qs_at + 64);
        __m512i q[4] = {_mm512_and_si512(v0, low), _mm512_and_si512(_mm512_srli_epi16(v0, 4), low),
                        _mm512_and_si512(v1, low), _mm512_and_si512(_mm512_srli_epi16(v1, 4), low)};
        if (five) {
            __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(p + offsetof(block_q5_K, qh))));
            for (int z = 0; z < 4; z++)
                q[z] = _mm512_mask_add_epi8(q[z], _mm512_test_epi8_mask(qh, bit[z]), q[z], sixteen);
        }
        for (int z = 0; z < 4; z++) {
            __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[z], a->x[4 * s + z]);
            __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(isum), a->dx[4 * s + z]);
            acc[z & 1] = _mm512_fmadd_ps(t, _mm512_permutexvar_ps(pick[z], sc), acc[z & 1]);
        }
    }
    return _mm512_reduce_add_ps(_mm512_sub_ps(_mm512_add_ps(acc[0], acc[1]), accm));
}

/* ------------------------------------------------------------ the product */

typedef void (*prep_fn)(const block_q8_0 *x, int nblk, act_seg *a);
typedef float (*row_fn)(int nblk, const char *w, const act_seg *a);

static float row_q4_k(int nsb, const char *w, const act_seg *a) { return row_affine(false, nsb, w, a); }
static float row_q5_k(int nsb, const char *w, const act_seg *a) { return row_affine(true, nsb, w, a); }

typedef struct gemv_form {
    int elems;    /* elements per weight block */
    size_t bytes; /* bytes per weight block */
    prep_fn prep;
    row_fn row;
} gemv_form;

static gemv_form form_of(uint32_t type) {
    switch (type) {
    case LLM_DT_Q4_0: return (gemv_form){QK4_0, sizeof(block_q4_0), prep_q4_0, row_q4_0};
    case LLM_DT_Q4_K: return (gemv_form){QK_K, sizeof(block_q4_K), prep_affine, row_q4_k};
    default: return (gemv_form){QK_K, sizeof(block_q5_K), prep_affine, row_q5_k};
    }
}

size_t llm_avx512_gemv_scratch_size(void) { return GEMV_VECS * sizeof(act_seg) + 64; }

/* Q8_0 and Q6_K rows go to the dot products: their 256-bit loads
 * streamed from memory faster than 512-bit versions of the loop below
 * (measured on Zen 4, one core: Q8_0 24 against 15 GB/s, 28 against 25
 * tokens/s with two; Q6_K 17.6 against 15 GB/s), which gained little in
 * cache. The other types: segment by segment, the activations laid out
 * in scratch, then each row's part of the segment added to its output.
 * One row at a time: rows run together (activation registers loaded once
 * for several) were as fast in cache, but their interleaved streams went
 * from memory at half the speed on Zen 4, software prefetching or not. */
void llm_avx512_gemv(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *xq, float *out,
                     void *scratch) {
    if (type == LLM_DT_Q8_0 || type == LLM_DT_Q6_K) {
        float (*dot)(int64_t, const void *, const void *) =
            type == LLM_DT_Q8_0 ? llm_vnni_dot_q8_0 : llm_kernels_avx512.dot[LLM_DT_Q6_K];
        for (int r = 0; r < nr; r++) out[r] = dot(n, (const char *)w + (size_t)r * w_stride, xq);
        return;
    }
    const gemv_form f = form_of(type);
    const block_q8_0 *x = xq;
    act_seg *a = (act_seg *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    for (int r = 0; r < nr; r++) out[r] = 0.0f;
    for (int64_t s = 0; s < n; s += SEG) {
        int nblk = (int)((n - s < SEG ? n - s : SEG) / f.elems);
        const char *ws = (const char *)w + (size_t)(s / f.elems) * f.bytes;
        f.prep(x + s / QK8_0, nblk, a);
        for (int r = 0; r < nr; r++) out[r] += f.row(nblk, ws + (size_t)r * w_stride, a);
    }
}

/* Rows of Q4_0 against nv vectors, segment by segment as in
 * llm_avx512_gemv, each vector's segment laid out in its own part of the
 * scratch; row_q4_0_n reads each weight register once for all of them,
 * with the constant nv the compiler unrolls. */
static void gemv_q4_0_n(int nv, int64_t n, const char *w, size_t w_stride, int nr, const char *xq, size_t x_stride,
                        float *out, size_t out_stride, act_seg *a) {
    for (int v = 0; v < nv; v++)
        for (int r = 0; r < nr; r++) out[(size_t)v * out_stride + (size_t)r] = 0.0f;
    for (int64_t s = 0; s < n; s += SEG) {
        int nblk = (int)((n - s < SEG ? n - s : SEG) / QK4_0);
        const char *ws = w + (size_t)(s / QK4_0) * sizeof(block_q4_0);
        for (int v = 0; v < nv; v++) prep_q4_0((const block_q8_0 *)(xq + (size_t)v * x_stride) + s / QK8_0, nblk, &a[v]);
        for (int r = 0; r < nr; r++) {
            float sums[GEMV_VECS];
            row_q4_0_n(nv, nblk, ws + (size_t)r * w_stride, a, sums);
            for (int v = 0; v < nv; v++) out[(size_t)v * out_stride + (size_t)r] += sums[v];
        }
    }
}

void llm_avx512_gemv_multi(uint32_t type, int64_t n, const void *w, size_t w_stride, int nr, const void *xq,
                           size_t x_stride, int nv, float *out, size_t out_stride, void *scratch) {
    act_seg *a = (act_seg *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    switch (type == LLM_DT_Q4_0 ? nv : 0) {
    case 2: gemv_q4_0_n(2, n, w, w_stride, nr, xq, x_stride, out, out_stride, a); return;
    case 3: gemv_q4_0_n(3, n, w, w_stride, nr, xq, x_stride, out, out_stride, a); return;
    case 4: gemv_q4_0_n(4, n, w, w_stride, nr, xq, x_stride, out, out_stride, a); return;
    case 5: gemv_q4_0_n(5, n, w, w_stride, nr, xq, x_stride, out, out_stride, a); return;
    default:
        for (int v = 0; v < nv; v++)
            llm_avx512_gemv(type, n, w, w_stride, nr, (const char *)xq + (size_t)v * x_stride, out + (size_t)v * out_stride,
                            scratch);
    }
}
