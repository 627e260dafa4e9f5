/* Helpers of the tokenizer suites; see tokutil.h. */
#include "tokutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf.h"
#include "testutil.h"
#include "vocab.h"

/* A model with only a vocabulary, enough for the token functions. */
void load_gguf_vocab(llm_model *m, const char *rel) {
    memset(m, 0, sizeof *m);
    gguf_file f;
    llm_error err = {0};
    llm_status s = gguf_open(&f, test_model_path(rel), &err);
    if (s) fail_msg("%s: %s", rel, err.msg);
    s = llm_vocab_from_gguf(&m->vocab, &f, &err);
    gguf_close(&f);
    if (s) fail_msg("%s: %s", rel, err.msg);
}

/* Tokenizes through the two-call protocol: ask the size, then fill. */
int32_t *encode(const llm_model *m, const char *text, size_t len, uint32_t flags, size_t *n) {
    llm_error err = {0};
    llm_status s = llm_tokenize(m, text, len, NULL, 0, n, flags, &err);
    if (*n == 0) {
        assert_int_equal(s, LLM_OK);
        return NULL;
    }
    assert_int_equal(s, LLM_ERR_BUFFER_TOO_SMALL);
    int32_t *ids = malloc(*n * sizeof *ids);
    assert_non_null(ids);
    size_t n2;
    s = llm_tokenize(m, text, len, ids, *n, &n2, flags, &err);
    if (s) fail_msg("tokenize: %s", err.msg);
    assert_int_equal(n2, *n);
    return ids;
}

/* Streams ids through a detokenizer; returns the bytes (NUL-terminated
 * for convenience) and their count. */
char *decode(const llm_model *m, const int32_t *ids, size_t n, size_t *len) {
    llm_detok *d = llm_detok_new(m, NULL);
    assert_non_null(d);
    size_t cap = 256, used = 0, got;
    for (size_t i = 0; i < n; i++) cap += m->vocab.max_piece;
    char *out = malloc(cap + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(llm_detok_push(d, ids[i], out + used, 256, &got), LLM_OK);
        used += got;
    }
    assert_int_equal(llm_detok_flush(d, out + used, 256, &got), LLM_OK);
    used += got;
    llm_detok_free(d);
    out[used] = 0;
    *len = used;
    return out;
}

void assert_round_trip(const llm_model *m, const char *text, size_t len) {
    size_t n, dlen;
    int32_t *ids = encode(m, text, len, 0, &n);
    char *back = decode(m, ids, n, &dlen);
    assert_int_equal(dlen, len);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
}

void assert_ids(const int32_t *got, size_t n, const int32_t *want, size_t n_want) {
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) assert_int_equal(got[i], want[i]);
}

/* Parses whitespace-separated integers starting at *p, up to the end of
 * the line; advances *p past the newline. */
size_t parse_line(const char **p, int32_t *ids, size_t cap) {
    size_t n = 0;
    const char *s = *p;
    while (*s && *s != '\n') {
        if (*s == ' ' || *s == '\r') {
            s++;
            continue;
        }
        char *end;
        long v = strtol(s, &end, 10);
        assert_true(end != s);
        assert_true(n < cap);
        ids[n++] = (int32_t)v;
        s = end;
    }
    *p = *s ? s + 1 : s;
    return n;
}

/* Every string of ggml-vocab-NAME.gguf.inp encodes (no BOS, special text
 * not parsed) to its line of .out, and decodes back to itself. */
void check_vectors(const char *name) {
    char rel[128];
    llm_model m;
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    load_gguf_vocab(&m, rel);
    snprintf(rel, sizeof rel, "tokenizer/ggml-vocab-%s.gguf.inp", name);
    size_t inp_len;
    char *inp = test_read_file(test_golden_path(rel), &inp_len);
    snprintf(rel, sizeof rel, "tokenizer/ggml-vocab-%s.gguf.out", name);
    char *out = test_read_file(test_golden_path(rel), NULL);
    assert_non_null(inp);
    assert_non_null(out);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const char *p = inp, *end = inp + inp_len, *o = out;
    int32_t want[4096];
    int count = 0;
    const char *at;
    while ((at = memmem(p, (size_t)(end - p), sep, sizeof sep - 1)) != NULL) {
        size_t len = (size_t)(at - p), n;
        size_t n_want = parse_line(&o, want, 4096);
        int32_t *ids = encode(&m, p, len, 0, &n);
        if (n != n_want || (n && memcmp(ids, want, n * sizeof *ids) != 0))
            fail_msg("%s string %d ('%.*s'): %zu tokens, expected %zu", name, count, (int)len, p, n, n_want);
        free(ids);
        assert_round_trip(&m, p, len);
        count++;
        p = at + sizeof sep - 1;
    }
    assert_int_equal(count, 46);
    free(inp);
    free(out);
    llm_vocab_free(&m.vocab);
}
