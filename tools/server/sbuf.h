/* A growable byte buffer, NUL-terminated after its last byte, for the
 * server's request bodies, generated text and response bodies. Every
 * function returns 0, or -1 when memory runs out (the buffer is then left
 * as it was), so a request that cannot be answered gets a 500 rather than
 * taking the server down. */
#ifndef LLM_SERVER_SBUF_H
#define LLM_SERVER_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *p;    /* NULL until the first append */
    size_t len; /* bytes held, not counting the terminating NUL */
    size_t cap;
} sbuf;

int sbuf_add(sbuf *b, const void *data, size_t n);
int sbuf_str(sbuf *b, const char *s);
int sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (who frees them) and empties b; a buffer
 * that never grew gives an empty allocated string, or NULL without memory. */
char *sbuf_take(sbuf *b);
void sbuf_free(sbuf *b);

#endif
