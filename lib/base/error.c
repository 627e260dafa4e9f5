#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

llm_status llm_fail(llm_error *err, llm_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void llm_error_prefix(llm_error *err, const char *context) {
    if (!err || !context) return;
    size_t cap = sizeof err->msg - 1;
    size_t clen = strlen(context) + 2; /* "context: " */
    if (clen > cap) return;
    size_t mlen = strnlen(err->msg, cap);
    if (mlen > cap - clen) mlen = cap - clen;
    memmove(err->msg + clen, err->msg, mlen);
    memcpy(err->msg, context, clen - 2);
    memcpy(err->msg + clen - 2, ": ", 2);
    err->msg[clen + mlen] = 0;
}
