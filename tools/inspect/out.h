/* Output helpers of llm-inspect: a streaming JSON writer (commas and
 * nesting kept by the writer, strings escaped), and text made safe for
 * JSON, XML and terminals from bytes that came out of a model file. */
#ifndef INSPECT_OUT_H
#define INSPECT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JW_DEPTH 16

typedef struct jw {
    FILE *f;
    int depth;
    bool first[JW_DEPTH]; /* nothing written yet at this level */
    bool after_key;       /* a key was written; its value comes next */
} jw;

void jw_init(jw *w, FILE *f);
void jw_open(jw *w, char bracket);  /* '{' or '[' */
void jw_close(jw *w, char bracket); /* '}' or ']'; a newline after the outermost */
void jw_key(jw *w, const char *key);
void jw_str(jw *w, const char *s, size_t len);
void jw_cstr(jw *w, const char *s); /* NUL-terminated; NULL writes null */
void jw_int(jw *w, int64_t v);
void jw_num(jw *w, double v);       /* non-finite numbers as null */
void jw_bool(jw *w, bool v);

/* Writes len bytes of s as text that is valid UTF-8 and free of raw
 * control characters: an invalid byte becomes U+FFFD; then as `lang`
 * needs: 'j' JSON string content (control characters as \u00XX, so the
 * bytes survive), 'x' XML character data, 't' a terminal (these two spell
 * a control byte out as "\xNN", which neither may show as it is). */
void put_text(FILE *f, const char *s, size_t len, char lang);

#endif
