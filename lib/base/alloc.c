/* The fault-injecting allocators, compiled only with -Dfault_injection=true.
 * The counter is the one piece of mutable global state in lib/, and it
 * exists only in these test builds; it is atomic because contexts start
 * thread pools and tests may allocate from several threads. */
#include "alloc.h"

#include <stdatomic.h>

static atomic_uint_fast64_t calls;   /* allocations since the last arming */
static atomic_uint_fast64_t fail_at; /* the call that fails, 0 for none */

void llm_fault_fail_at(uint64_t n) {
    atomic_store(&fail_at, 0);
    atomic_store(&calls, 0);
    atomic_store(&fail_at, n);
}

uint64_t llm_fault_count(void) {
    return atomic_load(&calls);
}

/* Counts one allocation and tells whether it is the one to fail. */
static int should_fail(void) {
    uint64_t n = atomic_fetch_add(&calls, 1) + 1;
    return n == atomic_load(&fail_at);
}

void *llm_malloc(size_t size) {
    return should_fail() ? NULL : malloc(size);
}

void *llm_calloc(size_t n, size_t size) {
    return should_fail() ? NULL : calloc(n, size);
}

void *llm_realloc(void *p, size_t size) {
    return should_fail() ? NULL : realloc(p, size);
}
