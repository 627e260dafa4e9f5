/* Values of the template interpreter: construction with memory accounting,
 * Python's truth, equality and ordering, str(), repr() and json.dumps(). */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jinja.h"

jv jv_undefined = {.type = JV_UNDEF, .refs = -1};
jv jv_none = {.type = JV_NONE, .refs = -1};
jv jv_true = {.type = JV_BOOL, .refs = -1, .u.b = 1};
jv jv_false = {.type = JV_BOOL, .refs = -1, .u.b = 0};

jv *jv_ref(jv *v) {
    if (v && v->refs >= 0) v->refs++;
    return v;
}

static void jv_destroy(jinja_ctx *c, jv *v) {
    switch (v->type) {
    case JV_LIST:
        for (size_t i = 0; i < v->u.l.n; i++) jv_unref(c, v->u.l.a[i]);
        free(v->u.l.a);
        break;
    case JV_DICT:
    case JV_NS:
        for (size_t i = 0; i < v->u.d.n; i++) {
            jv_unref(c, v->u.d.k[i]);
            jv_unref(c, v->u.d.v[i]);
        }
        free(v->u.d.k);
        free(v->u.d.v);
        break;
    default:
        break;
    }
    jinja_unaccount(c, v->mem);
    free(v);
}

/* Containers can hold themselves only through a namespace attribute set
 * to the namespace (ns.x = ns), which the evaluator refuses, so plain
 * reference counting frees everything. */
void jv_unref(jinja_ctx *c, jv *v) {
    if (!v || v->refs < 0) return;
    if (--v->refs == 0) jv_destroy(c, v);
}

/* A new value of type t with extra bytes after the struct, accounted to c. */
static jv *jv_alloc(jinja_ctx *c, jv_type t, size_t extra) {
    size_t mem = sizeof(jv) + extra;
    if (!jinja_account(c, mem)) return NULL;
    jv *v = llm_malloc(mem);
    if (!v) {
        jinja_unaccount(c, mem);
        return jinja_fail_code(c, LLM_ERR_NOMEM, "out of memory for a template value");
    }
    memset(v, 0, sizeof *v);
    v->type = t;
    v->refs = 1;
    v->mem = mem;
    return v;
}

jv *jv_int(jinja_ctx *c, int64_t i) {
    jv *v = jv_alloc(c, JV_INT, 0);
    if (v) v->u.i = i;
    return v;
}

jv *jv_float(jinja_ctx *c, double f) {
    jv *v = jv_alloc(c, JV_FLOAT, 0);
    if (v) v->u.f = f;
    return v;
}

jv *jv_bool(int b) { return b ? &jv_true : &jv_false; }

jv *jv_str2(jinja_ctx *c, const char *a, size_t an, const char *b, size_t bn) {
    const jinja_limits *lim = jinja_ctx_limits(c);
    if (lim && (an > lim->max_string || bn > lim->max_string - an))
        return jinja_fail_code(c, LLM_ERR_LIMIT, "template string longer than %zu bytes",
                               lim->max_string);
    jv *v = jv_alloc(c, JV_STR, an + bn + 1);
    if (!v) return NULL;
    v->u.s.s = (char *)(v + 1);
    if (an) memcpy(v->u.s.s, a, an);
    if (bn) memcpy(v->u.s.s + an, b, bn);
    v->u.s.s[an + bn] = 0;
    v->u.s.n = an + bn;
    return v;
}

jv *jv_str(jinja_ctx *c, const char *s, size_t n) { return jv_str2(c, s, n, NULL, 0); }

jv *jv_list(jinja_ctx *c, size_t cap) {
    jv *v = jv_alloc(c, JV_LIST, 0);
    if (!v || !cap) return v;
    if (!jinja_account(c, cap * sizeof(jv *))) { jv_unref(c, v); return NULL; }
    v->mem += cap * sizeof(jv *);
    v->u.l.a = llm_malloc(cap * sizeof(jv *));
    if (!v->u.l.a) {
        jv_unref(c, v);
        return jinja_fail_code(c, LLM_ERR_NOMEM, "out of memory for a list");
    }
    v->u.l.cap = cap;
    return v;
}

jv *jv_dict(jinja_ctx *c, jv_type type) { return jv_alloc(c, type, 0); }

jv *jv_func_new(jinja_ctx *c, jv_func fn, const char *name) {
    jv *v = jv_alloc(c, JV_FUNC, 0);
    if (v) {
        v->u.fn.fn = fn;
        v->u.fn.name = name;
    }
    return v;
}

/* Grows an array of pointers (or two, for dicts) to hold one more,
 * accounting the new capacity to the container's value. */
static int grow_arrays(jinja_ctx *c, jv *v, jv ***a, jv ***b, size_t n, size_t *cap) {
    if (n < *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 4, add = (nc - *cap) * sizeof(jv *) * (b ? 2 : 1);
    if (!jinja_account(c, add)) return 0;
    jv **na = llm_realloc(*a, nc * sizeof(jv *));
    if (na) *a = na;
    jv **nb = NULL;
    if (na && b) {
        nb = llm_realloc(*b, nc * sizeof(jv *));
        if (nb) *b = nb;
    }
    if (!na || (b && !nb)) {
        jinja_unaccount(c, add);
        jinja_fail_code(c, LLM_ERR_NOMEM, "out of memory for a container");
        return 0;
    }
    v->mem += add;
    *cap = nc;
    return 1;
}

int jv_push(jinja_ctx *c, jv *list, jv *v) {
    if (!v) return 0;
    if (!grow_arrays(c, list, &list->u.l.a, NULL, list->u.l.n, &list->u.l.cap)) {
        jv_unref(c, v);
        return 0;
    }
    list->u.l.a[list->u.l.n++] = v;
    return 1;
}

jv *jv_get(const jv *d, const jv *key) {
    if (!d || (d->type != JV_DICT && d->type != JV_NS)) return NULL;
    for (size_t i = 0; i < d->u.d.n; i++)
        if (jv_equal(d->u.d.k[i], key)) return d->u.d.v[i];
    return NULL;
}

jv *jv_get_cstr(const jv *d, const char *key) {
    if (!d || (d->type != JV_DICT && d->type != JV_NS)) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < d->u.d.n; i++) {
        const jv *k = d->u.d.k[i];
        if (k->type == JV_STR && k->u.s.n == n && memcmp(k->u.s.s, key, n) == 0) return d->u.d.v[i];
    }
    return NULL;
}

int jv_set(jinja_ctx *c, jv *d, jv *key, jv *v) {
    if (!key || !v) {
        jv_unref(c, key);
        jv_unref(c, v);
        return 0;
    }
    for (size_t i = 0; i < d->u.d.n; i++)
        if (jv_equal(d->u.d.k[i], key)) {
            jv_unref(c, d->u.d.v[i]);
            d->u.d.v[i] = v;
            jv_unref(c, key);
            return 1;
        }
    if (!grow_arrays(c, d, &d->u.d.k, &d->u.d.v, d->u.d.n, &d->u.d.cap)) {
        jv_unref(c, key);
        jv_unref(c, v);
        return 0;
    }
    d->u.d.k[d->u.d.n] = key;
    d->u.d.v[d->u.d.n++] = v;
    return 1;
}

int jv_set_cstr(jinja_ctx *c, jv *d, const char *key, jv *v) {
    if (!v) return 0;
    jv *k = jv_str(c, key, strlen(key));
    if (!k) { jv_unref(c, v); return 0; }
    return jv_set(c, d, k, v);
}

int jv_truthy(const jv *v) {
    switch (v->type) {
    case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0;
    case JV_STR: return v->u.s.n != 0;
    case JV_LIST: return v->u.l.n != 0;
    case JV_DICT: return v->u.d.n != 0;
    default: return 1;
    }
}

static int is_num(const jv *v) { return v->type == JV_BOOL || v->type == JV_INT || v->type == JV_FLOAT; }

static double num_of(const jv *v) {
    return v->type == JV_FLOAT ? v->u.f : v->type == JV_INT ? (double)v->u.i : v->u.b;
}

static int64_t int_of(const jv *v) { return v->type == JV_INT ? v->u.i : v->u.b; }

/* Python's ==: numbers compare by value across bool, int and float (True
 * == 1), strings by bytes, lists and dicts by content; '' is not False,
 * and None equals only None. Undefined equals Undefined (Jinja2). */
int jv_equal(const jv *a, const jv *b) {
    if (a == b) return 1;
    if (is_num(a) && is_num(b)) {
        if (a->type != JV_FLOAT && b->type != JV_FLOAT) return int_of(a) == int_of(b);
        return num_of(a) == num_of(b);
    }
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR: return a->u.s.n == b->u.s.n && memcmp(a->u.s.s, b->u.s.s, a->u.s.n) == 0;
    case JV_LIST:
        if (a->u.l.n != b->u.l.n) return 0;
        for (size_t i = 0; i < a->u.l.n; i++)
            if (!jv_equal(a->u.l.a[i], b->u.l.a[i])) return 0;
        return 1;
    case JV_DICT:
        if (a->u.d.n != b->u.d.n) return 0;
        for (size_t i = 0; i < a->u.d.n; i++) {
            const jv *o = jv_get(b, a->u.d.k[i]);
            if (!o || !jv_equal(a->u.d.v[i], o)) return 0;
        }
        return 1;
    default: return 0;
    }
}

/* Python's ordering: numbers by value, strings by code points (UTF-8
 * bytes order the same way), lists lexicographically; anything else is a
 * TypeError, reported through *ok. */
int jv_compare(const jv *a, const jv *b, int *ok) {
    *ok = 1;
    if (is_num(a) && is_num(b)) {
        if (a->type != JV_FLOAT && b->type != JV_FLOAT)
            return int_of(a) < int_of(b) ? -1 : int_of(a) > int_of(b);
        double x = num_of(a), y = num_of(b);
        return x < y ? -1 : x > y;
    }
    if (a->type == JV_STR && b->type == JV_STR) {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int r = memcmp(a->u.s.s, b->u.s.s, n);
        if (r) return r < 0 ? -1 : 1;
        return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
    }
    if (a->type == JV_LIST && b->type == JV_LIST) {
        for (size_t i = 0; i < a->u.l.n && i < b->u.l.n; i++) {
            if (jv_equal(a->u.l.a[i], b->u.l.a[i])) continue;
            return jv_compare(a->u.l.a[i], b->u.l.a[i], ok);
        }
        return a->u.l.n < b->u.l.n ? -1 : a->u.l.n > b->u.l.n;
    }
    *ok = 0;
    return 0;
}

const char *jv_type_name(const jv *v) {
    static const char *names[] = {"Undefined", "NoneType", "bool", "int", "float", "str",
                                  "list", "dict", "Namespace", "Macro", "function"};
    if (v->type == JV_LIST && v->tuple) return "tuple";
    return names[v->type];
}

size_t jv_utf8_count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xc0) != 0x80;
    return k;
}

/* ------------------------------------------------------------ buffers */

int jbuf_add(jinja_ctx *c, jbuf *b, const char *s, size_t n) {
    const jinja_limits *lim = jinja_ctx_limits(c);
    size_t max = lim ? lim->max_string : (size_t)1 << 30;
    if (n > max || b->n > max - n) {
        jinja_fail_code(c, LLM_ERR_LIMIT, "template string longer than %zu bytes", max);
        return 0;
    }
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1) nc *= 2;
        char *p = llm_realloc(b->p, nc);
        if (!p) {
            jinja_fail_code(c, LLM_ERR_NOMEM, "out of memory for a string of %zu bytes", nc);
            return 0;
        }
        b->p = p;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 1;
}

int jbuf_addc(jinja_ctx *c, jbuf *b, char ch) { return jbuf_add(c, b, &ch, 1); }

jv *jbuf_to_str(jinja_ctx *c, jbuf *b) {
    jv *v = jv_str(c, b->p ? b->p : "", b->n);
    free(b->p);
    memset(b, 0, sizeof *b);
    return v;
}

/* ------------------------------------------------------------ printing */

/* Python's repr(float): the shortest digits that read back the same,
 * fixed notation for exponents -4..15 (with ".0" when integral), else
 * d.ddde+XX. Digits come from %.*e, so the locale's decimal point never
 * shows up in the result. */
static int float_repr(jinja_ctx *c, jbuf *b, double x) {
    if (isnan(x)) return jbuf_add(c, b, "nan", 3);
    if (isinf(x)) return x < 0 ? jbuf_add(c, b, "-inf", 4) : jbuf_add(c, b, "inf", 3);
    char tmp[40], digits[24];
    int p, exp = 0;
    for (p = 0; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, x);
        if (strtod(tmp, NULL) == x) break;
    }
    size_t nd = 0;
    const char *e = strchr(tmp, 'e');
    for (const char *q = tmp; q < e; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    exp = atoi(e + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char out[64];
    size_t o = 0;
    if (x < 0 || (x == 0 && signbit(x))) out[o++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = -1; i > exp; i--) out[o++] = '0';
            for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++) out[o++] = (size_t)i < nd ? digits[i] : '0';
            out[o++] = '.';
            if ((size_t)exp + 1 < nd) for (size_t i = (size_t)exp + 1; i < nd; i++) out[o++] = digits[i];
            else out[o++] = '0';
        }
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    }
    return jbuf_add(c, b, out, o);
}

static int int_str(jinja_ctx *c, jbuf *b, int64_t i) {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)i);
    return jbuf_add(c, b, tmp, (size_t)n);
}

/* Python's repr of a str: single quotes unless the text holds ' and no ",
 * backslash escapes for the quote, backslash and control characters. */
static int str_repr(jinja_ctx *c, jbuf *b, const char *s, size_t n) {
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    if (!jbuf_addc(c, b, q)) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        const char *add = esc;
        size_t an = 2;
        if (ch == (unsigned char)q || ch == '\\') { esc[0] = '\\'; esc[1] = (char)ch; }
        else if (ch == '\n') add = "\\n";
        else if (ch == '\r') add = "\\r";
        else if (ch == '\t') add = "\\t";
        else if (ch < 0x20 || ch == 0x7f) an = (size_t)snprintf(esc, sizeof esc, "\\x%02x", ch);
        else { esc[0] = (char)ch; an = 1; }
        if (!jbuf_add(c, b, add, an)) return 0;
    }
    return jbuf_addc(c, b, q);
}

static int repr_depth(jinja_ctx *c, jbuf *b, const jv *v, int depth);

/* The shared shape of repr() and json.dumps for containers is not shared
 * on purpose: their separators, quoting and key rules differ enough that
 * one routine with flags would be harder to read than two short ones. */
static int repr_depth(jinja_ctx *c, jbuf *b, const jv *v, int depth) {
    if (depth > 64) { jinja_fail_code(c, LLM_ERR_LIMIT, "value nested too deeply to print"); return 0; }
    switch (v->type) {
    case JV_STR: return str_repr(c, b, v->u.s.s, v->u.s.n);
    case JV_LIST: {
        if (!jbuf_addc(c, b, v->tuple ? '(' : '[')) return 0;
        for (size_t i = 0; i < v->u.l.n; i++)
            if ((i && !jbuf_add(c, b, ", ", 2)) || !repr_depth(c, b, v->u.l.a[i], depth + 1)) return 0;
        if (v->tuple && v->u.l.n == 1 && !jbuf_addc(c, b, ',')) return 0;
        return jbuf_addc(c, b, v->tuple ? ')' : ']');
    }
    case JV_DICT: {
        if (!jbuf_addc(c, b, '{')) return 0;
        for (size_t i = 0; i < v->u.d.n; i++)
            if ((i && !jbuf_add(c, b, ", ", 2)) || !repr_depth(c, b, v->u.d.k[i], depth + 1) ||
                !jbuf_add(c, b, ": ", 2) || !repr_depth(c, b, v->u.d.v[i], depth + 1))
                return 0;
        return jbuf_addc(c, b, '}');
    }
    default: return jv_to_str(c, b, v);
    }
}

int jv_repr(jinja_ctx *c, jbuf *b, const jv *v) { return repr_depth(c, b, v, 0); }

int jv_to_str(jinja_ctx *c, jbuf *b, const jv *v) {
    switch (v->type) {
    case JV_UNDEF: return 1;
    case JV_NONE: return jbuf_add(c, b, "None", 4);
    case JV_BOOL: return v->u.b ? jbuf_add(c, b, "True", 4) : jbuf_add(c, b, "False", 5);
    case JV_INT: return int_str(c, b, v->u.i);
    case JV_FLOAT: return float_repr(c, b, v->u.f);
    case JV_STR: return jbuf_add(c, b, v->u.s.s, v->u.s.n);
    case JV_LIST: case JV_DICT: return repr_depth(c, b, v, 0);
    case JV_NS: return jbuf_add(c, b, "<Namespace>", 11);
    case JV_MACRO: return jbuf_add(c, b, "<Macro>", 7);
    case JV_FUNC: return jbuf_add(c, b, "<function>", 10);
    }
    return 1;
}

jv *jv_as_str(jinja_ctx *c, jv *v) {
    if (v->type == JV_STR) return jv_ref(v);
    jbuf b = {0};
    if (!jv_to_str(c, &b, v)) { free(b.p); return NULL; }
    return jbuf_to_str(c, &b);
}

/* A JSON string as json.dumps(ensure_ascii=False) writes it: the quote,
 * backslash and control characters escaped, everything else as is. */
static int json_str(jinja_ctx *c, jbuf *b, const char *s, size_t n) {
    if (!jbuf_addc(c, b, '"')) return 0;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        if (!jbuf_add(c, b, s + run, i - run)) return 0;
        run = i + 1;
        char esc[8];
        size_t en = 2;
        esc[0] = '\\';
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default: en = (size_t)snprintf(esc, sizeof esc, "\\u%04x", ch);
        }
        if (!jbuf_add(c, b, esc, en)) return 0;
    }
    return jbuf_add(c, b, s + run, n - run) && jbuf_addc(c, b, '"');
}

static int json_newline(jinja_ctx *c, jbuf *b, int indent, int level) {
    if (indent < 0) return 1;
    if (!jbuf_addc(c, b, '\n')) return 0;
    for (int i = 0; i < indent * level; i++)
        if (!jbuf_addc(c, b, ' ')) return 0;
    return 1;
}

/* Member order for sort_keys: indices sorted by key (string keys only;
 * others keep their place, as a TypeError is not worth reproducing). */
static void sort_members(const jv *d, size_t *ord) {
    for (size_t i = 0; i < d->u.d.n; i++) ord[i] = i;
    for (size_t i = 1; i < d->u.d.n; i++)
        for (size_t j = i; j > 0; j--) {
            int ok;
            if (jv_compare(d->u.d.k[ord[j - 1]], d->u.d.k[ord[j]], &ok) <= 0 || !ok) break;
            size_t t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
        }
}

static int json_dict(jinja_ctx *c, jbuf *b, const jv *v, const jv_json_fmt *f, int depth) {
    if (!v->u.d.n) return jbuf_add(c, b, "{}", 2);
    size_t *ord = llm_malloc(v->u.d.n * sizeof *ord);
    if (!ord) { jinja_fail_code(c, LLM_ERR_NOMEM, "out of memory for tojson"); return 0; }
    for (size_t i = 0; i < v->u.d.n; i++) ord[i] = i;
    if (f->sort_keys) sort_members(v, ord);
    int ok = jbuf_addc(c, b, '{');
    for (size_t i = 0; ok && i < v->u.d.n; i++) {
        const jv *k = v->u.d.k[ord[i]];
        ok = (!i || jbuf_add(c, b, f->item_sep, f->item_len)) && json_newline(c, b, f->indent, depth + 1);
        if (ok && k->type == JV_STR) ok = json_str(c, b, k->u.s.s, k->u.s.n);
        else if (ok) { /* Python turns int, float, bool and None keys into strings */
            jbuf kb = {0};
            jv_json_fmt plain = {-1, 0, ", ", ": ", 2, 2};
            ok = jv_to_json(c, &kb, k, &plain, depth + 1) &&
                 json_str(c, b, kb.p + (k->type == JV_STR), kb.n);
            free(kb.p);
        }
        ok = ok && jbuf_add(c, b, f->key_sep, f->key_len) && jv_to_json(c, b, v->u.d.v[ord[i]], f, depth + 1);
    }
    free(ord);
    return ok && json_newline(c, b, f->indent, depth) && jbuf_addc(c, b, '}');
}

int jv_to_json(jinja_ctx *c, jbuf *b, const jv *v, const jv_json_fmt *f, int depth) {
    if (depth > 64) { jinja_fail_code(c, LLM_ERR_LIMIT, "value nested too deeply for tojson"); return 0; }
    switch (v->type) {
    case JV_NONE: return jbuf_add(c, b, "null", 4);
    case JV_BOOL: return v->u.b ? jbuf_add(c, b, "true", 4) : jbuf_add(c, b, "false", 5);
    case JV_INT: return int_str(c, b, v->u.i);
    case JV_FLOAT:
        if (isnan(v->u.f)) return jbuf_add(c, b, "NaN", 3);
        if (isinf(v->u.f)) return v->u.f < 0 ? jbuf_add(c, b, "-Infinity", 9) : jbuf_add(c, b, "Infinity", 8);
        return float_repr(c, b, v->u.f);
    case JV_STR: return json_str(c, b, v->u.s.s, v->u.s.n);
    case JV_LIST:
        if (!v->u.l.n) return jbuf_add(c, b, "[]", 2);
        if (!jbuf_addc(c, b, '[')) return 0;
        for (size_t i = 0; i < v->u.l.n; i++)
            if ((i && !jbuf_add(c, b, f->item_sep, f->item_len)) || !json_newline(c, b, f->indent, depth + 1) ||
                !jv_to_json(c, b, v->u.l.a[i], f, depth + 1))
                return 0;
        return json_newline(c, b, f->indent, depth) && jbuf_addc(c, b, ']');
    case JV_DICT: case JV_NS: return json_dict(c, b, v, f, depth);
    default:
        jinja_fail_code(c, LLM_ERR_TEMPLATE, "Object of type %s is not JSON serializable", jv_type_name(v));
        return 0;
    }
}
