/* lib/attention.c against a plain double-precision reference written from
 * the formula: random queries, keys and values, causal, GQA groups of 1, 2
 * and 8 query heads per KV head, batches of 1, 7, 64 and 100 tokens at
 * positions that are not multiples of the tile or key block, on every
 * kernel set this CPU runs, on 1 and 3 threads. Also the promise of
 * attention.h: a query's result is the same bit for bit in any batch and
 * on any thread count, and the caches past the batch's last position are
 * never read (they hold NaN here). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attention.h"
#include "dtype.h"
#include "kernels.h"
#include "testutil.h"

/* xorshift64: the same data on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static float rnd_unit(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)(rng_state >> 40) / 8388608.0f - 1.0f; /* [-1, 1) */
}

typedef struct shape {
    int n_head, n_head_kv, head_dim;
} shape;

/* A case's data: positions 0 .. pos + n - 1 of the caches filled, the
 * EXTRA positions after them (and the rest of the last key block) NaN. */
#define EXTRA 16

typedef struct attn_case {
    shape s;
    int pos, n, n_ctx;  /* n_ctx = pos + n + EXTRA */
    int window;         /* 0, or the keys a query sees, its own included */
    float softcap;      /* 0, or the cap of the scores */
    float *q;           /* (n, q_dim) */
    uint32_t kv_type;   /* the caches' element type: LLM_DT_F32 or LLM_DT_F16 */
    float *k, *v;       /* (n_ctx, kv_dim) keys and values (F16: rounded to it) */
    void *kc, *vc;      /* the key and value caches */
} attn_case;

/* Queries scaled by 4 make scores of standard deviation ~1.3: softmaxes
 * from flat to peaked. */
static attn_case make_case(shape s, int pos, int n, int window, float softcap, uint32_t kv_type) {
    attn_case c = {s, pos, n, pos + n + EXTRA, window, softcap, NULL, kv_type, NULL, NULL, NULL, NULL};
    size_t q_dim = (size_t)s.n_head * s.head_dim, kv_dim = (size_t)s.n_head_kv * s.head_dim;
    size_t cache = (size_t)c.n_ctx * kv_dim, es = kv_type == LLM_DT_F16 ? 2 : 4;
    size_t kc_size = (size_t)llm_attn_key_cache_size(c.n_ctx, s.n_head_kv, s.head_dim);
    c.q = malloc(sizeof(float) * (size_t)n * q_dim);
    c.k = malloc(sizeof(float) * cache);
    c.v = malloc(sizeof(float) * cache);
    c.kc = malloc(es * kc_size);
    c.vc = malloc(es * cache);
    assert_true(c.q && c.k && c.v && c.kc && c.vc);
    for (size_t i = 0; i < (size_t)n * q_dim; i++) c.q[i] = 4.0f * rnd_unit();
    for (size_t i = 0; i < cache; i++) {
        bool past = i >= (size_t)(pos + n) * kv_dim;
        c.k[i] = past ? NAN : rnd_unit();
        c.v[i] = past ? NAN : rnd_unit();
        if (kv_type == LLM_DT_F16) {
            c.k[i] = llm_f16_to_f32(llm_f32_to_f16(c.k[i]));
            c.v[i] = llm_f16_to_f32(llm_f32_to_f16(c.v[i]));
        }
    }
    memset(c.kc, 0xff, es * kc_size); /* NaN in both types */
    llm_kv_layout kv = {kv_type, c.n_ctx, s.n_head_kv, s.head_dim};
    llm_attn_store_keys(&kv, c.kc, 0, pos + n, c.k, LLM_DT_F32);
    llm_attn_store_values(&kv, c.vc, 0, c.n_ctx, c.v);
    return c;
}

static void free_case(attn_case *c) {
    free(c->q), free(c->k), free(c->v), free(c->kc), free(c->vc);
}

/* out (n, q_dim) by the formula, in double. */
static void reference(const attn_case *c, double *out) {
    int hd = c->s.head_dim, group = c->s.n_head / c->s.n_head_kv;
    size_t q_dim = (size_t)c->s.n_head * hd, kv_dim = (size_t)c->s.n_head_kv * hd;
    double *w = malloc(sizeof(double) * (size_t)(c->pos + c->n));
    assert_non_null(w);
    for (int t = 0; t < c->n; t++)
        for (int h = 0; h < c->s.n_head; h++) {
            const float *q = c->q + t * q_dim + (size_t)h * hd;
            size_t kv = (size_t)(h / group) * hd;
            int len = c->pos + t + 1, lo = c->window && len > c->window ? len - c->window : 0;
            double max = -INFINITY, sum = 0.0;
            for (int j = lo; j < len; j++) {
                double dot = 0.0;
                for (int d = 0; d < hd; d++) dot += (double)q[d] * c->k[j * kv_dim + kv + d];
                w[j] = dot / sqrt((double)hd);
                if (c->softcap > 0) w[j] = c->softcap * tanh(w[j] / c->softcap);
                max = fmax(max, w[j]);
            }
            for (int j = lo; j < len; j++) sum += w[j] = exp(w[j] - max);
            for (int d = 0; d < hd; d++) {
                double acc = 0.0;
                for (int j = lo; j < len; j++) acc += w[j] * c->v[j * kv_dim + kv + d];
                out[t * q_dim + (size_t)h * hd + d] = acc / sum;
            }
        }
    free(w);
}

/* The library's out for queries first .. first + n - 1 of the case, as
 * one batch at position pos + first. */
static void run(const attn_case *c, const llm_kernels *k, llm_pool *pool, int first, int n, float *out) {
    size_t q_dim = (size_t)c->s.n_head * c->s.head_dim;
    int threads = pool ? llm_pool_size(pool) : 1;
    float *scratch = malloc(sizeof(float) * (size_t)threads * llm_attn_scratch_size(c->s.head_dim));
    assert_non_null(scratch);
    llm_attn a = {k, pool, c->s.n_head, c->s.n_head_kv, c->s.head_dim, c->n_ctx, c->pos + first, n,
                  1.0f / sqrtf((float)c->s.head_dim), c->softcap, c->window, c->q + (size_t)first * q_dim, c->kc, c->vc, c->kv_type, out + (size_t)first * q_dim, scratch, NULL};
    llm_attention(&a);
    free(scratch);
}

/* Bound: |lib - ref| <= 2e-5. The outputs are averages of values in
 * [-1, 1); a score's float error (dot products of 64 terms of magnitude
 * <= 4, relative rounding 6e-8 each) is below ~2e-6 in practice, and the
 * fast exp of the SIMD sets adds a few ulp: the measured error is ~1e-6
 * (scalar and SIMD alike), so 2e-5 is a margin of 20. A missing scale,
 * a wrong KV head or an off-by-one in the causal mask moves outputs by
 * 1e-2 or more. */
#define BOUND 2e-5

static void check_shape(shape s, const llm_kernels *k, llm_pool *pool, int window, float softcap, uint32_t kv_type) {
    static const int batches[] = {1, 7, 64, 100};
    static const int positions[] = {0, 45, 131};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
        for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
            attn_case c = make_case(s, positions[p], batches[b], window, softcap, kv_type);
            size_t size = (size_t)c.n * s.n_head * s.head_dim;
            double *ref = malloc(sizeof(double) * size);
            float *batch = malloc(sizeof(float) * size), *single = malloc(sizeof(float) * size);
            assert_true(ref && batch && single);
            reference(&c, ref);
            run(&c, k, pool, 0, c.n, batch);
            for (int t = 0; t < c.n; t++) run(&c, k, NULL, t, 1, single);
            double max_err = 0.0;
            for (size_t i = 0; i < size; i++) max_err = fmax(max_err, fabs(batch[i] - ref[i]));
            if (!(max_err <= BOUND))
                fail_msg("%s, %d threads, %d/%d heads of %d, pos %d, batch %d, window %d, cap %g, cache %s: "
                         "max |lib - ref| %g > %g", k->name, pool ? llm_pool_size(pool) : 1, s.n_head, s.n_head_kv,
                         s.head_dim, c.pos, c.n, window, (double)softcap, kv_type == LLM_DT_F16 ? "F16" : "F32",
                         max_err, BOUND);
            if (memcmp(batch, single, sizeof(float) * size))
                fail_msg("%s, %d/%d heads of %d, pos %d: batch of %d differs from one token at a time", k->name,
                         s.n_head, s.n_head_kv, s.head_dim, c.pos, c.n);
            free(ref), free(batch), free(single);
            free_case(&c);
        }
}

/* Groups of 1, 2 and 8, head sizes 64 (the common one), 8 and 20 (less
 * than one vector, and not a multiple of one), on 1 and 3 threads; and
 * F16 caches, against the reference over the keys and values rounded to
 * F16 (the cache's rounding is the only difference it makes). */
static void test_attention(void **state) {
    (void)state;
    static const shape shapes[] = {{4, 4, 64}, {8, 4, 64}, {16, 2, 64}, {8, 4, 8}, {8, 1, 20}};
    llm_error e = {0};
    llm_pool *pool = NULL;
    if (llm_pool_new(&pool, 3, &e)) fail_msg("llm_pool_new: %s", e.msg);
    for (const llm_kernels *const *k = llm_kernels_all(); *k; k++) {
        if (!llm_kernels_get((*k)->name)) continue;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            check_shape(shapes[i], *k, NULL, 0, 0.0f, LLM_DT_F32);
            check_shape(shapes[i], *k, pool, 0, 0.0f, LLM_DT_F32);
        }
        if (!test_quick()) check_shape(shapes[1], *k, pool, 0, 0.0f, LLM_DT_F16);
        check_shape(shapes[4], *k, NULL, 0, 0.0f, LLM_DT_F16);
    }
    llm_pool_free(pool);
}

/* Sliding windows (attention.h: query i sees keys i - window + 1 .. i)
 * of 1 key, of 16 (inside one key block, as Gemma's fixtures have) and
 * of 130 (across block boundaries), with and without a soft-cap of 1.5
 * on the scores (which the queries' scale of 4 makes bite), at positions
 * far past the window: against the reference, and a batch bit for bit
 * equal to one token at a time. A window off by one moves outputs by
 * 1e-2 or more. */
static void test_window(void **state) {
    (void)state;
    static const shape shapes[] = {{8, 1, 20}, {8, 4, 64}};
    static const int windows[] = {16, 1, 130};
    llm_error e = {0};
    llm_pool *pool = NULL;
    if (llm_pool_new(&pool, 3, &e)) fail_msg("llm_pool_new: %s", e.msg);
    for (const llm_kernels *const *k = llm_kernels_all(); *k; k++) {
        if (!llm_kernels_get((*k)->name)) continue;
        /* a quick run (valgrind): the first shape and window */
        size_t n_shapes = test_quick() ? 1 : sizeof shapes / sizeof shapes[0];
        size_t n_windows = test_quick() ? 1 : sizeof windows / sizeof windows[0];
        for (size_t i = 0; i < n_shapes; i++)
            for (size_t w = 0; w < n_windows; w++) {
                check_shape(shapes[i], *k, pool, windows[w], 0.0f, LLM_DT_F32);
                check_shape(shapes[i], *k, NULL, windows[w], 1.5f, LLM_DT_F32);
            }
    }
    llm_pool_free(pool);
}

/* Each set's softmax block against expf: n from 1 to 40 (every tail
 * length), values down to -120 (below the float range of exp, where the
 * result is 0 or subnormal), the running max kept when it is larger. */
static void test_exp(void **state) {
    (void)state;
    for (const llm_kernels *const *k = llm_kernels_all(); *k; k++) {
        if (!llm_kernels_get((*k)->name)) continue;
        for (int n = 1; n <= 40; n++) {
            float x[40], y[40];
            for (int i = 0; i < n; i++) x[i] = y[i] = 60.0f * rnd_unit() - 60.0f;
            float max = n % 3 ? -INFINITY : 5.0f, want_max = max;
            for (int i = 0; i < n; i++) want_max = fmaxf(want_max, y[i]);
            double want_sum = 0.0;
            for (int i = 0; i < n; i++) want_sum += y[i] = expf(y[i] - want_max);
            float sum = (*k)->attn_exp(n, x, &max);
            assert_true(max == want_max);
            for (int i = 0; i < n; i++)
                if (!(fabsf(x[i] - y[i]) <= 4e-7f * y[i] + 2e-38f))
                    fail_msg("%s n %d: exp %d is %g, expf %g", (*k)->name, n, i, x[i], y[i]);
            assert_true(fabs(sum - want_sum) <= 1e-6 * want_sum);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_exp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
