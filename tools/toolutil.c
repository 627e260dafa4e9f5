#include "toolutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

/* Reads in growing chunks rather than trusting a size from stat, so pipes
 * and files that change while read work too. */
char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) die("out of memory reading %s", path);
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) die("cannot read %s", path);
    fclose(f);
    buf[n] = 0; /* n < cap: the loop grows the buffer whenever it is full */
    *len = n;
    return buf;
}

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *detok_piece(llm_detok *d, int32_t tok, char *small, size_t cap, size_t *len, char **owned) {
    *owned = NULL;
    llm_status s = llm_detok_push(d, tok, small, cap, len);
    if (s == LLM_ERR_BUFFER_TOO_SMALL && (*owned = malloc(*len))) s = llm_detok_push(d, tok, *owned, *len, len);
    return s == LLM_OK ? (*owned ? *owned : small) : NULL;
}
