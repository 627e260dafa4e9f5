/* Helpers shared by the libFuzzer harnesses. A harness reports a broken
 * promise of the API (a failure without a message, a token out of range)
 * by aborting, which libFuzzer records as a crash like any sanitizer
 * report. */
#ifndef LLM_FUZZ_UTIL_H
#define LLM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

/* Aborts with msg on stderr unless cond holds. */
void fuzz_require(int cond, const char *msg);

/* A failed call must say so: status s != LLM_OK, err->code == s, and a
 * non-empty message. */
void fuzz_check_error(llm_status s, const llm_error *err);

/* Stores size bytes in an anonymous in-memory file (one per slot, 0 or 1,
 * reused from run to run) and returns a path that opens it. */
const char *fuzz_file(int slot, const void *data, size_t size);

/* Runs a freshly loaded (possibly absurd) model the way a program would:
 * describe it, tokenize a prompt, decode it in a small context, pick the
 * next token greedily and detokenize everything. */
void fuzz_run_model(const llm_model *m);

#endif
