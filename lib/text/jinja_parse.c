/* The parser: tokens to an AST, by recursive descent with Jinja2's
 * grammar and precedence (lowest first): "x if c else y", or, and, not,
 * comparisons and "in", + and -, ~, * / // %, **, unary - and +, then a
 * primary with its postfixes (.attr, [item], [a:b:c], (call)) followed by
 * filters "|f(args)" and tests "is [not] t arg". So "a + b | trim" trims
 * b only, and "not x is defined" is "not (x is defined)". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "jinja.h"

typedef struct parser {
    jtoks toks;
    size_t pos;
    jinja_template *t;
    llm_error *err;
    int depth, max_depth;
    llm_status status;
} parser;

static jtok *peek(parser *p) { return &p->toks.t[p->pos]; }
static jtok *peek2(parser *p) { return p->pos + 1 < p->toks.n ? &p->toks.t[p->pos + 1] : peek(p); }
static jtok *next(parser *p) {
    jtok *t = &p->toks.t[p->pos];
    if (t->type != JT_EOF) p->pos++;
    return t;
}

static void *perr(parser *p, const jtok *t, const char *fmt, const char *arg) {
    if (p->status) return NULL;
    char what[160];
    snprintf(what, sizeof what, fmt, arg);
    p->status = llm_fail(p->err, LLM_ERR_TEMPLATE, "template line %d, column %d: %s", t->line, t->col, what);
    return NULL;
}

static void *nomem(parser *p) {
    if (!p->status) p->status = llm_fail(p->err, LLM_ERR_NOMEM, "out of memory for a template");
    return NULL;
}

static int is_op(const jtok *t, const char *op) {
    return t->type == JT_OP && t->n == strlen(op) && memcmp(t->s, op, t->n) == 0;
}

static int is_name(const jtok *t, const char *name) {
    return t->type == JT_NAME && t->n == strlen(name) && memcmp(t->s, name, t->n) == 0;
}

static int expect_op(parser *p, const char *op) {
    if (is_op(peek(p), op)) { next(p); return 1; }
    perr(p, peek(p), "expected '%s'", op);
    return 0;
}

static jnode *node_new(parser *p, jnode_kind kind, const jtok *at) {
    jnode *n = llm_calloc(1, sizeof *n);
    if (!n) return nomem(p);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    n->next_alloc = p->t->nodes;
    p->t->nodes = n;
    return n;
}

static int set_name(parser *p, jnode *n, const char *s, size_t len) {
    char *c = llm_malloc(len + 1);
    if (!c) { nomem(p); return 0; }
    memcpy(c, s, len);
    c[len] = 0;
    n->name = c;
    n->name_len = len;
    return 1;
}

static int add_kid(parser *p, jnode *n, jnode *kid) {
    if (!kid) return 0;
    if ((n->n_kids & (n->n_kids - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to the next power */
        size_t nc = n->n_kids ? n->n_kids * 2 : 1;
        jnode **k = llm_realloc(n->kids, nc * sizeof *k);
        if (!k) { nomem(p); return 0; }
        n->kids = k;
    }
    n->kids[n->n_kids++] = kid;
    return 1;
}

static jnode *lit_node(parser *p, const jtok *at, jv *v) {
    if (!v) return nomem(p);
    jnode *n = node_new(p, JN_LIT, at);
    if (!n) { jv_unref(NULL, v); return NULL; }
    n->lit = v;
    return n;
}

static jnode *parse_expr(parser *p);
static jnode *parse_unary(parser *p, int with_filter);
static jnode *parse_or(parser *p);

static int enter(parser *p) {
    if (++p->depth <= p->max_depth) return 1;
    if (!p->status)
        p->status = llm_fail(p->err, LLM_ERR_LIMIT, "template line %d, column %d: nested deeper than %d",
                             peek(p)->line, peek(p)->col, p->max_depth);
    return 0;
}

/* Arguments of a call, filter or test after its "(": positional ones and
 * name=value ones (JN_KWARG), up to the ")". */
static int parse_args(parser *p, jnode *call) {
    int seen_kw = 0;
    while (!is_op(peek(p), ")")) {
        if (peek(p)->type == JT_NAME && is_op(peek2(p), "=")) {
            seen_kw = 1;
            jtok *nt = next(p);
            next(p);
            jnode *kw = node_new(p, JN_KWARG, nt);
            if (!kw || !set_name(p, kw, nt->s, nt->n) || !(kw->a = parse_expr(p)) || !add_kid(p, call, kw))
                return 0;
        } else if (seen_kw) {
            perr(p, peek(p), "%s", "positional argument follows keyword argument");
            return 0;
        } else if (!add_kid(p, call, parse_expr(p))) return 0;
        if (!is_op(peek(p), ",")) break;
        next(p);
    }
    return expect_op(p, ")");
}

/* [ ... ] after a value: an item or a slice with up to three parts. */
static jnode *parse_subscript(parser *p, jnode *obj) {
    jtok *at = next(p);
    jnode *parts[3] = {NULL, NULL, NULL};
    int colons = 0;
    for (;;) {
        if (is_op(peek(p), ":")) {
            if (++colons > 2) return perr(p, peek(p), "%s", "too many ':' in a slice");
            next(p);
            continue;
        }
        if (is_op(peek(p), "]")) break;
        if (parts[colons]) return perr(p, peek(p), "%s", "expected ']'");
        if (!(parts[colons] = parse_expr(p))) return NULL;
    }
    if (!colons && !parts[0]) return perr(p, peek(p), "%s", "expected an index");
    next(p);
    jnode *n = node_new(p, colons ? JN_SLICE : JN_ITEM, at);
    if (!n) return NULL;
    n->a = obj;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
}

static jnode *parse_postfix(parser *p, jnode *n) {
    while (n) {
        jtok *t = peek(p);
        if (is_op(t, ".")) {
            next(p);
            jtok *nt = next(p);
            if (nt->type != JT_NAME && nt->type != JT_INT)
                return perr(p, nt, "%s", "expected a name after '.'");
            jnode *a = node_new(p, nt->type == JT_INT ? JN_ITEM : JN_ATTR, nt);
            if (!a) return NULL;
            a->a = n;
            if (nt->type == JT_INT) {
                if (!(a->b = lit_node(p, nt, jv_int(NULL, nt->i)))) return NULL;
            } else if (!set_name(p, a, nt->s, nt->n)) return NULL;
            n = a;
        } else if (is_op(t, "[")) {
            n = parse_subscript(p, n);
        } else if (is_op(t, "(")) {
            next(p);
            jnode *c = node_new(p, JN_CALL, t);
            if (!c) return NULL;
            c->a = n;
            if (!parse_args(p, c)) return NULL;
            n = c;
        } else break;
    }
    return n;
}

/* A filter "|name" or "|name(args)" applied to n. */
static jnode *parse_filter(parser *p, jnode *n) {
    next(p);
    jtok *nt = next(p);
    if (nt->type != JT_NAME) return perr(p, nt, "%s", "expected a filter name");
    jnode *f = node_new(p, JN_FILTER, nt);
    if (!f || !set_name(p, f, nt->s, nt->n)) return NULL;
    f->a = n;
    if (is_op(peek(p), "(")) {
        next(p);
        if (!parse_args(p, f)) return NULL;
    }
    return f;
}

/* "is [not] name", with an optional argument: "(args)" or one primary,
 * as in "is sameas false" or "is divisibleby 3". */
static jnode *parse_test(parser *p, jnode *n) {
    next(p);
    int neg = 0;
    if (is_name(peek(p), "not")) { next(p); neg = 1; }
    jtok *nt = next(p);
    if (nt->type != JT_NAME) return perr(p, nt, "%s", "expected a test name");
    jnode *t = node_new(p, JN_TEST, nt);
    if (!t || !set_name(p, t, nt->s, nt->n)) return NULL;
    t->a = n;
    t->op = neg;
    jtok *a = peek(p);
    if (is_op(a, "(")) {
        next(p);
        if (!parse_args(p, t)) return NULL;
    } else if ((a->type == JT_NAME && !is_name(a, "else") && !is_name(a, "or") && !is_name(a, "and") &&
                !is_name(a, "if") && !is_name(a, "is") && !is_name(a, "in") && !is_name(a, "not")) ||
               a->type == JT_STRING || a->type == JT_INT || a->type == JT_FLOAT || is_op(a, "[") ||
               is_op(a, "{")) {
        jnode *arg = parse_unary(p, 0);
        if (!add_kid(p, t, arg)) return NULL;
    }
    return t;
}

static jnode *parse_filters(parser *p, jnode *n) {
    while (n) {
        if (is_op(peek(p), "|")) n = parse_filter(p, n);
        else if (is_name(peek(p), "is")) n = parse_test(p, n);
        else break;
    }
    return n;
}

/* [a, b], {k: v}, (a) and (a, b): lists, dicts, grouping and tuples. */
static jnode *parse_collection(parser *p, jtok *t) {
    const char *close = is_op(t, "[") ? "]" : is_op(t, "{") ? "}" : ")";
    jnode *n = node_new(p, *close == ']' ? JN_LIST : *close == '}' ? JN_DICT : JN_TUPLE, t);
    if (!n) return NULL;
    int trailing_comma = 0;
    while (!is_op(peek(p), close)) {
        jnode *e = parse_expr(p);
        if (!add_kid(p, n, e)) return NULL;
        if (n->kind == JN_DICT) {
            if (!expect_op(p, ":") || !add_kid(p, n, parse_expr(p))) return NULL;
        }
        trailing_comma = 0;
        if (!is_op(peek(p), ",")) break;
        next(p);
        trailing_comma = 1;
    }
    if (!expect_op(p, close)) return NULL;
    if (n->kind == JN_TUPLE && n->n_kids == 1 && !trailing_comma) return n->kids[0];
    return n;
}

static jnode *parse_primary(parser *p) {
    jtok *t = next(p);
    switch (t->type) {
    case JT_NAME:
        if (is_name(t, "true") || is_name(t, "True")) return lit_node(p, t, &jv_true);
        if (is_name(t, "false") || is_name(t, "False")) return lit_node(p, t, &jv_false);
        if (is_name(t, "none") || is_name(t, "None")) return lit_node(p, t, &jv_none);
        {
            jnode *n = node_new(p, JN_NAME, t);
            return n && set_name(p, n, t->s, t->n) ? n : NULL;
        }
    case JT_STRING: {
        /* adjacent literals concatenate: "a" "b" */
        jv *v = jv_str(NULL, t->s, t->n);
        while (v && peek(p)->type == JT_STRING) {
            jtok *u = next(p);
            jv *w = jv_str2(NULL, v->u.s.s, v->u.s.n, u->s, u->n);
            jv_unref(NULL, v);
            v = w;
        }
        return lit_node(p, t, v);
    }
    case JT_INT: return lit_node(p, t, jv_int(NULL, t->i));
    case JT_FLOAT: return lit_node(p, t, jv_float(NULL, t->f));
    case JT_OP:
        if (is_op(t, "(") || is_op(t, "[") || is_op(t, "{")) return parse_collection(p, t);
        /* fall through */
    default:
        return perr(p, t, "%s", t->type == JT_EOF ? "unexpected end of template" :
                               t->type == JT_VAR_END || t->type == JT_BLOCK_END ? "expected an expression" :
                               "unexpected token");
    }
}

static jnode *parse_unary(parser *p, int with_filter) {
    if (!enter(p)) return NULL;
    jtok *t = peek(p);
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        next(p);
        n = node_new(p, is_op(t, "-") ? JN_NEG : JN_POS, t);
        if (n && !(n->a = parse_unary(p, 0))) n = NULL;
    } else {
        n = parse_postfix(p, parse_primary(p));
    }
    if (with_filter) n = parse_filters(p, n);
    p->depth--;
    return n;
}

static jnode *binop(parser *p, const jtok *at, int op, jnode *a, jnode *b) {
    if (!a || !b) return NULL;
    jnode *n = node_new(p, JN_BINOP, at);
    if (!n) return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *n = parse_unary(p, 1);
    while (n && is_op(peek(p), "**")) {
        jtok *t = next(p);
        n = binop(p, t, JOP_POW, n, parse_unary(p, 1));
    }
    return n;
}

static jnode *parse_math2(parser *p) {
    jnode *n = parse_pow(p);
    for (;;) {
        jtok *t = peek(p);
        int op = is_op(t, "*") ? JOP_MUL : is_op(t, "/") ? JOP_DIV : is_op(t, "//") ? JOP_FLOORDIV :
                 is_op(t, "%") ? JOP_MOD : 0;
        if (!n || !op) return n;
        next(p);
        n = binop(p, t, op, n, parse_pow(p));
    }
}

static jnode *parse_concat(parser *p) {
    jnode *n = parse_math2(p);
    while (n && is_op(peek(p), "~")) {
        jtok *t = next(p);
        n = binop(p, t, JOP_CONCAT, n, parse_math2(p));
    }
    return n;
}

static jnode *parse_math1(parser *p) {
    jnode *n = parse_concat(p);
    for (;;) {
        jtok *t = peek(p);
        int op = is_op(t, "+") ? JOP_ADD : is_op(t, "-") ? JOP_SUB : 0;
        if (!n || !op) return n;
        next(p);
        n = binop(p, t, op, n, parse_concat(p));
    }
}

/* Comparisons chain as in Python: a < b < c is a < b and b < c. The node
 * holds the operands in kids and the operators in ops. */
static jnode *parse_compare(parser *p) {
    jnode *first = parse_math1(p), *n = NULL;
    for (;;) {
        jtok *t = peek(p);
        int op = is_op(t, "==") ? JOP_EQ : is_op(t, "!=") ? JOP_NE : is_op(t, "<") ? JOP_LT :
                 is_op(t, "<=") ? JOP_LE : is_op(t, ">") ? JOP_GT : is_op(t, ">=") ? JOP_GE :
                 is_name(t, "in") ? JOP_IN : is_name(t, "not") && is_name(peek2(p), "in") ? JOP_NOTIN : 0;
        if (!first || !op) return n ? n : first;
        next(p);
        if (op == JOP_NOTIN) next(p);
        if (!n) {
            if (!(n = node_new(p, JN_COMPARE, t)) || !add_kid(p, n, first)) return NULL;
        }
        int *ops = llm_realloc(n->ops, n->n_kids * sizeof *ops);
        if (!ops) return nomem(p);
        n->ops = ops;
        ops[n->n_kids - 1] = op;
        if (!add_kid(p, n, parse_math1(p))) return NULL;
    }
}

static jnode *parse_not(parser *p) {
    if (is_name(peek(p), "not")) {
        if (!enter(p)) return NULL;
        jtok *t = next(p);
        jnode *n = node_new(p, JN_NOT, t);
        if (n && !(n->a = parse_not(p))) n = NULL;
        p->depth--;
        return n;
    }
    return parse_compare(p);
}

/* A left-associative chain "x and y and z" (or "or"), each operand parsed
 * by operand: one routine for both levels of boolean operators. */
static jnode *parse_logic(parser *p, const char *word, jnode_kind kind, jnode *(*operand)(parser *)) {
    jnode *n = operand(p);
    while (n && is_name(peek(p), word)) {
        jtok *t = next(p);
        jnode *r = operand(p);
        jnode *op = r ? node_new(p, kind, t) : NULL;
        if (!op) return NULL;
        op->a = n;
        op->b = r;
        n = op;
    }
    return n;
}

static jnode *parse_and(parser *p) { return parse_logic(p, "and", JN_AND, parse_not); }
static jnode *parse_or(parser *p) { return parse_logic(p, "or", JN_OR, parse_and); }

/* "a if cond else b" (the else part optional: undefined without it). */
static jnode *parse_expr(parser *p) {
    if (!enter(p)) return NULL;
    jnode *n = parse_or(p);
    while (n && is_name(peek(p), "if")) {
        jtok *t = next(p);
        jnode *c = node_new(p, JN_COND, t);
        if (!c || !(c->b = parse_or(p))) { n = NULL; break; }
        c->a = n;
        if (is_name(peek(p), "else")) {
            next(p);
            if (!(c->c = parse_expr(p))) { n = NULL; break; }
        }
        n = c;
    }
    p->depth--;
    return n;
}

/* The value of a set: an expression, or "a, b" as a tuple. */
static jnode *parse_expr_list(parser *p) {
    jtok *t = peek(p);
    jnode *first = parse_expr(p);
    if (!first || !is_op(peek(p), ",")) return first;
    jnode *tup = node_new(p, JN_TUPLE, t);
    if (!tup || !add_kid(p, tup, first)) return NULL;
    while (is_op(peek(p), ",")) {
        next(p);
        if (peek(p)->type == JT_BLOCK_END) break;
        if (!add_kid(p, tup, parse_expr(p))) return NULL;
    }
    return tup;
}

/* An expression list "a, b" as a tuple (for set and for targets), else
 * the single expression; names_only restricts it to assignable names. */
static jnode *parse_target(parser *p, int names_only) {
    jtok *t = peek(p);
    jnode *first = names_only ? parse_primary(p) : parse_postfix(p, parse_primary(p));
    if (!first) return NULL;
    if (first->kind != JN_NAME && first->kind != JN_ATTR) return perr(p, t, "%s", "cannot assign to this");
    if (!is_op(peek(p), ",")) return first;
    jnode *tup = node_new(p, JN_TUPLE, t);
    if (!tup || !add_kid(p, tup, first)) return NULL;
    while (is_op(peek(p), ",")) {
        next(p);
        jtok *u = peek(p);
        jnode *e = parse_primary(p);
        if (e && e->kind != JN_NAME) return perr(p, u, "%s", "cannot assign to this");
        if (!add_kid(p, tup, e)) return NULL;
    }
    return tup;
}

static int expect_block_end(parser *p) {
    if (next(p)->type == JT_BLOCK_END) return 1;
    perr(p, &p->toks.t[p->pos - 1], "%s", "expected '%}'");
    return 0;
}

static jnode *parse_body(parser *p, const char *const *ends);

/* After "{% name" has been read: "%}" and an end name; returns which
 * of ends closed the body, or -1. */
static int parse_end(parser *p, const char *const *ends) {
    jtok *t = peek(p);
    for (int i = 0; ends[i]; i++)
        if (is_name(t, ends[i])) {
            next(p);
            return i;
        }
    return -1;
}

static jnode *parse_if(parser *p, jtok *at) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    jnode *n = node_new(p, JN_IF, at);
    if (!n || !(n->a = parse_expr(p)) || !expect_block_end(p) || !(n->d = parse_body(p, ends))) return NULL;
    jtok *t = peek(p);
    int e = parse_end(p, ends);
    if (e == 0) n->b = parse_if(p, t);
    else if (e == 1) {
        static const char *const end_only[] = {"endif", NULL};
        if (!expect_block_end(p) || !(n->b = parse_body(p, end_only)) || parse_end(p, end_only) < 0 ||
            !expect_block_end(p))
            return NULL;
    } else if (!expect_block_end(p)) return NULL;
    return p->status ? NULL : n;
}

static jnode *parse_for(parser *p, jtok *at) {
    static const char *const ends[] = {"else", "endfor", NULL};
    static const char *const end_only[] = {"endfor", NULL};
    jnode *n = node_new(p, JN_FOR, at);
    if (!n || !(n->a = parse_target(p, 1))) return NULL;
    if (!is_name(peek(p), "in")) return perr(p, peek(p), "%s", "expected 'in'");
    next(p);
    if (!(n->b = parse_or(p))) return NULL;
    if (is_name(peek(p), "if")) {
        next(p);
        if (!(n->c = parse_or(p))) return NULL;
    }
    if (is_name(peek(p), "recursive")) return perr(p, peek(p), "%s", "recursive loops are not supported");
    jnode *body;
    if (!expect_block_end(p) || !(body = parse_body(p, ends))) return NULL;
    n->kids = body->kids; /* the loop body's statements */
    n->n_kids = body->n_kids;
    body->kids = NULL;
    body->n_kids = 0;
    int e = parse_end(p, ends);
    if (e == 0 && (!expect_block_end(p) || !(n->d = parse_body(p, end_only)) || parse_end(p, end_only) < 0))
        return NULL;
    return expect_block_end(p) ? n : NULL;
}

static jnode *parse_set(parser *p, jtok *at) {
    jnode *target = parse_target(p, 0);
    if (!target) return NULL;
    if (is_op(peek(p), "=")) {
        next(p);
        jnode *n = node_new(p, JN_SET, at);
        if (!n || !(n->b = parse_expr_list(p)) || !expect_block_end(p)) return NULL;
        n->a = target;
        return n;
    }
    static const char *const ends[] = {"endset", NULL};
    jnode *n = node_new(p, JN_SET_BLOCK, at);
    if (!n) return NULL;
    n->a = target;
    if (target->kind != JN_NAME) return perr(p, at, "%s", "a block set assigns one name");
    if (is_op(peek(p), "|")) return perr(p, peek(p), "%s", "filtered block set is not supported");
    if (!expect_block_end(p) || !(n->d = parse_body(p, ends)) || parse_end(p, ends) < 0 || !expect_block_end(p))
        return NULL;
    return n;
}

/* {% macro name(a, b=default) %} body {% endmacro %} */
static jnode *parse_macro(parser *p, jtok *at) {
    static const char *const ends[] = {"endmacro", NULL};
    jtok *nt = next(p);
    if (nt->type != JT_NAME) return perr(p, nt, "%s", "expected a macro name");
    jnode *n = node_new(p, JN_MACRO, at);
    if (!n || !set_name(p, n, nt->s, nt->n) || !expect_op(p, "(")) return NULL;
    while (!is_op(peek(p), ")")) {
        jtok *pt = next(p);
        if (pt->type != JT_NAME) return perr(p, pt, "%s", "expected a parameter name");
        jnode *par = node_new(p, is_op(peek(p), "=") ? JN_KWARG : JN_NAME, pt);
        if (!par || !set_name(p, par, pt->s, pt->n)) return NULL;
        if (par->kind == JN_KWARG) {
            next(p);
            if (!(par->a = parse_expr(p))) return NULL;
        }
        if (!add_kid(p, n, par)) return NULL;
        if (!is_op(peek(p), ",")) break;
        next(p);
    }
    if (!expect_op(p, ")") || !expect_block_end(p) || !(n->d = parse_body(p, ends)) || parse_end(p, ends) < 0 ||
        !expect_block_end(p))
        return NULL;
    return n;
}

/* One {% ... %} statement whose "{%" has been read. */
static jnode *parse_stmt(parser *p) {
    jtok *t = next(p);
    if (t->type != JT_NAME) return perr(p, t, "%s", "expected a statement name");
    if (is_name(t, "if")) return parse_if(p, t);
    if (is_name(t, "for")) return parse_for(p, t);
    if (is_name(t, "set")) return parse_set(p, t);
    if (is_name(t, "macro")) return parse_macro(p, t);
    if (is_name(t, "break") || is_name(t, "continue")) {
        jnode *n = node_new(p, is_name(t, "break") ? JN_BREAK : JN_CONTINUE, t);
        return n && expect_block_end(p) ? n : NULL;
    }
    if (is_name(t, "generation")) { /* transformers' marker for assistant masks: renders its body */
        static const char *const ends[] = {"endgeneration", NULL};
        jnode *b;
        if (!expect_block_end(p) || !(b = parse_body(p, ends)) || parse_end(p, ends) < 0 ||
            !expect_block_end(p))
            return NULL;
        return b;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(t->n < 60 ? t->n : 60), t->s);
    return perr(p, t, "unknown or unexpected tag '%s'", name);
}

/* Statements up to one of the end names (left unread after "{%") or, with
 * ends NULL, to the end of the template. */
static jnode *parse_body(parser *p, const char *const *ends) {
    jnode *body = node_new(p, JN_BODY, peek(p));
    if (!body || !enter(p)) return NULL;
    for (;;) {
        jtok *t = peek(p);
        if (t->type == JT_EOF) {
            if (ends) {
                int k = 0;
                while (ends[k + 1] && strncmp(ends[k], "end", 3) != 0) k++;
                p->depth--;
                return perr(p, t, "unexpected end of template, expected '%s'", ends[k]);
            }
            break;
        }
        next(p);
        jnode *s = NULL;
        if (t->type == JT_TEXT) {
            if ((s = node_new(p, JN_TEXT, t)) && !(s->lit = jv_str(NULL, t->s, t->n))) s = nomem(p);
        } else if (t->type == JT_VAR_BEGIN) {
            if ((s = node_new(p, JN_OUTPUT, t)) && !(s->a = parse_expr(p))) s = NULL;
            if (s && next(p)->type != JT_VAR_END) s = perr(p, &p->toks.t[p->pos - 1], "%s", "expected '}}'");
        } else if (t->type == JT_BLOCK_BEGIN) {
            if (ends && parse_end(p, ends) >= 0) {
                p->pos--; /* leave the end name for the caller */
                break;
            }
            s = parse_stmt(p);
        } else s = perr(p, t, "%s", "unexpected token");
        if (!add_kid(p, body, s)) return NULL;
    }
    p->depth--;
    return body;
}

void jinja_free(jinja_template *t) {
    if (!t) return;
    for (jnode *n = t->nodes, *nx; n; n = nx) {
        nx = n->next_alloc;
        free(n->kids);
        free(n->ops);
        free((char *)n->name);
        jv_unref(NULL, n->lit);
        free(n);
    }
    free(t);
}

llm_status jinja_parse(const char *src, size_t len, const jinja_limits *lim, jinja_template **out,
                       llm_error *err) {
    *out = NULL;
    jinja_limits dl = jinja_default_limits();
    if (!lim) lim = &dl;
    if (len > lim->max_source)
        return llm_fail(err, LLM_ERR_LIMIT, "template of %zu bytes, more than %zu", len, lim->max_source);
    parser p = {0};
    p.err = err;
    p.max_depth = lim->max_depth;
    if (!(p.t = llm_calloc(1, sizeof *p.t)))
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a template");
    llm_status s = jinja_lex(src, len, &p.toks, err);
    if (!s) {
        p.t->root = parse_body(&p, NULL);
        s = p.status;
    }
    jinja_toks_free(&p.toks);
    if (s) {
        jinja_free(p.t);
        return s;
    }
    *out = p.t;
    return LLM_OK;
}
