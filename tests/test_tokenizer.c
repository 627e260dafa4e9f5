/* Tokenizer: llama.cpp's test vectors, the stories260K golden prompts from
 * both vocabulary sources, byte fallback round trips, streaming
 * detokenization, hostile vocabularies and the buffer conventions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "testutil.h"
#include "tokutil.h"
#include "vocab.h"

static const char *const stories_cases[] = {"beach-128", "dog-200", "noprompt-256", "short-1"};

/* ------------------------------------------------------------ helpers */

static void load_l2c_vocab(llm_model *m, const char *rel, int32_t n_vocab) {
    memset(m, 0, sizeof *m);
    size_t size;
    char *data = test_read_file(test_model_path(rel), &size);
    assert_non_null(data);
    llm_error err = {0};
    llm_status s = llm_vocab_from_llama2c(&m->vocab, data, size, n_vocab, &err);
    free(data);
    if (s) fail_msg("%s: %s", rel, err.msg);
}

/* --------------------------------------------- (a) llama.cpp vectors */

static void test_vectors_llama_spm(void **state) {
    (void)state;
    check_vectors("llama-spm");
}

static void test_vectors_phi3(void **state) {
    (void)state;
    check_vectors("phi-3");
}

/* ------------------------------------------ (b) stories260K prompts */

/* Each prompt with BOS gives BOS then the first lines of NAME.ids, and
 * detokenizing BOS + every listed id gives NAME.txt (run.c adds the
 * final newline). */
static void check_stories(const llm_model *m) {
    for (size_t c = 0; c < sizeof stories_cases / sizeof *stories_cases; c++) {
        char rel[128];
        size_t plen, n;
        snprintf(rel, sizeof rel, "stories260K/%s.prompt", stories_cases[c]);
        char *prompt = test_read_file(test_golden_path(rel), &plen);
        snprintf(rel, sizeof rel, "stories260K/%s.ids", stories_cases[c]);
        char *ids_text = test_read_file(test_golden_path(rel), NULL);
        snprintf(rel, sizeof rel, "stories260K/%s.txt", stories_cases[c]);
        size_t tlen;
        char *txt = test_read_file(test_golden_path(rel), &tlen);
        assert_non_null(prompt);
        assert_non_null(ids_text);
        assert_non_null(txt);

        int32_t all[1024];
        all[0] = 1;
        size_t n_all = 1;
        for (const char *p = ids_text; *p;) n_all += parse_line(&p, all + n_all, 1024 - n_all);

        int32_t *ids = encode(m, prompt, plen, LLM_TOKENIZE_ADD_BOS, &n);
        assert_true(n >= 1 && n <= n_all);
        assert_ids(ids, n, all, n);
        if (plen == 0) assert_int_equal(n, 1); /* an empty prompt is BOS alone */

        size_t dlen;
        char *text = decode(m, all, n_all, &dlen);
        assert_true(tlen > 0 && txt[tlen - 1] == '\n');
        assert_int_equal(dlen, tlen - 1);
        assert_memory_equal(text, txt, dlen);
        free(text);
        free(ids);
        free(prompt);
        free(ids_text);
        free(txt);
    }
}

static void test_stories_gguf(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "stories260K.gguf");
    check_stories(&m);
    llm_vocab_free(&m.vocab);
}

static void test_stories_tok512(void **state) {
    (void)state;
    llm_model m;
    load_l2c_vocab(&m, "tok512.bin", 512);
    check_stories(&m);
    llm_vocab_free(&m.vocab);
}

/* The llama2.c export stores spaces as ' ' and decorates <s> and </s>;
 * read back, every other piece, score and type equals the GGUF's. */
static void test_sources_agree(void **state) {
    (void)state;
    llm_model g, l;
    load_gguf_vocab(&g, "stories260K.gguf");
    load_l2c_vocab(&l, "tok512.bin", 512);
    assert_int_equal(g.vocab.n, l.vocab.n);
    for (int32_t id = 0; id < g.vocab.n; id++) {
        assert_int_equal(g.vocab.types[id], l.vocab.types[id]);
        if (id == 1 || id == 2) continue;
        size_t a, b;
        const char *pa = llm_vocab_piece(&g.vocab, id, &a), *pb = llm_vocab_piece(&l.vocab, id, &b);
        assert_int_equal(a, b);
        assert_memory_equal(pa, pb, a);
        assert_true(g.vocab.scores[id] == l.vocab.scores[id]);
    }
    assert_int_equal(memcmp(g.vocab.byte_tok, l.vocab.byte_tok, sizeof g.vocab.byte_tok), 0);
    assert_int_equal(l.vocab.bos, 1);
    assert_int_equal(l.vocab.eos, 2);
    assert_int_equal(l.vocab.unk, 0);
    llm_vocab_free(&g.vocab);
    llm_vocab_free(&l.vocab);
}

/* ------------------------------------- (c) byte fallback, invalid UTF-8 */

static void test_invalid_utf8(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"\xff", 1}, {"a\x80" "b", 3}, {"\xe2\x96", 2}, {"x\xf0\x9f\x98", 4}, {"\xc3(", 2},
        {"\xf8\x88\x80\x80\x80", 5}, {"\xed\xa0\x80", 3}, {"\xc0\xaf", 2}, {"\0a\0", 3},
        {"caf\xc3\xa9 \xe2\x82\xac 1\xf0\x9f\x98\x80", 14}, {" \x9f \xbf\xbf ", 7},
    };
    llm_model spm, st;
    load_gguf_vocab(&spm, "vocab/ggml-vocab-llama-spm.gguf");
    load_gguf_vocab(&st, "stories260K.gguf");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_round_trip(&spm, cases[i].s, cases[i].len);
        assert_round_trip(&st, cases[i].s, cases[i].len);
    }
    /* the dummy prefix, then the lone byte through its <0xFF> piece */
    size_t n;
    int32_t *ids = encode(&spm, "\xff", 1, 0, &n);
    assert_ids(ids, n, (int32_t[]){29871, spm.vocab.byte_tok[0xff]}, 2);
    free(ids);
    /* a sequence cut by the end of the text is one symbol, two bytes */
    ids = encode(&spm, "\xe2\x96", 2, 0, &n);
    assert_ids(ids, n, (int32_t[]){29871, spm.vocab.byte_tok[0xe2], spm.vocab.byte_tok[0x96]}, 3);
    free(ids);
    llm_vocab_free(&spm.vocab);
    llm_vocab_free(&st.vocab);
}

/* A long text: the merge queue keeps this fast (a quadratic merge loop
 * would not finish in the suite's time limit), and it round-trips. */
static void test_long_text(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "vocab/ggml-vocab-llama-spm.gguf");
    size_t len = test_quick() ? 1 << 14 : 1 << 20;
    char *text = malloc(len);
    assert_non_null(text);
    static const char words[] = "the quick brown fox jumps over the lazy dog, naïvely! ";
    for (size_t i = 0; i < len; i++) text[i] = words[i % (sizeof words - 1)];
    assert_round_trip(&m, text, len);
    memset(text, 'a', len); /* one long run of a single letter */
    assert_round_trip(&m, text, len);
    free(text);
    llm_vocab_free(&m.vocab);
}

/* ------------------------------------------------------- special text */

static void test_special(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "vocab/ggml-vocab-llama-spm.gguf");
    static const char text[] = "<s>Hello</s> world<unk>";
    size_t n;
    int32_t *ids = encode(&m, text, sizeof text - 1, LLM_TOKENIZE_SPECIAL | LLM_TOKENIZE_ADD_BOS, &n);
    /* the dummy prefix returns after each special token */
    assert_ids(ids, n, (int32_t[]){1, 1, 15043, 2, 29871, 3186, 0}, 7);
    free(ids);
    /* as plain text no control token comes out */
    ids = encode(&m, text, sizeof text - 1, 0, &n);
    assert_true(n > 5);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] > 2);
    free(ids);
    llm_vocab_free(&m.vocab);

    /* phi-3 marks its </s> user-defined, but as in llama.cpp a piece that
     * ends a turn is a control token: plain text "</s>" is not EOS */
    load_gguf_vocab(&m, "vocab/ggml-vocab-phi-3.gguf");
    ids = encode(&m, "<s>not special</s>", 18, 0, &n);
    assert_true(n > 4);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] > 2);
    free(ids);
    ids = encode(&m, "Hello</s>", 9, LLM_TOKENIZE_SPECIAL, &n);
    assert_ids(ids, n, (int32_t[]){15043, 2}, 2);
    free(ids);
    assert_true(llm_token_is_eog(&m, 2));
    ids = encode(&m, "<|user|>\nHi<|end|>", 18, LLM_TOKENIZE_SPECIAL, &n);
    assert_true(n >= 4);
    assert_int_equal(ids[0], 32010);
    assert_int_equal(ids[n - 1], 32007);
    free(ids);
    llm_vocab_free(&m.vocab);
}

/* A vocabulary with tokenizer.ggml.normalizer "nfc" (Qwen's, converted)
 * tokenizes the decomposed and the composed forms of a text alike, and
 * refuses text that is not UTF-8; without it the two differ, as in
 * llama.cpp, which does not normalize. */
static void test_nfc(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "vocab/ggml-vocab-gpt-2.gguf");
    static const char composed[] = "caf\xc3\xa9 \xe1\xba\xbf", decomposed[] = "cafe\xcc\x81 e\xcc\x82\xcc\x81";
    size_t n1, n2;
    int32_t *a = encode(&m, composed, sizeof composed - 1, 0, &n1), *b = encode(&m, decomposed, sizeof decomposed - 1, 0, &n2);
    assert_false(n1 == n2 && memcmp(a, b, n1 * sizeof *a) == 0);
    free(b);
    m.vocab.nfc = true;
    b = encode(&m, decomposed, sizeof decomposed - 1, 0, &n2);
    assert_ids(b, n2, a, n1);
    free(a), free(b);
    int32_t ids[8];
    size_t n;
    assert_fails(llm_tokenize(&m, "a\xff", 2, ids, 8, &n, 0, err), LLM_ERR_INVALID_ARG, "not valid UTF-8");
    llm_vocab_free(&m.vocab);
}

/* ---------------------------------------------- (d) streaming detok */

static void push(llm_detok *d, int32_t tok, const char *want, size_t want_len) {
    char buf[256];
    size_t len;
    assert_int_equal(llm_detok_push(d, tok, buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, len);
}

static void test_detok_stream(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "stories260K.gguf");
    const int32_t *bt = m.vocab.byte_tok;
    int32_t space_a = llm_vocab_find(&m.vocab, "\xe2\x96\x81" "a", 4);
    assert_true(space_a > 0);
    llm_detok *d = llm_detok_new(&m, NULL);
    assert_non_null(d);

    push(d, 1, "", 0);           /* BOS */
    push(d, space_a, "a", 1);      /* leading space dropped after BOS */
    push(d, space_a, " a", 2);     /* but not later */
    push(d, bt[0xc3], "", 0);    /* é = C3 A9 held back ... */
    char small[1];
    size_t len;
    assert_int_equal(llm_detok_push(d, bt[0xa9], small, 1, &len), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 2);    /* ... a short buffer changes nothing ... */
    push(d, bt[0xa9], "\xc3\xa9", 2); /* ... and it comes out whole */
    push(d, bt[0xf0], "", 0);    /* 😀 = F0 9F 98 80 */
    push(d, bt[0x9f], "", 0);
    push(d, bt[0x98], "", 0);
    push(d, bt[0x80], "\xf0\x9f\x98\x80", 4);
    push(d, bt[0xe2], "", 0);    /* an interrupted sequence goes out raw */
    push(d, space_a, "\xe2 a", 3);
    push(d, bt[0xe2], "", 0);
    push(d, bt[0x82], "", 0);
    push(d, bt[0xe2], "\xe2\x82", 2); /* a new lead byte ends the old one */
    push(d, 2, "", 0);           /* EOS gives no text */
    assert_int_equal(llm_detok_flush(d, small, 0, &len), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 1);
    char buf[4];
    assert_int_equal(llm_detok_flush(d, buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, 1);
    assert_int_equal((unsigned char)buf[0], 0xe2);
    assert_int_equal(llm_detok_flush(d, buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, 0);
    llm_detok_free(d);

    d = llm_detok_new(&m, NULL); /* at the very start the space goes too */
    push(d, space_a, "a", 1);
    llm_detok_free(d);
    d = llm_detok_new(&m, NULL); /* but never a byte token's space */
    push(d, bt[' '], " ", 1);
    llm_detok_free(d);
    llm_vocab_free(&m.vocab);
}

static void test_token_to_piece(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "vocab/ggml-vocab-llama-spm.gguf");
    char buf[64];
    size_t len;
    assert_int_equal(llm_token_to_piece(&m, 15043, buf, sizeof buf, &len), LLM_OK); /* ▁Hello */
    assert_int_equal(len, 6);
    assert_memory_equal(buf, " Hello", 6);
    assert_int_equal(llm_token_to_piece(&m, 15043, buf, 5, &len), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 6);
    assert_int_equal(llm_token_to_piece(&m, 15043, NULL, 0, &len), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 6);
    assert_int_equal(llm_token_to_piece(&m, 3 + 0x0a, buf, sizeof buf, &len), LLM_OK); /* <0x0A> */
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], '\n');
    for (int32_t tok = 0; tok < 3; tok++) { /* <unk>, <s>, </s> */
        assert_int_equal(llm_token_to_piece(&m, tok, NULL, 0, &len), LLM_OK);
        assert_int_equal(len, 0);
    }
    assert_int_equal(llm_token_to_piece(&m, -1, buf, sizeof buf, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_token_to_piece(&m, m.vocab.n, buf, sizeof buf, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_token_to_piece(NULL, 5, buf, sizeof buf, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_token_to_piece(&m, 5, buf, sizeof buf, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_token_to_piece(&m, 5, NULL, 4, &len), LLM_ERR_INVALID_ARG);

    assert_int_equal(llm_token_bos(&m), 1);
    assert_int_equal(llm_token_eos(&m), 2);
    assert_int_equal(llm_token_unk(&m), 0);
    assert_true(llm_token_is_eog(&m, 2));
    assert_true(llm_token_is_eog(&m, 1));
    assert_false(llm_token_is_eog(&m, 0));
    assert_false(llm_token_is_eog(&m, LLM_TOKEN_NULL));
    assert_int_equal(llm_token_bos(NULL), LLM_TOKEN_NULL);
    assert_int_equal(llm_token_eos(NULL), LLM_TOKEN_NULL);
    assert_int_equal(llm_token_unk(NULL), LLM_TOKEN_NULL);
    assert_false(llm_token_is_eog(NULL, 2));
    llm_vocab_free(&m.vocab);
}

/* ------------------------------------ (f) buffers and NULL arguments */

static void test_buffers_and_args(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "vocab/ggml-vocab-llama-spm.gguf");
    int32_t out[8];
    size_t n;
    llm_error err = {0};
    assert_int_equal(llm_tokenize(&m, "Hello world", 11, NULL, 0, &n, LLM_TOKENIZE_ADD_BOS, &err),
                     LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 3);
    assert_int_equal(err.code, LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(llm_tokenize(&m, "Hello world", 11, out, 2, &n, LLM_TOKENIZE_ADD_BOS, NULL),
                     LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 3);
    assert_int_equal(llm_tokenize(&m, "Hello world", 11, out, 3, &n, LLM_TOKENIZE_ADD_BOS, NULL), LLM_OK);
    assert_ids(out, n, (int32_t[]){1, 15043, 3186}, 3);
    /* empty text: nothing, or BOS alone; NULL text is fine when empty */
    assert_int_equal(llm_tokenize(&m, NULL, 0, NULL, 0, &n, 0, NULL), LLM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(llm_tokenize(&m, "", 0, out, 8, &n, LLM_TOKENIZE_ADD_BOS, NULL), LLM_OK);
    assert_ids(out, n, (int32_t[]){1}, 1);

    assert_int_equal(llm_tokenize(NULL, "a", 1, out, 8, &n, 0, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_tokenize(&m, "a", 1, out, 8, NULL, 0, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_tokenize(&m, NULL, 1, out, 8, &n, 0, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_tokenize(&m, "a", 1, NULL, 8, &n, 0, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_tokenize(&m, "a", 1, out, 8, &n, 0x80, NULL), LLM_ERR_INVALID_ARG);
    llm_model empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(llm_tokenize(&empty, "a", 1, out, 8, &n, 0, NULL), LLM_ERR_INVALID_ARG);

    assert_null(llm_detok_new(NULL, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    llm_detok_free(NULL);
    llm_detok *d = llm_detok_new(&m, &err);
    assert_non_null(d);
    char buf[8];
    size_t len;
    assert_int_equal(llm_detok_push(NULL, 5, buf, 8, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_detok_push(d, 5, buf, 8, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_detok_push(d, 5, NULL, 8, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_detok_push(d, -1, buf, 8, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_detok_push(d, m.vocab.n, buf, 8, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_detok_flush(NULL, buf, 8, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_detok_flush(d, buf, 8, NULL), LLM_ERR_INVALID_ARG);
    llm_detok_free(d);
    llm_vocab_free(&m.vocab);
    llm_vocab_free(NULL);
}

/* --------------------------------------- (e) hostile vocabularies */

/* A tokenizer.bin image: max_token_length, then (score, len, bytes). */
typedef struct image {
    unsigned char b[256];
    size_t n;
} image;

static void put_i32(image *im, int32_t v) {
    memcpy(im->b + im->n, &v, 4);
    im->n += 4;
}

static void put_tok(image *im, const char *s) {
    float score = -1.0f;
    memcpy(im->b + im->n, &score, 4);
    im->n += 4;
    put_i32(im, (int32_t)strlen(s));
    memcpy(im->b + im->n, s, strlen(s));
    im->n += strlen(s);
}

static llm_status l2c(const image *im, size_t size, int32_t n_vocab) {
    llm_vocab v;
    llm_error err = {0};
    llm_status s = llm_vocab_from_llama2c(&v, im->b, size, n_vocab, &err);
    if (s) {
        assert_int_equal(err.code, s);
        assert_true(err.msg[0] != 0);
    } else {
        llm_vocab_free(&v);
    }
    return s;
}

static void test_hostile_llama2c(void **state) {
    (void)state;
    image im = {{0}, 0};
    put_i32(&im, 4);
    put_tok(&im, "<unk>"); /* longer than max_token_length 4 */
    assert_int_equal(l2c(&im, im.n, 1), LLM_ERR_FORMAT);

    im.n = 0;
    put_i32(&im, 8);
    put_tok(&im, "<unk>");
    put_tok(&im, "<s>");
    put_tok(&im, "a b");
    size_t full = im.n;
    assert_int_equal(l2c(&im, full, 3), LLM_OK);
    for (size_t cut = 0; cut < full; cut++) assert_int_equal(l2c(&im, cut, 3), LLM_ERR_FORMAT);
    assert_int_equal(l2c(&im, full, 4), LLM_ERR_FORMAT); /* a token more than the file has */
    assert_int_equal(l2c(&im, full, 0), LLM_ERR_FORMAT);
    assert_int_equal(l2c(&im, full, -3), LLM_ERR_FORMAT);
    assert_int_equal(l2c(&im, full, LLM_MAX_VOCAB + 1), LLM_ERR_LIMIT);

    llm_vocab v;
    assert_int_equal(llm_vocab_from_llama2c(&v, im.b, full, 3, NULL), LLM_OK);
    assert_int_equal(llm_vocab_find(&v, "a\xe2\x96\x81" "b", 5), 2); /* ' ' stored as U+2581 */
    assert_int_equal(llm_vocab_find(&v, "a b", 3), -1);
    assert_int_equal(v.types[0], LLM_TOKTYPE_UNKNOWN);
    assert_int_equal(v.types[1], LLM_TOKTYPE_CONTROL);
    assert_int_equal(v.eos, 2);
    llm_vocab_free(&v);

    image bad = im;
    int32_t neg = -1, huge = INT32_MAX;
    memcpy(bad.b + 4 + 9 + 4 + 4, &neg, 4); /* length field of "<s>" */
    assert_int_equal(l2c(&bad, full, 3), LLM_ERR_FORMAT);
    memcpy(bad.b + 4 + 9 + 4 + 4, &huge, 4);
    assert_int_equal(l2c(&bad, full, 3), LLM_ERR_FORMAT);
    memcpy(bad.b, &huge, 4); /* max_token_length itself huge */
    assert_int_equal(l2c(&bad, full, 3), LLM_ERR_LIMIT);
    memcpy(bad.b, &neg, 4);
    assert_int_equal(l2c(&bad, full, 3), LLM_ERR_FORMAT);
    int32_t big = 1 << 24; /* allowed maximum, but the piece is not there */
    memcpy(bad.b, &big, 4);
    memcpy(bad.b + 4 + 9 + 4 + 4, &big, 4);
    assert_int_equal(l2c(&bad, full, 3), LLM_ERR_FORMAT);
    assert_int_equal(llm_vocab_from_llama2c(NULL, im.b, full, 3, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_vocab_from_llama2c(&v, NULL, 8, 3, NULL), LLM_ERR_INVALID_ARG);
}

/* Builds a vocabulary-only GGUF image with the writer: n_tokens pieces
 * (<unk> <s> </s> <0x41> ▁a ▁ <s, then empty ones), n_scores scores, n_types
 * types and, when id_key is not NULL, that key set to id. Returns the
 * status of llm_vocab_from_gguf; the vocabulary goes to out if given. */
static llm_status gguf_vocab(const char *model, uint64_t n_tokens, uint64_t n_scores, uint64_t n_types,
                             const char *id_key, uint32_t id, llm_vocab *out) {
    llm_error err = {0};
    gguf_writer *w = gguf_writer_new(&err);
    assert_non_null(w);
    const char **toks = calloc(n_tokens, sizeof *toks);
    float *scores = calloc(n_scores + 1, sizeof *scores);
    int32_t *types = calloc(n_types + 1, sizeof *types);
    assert_true(toks && scores && types);
    static const char *const base[] = {"<unk>", "<s>", "</s>", "<0x41>", ("\xe2\x96\x81" "a"),
                                       "\xe2\x96\x81", "<s"};
    for (uint64_t i = 0; i < n_tokens; i++) toks[i] = i < 7 ? base[i] : "";
    for (uint64_t i = 0; i < n_types; i++) types[i] = i == 0 ? 2 : i < 3 ? 3 : i == 3 ? 6 : 1;
    assert_int_equal(gguf_writer_add_str(w, "tokenizer.ggml.model", model, &err), LLM_OK);
    assert_int_equal(gguf_writer_add_str_arr(w, "tokenizer.ggml.tokens", toks, n_tokens, &err), LLM_OK);
    assert_int_equal(gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, n_scores, &err), LLM_OK);
    assert_int_equal(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, n_types, &err),
                     LLM_OK);
    if (id_key) assert_int_equal(gguf_writer_add_u32(w, id_key, id, &err), LLM_OK);
    void *img;
    size_t size;
    assert_int_equal(gguf_writer_to_mem(w, &img, &size, &err), LLM_OK);
    gguf_writer_free(w);
    free(toks);
    free(scores);
    free(types);
    gguf_file f;
    assert_int_equal(gguf_parse(&f, img, size, &err), LLM_OK);
    llm_vocab v;
    llm_status s = llm_vocab_from_gguf(&v, &f, &err);
    if (s) assert_int_equal(err.code, s);
    gguf_close(&f);
    free(img);
    if (out && !s)
        *out = v;
    else if (!s)
        llm_vocab_free(&v);
    return s;
}

static void test_hostile_gguf(void **state) {
    (void)state;
    llm_model m;
    memset(&m, 0, sizeof m);
    assert_int_equal(gguf_vocab("llama", 5, 5, 5, "tokenizer.ggml.unknown_token_id", 0, &m.vocab), LLM_OK);
    assert_int_equal(m.vocab.unk, 0);
    assert_int_equal(m.vocab.bos, LLM_TOKEN_NULL); /* absent */
    assert_int_equal(m.vocab.byte_tok[0x41], 3);
    assert_int_equal(m.vocab.byte_tok[0x42], -1);
    assert_true(m.vocab.add_bos && m.vocab.add_space_prefix);
    assert_int_equal(m.vocab.n_special, 3);
    assert_int_equal(m.vocab.special[0], 0); /* longest first: <unk>, </s>, <s> */
    assert_int_equal(m.vocab.special[1], 2);
    assert_int_equal(m.vocab.special[2], 1);
    size_t n;
    int32_t *ids = encode(&m, "a\xc3" "A", 3, LLM_TOKENIZE_ADD_BOS, &n); /* no BOS to add */
    /* ▁a merges; no <0xC3>: unk; A through its byte piece */
    assert_ids(ids, n, (int32_t[]){4, 0, 3}, 3);
    free(ids);
    llm_vocab_free(&m.vocab);

    /* "<s" + ">" would make the control piece <s>: plain text never does */
    assert_int_equal(gguf_vocab("llama", 7, 7, 7, "tokenizer.ggml.unknown_token_id", 0, &m.vocab), LLM_OK);
    ids = encode(&m, "<s>", 3, 0, &n);
    assert_ids(ids, n, (int32_t[]){5, 6, 0}, 3);
    free(ids);
    ids = encode(&m, "<s>", 3, LLM_TOKENIZE_SPECIAL, &n);
    assert_ids(ids, n, (int32_t[]){1}, 1);
    free(ids);
    llm_vocab_free(&m.vocab);

    /* pieces 7 and 8 are both empty: the higher id is the one found */
    assert_int_equal(gguf_vocab("llama", 9, 9, 9, NULL, 0, &m.vocab), LLM_OK);
    assert_int_equal(llm_vocab_find(&m.vocab, "", 0), 8);
    assert_int_equal(llm_vocab_find(&m.vocab, "<s", 2), 6);
    assert_int_equal(llm_vocab_find(&m.vocab, "<s>x", 4), -1);
    llm_vocab_free(&m.vocab);

    /* with neither a byte piece nor unk, the text cannot be encoded */
    assert_int_equal(gguf_vocab("llama", 5, 5, 5, NULL, 0, &m.vocab), LLM_OK);
    llm_error err = {0};
    assert_int_equal(llm_tokenize(&m, "\xc3", 1, NULL, 0, &n, 0, &err), LLM_ERR_UNSUPPORTED);
    assert_int_equal(err.code, LLM_ERR_UNSUPPORTED);
    llm_vocab_free(&m.vocab);

    llm_vocab v;

    assert_int_equal(gguf_vocab("bert", 5, 5, 5, NULL, 0, NULL), LLM_ERR_UNSUPPORTED);
    assert_int_equal(gguf_vocab("llama", 5, 4, 5, NULL, 0, NULL), LLM_ERR_FORMAT);
    assert_int_equal(gguf_vocab("llama", 5, 5, 6, NULL, 0, NULL), LLM_ERR_FORMAT);
    assert_int_equal(gguf_vocab("llama", 0, 0, 0, NULL, 0, NULL), LLM_ERR_FORMAT);
    assert_int_equal(gguf_vocab("llama", 5, 5, 5, "tokenizer.ggml.eos_token_id", 5, NULL), LLM_ERR_FORMAT);
    assert_int_equal(gguf_vocab("llama", 5, 5, 5, "tokenizer.ggml.unknown_token_id", UINT32_MAX, &v), LLM_OK);
    assert_int_equal(v.unk, LLM_TOKEN_NULL); /* 0xFFFFFFFF: none */
    llm_vocab_free(&v);
    assert_int_equal(gguf_vocab("llama", LLM_MAX_VOCAB + 1, 0, 0, NULL, 0, NULL), LLM_ERR_LIMIT);
    assert_int_equal(llm_vocab_from_gguf(NULL, NULL, NULL), LLM_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_llama_spm),
        cmocka_unit_test(test_vectors_phi3),
        cmocka_unit_test(test_stories_gguf),
        cmocka_unit_test(test_stories_tok512),
        cmocka_unit_test(test_sources_agree),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_long_text),
        cmocka_unit_test(test_special),
        cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_detok_stream),
        cmocka_unit_test(test_token_to_piece),
        cmocka_unit_test(test_buffers_and_args),
        cmocka_unit_test(test_hostile_llama2c),
        cmocka_unit_test(test_hostile_gguf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
