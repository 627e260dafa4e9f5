/* Filling an llm_error: every failing path in lib/ goes through llm_fail so
 * that the code and a message naming the problem travel together. */
#ifndef LLM_ERROR_H
#define LLM_ERROR_H

#include "llm.h"

#if defined(__GNUC__)
#define LLM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LLM_PRINTF(a, b)
#endif

/* Writes code and the formatted message into err (when not NULL) and
 * returns code, so callers can `return llm_fail(err, ...)`. A message
 * longer than the field keeps its first 64 bytes and its end, where the
 * reason is, with "..." between. */
llm_status llm_fail(llm_error *err, llm_status code, const char *fmt, ...)
    LLM_PRINTF(3, 4);

/* Prefixes err->msg with "context: " (e.g. the file name) keeping the code;
 * a long context is cut in its middle, as llm_fail cuts messages. */
void llm_error_prefix(llm_error *err, const char *context);

#endif
