/* The strict JSON parser: values, strings with escapes and NULs, the
 * refusals RFC 8259 asks for, repeated keys, limits and allocation
 * failures. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "fixture.h"
#include "json.h"

static llm_json *parse_ok(const char *text) {
    llm_json *v = NULL;
    llm_error e = {0};
    llm_status s = llm_json_parse(text, strlen(text), &v, &e);
    if (s) fail_msg("parse of %s failed: %s", text, e.msg);
    return v;
}

static void test_values(void **state) {
    (void)state;
    llm_json *v = parse_ok(" {\"a\": [1, -2.5e1, true, false, null], \"b\": \"x\", \"c\": {}} ");
    assert_int_equal(llm_json_type(v), LLM_JSON_OBJECT);
    assert_int_equal(llm_json_len(v), 3);
    assert_string_equal(llm_json_key_at(v, 0), "a");
    assert_string_equal(llm_json_key_at(v, 2), "c");
    assert_null(llm_json_key_at(v, 3));
    const llm_json *a = llm_json_get(v, "a");
    assert_int_equal(llm_json_type(a), LLM_JSON_ARRAY);
    assert_int_equal(llm_json_len(a), 5);
    int64_t i;
    assert_true(llm_json_int(llm_json_at(a, 0), &i));
    assert_int_equal(i, 1);
    assert_false(llm_json_int(llm_json_at(a, 1), &i));
    assert_true(llm_json_num(llm_json_at(a, 1)) == -25.0);
    assert_int_equal(llm_json_type(llm_json_at(a, 2)), LLM_JSON_BOOL);
    assert_true(llm_json_bool(llm_json_at(a, 2)));
    assert_false(llm_json_bool(llm_json_at(a, 3)));
    assert_int_equal(llm_json_type(llm_json_at(a, 4)), LLM_JSON_NULL);
    assert_null(llm_json_at(a, 5));
    assert_string_equal(llm_json_str(llm_json_get(v, "b"), NULL), "x");
    assert_int_equal(llm_json_len(llm_json_get(v, "c")), 0);
    assert_null(llm_json_get(v, "zz"));
    /* accessors tolerate NULL and the wrong type */
    assert_int_equal(llm_json_type(NULL), -1);
    assert_null(llm_json_get(a, "a"));
    assert_null(llm_json_str(a, NULL));
    assert_true(llm_json_num(NULL) == 0);
    llm_json_free(v);
    llm_json_free(NULL);

    v = parse_ok("12345678901234567890"); /* beyond int64: a float only */
    assert_false(llm_json_int(v, &i));
    assert_true(llm_json_num(v) > 1.2e19);
    llm_json_free(v);
    v = parse_ok("-0");
    assert_true(llm_json_int(v, &i));
    llm_json_free(v);
}

static void test_strings(void **state) {
    (void)state;
    llm_json *v = parse_ok("\"a\\u0000b\\n\\\"\\\\\\/\\b\\f\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\xc3\xa9\"");
    size_t n;
    const char *s = llm_json_str(v, &n);
    const char want[] = "a\0b\n\"\\/\b\f\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(s, want, n);
    assert_int_equal(s[n], 0);
    assert_int_equal(llm_json_len(v), n);
    llm_json_free(v);
    /* a key holding NUL */
    v = parse_ok("{\"k\\u0000x\": 1}");
    size_t kl;
    assert_non_null(llm_json_key_len_at(v, 0, &kl));
    assert_int_equal(kl, 3);
    assert_null(llm_json_get(v, "k"));
    llm_json_free(v);
}

static void test_duplicates(void **state) {
    (void)state;
    llm_json *v = parse_ok("{\"a\":1,\"b\":2,\"a\":[3],\"c\":4,\"b\":5}");
    assert_int_equal(llm_json_len(v), 3);
    assert_string_equal(llm_json_key_at(v, 0), "a");
    assert_string_equal(llm_json_key_at(v, 1), "b");
    assert_string_equal(llm_json_key_at(v, 2), "c");
    assert_int_equal(llm_json_type(llm_json_get(v, "a")), LLM_JSON_ARRAY);
    assert_true(llm_json_num(llm_json_get(v, "b")) == 5);
    llm_json_free(v);
    /* many members, many repeats: linear, and correct */
    size_t cap = 200000, len = 0;
    char *t = malloc(cap);
    t[len++] = '{';
    for (int k = 0; k < 10000; k++)
        len += (size_t)snprintf(t + len, cap - len, "%s\"k%d\":%d", k ? "," : "", k % 1000, k);
    t[len++] = '}';
    llm_json *w = NULL;
    assert_int_equal(llm_json_parse(t, len, &w, NULL), LLM_OK);
    assert_int_equal(llm_json_len(w), 1000);
    assert_true(llm_json_num(llm_json_get(w, "k7")) == 9007);
    assert_string_equal(llm_json_key_at(w, 7), "k7");
    llm_json_free(w);
    free(t);
}

static void test_refusals(void **state) {
    (void)state;
    static const struct { const char *text; const char *msg; } bad[] = {
        {"", "end of text at byte 0"},
        {"[1,]", "unexpected character at byte 3"},
        {"{\"a\":1,}", "string key at byte 7"},
        {"01", "trailing characters at byte 1"},
        {"1.", "bad number at byte 2"},
        {"1e", "bad number"},
        {"-", "bad number"},
        {"+1", "unexpected character"},
        {".5", "unexpected character"},
        {"NaN", "unexpected character"},
        {"Infinity", "unexpected character"},
        {"tru", "unexpected character"},
        {"nulll", "trailing"},
        {"\"abc", "unterminated"},
        {"\"a\tb\"", "control character in string at byte 2"},
        {"\"\\x\"", "bad escape at byte 2"},
        {"\"\\u12\"", "\\u escape"},
        {"\"\\ud800\"", "lone high surrogate"},
        {"\"\\udc00\"", "lone low surrogate"},
        {"\"\xc3\"", "invalid UTF-8 at byte 1"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},         /* overlong */
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},     /* encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"}, /* above U+10FFFF */
        {"\"\xff\"", "invalid UTF-8"},
        {"{1:2}", "string key"},
        {"{\"a\" 1}", "expected ':'"},
        {"[1 2]", "expected ',' or ']'"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
        {"[", "end of text"},
        {"'a'", "unexpected character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llm_json *v = (llm_json *)1;
        assert_fails(llm_json_parse(bad[i].text, strlen(bad[i].text), &v, err), LLM_ERR_FORMAT,
                     bad[i].msg);
        assert_null(v);
    }
    /* the text need not be NUL-terminated, and a NUL byte is not whitespace */
    llm_json *v;
    assert_fails(llm_json_parse("1\0", 2, &v, err), LLM_ERR_FORMAT, "trailing");
    assert_int_equal(llm_json_parse("[1] x", 3, &v, NULL), LLM_OK);
    llm_json_free(v);
    assert_fails(llm_json_parse("1", 1, NULL, err), LLM_ERR_INVALID_ARG, "out");
    assert_fails(llm_json_parse(NULL, 1, &v, err), LLM_ERR_INVALID_ARG, "text");
}

static void test_limits(void **state) {
    (void)state;
    size_t n = LLM_JSON_MAX_DEPTH + 10;
    char *t = malloc(2 * n);
    memset(t, '[', n);
    memset(t + n, ']', n);
    llm_json *v;
    assert_fails(llm_json_parse(t, 2 * n, &v, err), LLM_ERR_LIMIT, "nesting deeper than 256");
    /* exactly at the limit is fine */
    size_t k = LLM_JSON_MAX_DEPTH + 1; /* depth 0 .. 256 */
    assert_int_equal(llm_json_parse(t + n - k, 2 * k, &v, NULL), LLM_OK);
    llm_json_free(v);
    free(t);
    assert_fails(llm_json_parse("1", (size_t)LLM_JSON_MAX_SIZE + 1, &v, err), LLM_ERR_LIMIT,
                 "more than");
}

#ifdef LLM_FAULT_INJECTION
/* Every allocation of a parse that exercises all node kinds fails in turn:
 * each failure is LLM_ERR_NOMEM, nothing leaks (ASan/valgrind check). */
static void test_nomem(void **state) {
    (void)state;
    const char *t = "{\"a\":[1,2,3,4,5,{\"x\":\"yy\"}],\"b\":\"s\",\"a\":{\"c\":[\"d\",null]},"
                    "\"e\":123456789012345678901234567890123456789012345678901234567890123456789}";
    for (uint64_t at = 1;; at++) {
        llm_json *v = NULL;
        llm_error e = {0};
        llm_fault_fail_at(at);
        llm_status s = llm_json_parse(t, strlen(t), &v, &e);
        uint64_t used = llm_fault_count();
        llm_fault_fail_at(0);
        if (used < at) {
            assert_int_equal(s, LLM_OK);
            llm_json_free(v);
            break;
        }
        assert_int_equal(s, LLM_ERR_NOMEM);
        assert_int_equal(e.code, LLM_ERR_NOMEM);
        assert_null(v);
    }
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
#ifdef LLM_FAULT_INJECTION
        cmocka_unit_test(test_nomem),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
