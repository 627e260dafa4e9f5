/* Allocation in libllm's own code (lib/ and convert/): every malloc,
 * calloc, realloc and string copy goes through these wrappers, so that a
 * build configured with -Dfault_injection=true can make any chosen
 * allocation fail and tests can prove that each failure comes back as
 * LLM_ERR_NOMEM with nothing leaked. In ordinary builds they are the libc
 * functions, inlined. Memory is released with free(). What libraries
 * allocate for themselves (cJSON's trees in the converter, PCRE2's
 * compiled patterns, OpenBLAS's buffers) is theirs and not counted: their
 * hooks are process-wide settings. */
#ifndef LLM_ALLOC_H
#define LLM_ALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* strndup through llm_malloc: at most n bytes of s and a NUL. */
static inline char *llm_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = llm_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

static inline char *llm_strdup(const char *s) { return llm_strndup(s, (size_t)-1); }

#endif
