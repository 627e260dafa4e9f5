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
 * a valid one: its code point, decoded, must need all its bytes (no
 * overlong form), lie within U+10FFFF and not be a surrogate. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = s[0] < 0x80 ? 1 : s[0] >> 5 == 6 ? 2 : s[0] >> 4 == 14 ? 3 : s[0] >> 3 == 30 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    uint32_t cp = len == 1 ? s[0] : s[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    return cp >= least[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF) ? len : 0;
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
        if ((c < 0x20 || c == 0x7F) && lang == 'j') fprintf(f, "\\u%04x", c);
        else if (c < 0x20 || c == 0x7F) fprintf(f, "\\x%02X", c);
        else if (lang == 'j' && (c == '"' || c == '\\')) fprintf(f, "\\%c", c);
        else if (lang == 'x' && c == '<') fputs("&lt;", f);
        else if (lang == 'x' && c == '>') fputs("&gt;", f);
        else if (lang == 'x' && c == '&') fputs("&amp;", f);
        else if (lang == 'x' && c == '"') fputs("&quot;", f);
        else fwrite(p + i, 1, n, f);
        i += n;
    }
}
