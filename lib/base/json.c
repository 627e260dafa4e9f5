#include "json.h"

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "utf8.h"

/* One value. Arrays and objects hold their children by value in one array
 * (items), objects their keys beside it; a string's bytes are str. */
struct llm_json {
    int type;
    int is_int;        /* number written as an integer that fits int64_t */
    size_t len;        /* string bytes, or array/object elements */
    union {
        int b;
        struct { double num; int64_t i; } n;
        char *str;
        struct { llm_json *items; char **keys; size_t *klens; } c;
    } u;
};

typedef struct parser {
    const unsigned char *p, *start, *end;
    llm_error *err;
} parser;

static void json_clear(llm_json *v) {
    if (v->type == LLM_JSON_STRING) {
        free(v->u.str);
    } else if (v->type == LLM_JSON_ARRAY || v->type == LLM_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            json_clear(&v->u.c.items[i]);
            if (v->type == LLM_JSON_OBJECT) free(v->u.c.keys[i]);
        }
        free(v->u.c.items);
        free(v->u.c.keys);
        free(v->u.c.klens);
    }
    v->type = LLM_JSON_NULL;
    v->len = 0;
}

void llm_json_free(llm_json *v) {
    if (!v) return;
    json_clear(v);
    free(v);
}

static llm_status bad(parser *ps, const char *what) {
    return llm_fail(ps->err, LLM_ERR_FORMAT, "json: %s at byte %zu", what,
                    (size_t)(ps->p - ps->start));
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Matches the literal word (true, false, null) at the cursor. */
static int take_word(parser *ps, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) return 0;
    ps->p += n;
    return 1;
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* Decodes the \u escape at the cursor (just after the backslash-u), a
 * surrogate pair taking two of them, into a code point. */
static llm_status take_u_escape(parser *ps, unsigned *cp) {
    if (ps->end - ps->p < 4 || !hex4(ps->p, cp)) return bad(ps, "bad \\u escape");
    ps->p += 4;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return bad(ps, "lone low surrogate");
    if (*cp < 0xd800 || *cp > 0xdbff) return LLM_OK;
    unsigned lo;
    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || !hex4(ps->p + 2, &lo) ||
        lo < 0xdc00 || lo > 0xdfff)
        return bad(ps, "lone high surrogate");
    ps->p += 6;
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    return LLM_OK;
}

/* Parses the string whose opening quote is at the cursor into a fresh
 * NUL-terminated buffer. Escapes never make the text longer, so the
 * bytes up to the closing quote bound the output. */
static llm_status take_string(parser *ps, char **out, size_t *out_len) {
    ps->p++;
    const unsigned char *q = ps->p;
    while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    if (q >= ps->end) return bad(ps, "unterminated string");
    unsigned char *buf = llm_malloc((size_t)(q - ps->p) + 1), *o = buf;
    if (!buf) return llm_fail(ps->err, LLM_ERR_NOMEM, "json: out of memory for a string");
    llm_status s = LLM_OK;
    while (*ps->p != '"') {
        unsigned c = *ps->p;
        if (c < 0x20) { s = bad(ps, "control character in string"); break; }
        if (c != '\\') {
            size_t n = llm_utf8_char(ps->p, (size_t)(ps->end - ps->p));
            if (!n) { s = bad(ps, "invalid UTF-8"); break; }
            memcpy(o, ps->p, n);
            o += n;
            ps->p += n;
            continue;
        }
        ps->p++;
        c = *ps->p++;
        const char *simple = strchr("\"\\/bfnrt", (int)c);
        if (c && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            *o++ = (unsigned char)map[simple - "\"\\/bfnrt"];
        } else if (c == 'u') {
            unsigned cp = 0;
            if ((s = take_u_escape(ps, &cp))) break;
            o += llm_utf8_put((char *)o, cp);
        } else {
            ps->p--;
            s = bad(ps, "bad escape");
            break;
        }
    }
    if (s) { free(buf); return s; }
    ps->p++;
    *o = 0;
    *out = (char *)buf;
    *out_len = (size_t)(o - buf);
    return LLM_OK;
}

/* A number in RFC 8259's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * converted with strtod in the C locale's spelling (the decimal point is
 * replaced by the current locale's, which strtod expects). */
static llm_status take_number(parser *ps, llm_json *v) {
    const unsigned char *s = ps->p, *q = s;
    int integral = 1;
    if (q < ps->end && *q == '-') q++;
    if (q < ps->end && *q == '0') q++;
    else if (q < ps->end && *q >= '1' && *q <= '9') while (q < ps->end && *q >= '0' && *q <= '9') q++;
    else return bad(ps, "bad number");
    if (q < ps->end && *q == '.') {
        integral = 0;
        if (++q >= ps->end || *q < '0' || *q > '9') { ps->p = q; return bad(ps, "bad number"); }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integral = 0;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || *q < '0' || *q > '9') { ps->p = q; return bad(ps, "bad number"); }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    size_t n = (size_t)(q - s);
    char small[64], *buf = n < sizeof small ? small : llm_malloc(n + 1);
    if (!buf) return llm_fail(ps->err, LLM_ERR_NOMEM, "json: out of memory for a number");
    memcpy(buf, s, n);
    buf[n] = 0;
    char dp = localeconv()->decimal_point[0];
    if (dp != '.') for (char *c = buf; *c; c++) if (*c == '.') *c = dp;
    v->type = LLM_JSON_NUMBER;
    v->u.n.num = strtod(buf, NULL);
    if (integral) {
        errno = 0;
        long long i = strtoll(buf, NULL, 10);
        if (errno == 0) { v->is_int = 1; v->u.n.i = i; }
    }
    if (buf != small) free(buf);
    ps->p = q;
    return LLM_OK;
}

static llm_status take_value(parser *ps, llm_json *v, int depth);

/* Appends a zeroed slot to a container being built, growing its arrays by
 * half; *cap tracks their capacity. */
static llm_status grow(parser *ps, llm_json *v, size_t *cap) {
    if (v->len < *cap) return LLM_OK;
    size_t nc = *cap ? *cap + *cap / 2 : 4;
    llm_json *items = llm_realloc(v->u.c.items, nc * sizeof *items);
    if (items) v->u.c.items = items;
    if (items && v->type == LLM_JSON_OBJECT) {
        char **keys = llm_realloc(v->u.c.keys, nc * sizeof *keys);
        if (keys) v->u.c.keys = keys;
        size_t *klens = keys ? llm_realloc(v->u.c.klens, nc * sizeof *klens) : NULL;
        if (klens) v->u.c.klens = klens;
        if (!klens) items = NULL;
    }
    if (!items) return llm_fail(ps->err, LLM_ERR_NOMEM, "json: out of memory for %zu elements", nc);
    *cap = nc;
    return LLM_OK;
}

static llm_status take_array(parser *ps, llm_json *v, int depth) {
    v->type = LLM_JSON_ARRAY;
    size_t cap = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') { ps->p++; return LLM_OK; }
    for (;;) {
        llm_status s = grow(ps, v, &cap);
        if (s) return s;
        llm_json *e = &v->u.c.items[v->len];
        memset(e, 0, sizeof *e);
        s = take_value(ps, e, depth + 1);
        v->len++; /* even half-built: json_clear frees what it holds */
        if (s) return s;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == ']') { ps->p++; return LLM_OK; }
        return bad(ps, "expected ',' or ']'");
    }
}

static uint64_t hash_key(const char *s, size_t n) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int same_key(const llm_json *v, size_t a, size_t b) {
    return v->u.c.klens[a] == v->u.c.klens[b] &&
           memcmp(v->u.c.keys[a], v->u.c.keys[b], v->u.c.klens[a]) == 0;
}

/* Removes repeated keys from a parsed object: the first occurrence keeps
 * its place and takes the value of the last one. A hash table of member
 * indices (at most half full) keeps this linear for large objects. */
static llm_status dedupe(parser *ps, llm_json *v) {
    if (v->len < 2) return LLM_OK;
    size_t cap = 16;
    while (cap < v->len * 2) cap *= 2;
    size_t *slot = llm_calloc(cap, sizeof *slot); /* member index + 1, 0: empty */
    if (!slot) return llm_fail(ps->err, LLM_ERR_NOMEM, "json: out of memory for an object");
    size_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        size_t h = (size_t)hash_key(v->u.c.keys[i], v->u.c.klens[i]) & (cap - 1);
        while (slot[h] && !same_key(v, slot[h] - 1, i)) h = (h + 1) & (cap - 1);
        if (slot[h]) { /* repeated: the new value replaces the old in place */
            size_t j = slot[h] - 1;
            json_clear(&v->u.c.items[j]);
            v->u.c.items[j] = v->u.c.items[i];
            free(v->u.c.keys[i]);
            continue;
        }
        v->u.c.items[n] = v->u.c.items[i];
        v->u.c.keys[n] = v->u.c.keys[i];
        v->u.c.klens[n] = v->u.c.klens[i];
        slot[h] = ++n;
    }
    v->len = n;
    free(slot);
    return LLM_OK;
}

static llm_status take_object(parser *ps, llm_json *v, int depth) {
    v->type = LLM_JSON_OBJECT;
    size_t cap = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') { ps->p++; return LLM_OK; }
    for (;;) {
        llm_status s = grow(ps, v, &cap);
        if (s) return s;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') return bad(ps, "expected a string key");
        char *key;
        size_t klen;
        if ((s = take_string(ps, &key, &klen))) return s;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') { free(key); return bad(ps, "expected ':'"); }
        ps->p++;
        llm_json *e = &v->u.c.items[v->len];
        memset(e, 0, sizeof *e);
        v->u.c.keys[v->len] = key;
        v->u.c.klens[v->len] = klen;
        s = take_value(ps, e, depth + 1);
        v->len++;
        if (s) return s;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == '}') { ps->p++; return dedupe(ps, v); }
        return bad(ps, "expected ',' or '}'");
    }
}

/* Parses one value at the cursor into v (zeroed by the caller). On failure
 * v holds whatever was built, which json_clear releases. */
static llm_status take_value(parser *ps, llm_json *v, int depth) {
    if (depth > LLM_JSON_MAX_DEPTH)
        return llm_fail(ps->err, LLM_ERR_LIMIT, "json: nesting deeper than %d at byte %zu",
                        LLM_JSON_MAX_DEPTH, (size_t)(ps->p - ps->start));
    skip_ws(ps);
    if (ps->p >= ps->end) return bad(ps, "unexpected end of text");
    switch (*ps->p) {
    case '{': return take_object(ps, v, depth);
    case '[': return take_array(ps, v, depth);
    case '"': v->type = LLM_JSON_STRING; return take_string(ps, &v->u.str, &v->len);
    case 't': case 'f':
        v->type = LLM_JSON_BOOL;
        v->u.b = *ps->p == 't';
        if (take_word(ps, v->u.b ? "true" : "false")) return LLM_OK;
        break;
    case 'n':
        if (take_word(ps, "null")) return LLM_OK;
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return take_number(ps, v);
    }
    v->type = LLM_JSON_NULL;
    return bad(ps, "unexpected character");
}

llm_status llm_json_parse(const char *text, size_t len, llm_json **out, llm_error *err) {
    if (!out) return llm_fail(err, LLM_ERR_INVALID_ARG, "json: out is NULL");
    *out = NULL;
    if (!text && len) return llm_fail(err, LLM_ERR_INVALID_ARG, "json: text is NULL");
    if (len > LLM_JSON_MAX_SIZE)
        return llm_fail(err, LLM_ERR_LIMIT, "json: text of %zu bytes, more than %u", len,
                        LLM_JSON_MAX_SIZE);
    parser ps = {(const unsigned char *)text, (const unsigned char *)text,
                 (const unsigned char *)text + len, err};
    llm_json *v = llm_calloc(1, sizeof *v);
    if (!v) return llm_fail(err, LLM_ERR_NOMEM, "json: out of memory");
    llm_status s = take_value(&ps, v, 0);
    if (!s) {
        skip_ws(&ps);
        if (ps.p != ps.end) s = bad(&ps, "trailing characters");
    }
    if (s) { llm_json_free(v); return s; }
    *out = v;
    return LLM_OK;
}

int llm_json_type(const llm_json *v) { return v ? v->type : -1; }

size_t llm_json_len(const llm_json *v) {
    return v && (v->type == LLM_JSON_STRING || v->type == LLM_JSON_ARRAY ||
                 v->type == LLM_JSON_OBJECT) ? v->len : 0;
}

const llm_json *llm_json_at(const llm_json *v, size_t i) {
    if (!v || (v->type != LLM_JSON_ARRAY && v->type != LLM_JSON_OBJECT) || i >= v->len)
        return NULL;
    return &v->u.c.items[i];
}

const char *llm_json_key_len_at(const llm_json *v, size_t i, size_t *len) {
    if (!v || v->type != LLM_JSON_OBJECT || i >= v->len) return NULL;
    if (len) *len = v->u.c.klens[i];
    return v->u.c.keys[i];
}

const char *llm_json_key_at(const llm_json *v, size_t i) { return llm_json_key_len_at(v, i, NULL); }

const llm_json *llm_json_get(const llm_json *v, const char *key) {
    if (!v || v->type != LLM_JSON_OBJECT || !key) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < v->len; i++)
        if (v->u.c.klens[i] == n && memcmp(v->u.c.keys[i], key, n) == 0) return &v->u.c.items[i];
    return NULL;
}

const char *llm_json_str(const llm_json *v, size_t *len) {
    if (!v || v->type != LLM_JSON_STRING) return NULL;
    if (len) *len = v->len;
    return v->u.str;
}

double llm_json_num(const llm_json *v) { return v && v->type == LLM_JSON_NUMBER ? v->u.n.num : 0; }

int llm_json_int(const llm_json *v, int64_t *out) {
    if (!v || v->type != LLM_JSON_NUMBER || !v->is_int) return 0;
    if (out) *out = v->u.n.i;
    return 1;
}

int llm_json_bool(const llm_json *v) { return v && v->type == LLM_JSON_BOOL ? v->u.b : 0; }
