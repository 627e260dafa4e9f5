#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Longest message composed before it is cut to fit an llm_error: two
 * paths of PATH_MAX and a reason (input paths longer than PATH_MAX are
 * refused, without repeating them, before they reach a message). */
#define FULL_MSG 9216
/* Bytes kept from the start of a message that is cut; the rest of the
 * room goes to its end. */
#define HEAD 64

const char *llm_strerror(llm_status code) {
    switch (code) {
    case LLM_OK: return "success";
    case LLM_ERR_INVALID_ARG: return "invalid argument";
    case LLM_ERR_NOMEM: return "out of memory";
    case LLM_ERR_IO: return "input/output error";
    case LLM_ERR_FORMAT: return "malformed file";
    case LLM_ERR_UNSUPPORTED: return "unsupported";
    case LLM_ERR_CONTEXT_FULL: return "context full";
    case LLM_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case LLM_ERR_LIMIT: return "size exceeds a limit";
    case LLM_ERR_ABORTED: return "aborted";
    case LLM_ERR_TEMPLATE: return "chat template error";
    }
    return "unknown status";
}

/* Stores the n-byte message src in err->msg. One that does not fit loses
 * its middle, not its end: messages name the file first and the reason
 * last, so a long path must not push the reason out. The cuts avoid the
 * inside of a UTF-8 sequence. */
static void store(llm_error *err, const char *src, size_t n) {
    size_t cap = sizeof err->msg - 1;
    if (n <= cap) {
        memcpy(err->msg, src, n);
        err->msg[n] = 0;
        return;
    }
    size_t head = HEAD, tail = n - (cap - HEAD - 3);
    while (head > 0 && ((unsigned char)src[head] & 0xC0) == 0x80) head--;
    while (tail < n && ((unsigned char)src[tail] & 0xC0) == 0x80) tail++;
    memcpy(err->msg, src, head);
    memcpy(err->msg + head, "...", 3);
    memcpy(err->msg + head + 3, src + tail, n - tail);
    err->msg[head + 3 + n - tail] = 0;
}

llm_status llm_fail(llm_error *err, llm_status code, const char *fmt, ...) {
    if (err) {
        char full[FULL_MSG];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(full, sizeof full, fmt, ap);
        va_end(ap);
        err->code = code;
        store(err, full, n < 0 ? 0 : (size_t)n < sizeof full ? (size_t)n : sizeof full - 1);
    }
    return code;
}

void llm_error_prefix(llm_error *err, const char *context) {
    if (!err || !context) return;
    char full[FULL_MSG];
    int n = snprintf(full, sizeof full, "%s: %.*s", context, (int)sizeof err->msg, err->msg);
    store(err, full, n < 0 ? 0 : (size_t)n < sizeof full ? (size_t)n : sizeof full - 1);
}
