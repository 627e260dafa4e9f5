/* A sandboxed interpreter for the subset of Jinja that chat templates use,
 * with the semantics of Python's Jinja2 in Hugging Face's environment
 * (trim_blocks, lstrip_blocks, no autoescape, Python value semantics).
 *
 * Pipeline: jinja_lex.c turns the source into tokens (text and the tokens
 * of each tag, whitespace control applied), jinja_parse.c builds an AST,
 * jinja_eval.c walks it over the values of jinja_value.c, calling the
 * filters, tests, methods and globals of jinja_builtin.c.
 *
 * Every input is hostile: the source, the variables and what they make
 * the template do are bounded by jinja_limits (LLM_ERR_LIMIT), a template
 * that is malformed, raises or misuses a value gives LLM_ERR_TEMPLATE with
 * a message naming the line and column (a raise_exception message is
 * passed on as is), allocation failures give LLM_ERR_NOMEM. */
#ifndef LLM_JINJA_H
#define LLM_JINJA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "llm.h"

typedef struct jinja_limits {
    size_t max_source;   /* bytes of template source */
    size_t max_output;   /* bytes rendered */
    size_t max_string;   /* bytes of any one string value */
    size_t max_memory;   /* bytes held by all values at once */
    uint64_t max_steps;  /* statements, expressions and loop iterations */
    int max_depth;       /* nesting of the source, and of macro calls */
} jinja_limits;

jinja_limits jinja_default_limits(void);

/* ------------------------------------------------------------ values */

typedef enum jv_type {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT,
    JV_NS,    /* namespace(): a dict whose attributes may be set */
    JV_MACRO, /* a {% macro %} */
    JV_FUNC   /* a global function (raise_exception, range, ...) */
} jv_type;

typedef struct jnode jnode;
typedef struct jinja_ctx jinja_ctx;
typedef struct jv jv;

/* A builtin global function; args are positional, kw (a dict or NULL) the
 * keyword arguments. Returns a new reference or NULL with the error set. */
typedef jv *(*jv_func)(jinja_ctx *c, const jnode *at, jv **args, size_t n, jv *kw);

/* A reference-counted value. Values made during parsing (literals) have
 * no context; the singletons undefined, none, true and false are never
 * freed. Strings are immutable bytes (UTF-8 in practice) with a NUL after
 * them; lists and dicts are mutable only through namespace attributes and
 * the evaluator's own construction. */
struct jv {
    jv_type type;
    int32_t refs;       /* < 0: a singleton */
    uint8_t tuple;      /* a list that prints as a tuple */
    size_t mem;         /* bytes accounted to the context */
    union {
        int b;
        int64_t i;
        double f;
        struct { char *s; size_t n; } s;
        struct { jv **a; size_t n, cap; } l;
        struct { jv **k, **v; size_t n, cap; } d;   /* JV_DICT, JV_NS; insertion order */
        struct { const jnode *def; } m;
        struct { jv_func fn; const char *name; } fn;
    } u;
};

extern jv jv_undefined, jv_none, jv_true, jv_false;

jv *jv_ref(jv *v);
void jv_unref(jinja_ctx *c, jv *v);
/* Constructors: NULL on failure (memory or limit, error set in c; c may be
 * NULL for literals, which are not accounted). */
jv *jv_int(jinja_ctx *c, int64_t i);
jv *jv_float(jinja_ctx *c, double f);
jv *jv_bool(int b);
jv *jv_str(jinja_ctx *c, const char *s, size_t n);
jv *jv_str2(jinja_ctx *c, const char *a, size_t an, const char *b, size_t bn);
jv *jv_list(jinja_ctx *c, size_t cap);
jv *jv_dict(jinja_ctx *c, jv_type type);
jv *jv_func_new(jinja_ctx *c, jv_func fn, const char *name);
/* Appends / sets, taking the reference to v (and key); 0 on failure. */
int jv_push(jinja_ctx *c, jv *list, jv *v);
int jv_set(jinja_ctx *c, jv *dict, jv *key, jv *v);
int jv_set_cstr(jinja_ctx *c, jv *dict, const char *key, jv *v);
/* A borrowed member or NULL. */
jv *jv_get(const jv *dict, const jv *key);
jv *jv_get_cstr(const jv *dict, const char *key);

int jv_truthy(const jv *v);
int jv_equal(const jv *a, const jv *b);
/* -1, 0, 1; *ok is set to 0 when the types cannot be ordered. */
int jv_compare(const jv *a, const jv *b, int *ok);
const char *jv_type_name(const jv *v);
/* Number of code points of a UTF-8 string. */
size_t jv_utf8_count(const char *s, size_t n);

/* Growable byte buffer, limited by the context's max_string (or a given cap). */
typedef struct jbuf { char *p; size_t n, cap; } jbuf;
int jbuf_add(jinja_ctx *c, jbuf *b, const char *s, size_t n);
int jbuf_addc(jinja_ctx *c, jbuf *b, char ch);
/* Moves the buffer's bytes into a new string value; frees the buffer. */
jv *jbuf_to_str(jinja_ctx *c, jbuf *b);

/* Python's str(v) (Undefined gives "") and repr(v) appended to b. */
int jv_to_str(jinja_ctx *c, jbuf *b, const jv *v);
int jv_repr(jinja_ctx *c, jbuf *b, const jv *v);
/* str(v) as a value: v itself when it is a string. */
jv *jv_as_str(jinja_ctx *c, jv *v);
/* How json.dumps lays out: indent < 0 for none; the item and key
 * separators (NULL: Python's defaults, ", " or "," with an indent, ": "). */
typedef struct jv_json_fmt {
    int indent, sort_keys;
    const char *item_sep, *key_sep;
    size_t item_len, key_len;
} jv_json_fmt;

/* json.dumps(v, ensure_ascii=False, ...) as fmt says, appended to b. */
int jv_to_json(jinja_ctx *c, jbuf *b, const jv *v, const jv_json_fmt *fmt, int depth);

/* ------------------------------------------------------------ syntax */

typedef enum jtok_type {
    JT_EOF, JT_TEXT, JT_VAR_BEGIN, JT_VAR_END, JT_BLOCK_BEGIN, JT_BLOCK_END,
    JT_NAME, JT_STRING, JT_INT, JT_FLOAT, JT_OP
} jtok_type;

typedef struct jtok {
    jtok_type type;
    int line, col;
    const char *s;  /* JT_TEXT, JT_NAME, JT_OP: into the source; JT_STRING: decoded (owned) */
    size_t n;
    int64_t i;
    double f;
} jtok;

typedef struct jtoks {
    jtok *t;
    size_t n, cap;
    char *src; /* the source with newlines normalized, which tokens point into */
} jtoks;

/* Splits src into tokens (the trailing newline dropped, whitespace control
 * applied to the text tokens). */
llm_status jinja_lex(const char *src, size_t len, jtoks *out, llm_error *err);
void jinja_toks_free(jtoks *t);

typedef enum jnode_kind {
    /* statements */
    JN_BODY, JN_TEXT, JN_OUTPUT, JN_IF, JN_FOR, JN_SET, JN_SET_BLOCK, JN_MACRO,
    JN_BREAK, JN_CONTINUE,
    /* expressions */
    JN_LIT, JN_NAME, JN_ATTR, JN_ITEM, JN_SLICE, JN_CALL, JN_FILTER, JN_TEST,
    JN_BINOP, JN_NEG, JN_POS, JN_NOT, JN_AND, JN_OR, JN_COND, JN_LIST, JN_TUPLE,
    JN_DICT, JN_COMPARE, JN_KWARG
} jnode_kind;

/* An AST node. Statements: JN_BODY lists its statements in kids; JN_IF
 * has a (condition), d (then: a JN_BODY) and b (else: a JN_IF for elif, or a
 * JN_BODY); JN_FOR has a (target: JN_NAME or JN_TUPLE), b (iterable), c
 * (filter or NULL), kids (body), d (else body or NULL); JN_SET a (target:
 * JN_NAME, JN_ATTR or JN_TUPLE) and b (value); JN_SET_BLOCK a and d (body);
 * JN_MACRO name, kids (parameters: JN_NAME or JN_KWARG with a default) and
 * d (body). Expressions keep operands in a, b, c, and arguments in kids
 * (JN_KWARG for keyword ones, its name and value a). */
struct jnode {
    jnode_kind kind;
    int line, col;
    int op;             /* JN_BINOP, JN_COMPARE (ops[] per operand), JN_TEST negation */
    jnode *a, *b, *c, *d;
    jnode **kids;
    size_t n_kids;
    int *ops;           /* JN_COMPARE: n_kids - 1 operators */
    const char *name;   /* JN_NAME, JN_ATTR, JN_FILTER, JN_TEST, JN_MACRO, JN_KWARG (owned) */
    size_t name_len;
    jv *lit;            /* JN_LIT, JN_TEXT */
    jnode *next_alloc;  /* every node of a template, for freeing */
};

/* Operator codes (JN_BINOP, JN_COMPARE) */
enum {
    JOP_ADD = 1, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW, JOP_CONCAT,
    JOP_EQ, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE, JOP_IN, JOP_NOTIN
};

typedef struct jinja_template {
    jnode *root;
    jnode *nodes;       /* allocation list */
} jinja_template;

llm_status jinja_parse(const char *src, size_t len, const jinja_limits *lim,
                       jinja_template **out, llm_error *err);
void jinja_free(jinja_template *t);

/* ------------------------------------------------------------ rendering */

/* A rendering context: limits, globals, accounting, the error. */
jinja_ctx *jinja_ctx_new(const jinja_limits *lim, llm_error *err);
void jinja_ctx_free(jinja_ctx *c);
/* Sets a global variable, taking the reference to v; 0 on failure. */
int jinja_set_global(jinja_ctx *c, const char *name, jv *v);
/* The clock strftime_now reads. */
void jinja_set_time(jinja_ctx *c, const struct tm *tm);
/* Renders t; *out is a malloc'd NUL-terminated string of *len bytes. */
llm_status jinja_render(jinja_ctx *c, const jinja_template *t, char **out, size_t *len);

/* For builtins: fail with LLM_ERR_TEMPLATE at node `at` (line, column),
 * or with a given code and no position. Return NULL / 0 for chaining. */
void *jinja_fail(jinja_ctx *c, const jnode *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void *jinja_fail_code(jinja_ctx *c, llm_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Accounts bytes held by values against max_memory (0: over the limit,
 * error set), and releases them. c may be NULL (literals). */
int jinja_account(jinja_ctx *c, size_t bytes);
void jinja_unaccount(jinja_ctx *c, size_t bytes);
/* Counts one step against max_steps; 0 when the limit is hit. */
int jinja_step(jinja_ctx *c, uint64_t n);
const struct tm *jinja_time(const jinja_ctx *c);
/* The status of the context's first failure, for a step that gave 0 or
 * NULL (LLM_ERR_NOMEM where none was recorded): right even when the
 * caller passed no llm_error. */
llm_status jinja_status(const jinja_ctx *c);
const jinja_limits *jinja_ctx_limits(const jinja_ctx *c);

/* Builtins (jinja_builtin.c): NULL-named lookups give NULL when unknown. */
jv *jinja_filter(jinja_ctx *c, const jnode *at, const char *name, jv *v, jv **args, size_t n,
                 jv *kw);
/* A test: 1 true, 0 false, -1 error. */
int jinja_test(jinja_ctx *c, const jnode *at, const char *name, jv *v, jv **args, size_t n);
/* A method call obj.name(args); NULL with the error set when unknown. */
jv *jinja_method(jinja_ctx *c, const jnode *at, jv *obj, const char *name, jv **args, size_t n,
                 jv *kw);
/* Python's fmt % args (printf-style: %s %r %d %i %f %x %% with flags,
 * width and precision), for the % operator and the format filter. */
jv *jinja_percent(jinja_ctx *c, const jnode *at, const jv *fmt, jv *const *args, size_t n);
/* Installs raise_exception, strftime_now, namespace, range, dict. */
int jinja_add_globals(jinja_ctx *c);

#endif
