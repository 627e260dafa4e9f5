/* The one interface the forward pass uses for weights: matrix-vector
 * products and row lookups over any supported weight type. Kernels (scalar
 * today; SIMD and threads later) are chosen behind it. */
#ifndef LLM_MATMUL_H
#define LLM_MATMUL_H

#include "model.h"
#include "threadpool.h"

/* out[r] = sum_c w[r][c] * x[c] for r < w->ne[1]; x has w->ne[0] floats.
 * With a pool, large products are split by rows across its threads; every
 * row is still computed by the same code, so results do not depend on the
 * thread count. pool may be NULL. */
void llm_matvec(llm_pool *pool, float *out, const llm_tensor *w, const float *x);
/* Row r of w converted to w->ne[0] floats. */
void llm_tensor_row(const llm_tensor *w, int64_t r, float *out);

#endif
