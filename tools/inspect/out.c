#include "out.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void jw_init(jw *w, FILE *f) {
    w->f = f;
    w->depth = 0;
    w->first[0] = true;
    w->after_key = false;
}

/* The comma before a value or key, unless it is the first of its level
 * or the value of a key just written. */
static void sep(jw *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth]) fputc(',', w->f);
    w->first[w->depth] = false;
}

void jw_open(jw *w, char bracket) {
    sep(w);
    fputc(bracket, w->f);
    if (w->depth + 1 < JW_DEPTH) w->depth++;
    w->first[w->depth] = true;
}

void jw_close(jw *w, char bracket) {
    fputc(bracket, w->f);
    if (w->depth > 0) w->depth--;
    if (w->depth == 0) fputc('\n', w->f);
}

void jw_key(jw *w, const char *key) {
    jw_cstr(w, key);
    fputc(':', w->f);
    w->after_key = true;
}

void jw_str(jw *w, const char *s, size_t len) {
    sep(w);
    fputc('"', w->f);
    put_text(w->f, s, len, 'j');
    fputc('"', w->f);
}

void jw_cstr(jw *w, const char *s) {
    if (s) {
        jw_str(w, s, strlen(s));
        return;
    }
    sep(w);
    fputs("null", w->f);
}

void jw_int(jw *w, int64_t v) {
    sep(w);
    fprintf(w->f, "%" PRId64, v);
}

void jw_num(jw *w, double v) {
    sep(w);
    if (isfinite(v)) fprintf(w->f, "%.9g", v);
    else fputs("null", w->f);
}

void jw_bool(jw *w, bool v) {
    sep(w);
    fputs(v ? "true" : "false", w->f);
}

/* Bytes of the UTF-8 character at s (n bytes left), or 0 when it is not
 * a valid one (overlong, surrogate, beyond U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

void put_text(FILE *f, const char *s, size_t len, char lang) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(p + i, len - i);
        unsigned c = p[i];
        if (n == 0) {
            fputs("\xEF\xBF\xBD", f); /* U+FFFD */
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) fprintf(f, lang == 'j' ? "\\\\x%02X" : "\\x%02X", c);
        else if (lang == 'j' && (c == '"' || c == '\\')) fprintf(f, "\\%c", c);
        else if (lang == 'x' && c == '<') fputs("&lt;", f);
        else if (lang == 'x' && c == '>') fputs("&gt;", f);
        else if (lang == 'x' && c == '&') fputs("&amp;", f);
        else if (lang == 'x' && c == '"') fputs("&quot;", f);
        else fwrite(p + i, 1, n, f);
        i += n;
    }
}
