#include "matmul.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"
#include "quant.h"

/* Batches from this size on use sgemm for float weights; below it the
 * weight-streaming dot products are as fast and keep results exact. */
#define BLAS_MIN_BATCH 32
#define BLAS_TILE_ROWS 512
/* Batches from this size on use the set's batched products, when it has
 * them for the type: building a panel costs about as much as running
 * five vectors through the dot products (measured on Zen 4). */
#define GEMM_MIN_BATCH (LLM_MATMUL_EXACT + 1)

llm_status llm_compute_init(llm_compute *mc, llm_pool *pool, const llm_kernels *k, int n_batch,
                            int64_t max_in, llm_error *err) {
    memset(mc, 0, sizeof *mc);
    mc->pool = pool;
    mc->k = k;
    mc->xq_size = (size_t)n_batch * (size_t)((max_in + QK8_0 - 1) / QK8_0) * sizeof(block_q8_0);
    mc->xq = llm_malloc(mc->xq_size ? mc->xq_size : 1);
    if (!mc->xq)
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %zu bytes of quantized activations", mc->xq_size);
    bool gemm = k->gemm && n_batch >= GEMM_MIN_BATCH;
    if (gemm && !(mc->act = llm_malloc(k->gemm_act_size(max_in, n_batch))))
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for batched products");
    for (uint32_t t = 0; gemm && t < 64; t++)
        if (k->gemm_takes(t)) mc->gemm_types |= (uint64_t)1 << t;
    /* one scratch per thread serves both: products run one at a time */
    size_t gemm_scratch = gemm ? k->gemm_scratch_size(max_in) : 0, gemv_scratch = k->gemv ? k->gemv_scratch_size() : 0;
    mc->scratch_size = gemm_scratch > gemv_scratch ? gemm_scratch : gemv_scratch;
    if (mc->scratch_size && !(mc->scratch = llm_malloc((size_t)llm_pool_size(pool) * mc->scratch_size)))
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the products' scratch");
    if (n_batch >= BLAS_MIN_BATCH) {
        mc->wtile = llm_malloc((size_t)BLAS_TILE_ROWS * (size_t)max_in * sizeof(float));
        if (!mc->wtile) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a weight tile");
    }
    return LLM_OK;
}

void llm_compute_free(llm_compute *mc) {
    free(mc->xq);
    free(mc->wtile);
    free(mc->act);
    free(mc->scratch);
    memset(mc, 0, sizeof *mc);
}

bool llm_compute_stopped(llm_compute *mc, int ith) {
    if (atomic_load_explicit(&mc->stopped, memory_order_relaxed)) return true;
    if (ith != 0 || !mc->abort_cb || !mc->abort_cb(mc->abort_ud)) return false;
    atomic_store_explicit(&mc->stopped, true, memory_order_relaxed);
    return true;
}

/* Activations meet rows of this type as Q8_0 blocks (the quantized types). */
static bool acts_q8_0(uint32_t type) { return llm_dtype(type)->act_type == LLM_DT_Q8_0; }

/* Where the kernel set has no batched product for a type, batches of Q8_0
 * and Q4_0 weights still run on the integer dot products (batched results
 * then equal one-token ones exactly); every other type, the K-quants
 * included, is widened to floats a tile at a time for sgemm. */
static bool batch_on_dots(uint32_t type) { return type == LLM_DT_Q8_0 || type == LLM_DT_Q4_0; }

typedef struct matmul_task {
    llm_compute *mc;
    const llm_kernels *k;
    float *out;
    const llm_tensor *w;
    const void *x;          /* floats, or Q8_0 blocks for quantized and K-quant weights */
    size_t x_stride;        /* bytes from one activation vector to the next */
    int n;
} matmul_task;

/* Output rows [r0, r1) for every vector of the batch: each weight row is
 * read once and meets all vectors while it is in cache. Quantized weights
 * go to the set's matrix-vector product where it has one: for several
 * vectors at once where it can (gemv_multi, each weight register unpacked
 * once for all of them), else a vector at a time over the range's rows
 * (which stay in cache between vectors). */
static void matmul_rows(const matmul_task *t, int64_t r0, int64_t r1, void *scratch) {
    const llm_kernels *k = t->k;
    int64_t n_in = t->w->ne[0], rows = t->w->ne[1];
    uint64_t row_bytes;
    llm_dtype_row_size(t->w->type, (uint64_t)n_in, &row_bytes);
    if (k->gemv && acts_q8_0(t->w->type)) {
        const char *w0 = (const char *)t->w->data + (size_t)r0 * row_bytes;
        if (k->gemv_multi && t->n > 1 && t->n <= LLM_GEMV_VECS) {
            k->gemv_multi(t->w->type, n_in, w0, row_bytes, (int)(r1 - r0), t->x, t->x_stride, t->n,
                          t->out + (size_t)r0, (size_t)rows, scratch);
            return;
        }
        for (int i = 0; i < t->n; i++)
            k->gemv(t->w->type, n_in, w0, row_bytes, (int)(r1 - r0), (const char *)t->x + (size_t)i * t->x_stride,
                    t->out + (size_t)i * (size_t)rows + (size_t)r0, scratch);
        return;
    }
    llm_dot_fn dot = k->dot[t->w->type];
    for (int64_t r = r0; r < r1; r++) {
        const void *wr = (const char *)t->w->data + (size_t)r * row_bytes;
        for (int i = 0; i < t->n; i++)
            t->out[(size_t)i * (size_t)rows + (size_t)r] = dot(n_in, wr, (const char *)t->x + (size_t)i * t->x_stride);
    }
}

/* The products of one parallel section: their output rows side by side,
 * product i owning [start[i], start[i] + its rows), each start a multiple
 * of 4 so that chunks of whole 4-row tiles stay whole tiles of every
 * product (the rows between are none's). */
typedef struct many_task {
    matmul_task t[LLM_MATMUL_MAX];
    int64_t start[LLM_MATMUL_MAX];
    int m;
} many_task;

/* Rows [r0, r1) of the concatenation: each product's share of the range
 * goes to matmul_rows, as the same tiles as when it runs alone, so the
 * results equal the products run one by one. */
static void many_rows(const many_task *mt, int64_t r0, int64_t r1, void *scratch) {
    for (int i = 0; i < mt->m; i++) {
        int64_t start = mt->start[i], end = start + mt->t[i].w->ne[1];
        int64_t lo = r0 > start ? r0 : start, hi = r1 < end ? r1 : end;
        if (lo < hi) matmul_rows(&mt->t[i], lo - start, hi - start, scratch);
    }
}

static void many_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const many_task *mt = arg;
    if (llm_compute_stopped(mt->t[0].mc, ith)) return;
    many_rows(mt, r0, r1, (char *)mt->t[0].mc->scratch + (size_t)ith * mt->t[0].mc->scratch_size);
}

typedef struct gemm_task {
    llm_compute *mc;
    float *out;
    const llm_tensor *w;
    int n;
} gemm_task;

/* Output rows [r0, r1) by the set's batched product, in thread ith's
 * scratch. */
static void gemm_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const gemm_task *t = arg;
    if (llm_compute_stopped(t->mc, ith)) return;
    uint64_t row_bytes;
    llm_dtype_row_size(t->w->type, (uint64_t)t->w->ne[0], &row_bytes);
    t->mc->k->gemm(t->w->type, t->w->ne[0], (const char *)t->w->data + (size_t)r0 * row_bytes, row_bytes,
                   (int)(r1 - r0), t->mc->act, t->n, t->out + r0, (size_t)t->w->ne[1],
                   (char *)t->mc->scratch + (size_t)ith * t->mc->scratch_size);
}

/* Quantizes activation vectors [i0, i1) of x (rows of n_in) into mc->xq. */
static void quantize_rows(llm_compute *mc, const float *x, int64_t n_in, int64_t i0, int64_t i1) {
    size_t blocks = (size_t)(n_in / QK8_0);
    block_q8_0 *xq = mc->xq;
    for (int64_t i = i0; i < i1; i++)
        mc->k->quantize_act(x + (size_t)i * (size_t)n_in, xq + (size_t)i * blocks, n_in);
}

typedef struct act_task {
    llm_compute *mc;
    const float *x;
    const llm_tensor *w;
    int n;
} act_task;

/* Vectors [i0, i1) prepared for the batched products (quantized first
 * for quantized weights). */
static void act_range(void *arg, int64_t i0, int64_t i1, int ith) {
    (void)ith;
    const act_task *a = arg;
    int64_t n_in = a->w->ne[0];
    if (a->w->type == LLM_DT_F16 || a->w->type == LLM_DT_BF16) {
        a->mc->k->gemm_act(a->w->type, n_in, a->x, (size_t)n_in * sizeof(float), a->n, (int)i0, (int)i1, a->mc->act);
        return;
    }
    quantize_rows(a->mc, a->x, n_in, i0, i1);
    a->mc->k->gemm_act(a->w->type, n_in, a->mc->xq, (size_t)(n_in / QK8_0) * sizeof(block_q8_0), a->n, (int)i0,
                       (int)i1, a->mc->act);
}

/* Below this many multiply-adds a product is over before the workers
 * would wake, so it runs on the caller alone. */
#define PARALLEL_MIN_MACS (1 << 16)

/* Rows per chunk when `rows` are split in about `parts` chunks per
 * thread: whole tiles of `tile` rows, at least one, so a small product
 * still runs in the tiles its kernels are written for. */
static int64_t chunk_rows(const llm_compute *mc, int64_t rows, int parts, int64_t tile) {
    int64_t c = (rows / (parts * llm_pool_size(mc->pool)) + tile - 1) / tile * tile;
    return c > tile ? c : tile;
}

typedef struct widen_task {
    const llm_tensor *w;
    float *dst;
    int64_t r0, rows;
} widen_task;

static void widen_range(void *arg, int64_t i0, int64_t i1, int ith) {
    (void)ith;
    const widen_task *t = arg;
    for (int64_t r = i0; r < i1; r++) llm_tensor_row(t->w, t->r0 + r, t->dst + r * t->w->ne[0]);
}

/* out = x w^T by sgemm: F32 weights in place, others widened to floats a
 * tile of rows at a time (by the pool's threads) into mc->wtile. OpenBLAS
 * runs sgemm on threads of its own while the pool's workers sleep. Its
 * thread count is a process-wide setting, so it is changed only when the
 * host asked for that (llm_ctx_params.n_threads_blas) and only when it
 * differs: contexts with different counts in one process then take turns
 * setting it, which affects speed alone. */
static void matmul_blas(llm_compute *mc, float *out, const llm_tensor *w, const float *x, int n) {
    int64_t k = w->ne[0], rows = w->ne[1];
#ifdef OPENBLAS_VERSION
    if (mc->blas_threads > 0 && openblas_get_num_threads() != mc->blas_threads)
        openblas_set_num_threads(mc->blas_threads);
#endif
    if (w->type == LLM_DT_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)rows, (int)k, 1.0f, x, (int)k,
                    w->data, (int)k, 0.0f, out, (int)rows);
        return;
    }
    for (int64_t r0 = 0; r0 < rows && !llm_compute_stopped(mc, 0); r0 += BLAS_TILE_ROWS) {
        widen_task t = {w, mc->wtile, r0, rows - r0 < BLAS_TILE_ROWS ? rows - r0 : BLAS_TILE_ROWS};
        llm_pool_for(mc->pool, t.rows, 16, widen_range, &t);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)t.rows, (int)k, 1.0f, x, (int)k,
                    mc->wtile, (int)k, 0.0f, out + r0, (int)rows);
    }
}

static bool on_gemm(const llm_compute *mc, const llm_tensor *w, int n) {
    return n >= GEMM_MIN_BATCH && w->type < 64 && (mc->gemm_types >> w->type & 1);
}

static bool on_blas(const llm_compute *mc, const llm_tensor *w, int n) {
    return n >= BLAS_MIN_BATCH && mc->wtile && !batch_on_dots(w->type) && !on_gemm(mc, w, n);
}

/* The products p[0..m) on the dot products (or matrix-vector products), in
 * one parallel section over their rows side by side. They share x, so
 * activations are quantized once when they meet rows as Q8_0 blocks: the
 * caller has checked that all of them do, or none. */
static void matmul_dots(llm_compute *mc, const llm_product *p, int m, const float *x, int n) {
    int64_t n_in = p[0].w->ne[0], rows = 0, macs = 0;
    bool q8 = acts_q8_0(p[0].w->type);
    if (q8) quantize_rows(mc, x, n_in, 0, n);
    many_task mt = {.m = m};
    for (int i = 0; i < m; i++) {
        mt.t[i] = (matmul_task){mc, mc->k, p[i].out, p[i].w, q8 ? mc->xq : (const void *)x,
                                q8 ? (size_t)(n_in / QK8_0) * sizeof(block_q8_0) : (size_t)n_in * sizeof(float), n};
        mt.start[i] = (rows + 3) / 4 * 4;
        rows = mt.start[i] + p[i].w->ne[1];
        macs += n_in * p[i].w->ne[1] * n;
    }
    if (macs < PARALLEL_MIN_MACS)
        many_rows(&mt, 0, rows, mc->scratch);
    else /* about 8 chunks per thread, of whole 4-row tiles */
        llm_pool_for(mc->pool, rows, chunk_rows(mc, rows, 8, 4), many_range, &mt);
}

void llm_matmul_many(llm_compute *mc, const llm_product *p, int m, const float *x, int n) {
    bool together = m <= LLM_MATMUL_MAX;
    for (int i = 0; i < m && together; i++)
        together = !on_gemm(mc, p[i].w, n) && !on_blas(mc, p[i].w, n) && p[i].w->ne[0] == p[0].w->ne[0] &&
                   acts_q8_0(p[i].w->type) == acts_q8_0(p[0].w->type);
    if (together) {
        matmul_dots(mc, p, m, x, n);
        return;
    }
    for (int i = 0; i < m; i++) llm_matmul(mc, p[i].out, p[i].w, x, n);
}

void llm_matmul(llm_compute *mc, float *out, const llm_tensor *w, const float *x, int n) {
    if (on_blas(mc, w, n)) {
        matmul_blas(mc, out, w, x, n);
        return;
    }
    if (on_gemm(mc, w, n)) {
        act_task a = {mc, x, w, n};
        gemm_task g = {mc, out, w, n};
        /* about 4 chunks per thread (and on the caller alone), of whole
         * 16-row panels; 16 when there is an abort callback to ask
         * between them, so that a stop waits for a shorter chunk */
        int per = mc->abort_cb ? 16 : 4;
        llm_pool_for(mc->pool, n, 1 + n / (4 * llm_pool_size(mc->pool)), act_range, &a);
        llm_pool_for(mc->pool, w->ne[1], chunk_rows(mc, w->ne[1], per, 16), gemm_range, &g);
        return;
    }
    matmul_dots(mc, &(llm_product){out, w}, 1, x, n);
}

void llm_tensor_row(const llm_tensor *w, int64_t r, float *out) {
    uint64_t row_bytes;
    llm_dtype_row_size(w->type, (uint64_t)w->ne[0], &row_bytes);
    llm_dtype(w->type)->to_f32((const char *)w->data + (size_t)r * row_bytes, out, w->ne[0]);
}
