/* The one interface the forward pass uses for weights: products of a
 * weight matrix with a batch of activation vectors, and row lookups, over
 * every supported weight type. Which kernel set runs, how the work is
 * split over threads, and whether activations are quantized first are
 * decided here. */
#ifndef LLM_MATMUL_H
#define LLM_MATMUL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "kernels.h"
#include "llm.h"
#include "model.h"
#include "threadpool.h"

typedef struct llm_compute {
    llm_pool *pool;          /* NULL when single-threaded */
    const llm_kernels *k;
    void *xq;                /* (n_batch, max row / 32) Q8_0 blocks of the activations */
    size_t xq_size;          /* bytes */
    float *wtile;            /* (BLAS_TILE_ROWS, max row) weights widened for sgemm, or NULL */
    void *act;               /* activations prepared for the set's batched products, or NULL */
    uint64_t gemm_types;     /* bit t set: the batched products take weight type t (asked once) */
    void *scratch;           /* (threads, scratch_size) bytes for the batched products */
    size_t scratch_size;
    int blas_threads;        /* OpenBLAS thread count to ask for, 0 = leave it */
    bool (*abort_cb)(void *ud); /* asked between chunks of a product, or NULL */
    void *abort_ud;
    atomic_bool stopped;     /* abort_cb said stop: products skip their remaining chunks */
} llm_compute;

/* Whether the current decode is to stop. Thread 0 (the caller's) asks
 * abort_cb and raises `stopped` when it says so; the workers only read
 * the flag, so the callback runs on the thread that called llm_decode.
 * Products check it at each chunk, so a stopped product leaves part of
 * its output unwritten: whoever raised it must discard the results. */
bool llm_compute_stopped(llm_compute *mc, int ith);

/* Sets up scratch for products of up to n_batch vectors of at most
 * max_in elements. pool may be NULL. */
llm_status llm_compute_init(llm_compute *mc, llm_pool *pool, const llm_kernels *k, int n_batch,
                            int64_t max_in, llm_error *err);
void llm_compute_free(llm_compute *mc);

/* out[t][r] = sum_c w[r][c] * x[t][c] for t < n, r < w->ne[1]: x is
 * (n, w->ne[0]) and out (n, w->ne[1]), both row-major.
 *
 * One vector at a time (decoding) and batches of fewer than
 * GEMM_MIN_BATCH go through the kernel set's dot products, or for
 * quantized weights its matrix-vector product where it has one (kernels.h:
 * gemv; the dot products' integer sums, float steps in another order),
 * rows split over the pool's threads in chunks of whole 4-row tiles: each
 * output is the same whatever the thread count. Quantized weights meet Q8_0-quantized activations.
 * Larger batches take the set's batched products where it has them for
 * the type (kernels.h: gemm; same integer sums for quantized types, float
 * steps in another order: relative 1e-5 of sum |w x|; F16/BF16 on bf16
 * products: 2^-7, gemm_bf16.c), else, for float types from BLAS_MIN_BATCH
 * vectors on, OpenBLAS sgemm (all but F32 widened a tile of rows at a
 * time; relative 1e-5), else the dot products. */
/* Batches of at most this many vectors give each one the result
 * llm_matmul gives it alone (the dot products' path above, any thread
 * count), which llm_decode_multi's bit-identity rests on. */
#define LLM_MATMUL_EXACT 5

void llm_matmul(llm_compute *mc, float *out, const llm_tensor *w, const float *x, int n);

/* One of the products of llm_matmul_many: out = x w^T. */
typedef struct llm_product {
    float *out;
    const llm_tensor *w;
} llm_product;

#define LLM_MATMUL_MAX 4 /* products llm_matmul_many runs in one section */

void llm_matmul_many(llm_compute *mc, const llm_product *p, int m, const float *x, int n);

/* Row r of w converted to w->ne[0] floats. */
void llm_tensor_row(const llm_tensor *w, int64_t r, float *out);

#endif
