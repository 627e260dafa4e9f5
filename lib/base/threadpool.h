/* A small pool of worker threads owned by a context. llm_pool_for splits a
 * range of items into chunks that the caller and whichever workers are
 * awake take one at a time, and returns when all are done. A worker that
 * wakes only after the last chunk was taken sits the task out, so on a
 * shared machine a descheduled thread delays the caller by at most the
 * chunk it holds. Idle workers spin briefly (a forward pass issues tasks
 * back to back) and then sleep on a condition variable, so an idle
 * context costs no CPU. */
#ifndef LLM_THREADPOOL_H
#define LLM_THREADPOOL_H

#include <stdint.h>

#include "llm.h"

/* Items [i0, i1) on thread ith (0 is the caller; ith < the pool's size). */
typedef void (*llm_range_fn)(void *arg, int64_t i0, int64_t i1, int ith);

typedef struct llm_pool llm_pool;

/* A pool of n_threads (>= 2) threads: n_threads - 1 workers plus the
 * caller. */
llm_status llm_pool_new(llm_pool **out, int n_threads, llm_error *err);
void llm_pool_free(llm_pool *p);
int llm_pool_size(const llm_pool *p);
/* Runs fn over items [0, n) in chunks of `chunk` (>= 1); p may be NULL,
 * which runs the chunks one after another on the caller. */
void llm_pool_for(llm_pool *p, int64_t n, int64_t chunk, llm_range_fn fn, void *arg);

#endif
