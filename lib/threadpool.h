/* A small pool of worker threads owned by a context. llm_pool_run hands
 * the same task to every thread (the caller is thread 0) and returns when
 * all are done; each thread picks its slice by its index. Idle workers
 * spin briefly (a forward pass issues tasks back to back) and then sleep
 * on a condition variable, so an idle context costs no CPU. */
#ifndef LLM_THREADPOOL_H
#define LLM_THREADPOOL_H

#include "llm.h"

typedef void (*llm_task_fn)(void *arg, int ith, int nth);

typedef struct llm_pool llm_pool;

/* A pool of n_threads (>= 2) threads: n_threads - 1 workers plus the
 * caller. */
llm_status llm_pool_new(llm_pool **out, int n_threads, llm_error *err);
void llm_pool_free(llm_pool *p);
int llm_pool_size(const llm_pool *p);
/* Runs fn(arg, i, n) for i in [0, n) concurrently; p may be NULL, which
 * runs fn(arg, 0, 1) on the caller. */
void llm_pool_run(llm_pool *p, llm_task_fn fn, void *arg);

#endif
