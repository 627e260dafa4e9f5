/* The lexer: template source to tokens, as Jinja2's lexer does it with
 * Hugging Face's settings. Newlines are normalized to \n first and one
 * trailing newline is dropped (keep_trailing_newline off); text between
 * tags becomes JT_TEXT with whitespace control applied: "{%-" and "{{-"
 * strip all whitespace before the tag, "-%}" and "-}}" all after it,
 * trim_blocks drops one \n after "%}" and "#}", lstrip_blocks drops the
 * spaces and tabs that precede "{%" or "{#" on their line. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "utf8.h"
#include "jinja.h"

typedef struct lexer {
    const char *s;     /* normalized source */
    size_t n, pos;
    int line, col;
    jtoks *out;
    llm_error *err;
} lexer;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static llm_status lex_fail(lexer *lx, const char *what) {
    return llm_fail(lx->err, LLM_ERR_TEMPLATE, "template line %d, column %d: %s", lx->line, lx->col, what);
}

/* Moves the cursor to byte `to`, keeping line and column. */
static void advance(lexer *lx, size_t to) {
    for (; lx->pos < to; lx->pos++) {
        if (lx->s[lx->pos] == '\n') { lx->line++; lx->col = 1; }
        else if (((unsigned char)lx->s[lx->pos] & 0xc0) != 0x80) lx->col++;
    }
}

static jtok *push(lexer *lx, jtok_type type, const char *s, size_t n) {
    jtoks *o = lx->out;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        jtok *t = llm_realloc(o->t, nc * sizeof *t);
        if (!t) {
            llm_fail(lx->err, LLM_ERR_NOMEM, "out of memory for template tokens");
            return NULL;
        }
        o->t = t;
        o->cap = nc;
    }
    jtok *t = &o->t[o->n++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->line = lx->line;
    t->col = lx->col;
    t->s = s;
    t->n = n;
    return t;
}

static int hexval(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the escape after a backslash at s[*i] (Python's unicode-escape:
 * \n \t \r \\ \' \" \a \b \f \v \0-\777 \xhh \uhhhh \Uhhhhhhhh; a backslash
 * before a newline vanishes; an unknown escape keeps its backslash). */
static size_t unescape(const char *s, size_t end, size_t *i, char *o) {
    char c = s[*i];
    const char *simple = "n\nt\tr\r\\\\''\"\"a\ab\bf\fv\v";
    for (const char *p = simple; *p; p += 2)
        if (c == p[0]) { (*i)++; o[0] = p[1]; return 1; }
    if (c == '\n') { (*i)++; return 0; }
    if (c >= '0' && c <= '7') {
        unsigned v = 0;
        for (int k = 0; k < 3 && *i < end && s[*i] >= '0' && s[*i] <= '7'; k++)
            v = v * 8 + (unsigned)(s[(*i)++] - '0');
        return llm_utf8_put(o, v);
    }
    int want = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (want && *i + (size_t)want < end) {
        unsigned v = 0;
        int k;
        for (k = 1; k <= want && hexval(s[*i + (size_t)k]) >= 0; k++)
            v = v << 4 | (unsigned)hexval(s[*i + (size_t)k]);
        if (k > want && v <= 0x10ffff && (v < 0xd800 || v > 0xdfff)) {
            *i += (size_t)want + 1;
            return llm_utf8_put(o, v);
        }
    }
    o[0] = '\\';
    return 1;
}

/* A string literal at the cursor, decoded into an owned buffer. */
static llm_status lex_string(lexer *lx) {
    char q = lx->s[lx->pos];
    size_t i = lx->pos + 1;
    while (i < lx->n && lx->s[i] != q) i += lx->s[i] == '\\' && i + 1 < lx->n ? 2 : 1;
    if (i >= lx->n) return lex_fail(lx, "unterminated string");
    size_t end = i;
    char *buf = llm_malloc(end - lx->pos + 4), *o = buf;
    if (!buf) return llm_fail(lx->err, LLM_ERR_NOMEM, "out of memory for a template string");
    for (i = lx->pos + 1; i < end;) {
        if (lx->s[i] != '\\') { *o++ = lx->s[i++]; continue; }
        i++;
        o += unescape(lx->s, end, &i, o);
    }
    *o = 0;
    jtok *t = push(lx, JT_STRING, buf, (size_t)(o - buf));
    if (!t) { free(buf); return LLM_ERR_NOMEM; }
    advance(lx, end + 1);
    return LLM_OK;
}

/* An integer or float literal (digits with optional '_', fraction, exponent). */
static llm_status lex_number(lexer *lx) {
    size_t i = lx->pos;
    int is_float = 0;
    while (i < lx->n && (is_digit(lx->s[i]) || lx->s[i] == '_')) i++;
    if (i + 1 < lx->n && lx->s[i] == '.' && is_digit(lx->s[i + 1])) {
        is_float = 1;
        for (i++; i < lx->n && (is_digit(lx->s[i]) || lx->s[i] == '_');) i++;
    }
    if (i < lx->n && (lx->s[i] == 'e' || lx->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < lx->n && (lx->s[j] == '+' || lx->s[j] == '-')) j++;
        if (j < lx->n && is_digit(lx->s[j])) {
            is_float = 1;
            for (i = j; i < lx->n && is_digit(lx->s[i]);) i++;
        }
    }
    char tmp[64];
    size_t k = 0;
    for (size_t j = lx->pos; j < i && k < sizeof tmp - 1; j++)
        if (lx->s[j] != '_') tmp[k++] = lx->s[j];
    tmp[k] = 0;
    if (i - lx->pos >= sizeof tmp - 1) return lex_fail(lx, "number literal too long");
    jtok *t = push(lx, is_float ? JT_FLOAT : JT_INT, lx->s + lx->pos, i - lx->pos);
    if (!t) return LLM_ERR_NOMEM;
    if (is_float) t->f = strtod(tmp, NULL);
    else {
        char *e;
        unsigned long long v = strtoull(tmp, &e, 10);
        if (v > INT64_MAX) return lex_fail(lx, "integer literal too large");
        t->i = (int64_t)v;
    }
    advance(lx, i);
    return LLM_OK;
}

static const char *const ops2[] = {"**", "//", "==", "!=", "<=", ">=", NULL};
static const char ops1[] = "+-*/%~<>=.,:|()[]{}";

/* The tokens inside a tag up to its closing delimiter (close: "%}" or
 * "}}"), which it consumes with its whitespace control; *strip_after
 * tells whether "-" asked to strip the text that follows. */
static llm_status lex_tag(lexer *lx, const char *close, jtok_type end, int *strip_after, int *plus_after) {
    for (;;) {
        while (lx->pos < lx->n && is_space(lx->s[lx->pos])) advance(lx, lx->pos + 1);
        if (lx->pos >= lx->n) return lex_fail(lx, "unexpected end of template inside a tag");
        const char *p = lx->s + lx->pos;
        size_t left = lx->n - lx->pos;
        if ((*p == '-' || *p == '+') && left >= 3 && memcmp(p + 1, close, 2) == 0) {
            *strip_after = *p == '-';
            *plus_after = *p == '+';
            if (!push(lx, end, NULL, 0)) return LLM_ERR_NOMEM;
            advance(lx, lx->pos + 3);
            return LLM_OK;
        }
        if (left >= 2 && memcmp(p, close, 2) == 0) {
            if (!push(lx, end, NULL, 0)) return LLM_ERR_NOMEM;
            advance(lx, lx->pos + 2);
            return LLM_OK;
        }
        llm_status s = LLM_OK;
        if (*p == '\'' || *p == '"') s = lex_string(lx);
        else if (is_digit(*p)) s = lex_number(lx);
        else if (is_name0(*p)) {
            size_t i = lx->pos;
            while (i < lx->n && (is_name0(lx->s[i]) || is_digit(lx->s[i]))) i++;
            if (!push(lx, JT_NAME, p, i - lx->pos)) return LLM_ERR_NOMEM;
            advance(lx, i);
        } else {
            size_t n = 0;
            for (int k = 0; ops2[k] && !n; k++)
                if (left >= 2 && memcmp(p, ops2[k], 2) == 0) n = 2;
            if (!n && strchr(ops1, *p) && *p) n = 1;
            if (!n) return lex_fail(lx, "unexpected character in a tag");
            if (!push(lx, JT_OP, p, n)) return LLM_ERR_NOMEM;
            advance(lx, lx->pos + n);
        }
        if (s) return s;
    }
}

static size_t rstrip_len(const char *s, size_t n) {
    while (n && is_space(s[n - 1])) n--;
    return n;
}

/* Applies lstrip_blocks to the text before a "{%" or "{#": the spaces and
 * tabs after its last newline go, when that newline (or the start of the
 * template) begins the line the tag is on. */
static size_t lstrip_blocks(const lexer *lx, size_t start, size_t n) {
    size_t k = n;
    while (k && (lx->s[start + k - 1] == ' ' || lx->s[start + k - 1] == '\t')) k--;
    if (k == n) return n;
    if (k > 0 ? lx->s[start + k - 1] == '\n' : start == 0 || lx->s[start - 1] == '\n') return k;
    return n;
}

/* Skips a comment "{# ... #}" whose opening is at the cursor. */
static llm_status lex_comment(lexer *lx, int *strip_after, int *plus_after) {
    const char *e = NULL;
    for (size_t i = lx->pos + 2; i + 1 < lx->n; i++)
        if (lx->s[i] == '#' && lx->s[i + 1] == '}') { e = lx->s + i; break; }
    if (!e) return lex_fail(lx, "unterminated comment");
    size_t at = (size_t)(e - lx->s);
    *strip_after = at > lx->pos + 2 && e[-1] == '-';
    *plus_after = at > lx->pos + 2 && e[-1] == '+';
    advance(lx, at + 2);
    return LLM_OK;
}

/* {% raw %}: the text up to {% endraw %} is one text token. Sets *handled
 * when the tokens just lexed were a raw tag, whose tokens it drops. */
static llm_status lex_raw(lexer *lx, size_t tag_tok, int *strip_after, int *handled) {
    jtoks *o = lx->out;
    *handled = 0;
    if (o->n != tag_tok + 3 || o->t[tag_tok + 1].type != JT_NAME || o->t[tag_tok + 1].n != 3 ||
        memcmp(o->t[tag_tok + 1].s, "raw", 3) != 0)
        return LLM_OK;
    o->n = tag_tok; /* drop the tag */
    size_t start = lx->pos;
    if (*strip_after) while (start < lx->n && is_space(lx->s[start])) start++;
    else if (start < lx->n && lx->s[start] == '\n') start++;
    for (size_t i = start; i + 1 < lx->n; i++) {
        if (lx->s[i] != '{' || lx->s[i + 1] != '%') continue;
        size_t j = i + 2, body_end = i;
        int strip_before = j < lx->n && lx->s[j] == '-';
        if (strip_before || (j < lx->n && lx->s[j] == '+')) j++;
        while (j < lx->n && is_space(lx->s[j])) j++;
        if (lx->n - j < 6 || memcmp(lx->s + j, "endraw", 6) != 0) continue;
        j += 6;
        while (j < lx->n && is_space(lx->s[j])) j++;
        *strip_after = j < lx->n && lx->s[j] == '-';
        if (*strip_after || (j < lx->n && lx->s[j] == '+')) j++;
        if (lx->n - j < 2 || memcmp(lx->s + j, "%}", 2) != 0) continue;
        if (strip_before) body_end = start + rstrip_len(lx->s + start, i - start);
        else body_end = start + lstrip_blocks(lx, start, i - start);
        if (body_end > start && !push(lx, JT_TEXT, lx->s + start, body_end - start)) return LLM_ERR_NOMEM;
        advance(lx, j + 2);
        *handled = 1;
        return LLM_OK;
    }
    return lex_fail(lx, "unterminated raw block");
}

/* Normalizes \r\n and \r to \n and drops one trailing newline. */
static char *normalize(const char *src, size_t len, size_t *out_len) {
    char *s = llm_malloc(len + 1);
    if (!s) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else s[o++] = src[i];
    }
    if (o && s[o - 1] == '\n') o--;
    s[o] = 0;
    *out_len = o;
    return s;
}

/* The main loop: text up to the next tag opening, then the tag. The text
 * token is pushed after the tag's opening is seen, since "{%-" and
 * lstrip_blocks cut its end; the text after a tag starts stripped when
 * the tag closed with "-" and without its newline after "%}"/"#}"
 * (trim_blocks) unless it closed with "+". */
llm_status jinja_lex(const char *src, size_t len, jtoks *out, llm_error *err) {
    memset(out, 0, sizeof *out);
    lexer lx = {0};
    lx.s = out->src = normalize(src, len, &lx.n);
    if (!lx.s) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a template");
    lx.line = lx.col = 1;
    lx.out = out;
    lx.err = err;
    int strip_next = 0;
    while (lx.pos <= lx.n) {
        if (strip_next) while (lx.pos < lx.n && is_space(lx.s[lx.pos])) advance(&lx, lx.pos + 1);
        strip_next = 0;
        size_t start = lx.pos, i = start;
        while (i + 1 < lx.n &&
               !(lx.s[i] == '{' && (lx.s[i + 1] == '{' || lx.s[i + 1] == '%' || lx.s[i + 1] == '#')))
            i++;
        if (i + 1 >= lx.n) i = lx.n;
        size_t tn = i - start;
        char kind = i < lx.n ? lx.s[i + 1] : 0, mod = i + 2 < lx.n ? lx.s[i + 2] : 0;
        if (kind && mod == '-') tn = rstrip_len(lx.s + start, tn);
        else if ((kind == '%' || kind == '#') && mod != '+') tn = lstrip_blocks(&lx, start, tn);
        if (tn && !push(&lx, JT_TEXT, lx.s + start, tn)) return LLM_ERR_NOMEM;
        advance(&lx, i);
        if (!kind) break;
        int strip_after = 0, plus_after = 0;
        llm_status s;
        advance(&lx, i + 2 + (mod == '-' || mod == '+'));
        if (kind == '#') {
            s = lex_comment(&lx, &strip_after, &plus_after);
        } else {
            size_t tag_tok = out->n;
            if (!push(&lx, kind == '{' ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, NULL, 0)) return LLM_ERR_NOMEM;
            s = lex_tag(&lx, kind == '{' ? "}}" : "%}", kind == '{' ? JT_VAR_END : JT_BLOCK_END, &strip_after,
                        &plus_after);
            int raw = 0; /* a raw block continues like its endraw tag */
            if (!s && kind == '%') {
                s = lex_raw(&lx, tag_tok, &strip_after, &raw);
            }
        }
        if (s) return s;
        strip_next = strip_after;
        if (!strip_after && !plus_after && kind != '{' && lx.pos < lx.n && lx.s[lx.pos] == '\n')
            advance(&lx, lx.pos + 1);
    }
    return push(&lx, JT_EOF, NULL, 0) ? LLM_OK : LLM_ERR_NOMEM;
}

void jinja_toks_free(jtoks *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        if (t->t[i].type == JT_STRING) free((char *)t->t[i].s);
    free(t->t);
    free(t->src);
    memset(t, 0, sizeof *t);
}
