/* Chat templates: every golden case of ../shared/golden/chat byte for byte
 * (26 real templates x 12 conversations), then the engine's Jinja
 * semantics, limits, errors and the API's argument handling. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "alloc.h"
#include "fixture.h"
#include "jinja.h"
#include "llm.h"
#include "testutil.h"

/* Renders src over msgs into a malloc'd string; NULL on failure with *st
 * and err set. */
static char *render(const llm_chat_params *p, const llm_chat_message *msgs, size_t n, llm_status *st,
                    llm_error *err) {
    size_t need = 0;
    char small[8];
    *st = llm_chat_apply(NULL, p, msgs, n, small, sizeof small, &need, err);
    if (*st == LLM_OK) return strdup(small);
    if (*st != LLM_ERR_BUFFER_TOO_SMALL) return NULL;
    char *buf = malloc(need);
    *st = llm_chat_apply(NULL, p, msgs, n, buf, need, &need, err);
    if (*st) { free(buf); return NULL; }
    return buf;
}

/* ------------------------------------------------------------ golden */

/* A golden file, or NULL (quietly) when it does not exist. */
static char *read_text(const char *rel, size_t *n) {
    const char *path = test_golden_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fclose(f);
    return test_read_file(path, n);
}

/* One golden case: 1 when the rendering (or the raised message) matches. */
static int golden_case(const char *fam, const cJSON *tmpl, const char *src, const cJSON *conv, int gen) {
    const char *id = cJSON_GetObjectItem(conv, "id")->valuestring;
    char rel[256], rel_err[256];
    snprintf(rel, sizeof rel, "chat/expected/%s/%s.%s.txt", fam, id, gen ? "gen" : "nogen");
    snprintf(rel_err, sizeof rel_err, "chat/expected/%s/%s.%s.error.txt", fam, id, gen ? "gen" : "nogen");
    size_t want_n = 0, err_n = 0;
    char *want = read_text(rel, &want_n), *want_err = want ? NULL : read_text(rel_err, &err_n);
    if (!want && !want_err) return -1; /* no such case */
    const cJSON *ms = cJSON_GetObjectItem(conv, "messages");
    size_t n = (size_t)cJSON_GetArraySize(ms);
    llm_chat_message *msgs = calloc(n + 1, sizeof *msgs);
    for (size_t i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(ms, (int)i);
        msgs[i].role = cJSON_GetObjectItem(m, "role")->valuestring;
        msgs[i].content = cJSON_GetObjectItem(m, "content")->valuestring;
    }
    llm_chat_params p = llm_chat_default_params();
    p.template_src = src;
    const cJSON *bos = cJSON_GetObjectItem(tmpl, "bos_token"), *eos = cJSON_GetObjectItem(tmpl, "eos_token");
    p.bos_token = cJSON_IsString(bos) ? bos->valuestring : NULL;
    p.eos_token = cJSON_IsString(eos) ? eos->valuestring : NULL;
    p.add_generation_prompt = gen;
    char *vars = cJSON_PrintUnformatted(cJSON_GetObjectItem(tmpl, "context"));
    p.vars_json = vars;
    p.date = "2025-01-05";
    llm_error e = {0};
    llm_status st;
    char *got = render(&p, msgs, n, &st, &e);
    int ok;
    if (want) {
        ok = got && strlen(got) == want_n && memcmp(got, want, want_n) == 0;
        if (!ok && got) {
            size_t k = 0;
            while (k < want_n && got[k] == want[k]) k++;
            print_message("%s/%s.%s: differs at byte %zu\n  got:  %.60s\n  want: %.60s\n", fam, id,
                          gen ? "gen" : "nogen", k, got + k, want + k);
        } else if (!ok) print_message("%s/%s: failed: %s\n", fam, id, e.msg);
    } else {
        ok = !got && st == LLM_ERR_TEMPLATE && strlen(e.msg) == err_n && memcmp(e.msg, want_err, err_n) == 0;
        if (!ok) print_message("%s/%s: expected raise '%s', got status %d '%s'\n", fam, id, want_err, st,
                               got ? got : e.msg);
    }
    free(got);
    free(vars);
    free(msgs);
    free(want);
    free(want_err);
    return ok;
}

static void test_golden(void **state) {
    (void)state;
    char *tj = read_text("chat/templates.json", NULL), *cj = read_text("chat/conversations.json", NULL);
    if (!tj || !cj) {
        free(tj);
        free(cj);
        skip();
    }
    cJSON *root = cJSON_Parse(tj), *tmpls = cJSON_GetObjectItem(root, "families"), *convs = cJSON_Parse(cj);
    int pass = 0, total = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tmpls) {
        char rel[256];
        snprintf(rel, sizeof rel, "chat/%s", cJSON_GetObjectItem(t, "file")->valuestring);
        char *src = read_text(rel, NULL);
        assert_non_null(src);
        const cJSON *conv;
        cJSON_ArrayForEach(conv, convs) {
            for (int gen = 1; gen >= 0; gen--) {
                int r = golden_case(t->string, t, src, conv, gen);
                if (r < 0) continue;
                total++;
                pass += r;
            }
        }
        free(src);
    }
    print_message("chat golden: %d of %d cases pass\n", pass, total);
    cJSON_Delete(root);
    cJSON_Delete(convs);
    free(tj);
    free(cj);
    assert_int_equal(total, 364);
    assert_int_equal(pass, total);
}

/* ------------------------------------------------------------ semantics */

typedef struct jcase {
    const char *src, *vars;
    int raises;
    const char *want; /* the rendering, or the raised message */
} jcase;

/* Expected values come from Python's Jinja2 in Hugging Face's environment
 * (tests/chat_cases.py writes chat_cases.inc), with the messages
 * [system "Be brief.", user "Hi"], bos <s>, eos </s>, the date 2025-01-05. */
static const jcase cases[] = {
#include "chat_cases.inc"
};

static char *render_case(const char *src, const char *vars, llm_status *st, llm_error *err) {
    llm_chat_params p = llm_chat_default_params();
    p.template_src = src;
    p.vars_json = vars;
    p.bos_token = "<s>";
    p.eos_token = "</s>";
    p.date = "2025-01-05";
    static const llm_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    return render(&p, msgs, 2, st, err);
}

static void test_semantics(void **state) {
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llm_error e = {0};
        llm_status st;
        char *got = render_case(cases[i].src, cases[i].vars, &st, &e);
        int ok = cases[i].raises ? !got && st == LLM_ERR_TEMPLATE && strcmp(e.msg, cases[i].want) == 0
                                 : got && strcmp(got, cases[i].want) == 0;
        if (!ok) {
            bad++;
            print_message("case %zu: %s\n  got:  [%s]\n  want: [%s]\n", i, cases[i].src, got ? got : e.msg,
                          cases[i].want);
        }
        free(got);
    }
    assert_int_equal(bad, 0);
}

/* Malformed templates: LLM_ERR_TEMPLATE naming where. */
static void test_malformed(void **state) {
    (void)state;
    static const struct { const char *src, *msg; } bad[] = {
        {"{% if x %}a", "line 1, column 12: unexpected end of template, expected 'endif'"},
        {"ab\n  {{ 1 + }}", "line 2, column 10: expected an expression"},
        {"{{ 'abc }}", "line 1, column 4: unterminated string"},
        {"{% for x in %}{% endfor %}", "line 1, column 13: expected an expression"},
        {"{% for x y %}", "expected 'in'"},
        {"{% endif %}", "unknown or unexpected tag 'endif'"},
        {"{% frobnicate %}", "unknown or unexpected tag 'frobnicate'"},
        {"{{ a b }}", "expected '}}'"},
        {"{{ x", "unexpected end of template inside a tag"},
        {"{# open", "unterminated comment"},
        {"{{ 1 ? 2 }}", "unexpected character in a tag"},
        {"{{ f(a=1, 2) }}", "positional argument follows keyword argument"},
        {"{% set 1 = 2 %}", "cannot assign to this"},
        {"{{ [1, 2][1:2:3:4] }}", "too many ':'"},
        {"{{ x.1a }}", "expected"},
        {"{{ x[] }}", "line 1, column 6: expected an index"},
        {"{% macro m( %}", "expected a parameter name"},
        {"{% raw %}abc", "unterminated raw block"},
        {"{{ 99999999999999999999 }}", "integer literal too large"},
        /* errors at run time */
        {"{{ undefined_thing.attr }}", "line 1, column 20: 'undefined_thing' is undefined"},
        {"{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'"},
        {"{{ 1 / 0 }}", "division by zero"},
        {"{{ 1 // 0 }}", "integer division or modulo by zero"},
        {"{{ 'a' < 1 }}", "'<' not supported between instances of 'str' and 'int'"},
        {"{{ nosuch < 1 }}", "'nosuch' is undefined"},
        {"{{ 1 in 2 }}", "argument of type 'int' is not iterable"},
        {"{{ x | nosuchfilter }}", "no filter named 'nosuchfilter'"},
        {"{{ x is nosuchtest }}", "no test named 'nosuchtest'"},
        {"{{ 'a'.nosuch() }}", "'str object' has no attribute 'nosuch'"},
        {"{{ messages.append(1) }}", "has no attribute 'append'"},
        {"{{ nosuchfn() }}", "'nosuchfn' is undefined"},
        {"{{ 3() }}", "'int' object is not callable"},
        {"{% for x in 3 %}{% endfor %}", "'int' object is not iterable"},
        {"{% set x = 1 %}{% set x.a = 2 %}", "cannot assign attribute on non-namespace object"},
        {"{% set ns = namespace() %}{% set ns.me = [ns] %}", "cannot store a namespace in a namespace"},
        {"{% set a, b = [1] %}", "expected 2 values to unpack, got 1"},
        {"{{ 'a,b'.split('') }}", "empty separator"},
        {"{{ [1][::0] }}", "slice step cannot be zero"},
        {"{{ 9223372036854775807 + 1 }}", "integer overflow"},
        {"{{ x | tojson }}{% macro m() %}{% endmacro %}{{ m | tojson }}", "is not JSON serializable"},
        {"{% break %}", "break or continue outside a loop"},
        {"{{ raise_exception(nosuch) }}", "raise_exception() with an empty message"},
        {"{{ '%s %s' % 'a' }}", "not enough arguments for format string"},
        {"{{ '%s' % ('a', 'b') }}", "not all arguments converted during string formatting"},
        {"{{ '%d' % 'a' }}", "a real number is required, not str"},
        {"{{ '%q' % 1 }}", "unsupported format character"},
        {"{{ 1 | tojson(separators=1) }}", "tojson separators must be two strings"},
        {"{% for i in [1] %}{{ loop.cycle() }}{% endfor %}", "no items for cycling given"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llm_error e = {0};
        llm_status st;
        char *got = render_case(bad[i].src, NULL, &st, &e);
        if (got || st != LLM_ERR_TEMPLATE || !strstr(e.msg, bad[i].msg))
            fail_msg("%s: status %d '%s', expected '%s'", bad[i].src, st, got ? got : e.msg, bad[i].msg);
        assert_int_equal(e.code, LLM_ERR_TEMPLATE);
    }
}

/* Renders src with the engine's own entry points under tight limits. */
static llm_status render_limited(const char *src, const jinja_limits *lim, llm_error *e) {
    jinja_template *t;
    llm_status st = jinja_parse(src, strlen(src), lim, &t, e);
    if (st) return st;
    jinja_ctx *c = jinja_ctx_new(lim, e);
    char *out = NULL;
    size_t len;
    st = c ? jinja_render(c, t, &out, &len) : e->code;
    free(out);
    jinja_ctx_free(c);
    jinja_free(t);
    return st;
}

/* Hostile templates stop at a limit, quickly, with LLM_ERR_LIMIT: each
 * limit under small values through the engine, then the public defaults
 * where reaching them is cheap. */
static void test_limits(void **state) {
    (void)state;
    static const struct { const char *src, *msg;
    } hostile[] = {
        {"{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "steps"},
        {"{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
         "template string longer than 10000"},
        {"{{ 'x' * 100000000 }}", "template string longer than"},
        {"{% for i in range(1000) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}",
         "template output longer than 10000"},
        {"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macro calls nested deeper than 20"},
        {"{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
         "steps"},
        {"{% set ns = namespace(l=[]) %}{% for i in range(500) %}{% set ns.l = ns.l + ['x' * 5000 ~ i] %}{% "
         "endfor %}",
         "values take more than 1000000 bytes"},
        {"{{ ((((((((((((((((((((((1)))))))))))))))))))))) }}", "nested deeper than 20"},
    };
    jinja_limits lim = jinja_default_limits();
    lim.max_steps = 100000;
    lim.max_output = lim.max_string = 10000;
    lim.max_memory = 1000000;
    lim.max_depth = 20;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        llm_error e = {0};
        llm_status st = render_limited(hostile[i].src, &lim, &e);
        if (st != LLM_ERR_LIMIT || !strstr(e.msg, hostile[i].msg))
            fail_msg("%s: status %d '%.80s', expected LLM_ERR_LIMIT '%s'", hostile[i].src, st, e.msg,
                     hostile[i].msg);
    }
    llm_error e = {0};
    llm_status st;
    assert_null(render_case("{{ 'x' * 100000000 }}", NULL, &st, &e));
    assert_int_equal(st, LLM_ERR_LIMIT);
    assert_null(render_case("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", NULL, &st, &e));
    assert_int_equal(st, LLM_ERR_LIMIT);
    /* macro recursion times nested blocks: the evaluation depth bounds the C stack */
    char *rec = malloc(16384);
    strcpy(rec, "{% macro f() %}");
    for (int i = 0; i < 60; i++) strcat(rec, "{% if 1 %}");
    strcat(rec, "{{ f() }}");
    for (int i = 0; i < 60; i++) strcat(rec, "{% endif %}");
    strcat(rec, "{% endmacro %}{{ f() }}");
    assert_null(render_case(rec, NULL, &st, &e));
    assert_int_equal(st, LLM_ERR_LIMIT);
    assert_non_null(strstr(e.msg, "evaluation nested deeper than 1000"));
    free(rec);
    /* deep nesting of syntax: expressions and blocks */
    size_t n = 5000;
    char *deep = malloc(2 * n + 16);
    strcpy(deep, "{{ ");
    memset(deep + 3, '(', n);
    strcpy(deep + 3 + n, "1 }}");
    assert_null(render_case(deep, NULL, &st, &e));
    assert_int_equal(st, LLM_ERR_LIMIT);
    assert_non_null(strstr(e.msg, "nested deeper than"));
    deep[0] = 0;
    for (size_t i = 0; i < 300; i++) strcat(deep, "{% if 1 %}");
    assert_null(render_case(deep, NULL, &st, &e));
    assert_int_equal(st, LLM_ERR_LIMIT);
    free(deep);
    /* an oversized source */
    size_t big = (1u << 20) + 1;
    char *src = malloc(big + 1);
    memset(src, 'a', big);
    src[big] = 0;
    assert_null(render_case(src, NULL, &st, &e));
    assert_int_equal(st, LLM_ERR_LIMIT);
    free(src);
}

static void test_args(void **state) {
    (void)state;
    llm_chat_params p = llm_chat_default_params();
    assert_true(p.add_generation_prompt);
    assert_null(p.template_src);
    llm_chat_message m = {"user", "Hi"};
    char buf[256];
    size_t need = 0;
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "no model, template_src or template_name");
    p.template_name = "nosuch";
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG, "'nosuch'");
    p.template_name = "chatml";
    assert_fails(llm_chat_apply(NULL, &p, NULL, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG, "msgs");
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, NULL, 4, &need, err), LLM_ERR_INVALID_ARG, "buf");
    llm_chat_message nulls[] = {{"user", NULL}, {NULL, "x"}};
    assert_fails(llm_chat_apply(NULL, &p, nulls, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "content");
    assert_fails(llm_chat_apply(NULL, &p, nulls + 1, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "role");
    p.vars_json = "{\"a\": ";
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "vars_json: json: unexpected end of text at byte 6");
    p.vars_json = "[1]";
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "not a JSON object");
    p.vars_json = NULL;
    p.date = "2025-02-30";
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "does not exist");
    p.date = "2025-1-5";
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "YYYY-MM-DD");
    p.date = NULL; /* today: works */
    assert_int_equal(llm_chat_apply(NULL, &p, &m, 1, buf, sizeof buf, &need, NULL), LLM_OK);
    const char *want = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
    assert_string_equal(buf, want);
    assert_int_equal(need, strlen(want) + 1);
    /* too small: the size needed, then exactly that much works */
    need = 0;
    assert_fails(llm_chat_apply(NULL, &p, &m, 1, buf, 10, &need, err), LLM_ERR_BUFFER_TOO_SMALL, "needed");
    assert_int_equal(need, strlen(want) + 1);
    assert_int_equal(llm_chat_apply(NULL, &p, &m, 1, NULL, 0, &need, NULL), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(llm_chat_apply(NULL, &p, &m, 1, buf, need, NULL, NULL), LLM_OK);
    /* no messages, NULL params */
    assert_int_equal(llm_chat_apply(NULL, &p, NULL, 0, buf, sizeof buf, &need, NULL), LLM_OK);
    assert_string_equal(buf, "<|im_start|>assistant\n");
    assert_fails(llm_chat_apply(NULL, NULL, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "no model");
    assert_null(llm_model_chat_template(NULL));
    assert_string_equal(llm_strerror(LLM_ERR_TEMPLATE), "chat template error");
}

/* Each built-in renders a small conversation with its markers. */
static void test_builtins(void **state) {
    (void)state;
    static const struct { const char *name, *want;
    } expect[] = {
        {"chatml",
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
         "Hello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"},
        {"llama2", "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]"},
        {"llama3",
         "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user"
         "<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|"
         ">\n\n"},
        {"mistral", "<s>[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][INST]Hi[/INST]Hello</s>[INST]Bye[/INST]"},
        {"zephyr", "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nBye</s>\n"
                   "<|assistant|>\n"},
        {"gemma",
         "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
         "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"},
        {"phi3", "<|system|>\nBe "
                 "brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n"
                 "<|assistant|>\n"},
    };
    static const llm_chat_message msgs[] = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
    const char *const *names = llm_chat_builtin_names();
    size_t n = 0;
    while (names[n]) n++;
    assert_int_equal(n, sizeof expect / sizeof expect[0]);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(names[i], expect[i].name);
        llm_chat_params p = llm_chat_default_params();
        p.template_name = names[i];
        p.bos_token = "<s>";
        p.eos_token = "</s>";
        llm_error e = {0};
        llm_status st;
        char *got = render(&p, msgs, 4, &st, &e);
        if (!got || strcmp(got, expect[i].want) != 0)
            fail_msg("%s: got [%s] (%s)", names[i], got ? got : "", e.msg);
        free(got);
    }
}

/* The model's tokenizer.chat_template is used by default, and its BOS and
 * EOS pieces fill bos_token and eos_token; a name overrides it. */
static void test_model_template(void **state) {
    (void)state;
    fixture_spec spec = fixture_default();
    spec.chat_template =
        "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{{ eos_token }}";
    const char *path = fixture_write_tmp(&spec);
    assert_non_null(path);
    llm_error e = {0};
    llm_model *model = llm_model_load(path, NULL, &e);
    assert_non_null(model);
    assert_string_equal(llm_model_chat_template(model), spec.chat_template);
    llm_chat_message m = {"user", "Hi"};
    char buf[128];
    size_t need;
    assert_int_equal(llm_chat_apply(model, NULL, &m, 1, buf, sizeof buf, &need, &e), LLM_OK);
    assert_string_equal(buf, "<s>[user:Hi]</s>");
    llm_chat_params p = llm_chat_default_params();
    p.template_name = "zephyr";
    p.eos_token = "<E>";
    assert_int_equal(llm_chat_apply(model, &p, &m, 1, buf, sizeof buf, &need, &e), LLM_OK);
    assert_string_equal(buf, "<|user|>\nHi<E>\n<|assistant|>\n");
    llm_model_free(model);
    /* a model without a template needs a name */
    spec.chat_template = NULL;
    model = llm_model_load(fixture_write_tmp(&spec), NULL, &e);
    assert_non_null(model);
    assert_null(llm_model_chat_template(model));
    assert_fails(llm_chat_apply(model, NULL, &m, 1, buf, sizeof buf, &need, err), LLM_ERR_INVALID_ARG,
                 "the model has no chat template");
    llm_model_free(model);
    test_cleanup_tmp();
}

/* Several threads render at once with one model (and its template): the
 * same text each time (ThreadSanitizer builds check for races). */
typedef struct render_job { const llm_model *model; const char *want; int ok; } render_job;

static void *render_many(void *arg) {
    render_job *job = arg;
    static const llm_chat_message msgs[] = {{"system", "S"}, {"user", "Hi"}, {"assistant", "Yo"}, {"user", "Q"}};
    job->ok = 1;
    for (int i = 0; i < 50; i++) {
        char buf[512];
        size_t need;
        llm_chat_params p = llm_chat_default_params();
        p.vars_json = "{\"sep\": \" | \"}";
        p.date = "2025-01-05";
        if (llm_chat_apply(job->model, &p, msgs, 4, buf, sizeof buf, &need, NULL) || strcmp(buf, job->want))
            job->ok = 0;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    fixture_spec spec = fixture_default();
    spec.chat_template = "{% set ns = namespace(s='') %}{% for m in messages %}{% set ns.s = ns.s ~ m.role[0] ~ "
                         "':' ~ m.content | trim ~ sep %}{% endfor %}{{ bos_token ~ ns.s ~ strftime_now('%B') }}";
    llm_error e = {0};
    llm_model *model = llm_model_load(fixture_write_tmp(&spec), NULL, &e);
    assert_non_null(model);
    render_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].model = model;
        jobs[i].want = "<s>s:S | u:Hi | a:Yo | u:Q | January";
        assert_int_equal(pthread_create(&th[i], NULL, render_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
    }
    llm_model_free(model);
    test_cleanup_tmp();
}

#ifdef LLM_FAULT_INJECTION
/* Every allocation of a rendering that touches most of the engine fails
 * in turn: LLM_ERR_NOMEM each time, nothing leaked. */
static void test_nomem(void **state) {
    (void)state;
    const char *src =
        "{% set ns = namespace(n=0) %}{% macro f(x, y='d') %}<{{ x }}{{ y }}>{% endmacro %}"
        "{% for m in messages if m.role != 'none' %}{% set ns.n = ns.n + 1 %}{{ f(m.role | upper) }}"
        "{{ m.content.strip().split(' ') | join(',') }}{{ loop.index }}{% endfor %}"
        "{{ {'a': [1, 2.5, none]} | tojson }}{{ messages | map(attribute='role') | list }}{{ x[1:] }}"
        "{% set b %}blk{% endset %}{{ b ~ ns.n }}{{ strftime_now('%B') }}";
    for (uint64_t at = 1;; at++) {
        llm_chat_params p = llm_chat_default_params();
        p.template_src = src;
        p.vars_json = "{\"x\": \"abc\", \"y\": [1, {\"z\": true}]}";
        p.date = "2025-01-05";
        llm_chat_message msgs[] = {{"system", "a b"}, {"user", "c d e"}};
        char buf[1024];
        size_t need;
        llm_error e = {0};
        llm_fault_fail_at(at);
        llm_status st = llm_chat_apply(NULL, &p, msgs, 2, buf, sizeof buf, &need, &e);
        uint64_t used = llm_fault_count();
        llm_fault_fail_at(0);
        if (used < at) {
            assert_int_equal(st, LLM_OK);
            break;
        }
        if (st != LLM_ERR_NOMEM) fail_msg("allocation %llu: status %d '%s'", (unsigned long long)at, st, e.msg);
    }
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_semantics),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_model_template),
        cmocka_unit_test(test_threads),
#ifdef LLM_FAULT_INJECTION
        cmocka_unit_test(test_nomem),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
