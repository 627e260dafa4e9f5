#include "matmul.h"

#include <string.h>

#include "dtype.h"

/* Scalar reference dot products, one per weight type. The sum runs left to
 * right in float, exactly as llama2.c's matmul does, which is what makes
 * greedy output reproduce its tokens bit for bit. */
static float dot_f32(const float *w, const float *x, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float dot_f16(const uint16_t *w, const float *x, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += llm_f16_to_f32(w[i]) * x[i];
    return sum;
}

static float dot_bf16(const uint16_t *w, const float *x, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += llm_bf16_to_f32(w[i]) * x[i];
    return sum;
}

/* Rows [r0, r1) of the product. */
static void matvec_rows(float *out, const llm_tensor *w, const float *x, int64_t r0, int64_t r1) {
    int64_t n = w->ne[0];
    switch (w->type) {
    case LLM_DT_F32:
        for (int64_t r = r0; r < r1; r++) out[r] = dot_f32((const float *)w->data + r * n, x, n);
        break;
    case LLM_DT_F16:
        for (int64_t r = r0; r < r1; r++) out[r] = dot_f16((const uint16_t *)w->data + r * n, x, n);
        break;
    case LLM_DT_BF16:
        for (int64_t r = r0; r < r1; r++) out[r] = dot_bf16((const uint16_t *)w->data + r * n, x, n);
        break;
    }
}

typedef struct matvec_task {
    float *out;
    const llm_tensor *w;
    const float *x;
} matvec_task;

static void matvec_slice(void *arg, int ith, int nth) {
    const matvec_task *t = arg;
    int64_t rows = t->w->ne[1];
    matvec_rows(t->out, t->w, t->x, rows * ith / nth, rows * (ith + 1) / nth);
}

/* Below this many weights a product is over before the workers would
 * wake, so it runs on the caller alone. */
#define PARALLEL_MIN_WEIGHTS (1 << 16)

void llm_matvec(llm_pool *pool, float *out, const llm_tensor *w, const float *x) {
    if (!pool || w->ne[0] * w->ne[1] < PARALLEL_MIN_WEIGHTS) {
        matvec_rows(out, w, x, 0, w->ne[1]);
        return;
    }
    matvec_task t = {out, w, x};
    llm_pool_run(pool, matvec_slice, &t);
}

void llm_tensor_row(const llm_tensor *w, int64_t r, float *out) {
    int64_t n = w->ne[0];
    switch (w->type) {
    case LLM_DT_F32:
        memcpy(out, (const float *)w->data + r * n, (size_t)n * sizeof(float));
        break;
    case LLM_DT_F16:
        for (int64_t i = 0; i < n; i++) out[i] = llm_f16_to_f32(((const uint16_t *)w->data)[r * n + i]);
        break;
    case LLM_DT_BF16:
        for (int64_t i = 0; i < n; i++) out[i] = llm_bf16_to_f32(((const uint16_t *)w->data)[r * n + i]);
        break;
    }
}
