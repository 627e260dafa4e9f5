/* Allocation in lib/: every malloc, calloc and realloc goes through these
 * wrappers, so that a build configured with -Dfault_injection=true can
 * make any chosen allocation fail and tests can prove that each failure
 * comes back as LLM_ERR_NOMEM with nothing leaked. In ordinary builds
 * they are the libc functions, inlined. Memory is released with free(). */
#ifndef LLM_ALLOC_H
#define LLM_ALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef LLM_FAULT_INJECTION

void *llm_malloc(size_t size);
void *llm_calloc(size_t n, size_t size);
void *llm_realloc(void *p, size_t size);

/* Test hook: counting restarts, and the n-th allocation from now (n >= 1)
 * returns NULL; later ones succeed again. n = 0 makes none fail. */
void llm_fault_fail_at(uint64_t n);
/* Allocations attempted since the last llm_fault_fail_at, the failed one
 * included: when it is below n, the failure was never reached. */
uint64_t llm_fault_count(void);

#else

static inline void *llm_malloc(size_t size) { return malloc(size); }
static inline void *llm_calloc(size_t n, size_t size) { return calloc(n, size); }
static inline void *llm_realloc(void *p, size_t size) { return realloc(p, size); }

#endif

#endif
