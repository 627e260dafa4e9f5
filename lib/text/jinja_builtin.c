/* The builtins: filters, tests, string and dict methods, and the globals
 * of Hugging Face's chat template environment (raise_exception,
 * strftime_now, namespace, range, dict), with Python's semantics: strip()
 * strips Unicode whitespace or the given characters, split() without a
 * separator splits on whitespace runs, lengths count code points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jinja.h"

/* ------------------------------------------------------------ helpers */

/* Decodes the code point at s[i] (lenient: a stray byte is itself). */
static unsigned cp_at(const char *s, size_t n, size_t i, size_t *len) {
    unsigned char c = (unsigned char)s[i];
    size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (i + k > n) k = 1;
    unsigned cp = k == 1 ? c : c & (0x7f >> k);
    for (size_t j = 1; j < k; j++) cp = cp << 6 | ((unsigned char)s[i + j] & 0x3f);
    *len = k;
    return cp;
}

/* The start of the code point that ends at s[end - 1]. */
static size_t cp_start(const char *s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80 && end - i < 4) i--;
    return i;
}

/* Python's str.isspace() characters. */
static int py_space(unsigned cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static int in_chars(unsigned cp, const jv *chars) {
    if (!chars) return py_space(cp);
    for (size_t i = 0; i < chars->u.s.n;) {
        size_t l;
        if (cp_at(chars->u.s.s, chars->u.s.n, i, &l) == cp) return 1;
        i += l;
    }
    return 0;
}

/* s.strip(chars), lstrip, rstrip: chars NULL (or None) strips whitespace. */
static jv *strip(jinja_ctx *c, const jv *s, const jv *chars, int left, int right) {
    size_t b = 0, e = s->u.s.n, l;
    while (left && b < e && in_chars(cp_at(s->u.s.s, e, b, &l), chars)) b += l;
    while (right && e > b) {
        size_t st = cp_start(s->u.s.s, e);
        if (st < b || !in_chars(cp_at(s->u.s.s, e, st, &l), chars)) break;
        e = st;
    }
    return jv_str(c, s->u.s.s + b, e - b);
}

static jv *arg(jv **args, size_t n, jv *kw, size_t i, const char *name) {
    jv *v = kw ? jv_get_cstr(kw, name) : NULL;
    if (v) return v;
    return i < n ? args[i] : NULL;
}

static int need_str(jinja_ctx *c, const jnode *at, const jv *v, const char *what) {
    if (v->type == JV_STR) return 1;
    if (v->type == JV_UNDEF) jinja_fail(c, at, "%s of an undefined value", what);
    else jinja_fail(c, at, "%s needs a string, not %s", what, jv_type_name(v));
    return 0;
}

static int64_t len_of(const jv *v) {
    switch (v->type) {
    case JV_STR: return (int64_t)jv_utf8_count(v->u.s.s, v->u.s.n);
    case JV_LIST: return (int64_t)v->u.l.n;
    case JV_DICT: case JV_NS: return (int64_t)v->u.d.n;
    case JV_UNDEF: return 0;
    default: return -1;
    }
}

/* Case mapping, ASCII letters only (templates apply it to role names).
 * mode: 'U' upper, 'L' lower, 'C' capitalize, 'P' Python's str.title()
 * (a word starts after any non-letter), 'T' Jinja's title filter (a word
 * starts after whitespace or one of -({[<). */
static jv *map_case(jinja_ctx *c, const jv *s, int mode) {
    jv *r = jv_str(c, s->u.s.s, s->u.s.n);
    if (!r) return NULL;
    int word_start = 1;
    for (size_t i = 0; i < r->u.s.n; i++) {
        char ch = r->u.s.s[i];
        int alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        int up = mode == 'U' || ((mode == 'T' || mode == 'P') && word_start) || (mode == 'C' && i == 0);
        if (alpha) r->u.s.s[i] = up ? (char)(ch & ~0x20) : (char)(ch | 0x20);
        if (mode == 'P') word_start = !alpha;
        else if (mode == 'T') word_start = strchr(" \t\n\r\f\v-({[<", ch) != NULL && ch;
        else word_start = 0;
    }
    return r;
}

/* s.replace(old, new[, count]) */
static jv *replace(jinja_ctx *c, const jnode *at, const jv *s, const jv *old, const jv *new_, const jv *count) {
    if (!need_str(c, at, old, "replace") || !need_str(c, at, new_, "replace")) return NULL;
    int64_t max = count && count->type == JV_INT ? count->u.i : -1;
    jbuf b = {0};
    size_t i = 0;
    int ok = 1;
    for (int64_t done = 0; ok && (max < 0 || done < max); done++) {
        const char *hit;
        if (!old->u.s.n) { /* Python inserts new before every character and at the end */
            if (i > s->u.s.n) break;
            ok = jbuf_add(c, &b, new_->u.s.s, new_->u.s.n);
            size_t l = 0;
            if (i < s->u.s.n) cp_at(s->u.s.s, s->u.s.n, i, &l);
            ok = ok && jbuf_add(c, &b, s->u.s.s + i, l);
            i += l ? l : 1;
            continue;
        }
        if (!(hit = memmem(s->u.s.s + i, s->u.s.n - i, old->u.s.s, old->u.s.n))) break;
        size_t at_ = (size_t)(hit - s->u.s.s);
        ok = jbuf_add(c, &b, s->u.s.s + i, at_ - i) && jbuf_add(c, &b, new_->u.s.s, new_->u.s.n) &&
             jinja_step(c, 1);
        i = at_ + old->u.s.n;
    }
    if (ok && i < s->u.s.n) ok = jbuf_add(c, &b, s->u.s.s + i, s->u.s.n - i);
    if (!ok) { free(b.p); return NULL; }
    return jbuf_to_str(c, &b);
}

/* s.split(sep=None, maxsplit=-1) */
static jv *split(jinja_ctx *c, const jnode *at, const jv *s, const jv *sep, const jv *maxv) {
    int64_t max = maxv && maxv->type == JV_INT ? maxv->u.i : -1;
    jv *l = jv_list(c, 0);
    if (!l) return NULL;
    const char *p = s->u.s.s;
    size_t n = s->u.s.n, i = 0, len;
    if (sep && sep->type != JV_NONE) {
        if (!need_str(c, at, sep, "split")) { jv_unref(c, l); return NULL; }
        if (!sep->u.s.n) { jv_unref(c, l); return jinja_fail(c, at, "empty separator"); }
        for (int64_t k = 0; max < 0 || k < max; k++) {
            const char *hit = memmem(p + i, n - i, sep->u.s.s, sep->u.s.n);
            if (!hit) break;
            if (!jinja_step(c, 1) || !jv_push(c, l, jv_str(c, p + i, (size_t)(hit - p) - i))) {
                jv_unref(c, l);
                return NULL;
            }
            i = (size_t)(hit - p) + sep->u.s.n;
        }
        if (!jv_push(c, l, jv_str(c, p + i, n - i))) { jv_unref(c, l); return NULL; }
        return l;
    }
    for (int64_t k = 0;; k++) {
        while (i < n && py_space(cp_at(p, n, i, &len))) i += len;
        if (i >= n) break;
        size_t b = i;
        if (max >= 0 && k >= max) { /* the rest, trailing whitespace and all */
            if (!jv_push(c, l, jv_str(c, p + b, n - b))) { jv_unref(c, l); return NULL; }
            break;
        }
        while (i < n && !py_space(cp_at(p, n, i, &len))) i += len;
        if (!jinja_step(c, 1) || !jv_push(c, l, jv_str(c, p + b, i - b))) { jv_unref(c, l); return NULL; }
    }
    return l;
}

/* s.startswith(x) / endswith(x), x a string or a tuple of strings. */
static int affix(jinja_ctx *c, const jnode *at, const jv *s, const jv *x, int end) {
    if (x && x->type == JV_LIST) {
        for (size_t i = 0; i < x->u.l.n; i++) {
            int r = affix(c, at, s, x->u.l.a[i], end);
            if (r) return r;
        }
        return 0;
    }
    if (!x || !need_str(c, at, x, end ? "endswith" : "startswith"))
        return x ? -1 : (jinja_fail(c, at, "missing argument"), -1);
    if (x->u.s.n > s->u.s.n) return 0;
    return memcmp(s->u.s.s + (end ? s->u.s.n - x->u.s.n : 0), x->u.s.s, x->u.s.n) == 0;
}

static jv *join(jinja_ctx *c, const jnode *at, jv *v, const jv *sep, const jv *attr) {
    jv *items = v;
    if (v->type == JV_UNDEF) return jv_str(c, "", 0);
    if (v->type != JV_LIST) return jinja_fail(c, at, "join needs a list, not %s", jv_type_name(v));
    jbuf b = {0};
    int ok = 1;
    for (size_t i = 0; ok && i < items->u.l.n; i++) {
        const jv *e = items->u.l.a[i];
        if (attr) {
            jv *m = jv_get(e, attr);
            e = m ? m : &jv_undefined;
        }
        if (i && sep) ok = jv_to_str(c, &b, sep);
        ok = ok && jv_to_str(c, &b, e);
    }
    if (!ok) { free(b.p); return NULL; }
    return jbuf_to_str(c, &b);
}

static jv *items_of(jinja_ctx *c, const jnode *at, const jv *d, int what) {
    if (d->type == JV_UNDEF) return jv_list(c, 0);
    if (d->type != JV_DICT && d->type != JV_NS)
        return jinja_fail(c, at, "items needs a mapping, not %s", jv_type_name(d));
    jv *l = jv_list(c, d->u.d.n);
    for (size_t i = 0; l && i < d->u.d.n; i++) {
        jv *e;
        if (what == 'k') e = jv_ref(d->u.d.k[i]);
        else if (what == 'v') e = jv_ref(d->u.d.v[i]);
        else {
            e = jv_list(c, 2);
            if (e) e->tuple = 1;
            if (e && (!jv_push(c, e, jv_ref(d->u.d.k[i])) || !jv_push(c, e, jv_ref(d->u.d.v[i])))) {
                jv_unref(c, e);
                e = NULL;
            }
        }
        if (!jv_push(c, l, e)) { jv_unref(c, l); l = NULL; }
    }
    return l;
}

static jv *to_list(jinja_ctx *c, const jnode *at, jv *v) {
    if (v->type == JV_LIST) {
        jv *l = jv_list(c, v->u.l.n);
        for (size_t i = 0; l && i < v->u.l.n; i++)
            if (!jv_push(c, l, jv_ref(v->u.l.a[i]))) { jv_unref(c, l); l = NULL; }
        return l;
    }
    if (v->type == JV_DICT || v->type == JV_UNDEF) return items_of(c, at, v, 'k');
    if (v->type == JV_STR) {
        jv *l = jv_list(c, 0);
        for (size_t i = 0, len; l && i < v->u.s.n; i += len) {
            cp_at(v->u.s.s, v->u.s.n, i, &len);
            if (!jinja_step(c, 1) || !jv_push(c, l, jv_str(c, v->u.s.s + i, len))) { jv_unref(c, l); l = NULL; }
        }
        return l;
    }
    return jinja_fail(c, at, "'%s' object is not iterable", jv_type_name(v));
}

/* The attribute of a value as selectattr and map read it ("a.b" walks). */
static jv *attr_of(jv *v, const jv *name) {
    if (name->type != JV_STR) return jv_get(v, name);
    const char *s = name->u.s.s, *e = s + name->u.s.n;
    while (v) {
        const char *dot = memchr(s, '.', (size_t)(e - s));
        size_t n = dot ? (size_t)(dot - s) : (size_t)(e - s);
        jv *m = NULL;
        if (v->type == JV_DICT || v->type == JV_NS)
            for (size_t i = 0; i < v->u.d.n && !m; i++) {
                jv *k = v->u.d.k[i];
                if (k->type == JV_STR && k->u.s.n == n && memcmp(k->u.s.s, s, n) == 0) m = v->u.d.v[i];
            }
        v = m;
        if (!dot) break;
        s = dot + 1;
    }
    return v;
}

/* select / reject / selectattr / rejectattr: the items (or their
 * attribute) passing the named test with its arguments, or truthy ones. */
static jv *select_items(jinja_ctx *c, const jnode *at, jv *v, jv **args, size_t n, int by_attr, int keep) {
    jv *seq = to_list(c, at, v);
    if (!seq) return NULL;
    size_t first = by_attr ? 1 : 0;
    if (by_attr && (n < 1 || args[0]->type != JV_STR)) {
        jv_unref(c, seq);
        return jinja_fail(c, at, "selectattr needs an attribute name");
    }
    if (n > first && args[first]->type != JV_STR) {
        jv_unref(c, seq);
        return jinja_fail(c, at, "a test name must be a string");
    }
    jv *r = jv_list(c, 0);
    for (size_t i = 0; r && i < seq->u.l.n; i++) {
        jv *e = seq->u.l.a[i];
        if (by_attr) {
            jv *m = attr_of(e, args[0]);
            e = m ? m : &jv_undefined;
        }
        int t = n > first ? jinja_test(c, at, args[first]->u.s.s, e, args + first + 1, n - first - 1)
                          : jv_truthy(e);
        if (t < 0) { jv_unref(c, r); r = NULL; break; }
        if (t == keep && !jv_push(c, r, jv_ref(seq->u.l.a[i]))) { jv_unref(c, r); r = NULL; }
    }
    jv_unref(c, seq);
    return r;
}

/* map(attribute='x', default=d) or map('filter', args...) */
static jv *map_items(jinja_ctx *c, const jnode *at, jv *v, jv **args, size_t n, jv *kw) {
    jv *attr = kw ? jv_get_cstr(kw, "attribute") : NULL, *def = kw ? jv_get_cstr(kw, "default") : NULL;
    if (!attr && (n < 1 || args[0]->type != JV_STR))
        return jinja_fail(c, at, "map needs a filter name or attribute=");
    jv *seq = to_list(c, at, v);
    if (!seq) return NULL;
    jv *r = jv_list(c, seq->u.l.n);
    for (size_t i = 0; r && i < seq->u.l.n; i++) {
        jv *e;
        if (attr) {
            jv *m = attr_of(seq->u.l.a[i], attr);
            e = jv_ref(m ? m : def ? def : &jv_undefined);
        } else e = jinja_filter(c, at, args[0]->u.s.s, seq->u.l.a[i], args + 1, n - 1, NULL);
        if (!jv_push(c, r, e)) { jv_unref(c, r); r = NULL; }
    }
    jv_unref(c, seq);
    return r;
}

/* indent(width=4, first=False, blank=False): every line but the first
 * (and blank ones) gets the indentation. */
static jv *indent(jinja_ctx *c, const jv *s, jv **args, size_t n, jv *kw) {
    jv *w = arg(args, n, kw, 0, "width"), *f = arg(args, n, kw, 1, "first"), *bl = arg(args, n, kw, 2, "blank");
    jbuf pad = {0}, b = {0};
    int ok = 1;
    if (w && w->type == JV_STR) ok = jbuf_add(c, &pad, w->u.s.s, w->u.s.n);
    else for (int64_t i = 0; ok && i < (w && w->type == JV_INT ? w->u.i : 4); i++) ok = jbuf_addc(c, &pad, ' ');
    int first = f && jv_truthy(f), blank = bl && jv_truthy(bl);
    for (size_t i = 0, line = 0; ok && i <= s->u.s.n; line++) {
        const char *nl = memchr(s->u.s.s + i, '\n', s->u.s.n - i);
        size_t e = nl ? (size_t)(nl - s->u.s.s) : s->u.s.n;
        if ((line || first) && (blank || e > i) && pad.n) ok = jbuf_add(c, &b, pad.p, pad.n);
        ok = ok && jbuf_add(c, &b, s->u.s.s + i, e - i + (nl ? 1 : 0));
        i = e + 1;
        if (!nl) break;
    }
    free(pad.p);
    if (!ok) { free(b.p); return NULL; }
    return jbuf_to_str(c, &b);
}

/* tojson(indent=None, separators=None, sort_keys=False), as Hugging Face
 * defines it: json.dumps(ensure_ascii=False) with those arguments. */
static jv *tojson(jinja_ctx *c, const jnode *at, const jv *v, jv **args, size_t n, jv *kw) {
    jv *ind = arg(args, n, kw, 0, "indent"), *sep = kw ? jv_get_cstr(kw, "separators") : NULL,
       *sk = kw ? jv_get_cstr(kw, "sort_keys") : NULL;
    jv_json_fmt f = {-1, sk && jv_truthy(sk), ", ", ": ", 2, 2};
    if (ind && ind->type == JV_INT) f.indent = (int)(ind->u.i > 64 ? 64 : ind->u.i < 0 ? 0 : ind->u.i);
    if (f.indent >= 0) f.item_sep = ",", f.item_len = 1;
    if (sep && sep->type != JV_NONE) {
        if (sep->type != JV_LIST || sep->u.l.n != 2 || sep->u.l.a[0]->type != JV_STR ||
            sep->u.l.a[1]->type != JV_STR)
            return jinja_fail(c, at, "tojson separators must be two strings");
        f.item_sep = sep->u.l.a[0]->u.s.s, f.item_len = sep->u.l.a[0]->u.s.n;
        f.key_sep = sep->u.l.a[1]->u.s.s, f.key_len = sep->u.l.a[1]->u.s.n;
    }
    jbuf b = {0};
    if (!jv_to_json(c, &b, v, &f, 0)) { free(b.p); return NULL; }
    return jbuf_to_str(c, &b);
}

/* sort(reverse=False, attribute=None): a stable insertion sort charged
 * to the step budget. */
static jv *sort(jinja_ctx *c, const jnode *at, jv *v, jv **args, size_t n, jv *kw) {
    jv *rev = arg(args, n, kw, 0, "reverse"), *attr = kw ? jv_get_cstr(kw, "attribute") : NULL;
    jv *l = to_list(c, at, v);
    if (!l) return NULL;
    int desc = rev && jv_truthy(rev);
    for (size_t i = 1; i < l->u.l.n; i++)
        for (size_t j = i; j > 0; j--) {
            jv *a = l->u.l.a[j - 1], *b = l->u.l.a[j], *ka = attr ? attr_of(a, attr) : a,
               *kb = attr ? attr_of(b, attr) : b;
            int ok = ka && kb, r = ok ? jv_compare(ka, kb, &ok) : 0;
            if (!jinja_step(c, 1) || !ok) {
                jv_unref(c, l);
                return ok ? NULL : jinja_fail(c, at, "cannot sort these values");
            }
            if (desc ? r >= 0 : r <= 0) break;
            l->u.l.a[j - 1] = b;
            l->u.l.a[j] = a;
        }
    return l;
}

/* int(f) toward zero, NaN as 0 and out-of-range values clamped (Python
 * would raise or widen). */
static int64_t trunc_int(double f) {
    if (f != f) return 0;
    return (int64_t)(f > 9e18 ? 9e18 : f < -9e18 ? -9e18 : f);
}

/* One conversion of a printf-style format: flags, width, precision and
 * the conversion character, parsed from f at *i (after the '%'). */
typedef struct conv { int left, zero, plus, width, prec; char type; } conv;

static int parse_conv(const char *f, size_t n, size_t *i, conv *cv) {
    memset(cv, 0, sizeof *cv);
    cv->prec = -1;
    for (; *i < n && strchr("-0+ #", f[*i]); (*i)++) {
        if (f[*i] == '-') cv->left = 1;
        if (f[*i] == '0') cv->zero = 1;
        if (f[*i] == '+') cv->plus = 1;
    }
    for (; *i < n && f[*i] >= '0' && f[*i] <= '9'; (*i)++)
        cv->width = cv->width < 10000 ? cv->width * 10 + f[*i] - '0' : 10000;
    if (*i < n && f[*i] == '.') {
        cv->prec = 0;
        for ((*i)++; *i < n && f[*i] >= '0' && f[*i] <= '9'; (*i)++)
            cv->prec = cv->prec < 1000 ? cv->prec * 10 + f[*i] - '0' : 1000;
    }
    if (*i >= n || !strchr("srdifx%", f[*i])) return 0;
    cv->type = f[(*i)++];
    return 1;
}

/* The text of one value under a conversion, before padding. */
static int convert(jinja_ctx *c, const jnode *at, const conv *cv, const jv *v, jbuf *o) {
    char tmp[1100];
    if (cv->type == 's' || cv->type == 'r') {
        jbuf t = {0};
        int ok = cv->type == 's' ? jv_to_str(c, &t, v) : jv_repr(c, &t, v);
        size_t len = t.n;
        if (ok && cv->prec >= 0) { /* a precision cuts the string, in code points */
            size_t k = 0, cps = 0;
            while (k < len && cps < (size_t)cv->prec) {
                k++;
                cps++;
                while (k < len && ((unsigned char)t.p[k] & 0xc0) == 0x80) k++;
            }
            len = k;
        }
        ok = ok && jbuf_add(c, o, t.p ? t.p : "", len);
        free(t.p);
        return ok;
    }
    if (v->type != JV_INT && v->type != JV_FLOAT && v->type != JV_BOOL) {
        jinja_fail(c, at, "%%%c format: a real number is required, not %s", cv->type, jv_type_name(v));
        return 0;
    }
    double f = v->type == JV_FLOAT ? v->u.f : v->type == JV_INT ? (double)v->u.i : v->u.b;
    int len;
    if (cv->type == 'f')
        len = snprintf(tmp, sizeof tmp, cv->plus ? "%+.*f" : "%.*f", cv->prec < 0 ? 6 : cv->prec, f);
    else {
        int64_t i = v->type == JV_FLOAT ? trunc_int(v->u.f) : v->type == JV_INT ? v->u.i : v->u.b;
        if (cv->type == 'x') len = i < 0 ? snprintf(tmp, sizeof tmp, "-%llx", (unsigned long long)-(i + 1) + 1)
                                         : snprintf(tmp, sizeof tmp, "%llx", (unsigned long long)i);
        else len = snprintf(tmp, sizeof tmp, cv->plus ? "%+lld" : "%lld", (long long)i);
    }
    return jbuf_add(c, o, tmp, len < 0 ? 0 : (size_t)len < sizeof tmp ? (size_t)len : sizeof tmp - 1);
}

jv *jinja_percent(jinja_ctx *c, const jnode *at, const jv *fmt, jv *const *args, size_t n) {
    const char *f = fmt->u.s.s;
    size_t fn = fmt->u.s.n, used = 0;
    jbuf o = {0};
    int ok = 1;
    for (size_t i = 0; ok && i < fn;) {
        if (f[i] != '%') { ok = jbuf_addc(c, &o, f[i++]); continue; }
        i++;
        conv cv;
        if (!parse_conv(f, fn, &i, &cv)) { jinja_fail(c, at, "unsupported format character"); ok = 0; break; }
        if (cv.type == '%') { ok = jbuf_addc(c, &o, '%'); continue; }
        if (used >= n) { jinja_fail(c, at, "not enough arguments for format string"); ok = 0; break; }
        jbuf t = {0};
        ok = convert(c, at, &cv, args[used++], &t);
        size_t w = ok ? jv_utf8_count(t.p ? t.p : "", t.n) : 0;
        char pad = cv.zero && !cv.left && cv.type != 's' && cv.type != 'r' ? '0' : ' ';
        size_t sign = pad == '0' && t.n && (t.p[0] == '-' || t.p[0] == '+');
        if (ok && sign) ok = jbuf_addc(c, &o, t.p[0]);
        for (size_t k = w; ok && !cv.left && k < (size_t)cv.width; k++) ok = jbuf_addc(c, &o, pad);
        ok = ok && jbuf_add(c, &o, t.p ? t.p + sign : "", t.n - sign);
        for (size_t k = w; ok && cv.left && k < (size_t)cv.width; k++) ok = jbuf_addc(c, &o, ' ');
        free(t.p);
    }
    if (ok && used < n) { jinja_fail(c, at, "not all arguments converted during string formatting"); ok = 0; }
    if (!ok) { free(o.p); return NULL; }
    return jbuf_to_str(c, &o);
}

/* ------------------------------------------------------------ filters */

jv *jinja_filter(jinja_ctx *c, const jnode *at, const char *name, jv *v, jv **args, size_t n, jv *kw) {
#define IS(s) (strcmp(name, s) == 0)
    if (IS("default") || IS("d")) {
        jv *def = arg(args, n, kw, 0, "default_value"), *boolean = arg(args, n, kw, 1, "boolean");
        int use = v->type == JV_UNDEF || (boolean && jv_truthy(boolean) && !jv_truthy(v));
        if (use && !def) return jv_str(c, "", 0);
        return jv_ref(use ? def : v);
    }
    if (IS("length") || IS("count")) {
        int64_t l = len_of(v);
        return l < 0 ? jinja_fail(c, at, "object of type '%s' has no len()", jv_type_name(v)) : jv_int(c, l);
    }
    if (IS("string")) return jv_as_str(c, v);
    if (IS("tojson")) return tojson(c, at, v, args, n, kw);
    if (IS("list")) return to_list(c, at, v);
    if (IS("items")) return items_of(c, at, v, 'i');
    if (IS("first") || IS("last")) {
        jv *l = to_list(c, at, v);
        if (!l) return NULL;
        jv *r = jv_ref(l->u.l.n ? l->u.l.a[IS("first") ? 0 : l->u.l.n - 1] : &jv_undefined);
        jv_unref(c, l);
        return r;
    }
    if (IS("join")) return join(c, at, v, arg(args, n, kw, 0, "d"), arg(args, n, kw, 1, "attribute"));
    if (IS("select") || IS("reject")) return select_items(c, at, v, args, n, 0, IS("select"));
    if (IS("selectattr") || IS("rejectattr")) return select_items(c, at, v, args, n, 1, IS("selectattr"));
    if (IS("map")) return map_items(c, at, v, args, n, kw);
    if (IS("reverse")) {
        jv *l = to_list(c, at, v);
        for (size_t i = 0; l && i < l->u.l.n / 2; i++) {
            jv *t = l->u.l.a[i];
            l->u.l.a[i] = l->u.l.a[l->u.l.n - 1 - i];
            l->u.l.a[l->u.l.n - 1 - i] = t;
        }
        if (l && v->type == JV_STR) {
            jv *s = join(c, at, l, NULL, NULL);
            jv_unref(c, l);
            return s;
        }
        return l;
    }
    if (IS("sort")) return sort(c, at, v, args, n, kw);
    if (IS("safe")) return jv_ref(v);
    if (IS("format")) {
        if (v->type != JV_STR) return jinja_fail(c, at, "format needs a format string");
        return jinja_percent(c, at, v, args, n);
    }
    if (IS("int") || IS("float")) {
        jv *def = arg(args, n, kw, 0, "default");
        if (v->type == JV_INT || v->type == JV_BOOL)
            return IS("int") ? jv_int(c, v->type == JV_INT ? v->u.i : v->u.b)
                             : jv_float(c, v->type == JV_INT ? (double)v->u.i : v->u.b);
        if (v->type == JV_FLOAT) return IS("int") ? jv_int(c, trunc_int(v->u.f)) : jv_ref(v);
        if (v->type == JV_STR) {
            char *e;
            double f = strtod(v->u.s.s, &e);
            if (e != v->u.s.s && *e == 0) return IS("int") ? jv_int(c, trunc_int(f)) : jv_float(c, f);
        }
        return def ? jv_ref(def) : IS("int") ? jv_int(c, 0) : jv_float(c, 0);
    }
    if (IS("abs")) {
        if (v->type == JV_INT)
            return v->u.i == INT64_MIN ? jinja_fail(c, at, "integer overflow")
                                       : jv_int(c, v->u.i < 0 ? -v->u.i : v->u.i);
        if (v->type == JV_FLOAT) return jv_float(c, v->u.f < 0 ? -v->u.f : v->u.f);
        return jinja_fail(c, at, "bad operand type for abs(): '%s'", jv_type_name(v));
    }
    /* the rest take a string (str() of anything else, as Jinja2's filters do) */
    int is_str_filter = IS("trim") || IS("upper") || IS("lower") || IS("title") || IS("capitalize") ||
                        IS("replace") || IS("indent");
    if (!is_str_filter) return jinja_fail(c, at, "no filter named '%s'", name);
    jv *s = jv_as_str(c, v), *r = NULL;
    if (!s) return NULL;
    if (IS("trim")) {
        jv *chars = arg(args, n, kw, 0, "chars");
        r = chars && chars->type == JV_STR ? strip(c, s, chars, 1, 1) : strip(c, s, NULL, 1, 1);
    } else if (IS("upper")) r = map_case(c, s, 'U');
    else if (IS("lower")) r = map_case(c, s, 'L');
    else if (IS("title")) r = map_case(c, s, 'T');
    else if (IS("capitalize")) r = map_case(c, s, 'C');
    else if (IS("replace")) {
        jv *o = arg(args, n, kw, 0, "old"), *nw = arg(args, n, kw, 1, "new");
        r = o && nw ? replace(c, at, s, o, nw, arg(args, n, kw, 2, "count"))
                    : jinja_fail(c, at, "replace needs two arguments");
    } else r = indent(c, s, args, n, kw);
    jv_unref(c, s);
    return r;
#undef IS
}

/* ------------------------------------------------------------ tests */

int jinja_test(jinja_ctx *c, const jnode *at, const char *name, jv *v, jv **args, size_t n) {
#define IS(s) (strcmp(name, s) == 0)
    jv *a = n ? args[0] : NULL;
    if (IS("defined")) return v->type != JV_UNDEF;
    if (IS("undefined")) return v->type == JV_UNDEF;
    if (IS("none")) return v->type == JV_NONE;
    if (IS("true")) return v->type == JV_BOOL && v->u.b;
    if (IS("false")) return v->type == JV_BOOL && !v->u.b;
    if (IS("boolean")) return v->type == JV_BOOL;
    if (IS("integer")) return v->type == JV_INT;
    if (IS("float")) return v->type == JV_FLOAT;
    if (IS("number")) return v->type == JV_INT || v->type == JV_FLOAT || v->type == JV_BOOL;
    if (IS("string")) return v->type == JV_STR;
    if (IS("mapping")) return v->type == JV_DICT;
    if (IS("iterable"))
        return v->type == JV_STR || v->type == JV_LIST || v->type == JV_DICT || v->type == JV_UNDEF;
    if (IS("sequence")) return v->type == JV_STR || v->type == JV_LIST || v->type == JV_DICT;
    if (IS("callable")) return v->type == JV_MACRO || v->type == JV_FUNC;
    if (IS("lower") || IS("upper")) {
        if (v->type != JV_STR) return 0;
        int cased = 0;
        for (size_t i = 0; i < v->u.s.n; i++) {
            char ch = v->u.s.s[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
                cased = 1;
                if ((ch >= 'a' && ch <= 'z') != IS("lower")) return 0;
            }
        }
        return cased;
    }
    if (IS("odd") || IS("even") || IS("divisibleby")) {
        if (v->type != JV_INT && v->type != JV_BOOL) {
            jinja_fail(c, at, "test '%s' needs an integer", name);
            return -1;
        }
        int64_t x = v->type == JV_INT ? v->u.i : v->u.b, d = IS("divisibleby") ? 0 : 2;
        if (IS("divisibleby")) {
            if (!a || a->type != JV_INT || a->u.i == 0) {
                jinja_fail(c, at, "divisibleby needs a nonzero integer");
                return -1;
            }
            d = a->u.i;
        }
        int64_t m = d == -1 ? 0 : x % d;
        return IS("odd") ? m != 0 : m == 0;
    }
    if (!a) { jinja_fail(c, at, "no test named '%s' without an argument", name); return -1; }
    if (IS("sameas")) {
        if (v->type != a->type) return 0;
        if (v->type == JV_BOOL) return v->u.b == a->u.b;
        return v->type == JV_NONE || v->type == JV_UNDEF || v == a;
    }
    if (IS("eq") || IS("equalto") || IS("==")) return jv_equal(v, a);
    if (IS("ne") || IS("!=")) return !jv_equal(v, a);
    if (IS("in")) {
        if (a->type == JV_STR && v->type == JV_STR)
            return memmem(a->u.s.s, a->u.s.n, v->u.s.s, v->u.s.n) != NULL || !v->u.s.n;
        if (a->type == JV_LIST) {
            for (size_t i = 0; i < a->u.l.n; i++)
                if (jv_equal(a->u.l.a[i], v)) return 1;
            return 0;
        }
        if (a->type == JV_DICT) return jv_get(a, v) != NULL;
        jinja_fail(c, at, "test 'in' needs a container");
        return -1;
    }
    int lt = IS("lt") || IS("lessthan") || IS("<"), le = IS("le") || IS("<="),
        gt = IS("gt") || IS("greaterthan") || IS(">"), ge = IS("ge") || IS(">=");
    if (lt || le || gt || ge) {
        int ok, r = jv_compare(v, a, &ok);
        if (!ok) {
            jinja_fail(c, at, "'%s' cannot compare %s and %s", name, jv_type_name(v), jv_type_name(a));
            return -1;
        }
        return lt ? r < 0 : le ? r <= 0 : gt ? r > 0 : r >= 0;
    }
    jinja_fail(c, at, "no test named '%s'", name);
    return -1;
#undef IS
}

/* ------------------------------------------------------------ methods */

static jv *dict_method(jinja_ctx *c, const jnode *at, jv *d, const char *name, jv **args, size_t n) {
    if (!strcmp(name, "items")) return items_of(c, at, d, 'i');
    if (!strcmp(name, "keys")) return items_of(c, at, d, 'k');
    if (!strcmp(name, "values")) return items_of(c, at, d, 'v');
    jv *index0 = jv_get_cstr(d, "index0");
    if (!strcmp(name, "cycle") && index0 && index0->type == JV_INT) { /* loop.cycle(a, b, ...) */
        if (n < 1) return jinja_fail(c, at, "no items for cycling given");
        int64_t k = index0->u.i % (int64_t)n;
        return jv_ref(args[k < 0 ? k + (int64_t)n : k]);
    }
    if (!strcmp(name, "get")) {
        if (n < 1) return jinja_fail(c, at, "get expected at least 1 argument");
        jv *v = jv_get(d, args[0]);
        return jv_ref(v ? v : n > 1 ? args[1] : &jv_none);
    }
    return jinja_fail(c, at, "'dict object' has no attribute '%s'", name);
}

/* str.find(sub) and str.count(sub), in code points for find. */
static jv *find_count(jinja_ctx *c, const jnode *at, const jv *s, const jv *sub, int count) {
    if (!sub || !need_str(c, at, sub, count ? "count" : "find"))
        return sub ? NULL : jinja_fail(c, at, "missing argument");
    if (!count) {
        const char *hit = sub->u.s.n ? memmem(s->u.s.s, s->u.s.n, sub->u.s.s, sub->u.s.n) : s->u.s.s;
        return jv_int(c, hit ? (int64_t)jv_utf8_count(s->u.s.s, (size_t)(hit - s->u.s.s)) : -1);
    }
    if (!sub->u.s.n) return jv_int(c, len_of(s) + 1);
    int64_t k = 0;
    for (const char *p = s->u.s.s, *e = p + s->u.s.n; (p = memmem(p, (size_t)(e - p), sub->u.s.s, sub->u.s.n));
         p += sub->u.s.n)
        k++;
    return jv_int(c, k);
}

static jv *str_method(jinja_ctx *c, const jnode *at, jv *s, const char *name, jv **args, size_t n, jv *kw) {
#define IS(x) (strcmp(name, x) == 0)
    jv *a0 = arg(args, n, kw, 0, IS("split") || IS("rsplit") ? "sep" : "chars");
    if (IS("strip") || IS("lstrip") || IS("rstrip")) {
        if (a0 && a0->type != JV_NONE && !need_str(c, at, a0, name)) return NULL;
        return strip(c, s, a0 && a0->type == JV_STR ? a0 : NULL, !IS("rstrip"), !IS("lstrip"));
    }
    if (IS("split")) return split(c, at, s, a0, arg(args, n, kw, 1, "maxsplit"));
    if (IS("startswith") || IS("endswith")) {
        int r = affix(c, at, s, n ? args[0] : NULL, IS("endswith"));
        return r < 0 ? NULL : jv_bool(r);
    }
    if (IS("replace")) {
        if (n < 2) return jinja_fail(c, at, "replace expected at least 2 arguments");
        return replace(c, at, s, args[0], args[1], n > 2 ? args[2] : NULL);
    }
    if (IS("upper")) return map_case(c, s, 'U');
    if (IS("lower")) return map_case(c, s, 'L');
    if (IS("title")) return map_case(c, s, 'P');
    if (IS("capitalize")) return map_case(c, s, 'C');
    if (IS("find")) return find_count(c, at, s, n ? args[0] : NULL, 0);
    if (IS("count")) return find_count(c, at, s, n ? args[0] : NULL, 1);
    if (IS("join")) return n ? join(c, at, args[0], s, NULL) : jinja_fail(c, at, "join expected 1 argument");
    return jinja_fail(c, at, "'str object' has no attribute '%s'", name);
#undef IS
}

jv *jinja_method(jinja_ctx *c, const jnode *at, jv *obj, const char *name, jv **args, size_t n, jv *kw) {
    if (obj->type == JV_STR) return str_method(c, at, obj, name, args, n, kw);
    if (obj->type == JV_DICT) return dict_method(c, at, obj, name, args, n);
    return jinja_fail(c, at, "'%s object' has no attribute '%s'", jv_type_name(obj), name);
}

/* ------------------------------------------------------------ globals */

static jv *g_raise(jinja_ctx *c, const jnode *at, jv **args, size_t n, jv *kw) {
    (void)at;
    (void)kw;
    jbuf b = {0};
    if (n && !jv_to_str(c, &b, args[0])) { free(b.p); return NULL; }
    /* the message as it is; an empty one would tell the caller nothing */
    jinja_fail_code(c, LLM_ERR_TEMPLATE, "%s", b.n ? b.p : "raise_exception() with an empty message");
    free(b.p);
    return NULL;
}

/* Day of the week (0 = Sunday) of a Gregorian date, Sakamoto's method. */
static int weekday(int y, int m, int d) {
    static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    if (m < 3) y--;
    return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* strftime over the context's clock in the C locale, written here so
 * that the process locale never changes a template's output. Directives
 * it does not know are copied as they are (as glibc does). */
static jv *g_strftime(jinja_ctx *c, const jnode *at, jv **args, size_t n, jv *kw) {
    (void)kw;
    static const char *months[] = {"January", "February", "March", "April", "May", "June", "July",
                                   "August", "September", "October", "November", "December"};
    static const char *days[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
    if (n < 1 || args[0]->type != JV_STR) return jinja_fail(c, at, "strftime_now needs a format string");
    const struct tm *tm = jinja_time(c);
    int y = tm->tm_year + 1900, mo = tm->tm_mon, d = tm->tm_mday, wd = weekday(y, mo + 1, d);
    int yday = tm->tm_yday;
    jbuf b = {0};
    const char *f = args[0]->u.s.s;
    int ok = 1;
    for (size_t i = 0; ok && i < args[0]->u.s.n; i++) {
        if (f[i] != '%' || i + 1 >= args[0]->u.s.n) { ok = jbuf_addc(c, &b, f[i]); continue; }
        char t[32];
        const char *s = t;
        switch (f[++i]) {
        case 'Y': snprintf(t, sizeof t, "%d", y); break;
        case 'y': snprintf(t, sizeof t, "%02d", y % 100); break;
        case 'm': snprintf(t, sizeof t, "%02d", mo + 1); break;
        case 'd': snprintf(t, sizeof t, "%02d", d); break;
        case 'e': snprintf(t, sizeof t, "%2d", d); break;
        case 'j': snprintf(t, sizeof t, "%03d", yday + 1); break;
        case 'H': snprintf(t, sizeof t, "%02d", tm->tm_hour); break;
        case 'I': snprintf(t, sizeof t, "%02d", tm->tm_hour % 12 ? tm->tm_hour % 12 : 12); break;
        case 'M': snprintf(t, sizeof t, "%02d", tm->tm_min); break;
        case 'S': snprintf(t, sizeof t, "%02d", tm->tm_sec); break;
        case 'p': s = tm->tm_hour < 12 ? "AM" : "PM"; break;
        case 'B': s = months[mo]; break;
        case 'b': case 'h': snprintf(t, sizeof t, "%.3s", months[mo]); break;
        case 'A': s = days[wd]; break;
        case 'a': snprintf(t, sizeof t, "%.3s", days[wd]); break;
        case 'w': snprintf(t, sizeof t, "%d", wd); break;
        case 'F': snprintf(t, sizeof t, "%d-%02d-%02d", y, mo + 1, d); break;
        case '%': s = "%"; break;
        default: snprintf(t, sizeof t, "%%%c", f[i]); break;
        }
        ok = jbuf_add(c, &b, s, strlen(s));
    }
    if (!ok) { free(b.p); return NULL; }
    return jbuf_to_str(c, &b);
}

/* namespace(a=1, ...) or namespace(dict): a mutable attribute holder. */
static jv *g_namespace(jinja_ctx *c, const jnode *at, jv **args, size_t n, jv *kw) {
    jv *ns = jv_dict(c, JV_NS);
    const jv *srcs[2] = {n && args[0]->type == JV_DICT ? args[0] : NULL, kw};
    if (n && !srcs[0]) {
        jv_unref(c, ns);
        return jinja_fail(c, at, "namespace takes a mapping or keyword arguments");
    }
    for (int k = 0; ns && k < 2; k++)
        for (size_t i = 0; srcs[k] && i < srcs[k]->u.d.n; i++)
            if (!jv_set(c, ns, jv_ref(srcs[k]->u.d.k[i]), jv_ref(srcs[k]->u.d.v[i]))) {
                jv_unref(c, ns);
                ns = NULL;
            }
    return ns;
}

static jv *g_dict(jinja_ctx *c, const jnode *at, jv **args, size_t n, jv *kw) {
    jv *ns = g_namespace(c, at, args, n, kw);
    if (ns) ns->type = JV_DICT;
    return ns;
}

static jv *g_range(jinja_ctx *c, const jnode *at, jv **args, size_t n, jv *kw) {
    (void)kw;
    int64_t v[3] = {0, 0, 1};
    if (n < 1 || n > 3) return jinja_fail(c, at, "range expected 1 to 3 arguments");
    for (size_t i = 0; i < n; i++) {
        if (args[i]->type != JV_INT) return jinja_fail(c, at, "range needs integers");
        v[n == 1 ? 1 : i] = args[i]->u.i;
    }
    if (v[2] == 0) return jinja_fail(c, at, "range() arg 3 must not be zero");
    jv *l = jv_list(c, 0);
    for (int64_t i = v[0]; l && (v[2] > 0 ? i < v[1] : i > v[1]); ) {
        if (!jinja_step(c, 1) || !jv_push(c, l, jv_int(c, i))) { jv_unref(c, l); l = NULL; }
        if (__builtin_add_overflow(i, v[2], &i)) break;
    }
    return l;
}

int jinja_add_globals(jinja_ctx *c) {
    static const struct { const char *name; jv_func fn; } g[] = {
        {"raise_exception", g_raise}, {"strftime_now", g_strftime}, {"namespace", g_namespace},
        {"range", g_range}, {"dict", g_dict},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (!jinja_set_global(c, g[i].name, jv_func_new(c, g[i].fn, g[i].name))) return 0;
    return 1;
}
