/* Helpers the command-line tools share: ending with a one-line message,
 * allocation that cannot fail, reading a whole file, the clock. Each tool defines
 * tool_name, the prefix of its messages. */
#ifndef LLM_TOOLUTIL_H
#define LLM_TOOLUTIL_H

#include <stddef.h>

#include "llm.h"

extern const char *const tool_name;

/* Prints "tool_name: message" to stderr and exits with status 1. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* malloc that dies with a message instead of returning NULL. */
void *xmalloc(size_t n);
/* The whole file's bytes (they may hold NULs), *len their count, and a
 * NUL after them; dies with a message naming the file on any error. */
char *read_file(const char *path, size_t *len);
/* Seconds on the monotonic clock, for timing. */
double now(void);
/* The bytes tok completes in d (llm_detok_push): in small (cap bytes)
 * when they fit, else in a buffer of their size left in *owned (free it;
 * NULL otherwise), since pieces may be of any length. NULL when the push
 * fails. */
const char *detok_piece(llm_detok *d, int32_t tok, char *small, size_t cap, size_t *len, char **owned);

#endif
