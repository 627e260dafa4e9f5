#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "alloc.h"
#include "error.h"

/* How many times an idle worker polls for new work before it sleeps:
 * long enough to bridge the gap between the matrix products of one token,
 * short enough (tens of microseconds) not to burn a core between tokens. */
#define SPIN_POLLS 20000

struct llm_pool {
    int n;                     /* threads including the caller */
    pthread_t *threads;        /* (n - 1) workers */
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* workers sleep here */
    atomic_uint gen;           /* bumped once per task */
    atomic_uint entered;       /* workers in the current task, | CLOSED once the caller is done */
    atomic_uint finished;      /* workers that entered and are done */
    atomic_bool stop;
    /* the current task; written only while no worker can enter */
    llm_range_fn fn;
    void *arg;
    int64_t items, chunk;
    atomic_llong next;         /* the next chunk not yet taken */
    int started;               /* workers created, for cleanup after failure */
};

#define CLOSED 0x80000000u

typedef struct worker_arg {
    llm_pool *p;
    int ith;
} worker_arg;

/* Waits for a generation other than seen: spinning first, then sleeping. */
static unsigned wait_task(llm_pool *p, unsigned seen) {
    for (int i = 0; i < SPIN_POLLS; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
    }
    pthread_mutex_lock(&p->mu);
    unsigned g;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* Takes chunks of the current task until none are left. */
static void run_chunks(llm_pool *p, int ith) {
    int64_t c;
    while ((c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) * p->chunk < p->items) {
        int64_t i0 = c * p->chunk;
        p->fn(p->arg, i0, p->items - i0 < p->chunk ? p->items : i0 + p->chunk, ith);
    }
}

/* Enters the open task, if any: the caller waits for every worker that
 * entered, and none other. A worker may enter one task twice (it saw an
 * older generation first); it then finds no chunks left, harmlessly. */
static void *worker(void *v) {
    llm_pool *p = ((worker_arg *)v)->p;
    int ith = ((worker_arg *)v)->ith;
    free(v);
    unsigned seen = 0;
    for (;;) {
        seen = wait_task(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        unsigned s = atomic_load_explicit(&p->entered, memory_order_acquire);
        while (!(s & CLOSED))
            if (atomic_compare_exchange_weak_explicit(&p->entered, &s, s + 1, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                run_chunks(p, ith);
                atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
                break;
            }
    }
}

/* Publishes a task: fields first, then the open state, then the new
 * generation that wakes the workers. */
static void start_task(llm_pool *p, int64_t n, int64_t chunk, llm_range_fn fn, void *arg) {
    p->fn = fn;
    p->arg = arg;
    p->items = n;
    p->chunk = chunk;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&p->entered, 0, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

void llm_pool_for(llm_pool *p, int64_t n, int64_t chunk, llm_range_fn fn, void *arg) {
    if (!p) {
        if (chunk < 1) chunk = 1;
        for (int64_t i0 = 0; i0 < n; i0 += chunk) fn(arg, i0, n - i0 < chunk ? n : i0 + chunk, 0);
        return;
    }
    start_task(p, n, chunk < 1 ? 1 : chunk, fn, arg);
    run_chunks(p, 0);
    unsigned entered = atomic_fetch_or_explicit(&p->entered, CLOSED, memory_order_acq_rel) & ~CLOSED;
    while (atomic_load_explicit(&p->finished, memory_order_acquire) < entered) {
    }
}

llm_status llm_pool_new(llm_pool **out, int n_threads, llm_error *err) {
    *out = NULL;
    if (n_threads < 2) return llm_fail(err, LLM_ERR_INVALID_ARG, "a pool needs at least 2 threads, got %d", n_threads);
    llm_pool *p = llm_calloc(1, sizeof *p);
    if (!p) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a thread pool");
    p->n = n_threads;
    p->threads = llm_calloc((size_t)n_threads - 1, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (!p->threads) {
        llm_pool_free(p);
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a thread pool");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = llm_malloc(sizeof *a);
        if (a) *a = (worker_arg){p, i};
        if (!a || pthread_create(&p->threads[i - 1], NULL, worker, a) != 0) {
            free(a);
            llm_pool_free(p);
            return llm_fail(err, LLM_ERR_NOMEM, "cannot start worker thread %d of %d", i, n_threads);
        }
        p->started++;
    }
    *out = p;
    return LLM_OK;
}

int llm_pool_size(const llm_pool *p) { return p ? p->n : 1; }

void llm_pool_free(llm_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, true);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}
