/* The evaluator: walks the AST over values, with Jinja2's scoping (a for
 * loop and a macro call open a scope, if does not; set writes the
 * innermost scope, namespace attributes reach across), Python operators,
 * and the limits of jinja_limits checked as it goes: a step budget for
 * every statement, expression and iteration, the output size, memory
 * held by values, and macro recursion depth. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "jinja.h"

typedef struct scope {
    jv *vars;              /* a dict */
    struct scope *parent;
} scope;

struct jinja_ctx {
    jinja_limits lim;
    llm_error *err;
    llm_status status;
    size_t mem;
    uint64_t steps;
    int depth;             /* macro calls */
    int nest;              /* evaluations and statements under way: bounds the C stack */
    jv *globals;
    scope *root, *cur;
    jbuf out;
    size_t out_max;        /* max_output for the template, max_string inside a capture */
    struct tm tm;
};

/* Results of executing statements */
enum { X_OK = 0, X_BREAK = 1, X_CONTINUE = 2, X_ERR = -1 };

jinja_limits jinja_default_limits(void) {
    jinja_limits l = {
        .max_source = 1u << 20,
        .max_output = 16u << 20,
        .max_string = 16u << 20,
        .max_memory = 256u << 20,
        .max_steps = 20000000,
        .max_depth = 100,
    };
    return l;
}

const jinja_limits *jinja_ctx_limits(const jinja_ctx *c) { return c ? &c->lim : NULL; }
const struct tm *jinja_time(const jinja_ctx *c) { return &c->tm; }
void jinja_set_time(jinja_ctx *c, const struct tm *tm) { c->tm = *tm; }

static void *vfail(jinja_ctx *c, llm_status code, const jnode *at, const char *fmt, va_list ap) {
    if (!c || c->status) return NULL;
    char msg[LLM_ERROR_MSG_SIZE];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (at) c->status = llm_fail(c->err, code, "template line %d, column %d: %s", at->line, at->col, msg);
    else c->status = llm_fail(c->err, code, "%s", msg);
    return NULL;
}

void *jinja_fail(jinja_ctx *c, const jnode *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, LLM_ERR_TEMPLATE, at, fmt, ap);
    va_end(ap);
    return NULL;
}

void *jinja_fail_code(jinja_ctx *c, llm_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, code, NULL, fmt, ap);
    va_end(ap);
    return NULL;
}

int jinja_account(jinja_ctx *c, size_t bytes) {
    if (!c) return 1;
    if (bytes > c->lim.max_memory || c->mem > c->lim.max_memory - bytes) {
        jinja_fail_code(c, LLM_ERR_LIMIT, "template values take more than %zu bytes", c->lim.max_memory);
        return 0;
    }
    c->mem += bytes;
    return 1;
}

void jinja_unaccount(jinja_ctx *c, size_t bytes) {
    if (c) c->mem -= bytes;
}

int jinja_step(jinja_ctx *c, uint64_t n) {
    if (c->status) return 0;
    if (n > c->lim.max_steps || c->steps > c->lim.max_steps - n) {
        jinja_fail_code(c, LLM_ERR_LIMIT, "template ran more than %llu steps",
                        (unsigned long long)c->lim.max_steps);
        return 0;
    }
    c->steps += n;
    return 1;
}

static int push_scope(jinja_ctx *c, scope *s, scope *parent) {
    s->parent = parent;
    s->vars = jv_dict(c, JV_DICT);
    if (!s->vars) return 0;
    c->cur = s;
    return 1;
}

static void pop_scope(jinja_ctx *c, scope *s, scope *back) {
    jv_unref(c, s->vars);
    c->cur = back;
}

llm_status jinja_status(const jinja_ctx *c) { return c->status ? c->status : LLM_ERR_NOMEM; }

jinja_ctx *jinja_ctx_new(const jinja_limits *lim, llm_error *err) {
    jinja_ctx *c = llm_calloc(1, sizeof *c);
    if (!c) {
        llm_fail(err, LLM_ERR_NOMEM, "out of memory for a template context");
        return NULL;
    }
    c->lim = lim ? *lim : jinja_default_limits();
    c->err = err;
    c->globals = jv_dict(c, JV_DICT);
    if (!c->globals || !jinja_add_globals(c)) {
        jinja_ctx_free(c);
        return NULL;
    }
    return c;
}

void jinja_ctx_free(jinja_ctx *c) {
    if (!c) return;
    jv_unref(c, c->globals);
    free(c->out.p);
    free(c);
}

int jinja_set_global(jinja_ctx *c, const char *name, jv *v) { return jv_set_cstr(c, c->globals, name, v); }

/* A variable: the innermost scope holding it, else a global, else
 * undefined. Returns a borrowed value. */
static jv *lookup(jinja_ctx *c, const char *name) {
    for (scope *s = c->cur; s; s = s->parent) {
        jv *v = jv_get_cstr(s->vars, name);
        if (v) return v;
    }
    jv *g = jv_get_cstr(c->globals, name);
    return g ? g : &jv_undefined;
}

static jv *eval(jinja_ctx *c, const jnode *n);
static int exec_body(jinja_ctx *c, jnode *const *stmts, size_t n);

/* What to call an operand in an error about it being undefined. */
static const char *what(const jnode *n) {
    return n && (n->kind == JN_NAME || n->kind == JN_ATTR) ? n->name : "value";
}

static jv *undefined_error(jinja_ctx *c, const jnode *n) {
    return jinja_fail(c, n, "'%s' is undefined", what(n->a));
}

/* obj.name and obj[key] (Jinja2 tries both: an attribute name looks up a
 * dict key; items of lists and strings by index). Anything missing is
 * undefined, except on an undefined object, which is an error. */
static jv *get_item(jinja_ctx *c, const jnode *at, jv *obj, jv *key) {
    if (obj->type == JV_UNDEF) return undefined_error(c, at);
    if (obj->type == JV_DICT || obj->type == JV_NS) {
        jv *v = jv_get(obj, key);
        return jv_ref(v ? v : &jv_undefined);
    }
    if ((obj->type == JV_LIST || obj->type == JV_STR) && (key->type == JV_INT || key->type == JV_BOOL)) {
        int64_t i = key->type == JV_INT ? key->u.i : key->u.b;
        if (obj->type == JV_LIST) {
            int64_t n = (int64_t)obj->u.l.n;
            if (i < 0) i += n;
            return jv_ref(i >= 0 && i < n ? obj->u.l.a[i] : &jv_undefined);
        }
        /* strings index code points */
        const char *s = obj->u.s.s;
        size_t n = jv_utf8_count(s, obj->u.s.n);
        if (i < 0) i += (int64_t)n;
        if (i < 0 || (uint64_t)i >= n) return jv_ref(&jv_undefined);
        size_t b = 0;
        for (int64_t k = 0; k < i; k++) do b++; while (((unsigned char)s[b] & 0xc0) == 0x80);
        size_t e = b + 1;
        while (e < obj->u.s.n && ((unsigned char)s[e] & 0xc0) == 0x80) e++;
        return jv_str(c, s + b, e - b);
    }
    return jv_ref(&jv_undefined);
}

/* Python's slice index normalization (PySlice_AdjustIndices). */
static int64_t slice_index(const jv *v, int64_t n, int64_t def, int64_t lo, int64_t hi) {
    if (!v || v->type == JV_NONE) return def;
    int64_t i = v->u.i;
    if (i < 0) {
        i += n;
        if (i < lo) i = lo;
    } else if (i > hi) i = hi;
    return i;
}

/* obj[start:stop:step] of a list or string (code points), with Python's
 * rules for omitted, negative and out-of-range bounds. */
static jv *get_slice(jinja_ctx *c, const jnode *at, jv *obj, jv *b0, jv *b1, jv *b2) {
    jv *bs[3] = {b0, b1, b2};
    for (int k = 0; k < 3; k++)
        if (bs[k] && bs[k]->type != JV_INT && bs[k]->type != JV_NONE)
            return jinja_fail(c, at, "slice indices must be integers or None");
    if (obj->type == JV_UNDEF) return undefined_error(c, at);
    if (obj->type != JV_LIST && obj->type != JV_STR)
        return jinja_fail(c, at, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t step = b2 && b2->type == JV_INT ? b2->u.i : 1;
    if (step == 0) return jinja_fail(c, at, "slice step cannot be zero");
    if (step == INT64_MIN) step = -INT64_MAX;
    size_t *offs = NULL;
    int64_t n;
    if (obj->type == JV_LIST) n = (int64_t)obj->u.l.n;
    else { /* code point offsets */
        n = (int64_t)jv_utf8_count(obj->u.s.s, obj->u.s.n);
        offs = llm_malloc(((size_t)n + 1) * sizeof *offs);
        if (!offs) return jinja_fail_code(c, LLM_ERR_NOMEM, "out of memory for a slice");
        size_t k = 0;
        for (size_t i = 0; i < obj->u.s.n; i++)
            if (((unsigned char)obj->u.s.s[i] & 0xc0) != 0x80) offs[k++] = i;
        offs[k] = obj->u.s.n;
    }
    int64_t start = step > 0 ? slice_index(b0, n, 0, 0, n) : slice_index(b0, n, n - 1, -1, n - 1);
    int64_t stop = step > 0 ? slice_index(b1, n, n, 0, n) : slice_index(b1, n, -1, -1, n - 1);
    jv *r;
    if (obj->type == JV_LIST) {
        r = jv_list(c, 0);
        for (int64_t i = start; r && (step > 0 ? i < stop : i > stop);) {
            if (!jinja_step(c, 1) || !jv_push(c, r, jv_ref(obj->u.l.a[i]))) { jv_unref(c, r); r = NULL; }
            if (__builtin_add_overflow(i, step, &i)) break;
        }
    } else {
        jbuf b = {0};
        int ok = 1;
        for (int64_t i = start; ok && (step > 0 ? i < stop : i > stop);) {
            ok = jinja_step(c, 1) && jbuf_add(c, &b, obj->u.s.s + offs[i], offs[i + 1] - offs[i]);
            if (__builtin_add_overflow(i, step, &i)) break;
        }
        r = ok ? jbuf_to_str(c, &b) : NULL;
        if (!ok) free(b.p);
    }
    free(offs);
    return r;
}

static int64_t py_floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static int is_number(const jv *v) { return v->type == JV_INT || v->type == JV_FLOAT || v->type == JV_BOOL; }
static double fnum(const jv *v) {
    return v->type == JV_FLOAT ? v->u.f : v->type == JV_INT ? (double)v->u.i : v->u.b;
}
static int64_t inum(const jv *v) { return v->type == JV_INT ? v->u.i : v->u.b; }

/* A TypeError for op on a and b, the values of the operand nodes na and nb. */
static jv *type_error(jinja_ctx *c, const jnode *at, const char *op, const jv *a, const jv *b, const jnode *na,
                      const jnode *nb) {
    if (a->type == JV_UNDEF || b->type == JV_UNDEF)
        return jinja_fail(c, at, "'%s' is undefined", what(a->type == JV_UNDEF ? na : nb));
    return jinja_fail(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
                      jv_type_name(b));
}

/* seq * n for strings and lists, bounded by the string and memory limits. */
static jv *repeat(jinja_ctx *c, const jv *seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq->type == JV_STR) {
        if (!seq->u.s.n) return jv_str(c, "", 0);
        if ((uint64_t)times > c->lim.max_string / seq->u.s.n)
            return jinja_fail_code(c, LLM_ERR_LIMIT, "template string longer than %zu bytes",
                                   c->lim.max_string);
        jbuf b = {0};
        for (int64_t i = 0; i < times; i++)
            if (!jbuf_add(c, &b, seq->u.s.s, seq->u.s.n)) { free(b.p); return NULL; }
        return jbuf_to_str(c, &b);
    }
    if (!jinja_step(c, (uint64_t)times * (seq->u.l.n + 1))) return NULL;
    jv *r = jv_list(c, 0);
    for (int64_t i = 0; r && i < times; i++)
        for (size_t k = 0; r && k < seq->u.l.n; k++)
            if (!jv_push(c, r, jv_ref(seq->u.l.a[k]))) { jv_unref(c, r); r = NULL; }
    return r;
}

/* Arithmetic on two integers, refusing what overflows int64_t (Python
 * would widen; templates never need that). */
static jv *int_arith(jinja_ctx *c, const jnode *at, int op, int64_t x, int64_t y) {
    int64_t r = 0;
    int bad = 0;
    switch (op) {
    case JOP_ADD: bad = __builtin_add_overflow(x, y, &r); break;
    case JOP_SUB: bad = __builtin_sub_overflow(x, y, &r); break;
    case JOP_MUL: bad = __builtin_mul_overflow(x, y, &r); break;
    case JOP_FLOORDIV:
    case JOP_MOD:
        if (y == 0) return jinja_fail(c, at, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) { bad = 1; break; }
        r = py_floordiv(x, y);
        if (op == JOP_MOD) r = x - r * y;
        break;
    case JOP_POW: /* |x| >= 2 overflows within 63 rounds */
        if (y < 0) return jv_float(c, pow((double)x, (double)y));
        if (x == 0 || x == 1) r = y == 0 ? 1 : x;
        else if (x == -1) r = y % 2 ? -1 : 1;
        else {
            r = 1;
            for (int64_t i = 0; i < y && !bad; i++) bad = __builtin_mul_overflow(r, x, &r);
        }
        break;
    }
    if (bad) return jinja_fail(c, at, "integer overflow");
    return jv_int(c, r);
}

static jv *float_arith(jinja_ctx *c, const jnode *at, int op, double x, double y) {
    double r;
    switch (op) {
    case JOP_ADD: r = x + y; break;
    case JOP_SUB: r = x - y; break;
    case JOP_MUL: r = x * y; break;
    case JOP_DIV:
        if (y == 0) return jinja_fail(c, at, "division by zero");
        r = x / y;
        break;
    case JOP_FLOORDIV:
    case JOP_MOD:
        if (y == 0) return jinja_fail(c, at, "float modulo or division by zero");
        r = floor(x / y);
        if (op == JOP_MOD) {
            r = fmod(x, y);
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
        }
        break;
    default: r = pow(x, y); break;
    }
    return jv_float(c, r);
}

static jv *binop(jinja_ctx *c, const jnode *at, int op, jv *a, jv *b) {
    static const char *names[] = {"", "+", "-", "*", "/", "//", "%", "**", "~"};
    if (op == JOP_CONCAT) {
        jbuf buf = {0};
        if (!jv_to_str(c, &buf, a) || !jv_to_str(c, &buf, b)) { free(buf.p); return NULL; }
        return jbuf_to_str(c, &buf);
    }
    if (is_number(a) && is_number(b)) {
        if (a->type != JV_FLOAT && b->type != JV_FLOAT && op != JOP_DIV)
            return int_arith(c, at, op, inum(a), inum(b));
        return float_arith(c, at, op, fnum(a), fnum(b));
    }
    if (op == JOP_MOD && a->type == JV_STR) /* "%s" % x, "%s %s" % (x, y) */
        return b->type == JV_LIST && b->tuple ? jinja_percent(c, at, a, b->u.l.a, b->u.l.n)
                                              : jinja_percent(c, at, a, &b, 1);
    if (op == JOP_ADD && a->type == JV_STR && b->type == JV_STR)
        return jv_str2(c, a->u.s.s, a->u.s.n, b->u.s.s, b->u.s.n);
    if (op == JOP_ADD && a->type == JV_LIST && b->type == JV_LIST) {
        if (!jinja_step(c, a->u.l.n + b->u.l.n)) return NULL;
        jv *r = jv_list(c, a->u.l.n + b->u.l.n);
        for (size_t i = 0; r && i < a->u.l.n + b->u.l.n; i++)
            if (!jv_push(c, r, jv_ref(i < a->u.l.n ? a->u.l.a[i] : b->u.l.a[i - a->u.l.n]))) {
                jv_unref(c, r);
                r = NULL;
            }
        return r;
    }
    if (op == JOP_MUL && (a->type == JV_STR || a->type == JV_LIST) && (b->type == JV_INT || b->type == JV_BOOL))
        return repeat(c, a, inum(b));
    if (op == JOP_MUL && (b->type == JV_STR || b->type == JV_LIST) && (a->type == JV_INT || a->type == JV_BOOL))
        return repeat(c, b, inum(a));
    return type_error(c, at, names[op], a, b, at->a, at->b);
}

/* "needle in haystack": substrings of a string, members of a list,
 * keys of a dict; nothing is in undefined (it iterates as empty). */
static int contains(jinja_ctx *c, const jnode *at, jv *hay, jv *needle) {
    switch (hay->type) {
    case JV_UNDEF: return 0;
    case JV_STR:
        if (needle->type != JV_STR) {
            jinja_fail(c, at, "'in <string>' requires string as left operand, not %s", jv_type_name(needle));
            return -1;
        }
        if (!needle->u.s.n) return 1;
        return memmem(hay->u.s.s, hay->u.s.n, needle->u.s.s, needle->u.s.n) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay->u.l.n; i++)
            if (jv_equal(hay->u.l.a[i], needle)) return 1;
        return 0;
    case JV_DICT: case JV_NS: return jv_get(hay, needle) != NULL;
    default:
        jinja_fail(c, at, "argument of type '%s' is not iterable", jv_type_name(hay));
        return -1;
    }
}

static int compare_op(jinja_ctx *c, const jnode *at, int op, jv *a, jv *b, const jnode *na, const jnode *nb) {
    if (op == JOP_EQ) return jv_equal(a, b);
    if (op == JOP_NE) return !jv_equal(a, b);
    if (op == JOP_IN || op == JOP_NOTIN) {
        int r = contains(c, at, b, a);
        return r < 0 ? -1 : op == JOP_IN ? r : !r;
    }
    int ok, r = jv_compare(a, b, &ok);
    if (!ok) {
        static const char *names[] = {"<", "<=", ">", ">="};
        if (a->type == JV_UNDEF || b->type == JV_UNDEF) type_error(c, at, names[op - JOP_LT], a, b, na, nb);
        else jinja_fail(c, at, "'%s' not supported between instances of '%s' and '%s'", names[op - JOP_LT],
                        jv_type_name(a), jv_type_name(b));
        return -1;
    }
    return op == JOP_LT ? r < 0 : op == JOP_LE ? r <= 0 : op == JOP_GT ? r > 0 : r >= 0;
}

static jv *eval_compare(jinja_ctx *c, const jnode *n) {
    jv *left = eval(c, n->kids[0]);
    if (!left) return NULL;
    for (size_t i = 1; i < n->n_kids; i++) {
        jv *right = eval(c, n->kids[i]);
        if (!right) { jv_unref(c, left); return NULL; }
        int r = compare_op(c, n, n->ops[i - 1], left, right, n->kids[i - 1], n->kids[i]);
        jv_unref(c, left);
        left = right;
        if (r <= 0) {
            jv_unref(c, left);
            return r < 0 ? NULL : &jv_false;
        }
    }
    jv_unref(c, left);
    return &jv_true;
}

/* Evaluated arguments of a call: positional ones in *args (n of them),
 * keyword ones in a dict *kw (NULL when none). */
static int eval_args(jinja_ctx *c, const jnode *n, jv ***args, size_t *nargs, jv **kw) {
    *args = NULL;
    *nargs = 0;
    *kw = NULL;
    if (!n->n_kids) return 1;
    *args = llm_calloc(n->n_kids, sizeof **args);
    if (!*args) { jinja_fail_code(c, LLM_ERR_NOMEM, "out of memory for call arguments"); return 0; }
    for (size_t i = 0; i < n->n_kids; i++) {
        const jnode *a = n->kids[i];
        if (a->kind != JN_KWARG) {
            if (*kw) { jinja_fail(c, a, "positional argument follows keyword argument"); return 0; }
            if (!((*args)[(*nargs)++] = eval(c, a))) return 0;
            continue;
        }
        if (!*kw && !(*kw = jv_dict(c, JV_DICT))) return 0;
        if (!jv_set_cstr(c, *kw, a->name, eval(c, a->a))) return 0;
    }
    return 1;
}

static void free_args(jinja_ctx *c, jv **args, size_t n, jv *kw) {
    for (size_t i = 0; i < n; i++) jv_unref(c, args[i]);
    free(args);
    jv_unref(c, kw);
}

/* Runs a statement list with the output going to a fresh buffer, giving
 * the text as a string (macro bodies, block set). */
static jv *capture(jinja_ctx *c, jnode *const *stmts, size_t n, int *result) {
    jbuf saved = c->out;
    size_t saved_max = c->out_max;
    memset(&c->out, 0, sizeof c->out);
    c->out_max = c->lim.max_string;
    *result = exec_body(c, stmts, n);
    jbuf got = c->out;
    c->out = saved;
    c->out_max = saved_max;
    if (*result == X_ERR) { free(got.p); return NULL; }
    return jbuf_to_str(c, &got);
}

/* A macro call: a scope under the template's top level with the
 * parameters bound (positionally, by name, or to their defaults), the body
 * rendered into a string, which is the call's value. */
static jv *call_macro(jinja_ctx *c, const jnode *at, const jnode *def, jv **args, size_t n, jv *kw) {
    if (n > def->n_kids)
        return jinja_fail(c, at, "macro '%s' takes not more than %zu argument(s)", def->name, def->n_kids);
    if (c->depth >= c->lim.max_depth)
        return jinja_fail_code(c, LLM_ERR_LIMIT, "template macro calls nested deeper than %d",
                               c->lim.max_depth);
    scope s, *back = c->cur;
    if (!push_scope(c, &s, c->root)) return NULL;
    int ok = 1;
    for (size_t i = 0; ok && i < def->n_kids; i++) {
        const jnode *par = def->kids[i];
        jv *v = i < n ? jv_ref(args[i]) : NULL;
        jv *k = kw ? jv_get_cstr(kw, par->name) : NULL;
        if (k && v) {
            jv_unref(c, v);
            jinja_fail(c, at, "macro '%s' got multiple values for '%s'", def->name, par->name);
            ok = 0;
            break;
        }
        if (k) v = jv_ref(k);
        if (!v) v = par->kind == JN_KWARG ? eval(c, par->a) : &jv_undefined;
        ok = v && jv_set_cstr(c, s.vars, par->name, v);
    }
    jv *r = NULL;
    if (ok) {
        int res;
        c->depth++;
        r = capture(c, def->d->kids, def->d->n_kids, &res);
        c->depth--;
    }
    pop_scope(c, &s, back);
    return r;
}

static jv *eval_call(jinja_ctx *c, const jnode *n) {
    jv **args, *kw, *r = NULL;
    size_t nargs;
    if (n->a->kind == JN_ATTR) { /* obj.method(args) */
        jv *obj = eval(c, n->a->a);
        if (!obj) return NULL;
        jv *member = obj->type == JV_DICT || obj->type == JV_NS ? jv_get_cstr(obj, n->a->name) : NULL;
        if (member && (member->type == JV_MACRO || member->type == JV_FUNC)) {
            jv_unref(c, obj);
        } else {
            if (obj->type == JV_UNDEF) { jv_unref(c, obj); return undefined_error(c, n->a); }
            if (eval_args(c, n, &args, &nargs, &kw)) r = jinja_method(c, n, obj, n->a->name, args, nargs, kw);
            free_args(c, args, nargs, kw);
            jv_unref(c, obj);
            return r;
        }
    }
    jv *f = eval(c, n->a);
    if (!f) return NULL;
    if (f->type != JV_MACRO && f->type != JV_FUNC) {
        if (f->type == JV_UNDEF) r = jinja_fail(c, n, "'%s' is undefined", what(n->a));
        else r = jinja_fail(c, n, "'%s' object is not callable", jv_type_name(f));
        jv_unref(c, f);
        return r;
    }
    if (eval_args(c, n, &args, &nargs, &kw))
        r = f->type == JV_MACRO ? call_macro(c, n, f->u.m.def, args, nargs, kw)
                                : f->u.fn.fn(c, n, args, nargs, kw);
    free_args(c, args, nargs, kw);
    jv_unref(c, f);
    return r;
}

static jv *eval_filter(jinja_ctx *c, const jnode *n) {
    jv *v = eval(c, n->a), **args, *kw, *r = NULL;
    size_t nargs;
    if (!v) return NULL;
    if (eval_args(c, n, &args, &nargs, &kw)) r = jinja_filter(c, n, n->name, v, args, nargs, kw);
    free_args(c, args, nargs, kw);
    jv_unref(c, v);
    return r;
}

static jv *eval_test(jinja_ctx *c, const jnode *n) {
    jv *v = eval(c, n->a), **args, *kw;
    size_t nargs;
    if (!v) return NULL;
    int r = -1;
    if (eval_args(c, n, &args, &nargs, &kw)) {
        if (kw) jinja_fail(c, n, "test '%s' takes no keyword arguments", n->name);
        else r = jinja_test(c, n, n->name, v, args, nargs);
    }
    free_args(c, args, nargs, kw);
    jv_unref(c, v);
    return r < 0 ? NULL : jv_bool(n->op ? !r : r);
}

/* [a, b], (a, b) and {k: v} literals. */
static jv *eval_collection(jinja_ctx *c, const jnode *n) {
    if (n->kind == JN_DICT) {
        jv *d = jv_dict(c, JV_DICT);
        for (size_t i = 0; d && i + 1 < n->n_kids; i += 2) {
            jv *k = eval(c, n->kids[i]), *v = k ? eval(c, n->kids[i + 1]) : NULL;
            if (!k || !v || !jv_set(c, d, k, v)) { if (k && !v) jv_unref(c, k); jv_unref(c, d); d = NULL; }
        }
        return d;
    }
    jv *l = jv_list(c, n->n_kids);
    if (l) l->tuple = n->kind == JN_TUPLE;
    for (size_t i = 0; l && i < n->n_kids; i++)
        if (!jv_push(c, l, eval(c, n->kids[i]))) { jv_unref(c, l); l = NULL; }
    return l;
}

static jv *eval_item(jinja_ctx *c, const jnode *n) {
    jv *obj = eval(c, n->a), *r = NULL;
    if (!obj) return NULL;
    if (n->kind == JN_ATTR) {
        jv *k = obj->type == JV_UNDEF ? &jv_none : jv_str(c, n->name, n->name_len);
        if (k) r = get_item(c, n, obj, k);
        jv_unref(c, k);
    } else if (n->kind == JN_ITEM) {
        jv *k = eval(c, n->b);
        if (k) r = get_item(c, n, obj, k);
        jv_unref(c, k);
    } else {
        jv *b[3] = {NULL, NULL, NULL};
        const jnode *parts[3] = {n->b, n->c, n->d};
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++)
            if (parts[i]) ok = (b[i] = eval(c, parts[i])) != NULL;
        if (ok) r = get_slice(c, n, obj, b[0], b[1], b[2]);
        for (int i = 0; i < 3; i++) jv_unref(c, b[i]);
    }
    jv_unref(c, obj);
    return r;
}

/* Evaluates an expression to a new reference, or NULL with the error set. */
static jv *eval_node(jinja_ctx *c, const jnode *n) {
    jv *a, *b, *r;
    switch (n->kind) {
    case JN_LIT: return jv_ref(n->lit);
    case JN_NAME: return jv_ref(lookup(c, n->name));
    case JN_ATTR: case JN_ITEM: case JN_SLICE: return eval_item(c, n);
    case JN_CALL: return eval_call(c, n);
    case JN_FILTER: return eval_filter(c, n);
    case JN_TEST: return eval_test(c, n);
    case JN_COMPARE: return eval_compare(c, n);
    case JN_LIST: case JN_TUPLE: case JN_DICT: return eval_collection(c, n);
    case JN_BINOP:
        if (!(a = eval(c, n->a))) return NULL;
        if (!(b = eval(c, n->b))) { jv_unref(c, a); return NULL; }
        r = binop(c, n, n->op, a, b);
        jv_unref(c, a);
        jv_unref(c, b);
        return r;
    case JN_NEG: case JN_POS:
        if (!(a = eval(c, n->a))) return NULL;
        if (a->type == JV_INT || a->type == JV_BOOL) {
            int64_t i = inum(a);
            r = n->kind == JN_POS ? jv_int(c, i)
                : i == INT64_MIN  ? jinja_fail(c, n, "integer overflow")
                                  : jv_int(c, -i);
        } else if (a->type == JV_FLOAT) r = jv_float(c, n->kind == JN_POS ? a->u.f : -a->u.f);
        else
            r = jinja_fail(c, n, "bad operand type for unary %c: '%s'", n->kind == JN_POS ? '+' : '-',
                           jv_type_name(a));
        jv_unref(c, a);
        return r;
    case JN_NOT:
        if (!(a = eval(c, n->a))) return NULL;
        r = jv_bool(!jv_truthy(a));
        jv_unref(c, a);
        return r;
    case JN_AND: case JN_OR:
        if (!(a = eval(c, n->a))) return NULL;
        if (jv_truthy(a) == (n->kind == JN_OR)) return a;
        jv_unref(c, a);
        return eval(c, n->b);
    case JN_COND:
        if (!(a = eval(c, n->b))) return NULL;
        int t = jv_truthy(a);
        jv_unref(c, a);
        if (t) return eval(c, n->a);
        return n->c ? eval(c, n->c) : &jv_undefined;
    default:
        return jinja_fail(c, n, "not an expression");
    }
}

/* Nested evaluation and execution, counted together: macro calls multiply
 * the nesting the parser allows, and the C stack must stay bounded. */
static int enter(jinja_ctx *c) {
    if (c->nest >= c->lim.max_depth * 10) {
        jinja_fail_code(c, LLM_ERR_LIMIT, "template evaluation nested deeper than %d", c->lim.max_depth * 10);
        return 0;
    }
    c->nest++;
    return 1;
}

static jv *eval(jinja_ctx *c, const jnode *n) {
    if (!jinja_step(c, 1) || !enter(c)) return NULL;
    jv *r = eval_node(c, n);
    c->nest--;
    return r;
}

/* ------------------------------------------------------------ statements */

static int emit(jinja_ctx *c, const char *s, size_t n) {
    if (n > c->out_max || c->out.n > c->out_max - n) {
        jinja_fail_code(c, LLM_ERR_LIMIT, "template output longer than %zu bytes", c->out_max);
        return 0;
    }
    return jbuf_add(c, &c->out, s, n);
}

/* Whether v holds a namespace anywhere (to keep namespaces out of
 * namespaces, which could make a reference cycle). */
static int holds_ns(const jv *v, int depth) {
    if (v->type == JV_NS) return 1;
    if (depth > 64) return 1;
    if (v->type == JV_LIST) {
        for (size_t i = 0; i < v->u.l.n; i++)
            if (holds_ns(v->u.l.a[i], depth + 1)) return 1;
    } else if (v->type == JV_DICT) {
        for (size_t i = 0; i < v->u.d.n; i++)
            if (holds_ns(v->u.d.v[i], depth + 1)) return 1;
    }
    return 0;
}

/* Binds target (a name, ns.attr, or a tuple of names) to v in vars,
 * taking the reference to v. */
static int assign(jinja_ctx *c, const jnode *target, jv *vars, jv *v) {
    if (!v) return 0;
    if (target->kind == JN_NAME) return jv_set_cstr(c, vars, target->name, v);
    if (target->kind == JN_ATTR) {
        jv *obj = eval(c, target->a);
        int ok = 0;
        if (obj && obj->type != JV_NS) jinja_fail(c, target, "cannot assign attribute on non-namespace object");
        else if (obj && holds_ns(v, 0)) jinja_fail(c, target, "cannot store a namespace in a namespace");
        else if (obj) { ok = jv_set_cstr(c, obj, target->name, v); v = NULL; }
        jv_unref(c, obj);
        jv_unref(c, v);
        return ok;
    }
    /* a tuple of names */
    if (v->type != JV_LIST || v->u.l.n != target->n_kids) {
        if (v->type != JV_LIST) jinja_fail(c, target, "cannot unpack non-iterable %s object", jv_type_name(v));
        else jinja_fail(c, target, "expected %zu values to unpack, got %zu", target->n_kids, v->u.l.n);
        jv_unref(c, v);
        return 0;
    }
    int ok = 1;
    for (size_t i = 0; ok && i < target->n_kids; i++)
        ok = assign(c, target->kids[i], vars, jv_ref(v->u.l.a[i]));
    jv_unref(c, v);
    return ok;
}

/* The values a for loop walks: a list's items, a dict's keys, a string's
 * characters; undefined gives none. A new list. */
static jv *iter_items(jinja_ctx *c, const jnode *at, jv *v) {
    if (v->type == JV_LIST) return jv_ref(v);
    jv *l = jv_list(c, 0);
    if (!l) return NULL;
    if (v->type == JV_UNDEF) return l;
    if (v->type == JV_DICT) {
        for (size_t i = 0; i < v->u.d.n; i++)
            if (!jv_push(c, l, jv_ref(v->u.d.k[i]))) { jv_unref(c, l); return NULL; }
        return l;
    }
    if (v->type == JV_STR) {
        for (size_t i = 0; i < v->u.s.n;) {
            size_t e = i + 1;
            while (e < v->u.s.n && ((unsigned char)v->u.s.s[e] & 0xc0) == 0x80) e++;
            if (!jinja_step(c, 1) || !jv_push(c, l, jv_str(c, v->u.s.s + i, e - i))) {
                jv_unref(c, l);
                return NULL;
            }
            i = e;
        }
        return l;
    }
    jv_unref(c, l);
    return jinja_fail(c, at, "'%s' object is not iterable", jv_type_name(v));
}

/* Applies a loop's "if" filter: the items for which it holds, with the
 * target bound in the loop's scope while it is tested. */
static jv *filter_items(jinja_ctx *c, const jnode *n, jv *items, jv *vars) {
    jv *l = jv_list(c, 0);
    for (size_t i = 0; l && i < items->u.l.n; i++) {
        jv *t = NULL;
        if (!assign(c, n->a, vars, jv_ref(items->u.l.a[i])) || !(t = eval(c, n->c))) {
            jv_unref(c, l);
            return NULL;
        }
        int keep = jv_truthy(t);
        jv_unref(c, t);
        if (keep && !jv_push(c, l, jv_ref(items->u.l.a[i]))) { jv_unref(c, l); return NULL; }
    }
    return l;
}

/* The loop variable for iteration i of n. */
static int set_loop(jinja_ctx *c, jv *loop, jv *items, size_t i) {
    size_t n = items->u.l.n;
    return jv_set_cstr(c, loop, "index", jv_int(c, (int64_t)i + 1)) &&
           jv_set_cstr(c, loop, "index0", jv_int(c, (int64_t)i)) &&
           jv_set_cstr(c, loop, "revindex", jv_int(c, (int64_t)(n - i))) &&
           jv_set_cstr(c, loop, "revindex0", jv_int(c, (int64_t)(n - i - 1))) &&
           jv_set_cstr(c, loop, "first", jv_bool(i == 0)) &&
           jv_set_cstr(c, loop, "last", jv_bool(i + 1 == n)) &&
           jv_set_cstr(c, loop, "length", jv_int(c, (int64_t)n)) &&
           jv_set_cstr(c, loop, "previtem", jv_ref(i ? items->u.l.a[i - 1] : &jv_undefined)) &&
           jv_set_cstr(c, loop, "nextitem", jv_ref(i + 1 < n ? items->u.l.a[i + 1] : &jv_undefined));
}

static int exec_for(jinja_ctx *c, const jnode *n) {
    jv *seq = eval(c, n->b);
    if (!seq) return X_ERR;
    jv *items = iter_items(c, n->b, seq);
    jv_unref(c, seq);
    if (!items) return X_ERR;
    scope s, *back = c->cur;
    if (!push_scope(c, &s, back)) { jv_unref(c, items); return X_ERR; }
    int r = X_OK;
    if (n->c) {
        jv *f = filter_items(c, n, items, s.vars);
        jv_unref(c, items);
        items = f;
        if (!items) r = X_ERR;
    }
    jv *loop = r == X_OK ? jv_dict(c, JV_DICT) : NULL;
    if (!loop) r = X_ERR;
    for (size_t i = 0; r == X_OK && i < items->u.l.n; i++) {
        /* each iteration starts from a fresh scope: what the body set in
         * the previous one is gone (Jinja2 semantics) */
        jv *vars = jv_dict(c, JV_DICT);
        if (!vars) { r = X_ERR; break; }
        jv_unref(c, s.vars);
        s.vars = vars;
        if (!jinja_step(c, 1) || !set_loop(c, loop, items, i) ||
            !jv_set_cstr(c, s.vars, "loop", jv_ref(loop)) ||
            !assign(c, n->a, s.vars, jv_ref(items->u.l.a[i]))) {
            r = X_ERR;
            break;
        }
        r = exec_body(c, n->kids, n->n_kids);
        if (r == X_BREAK) { r = X_OK; break; }
        if (r == X_CONTINUE) r = X_OK;
    }
    int ran = items && items->u.l.n > 0;
    jv_unref(c, loop);
    jv_unref(c, items);
    pop_scope(c, &s, back);
    if (r == X_OK && !ran && n->d) r = exec_body(c, n->d->kids, n->d->n_kids);
    return r;
}

static int exec_node(jinja_ctx *c, const jnode *n) {
    jv *v;
    switch (n->kind) {
    case JN_TEXT: return emit(c, n->lit->u.s.s, n->lit->u.s.n) ? X_OK : X_ERR;
    case JN_OUTPUT: {
        if (!(v = eval(c, n->a))) return X_ERR;
        jbuf b = {0};
        int ok = v->type == JV_STR ? emit(c, v->u.s.s, v->u.s.n)
                                   : jv_to_str(c, &b, v) && emit(c, b.p ? b.p : "", b.n);
        free(b.p);
        jv_unref(c, v);
        return ok ? X_OK : X_ERR;
    }
    case JN_BODY: return exec_body(c, n->kids, n->n_kids);
    case JN_IF:
        for (; n && n->kind == JN_IF; n = n->b) {
            if (!(v = eval(c, n->a))) return X_ERR;
            int t = jv_truthy(v);
            jv_unref(c, v);
            if (t) return exec_body(c, n->d->kids, n->d->n_kids);
        }
        return n ? exec_body(c, n->kids, n->n_kids) : X_OK;
    case JN_FOR: return exec_for(c, n);
    case JN_SET: return assign(c, n->a, c->cur->vars, eval(c, n->b)) ? X_OK : X_ERR;
    case JN_SET_BLOCK: {
        int r;
        v = capture(c, n->d->kids, n->d->n_kids, &r);
        return assign(c, n->a, c->cur->vars, v) ? X_OK : X_ERR;
    }
    case JN_MACRO: {
        jv *m = jv_dict(c, JV_MACRO);
        if (!m) return X_ERR;
        m->u.m.def = n;
        return jv_set_cstr(c, c->cur->vars, n->name, m) ? X_OK : X_ERR;
    }
    case JN_BREAK: return X_BREAK;
    case JN_CONTINUE: return X_CONTINUE;
    default:
        jinja_fail(c, n, "not a statement");
        return X_ERR;
    }
}

static int exec_stmt(jinja_ctx *c, const jnode *n) {
    if (!jinja_step(c, 1) || !enter(c)) return X_ERR;
    int r = exec_node(c, n);
    c->nest--;
    return r;
}

static int exec_body(jinja_ctx *c, jnode *const *stmts, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int r = exec_stmt(c, stmts[i]);
        if (r != X_OK) return r;
    }
    return X_OK;
}

llm_status jinja_render(jinja_ctx *c, const jinja_template *t, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (c->status) return c->status;
    scope root;
    if (!push_scope(c, &root, NULL)) return c->status;
    c->root = &root;
    c->out_max = c->lim.max_output;
    int r = exec_body(c, t->root->kids, t->root->n_kids);
    pop_scope(c, &root, NULL);
    c->root = NULL;
    if (r == X_BREAK || r == X_CONTINUE)
        jinja_fail_code(c, LLM_ERR_TEMPLATE, "break or continue outside a loop");
    if (c->status) {
        free(c->out.p);
        memset(&c->out, 0, sizeof c->out);
        return c->status;
    }
    if (!c->out.p && !jbuf_add(c, &c->out, "", 0)) return c->status;
    *out = c->out.p;
    *len = c->out.n;
    memset(&c->out, 0, sizeof c->out);
    return LLM_OK;
}
