/* Byte-level BPE tokenizer: llama.cpp's test vectors for every GPT-2 style
 * vocabulary in the fixtures, the pre-tokenizers' splits, merge order,
 * special tokens, decoding and streaming, invalid UTF-8, long words and
 * runs of spaces, concurrent use, and vocabularies that fail to load. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "testutil.h"
#include "tokenizer_bpe.h"
#include "tokutil.h"
#include "vocab.h"

/* The byte-level vocabularies of llama.cpp's tests. */
static const char *const bpe_vocabs[] = {"gpt-2",  "falcon", "deepseek-coder", "deepseek-llm",
                                         "mpt",    "refact", "starcoder"};
#define N_VOCABS (sizeof bpe_vocabs / sizeof *bpe_vocabs)

static void load_named(llm_model *m, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    load_gguf_vocab(m, rel);
}

static int32_t find(const llm_model *m, const char *piece) {
    int32_t id = llm_vocab_find(&m->vocab, piece, strlen(piece));
    assert_true(id >= 0);
    return id;
}

/* ------------------------------------------- synthetic vocabularies */

/* A "gpt2" vocabulary made in memory: the pieces, the merge strings
 * (NULL: no merges key), the pre-tokenizer (NULL: no key), add_bos_token
 * (-1: no key) and an unknown token id (-1: none). */
typedef struct synth {
    const char *const *toks;
    size_t n_toks;
    const char *const *merges;
    size_t n_merges;
    const char *pre;
    int add_bos;
    int unk;
    const char *model;
} synth;

static llm_status synth_load(const synth *s, llm_model *m, llm_error *err) {
    memset(m, 0, sizeof *m);
    gguf_writer *w = gguf_writer_new(err);
    assert_non_null(w);
    assert_int_equal(gguf_writer_add_str(w, "tokenizer.ggml.model", s->model ? s->model : "gpt2", err), LLM_OK);
    assert_int_equal(gguf_writer_add_str_arr(w, "tokenizer.ggml.tokens", s->toks, s->n_toks, err), LLM_OK);
    if (s->merges)
        assert_int_equal(gguf_writer_add_str_arr(w, "tokenizer.ggml.merges", s->merges, s->n_merges, err), LLM_OK);
    if (s->pre) assert_int_equal(gguf_writer_add_str(w, "tokenizer.ggml.pre", s->pre, err), LLM_OK);
    if (s->add_bos >= 0)
        assert_int_equal(gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", s->add_bos != 0, err), LLM_OK);
    if (s->unk >= 0)
        assert_int_equal(gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)s->unk, err), LLM_OK);
    void *img;
    size_t size;
    assert_int_equal(gguf_writer_to_mem(w, &img, &size, err), LLM_OK);
    gguf_writer_free(w);
    gguf_file f;
    assert_int_equal(gguf_parse(&f, img, size, err), LLM_OK);
    llm_status st = llm_vocab_from_gguf(&m->vocab, &f, err);
    if (st) {
        assert_int_equal(err->code, st);
        assert_true(err->msg[0] != 0);
    }
    gguf_close(&f);
    free(img);
    return st;
}

static const char *const abc_toks[] = {"a", "b", "c", "ab", "bc", "abc", "aa", "<unk>"};
#define N_ABC (sizeof abc_toks / sizeof *abc_toks)

/* The abc vocabulary with these merges (NULL: none) and pre-tokenizer;
 * must load. */
static void abc_vocab(llm_model *m, const char *const *merges, size_t n_merges, const char *pre) {
    static const char *const none[] = {""};
    llm_error err = {0};
    synth s = {abc_toks, N_ABC, merges ? merges : none, n_merges, pre, -1, -1, NULL};
    if (synth_load(&s, m, &err)) fail_msg("%s", err.msg);
}

static void expect_ids(const llm_model *m, const char *text, const int32_t *want, size_t n_want) {
    size_t n;
    int32_t *ids = encode(m, text, strlen(text), 0, &n);
    assert_ids(ids, n, want, n_want);
    free(ids);
}

#define IDS(...) (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)

/* --------------------------------------------- llama.cpp's vectors */

static void test_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < N_VOCABS; i++) check_vectors(bpe_vocabs[i]);
}

/* ---------------------------------------------------- pre-tokenizers */

/* The words llm_bpe_split makes of text are exactly want[0, n_want). */
static void check_split(const llm_model *m, const char *text, const char *const *want, size_t n_want) {
    llm_bpe_work w;
    memset(&w, 0, sizeof w);
    llm_error err = {0};
    size_t n, start = 0, len = strlen(text);
    assert_int_equal(llm_bpe_split(m->vocab.bpe, &w, text, len, &n, &err), LLM_OK);
    if (n != n_want) fail_msg("'%s': %zu words, expected %zu", text, n, n_want);
    for (size_t i = 0; i < n; i++) {
        size_t wl = w.cuts[i] - start;
        if (wl != strlen(want[i]) || memcmp(text + start, want[i], wl) != 0)
            fail_msg("'%s' word %zu: '%.*s', expected '%s'", text, i, (int)wl, text + start, want[i]);
        start = w.cuts[i];
    }
    llm_bpe_work_free(&w);
}

#define SPLIT(m, text, ...)                                \
    check_split(m, text, (const char *const[]){__VA_ARGS__}, \
                sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Splits worked out by hand from each expression list's semantics. */
static void test_pre_splits(void **state) {
    (void)state;
    llm_model m;
    abc_vocab(&m, NULL, 0, "gpt-2");
    SPLIT(&m, "Hello world", "Hello", " world");
    SPLIT(&m, "it's I'M 12", "it", "'s", " I", "'", "M", " 12");
    SPLIT(&m, "a  b", "a", " ", " b");
    SPLIT(&m, "\n\n a", "\n\n", " a");
    /* U+180E is no space (PCRE2's \s says it is); U+0085 is one */
    SPLIT(&m, "x\xe1\xa0\x8e\xe1\xa0\x8ey", "x", "\xe1\xa0\x8e\xe1\xa0\x8e", "y");
    SPLIT(&m, "a\xc2\x85\xc2\x85" "b", "a", "\xc2\x85", "\xc2\x85", "b");
    /* invalid UTF-8 matches nothing and stands alone */
    SPLIT(&m, "ab\xff" "cd", "ab", "\xff", "cd");
    llm_vocab_free(&m.vocab);

    abc_vocab(&m, NULL, 0, "llama-bpe");
    SPLIT(&m, "I'm 12345 ok", "I", "'m", " ", "123", "45", " ok");
    SPLIT(&m, "HELLO'S", "HELLO", "'S");
    SPLIT(&m, "a\n\n b", "a", "\n\n", " b");
    SPLIT(&m, "!!!\n\nok", "!!!\n\n", "ok");
    SPLIT(&m, "   x", "  ", " x");
    SPLIT(&m, "x\ty", "x", "\ty");
    llm_vocab_free(&m.vocab);

    abc_vocab(&m, NULL, 0, "qwen2");
    SPLIT(&m, "x\ty 12345", "x", "\ty", " ", "1", "2", "3", "4", "5");
    llm_vocab_free(&m.vocab);

    abc_vocab(&m, NULL, 0, NULL); /* no key: llama.cpp's default */
    assert_string_equal(llm_bpe_pre_name(m.vocab.bpe), "default");
    SPLIT(&m, "a+b=3000$", "a", "+", "b", "=", "300", "0", "$");
    llm_vocab_free(&m.vocab);

    abc_vocab(&m, NULL, 0, "smollm");
    SPLIT(&m, "abc123 x", "abc", "1", "2", "3", " x");
    llm_vocab_free(&m.vocab);

    /* digits in threes, then CJK runs, then words: a punctuation mark
     * leads the ASCII letters after it */
    abc_vocab(&m, NULL, 0, "deepseek-v3");
    SPLIT(&m, "Hello 12345 \xe4\xb8\x96\xe7\x95\x8cok!x", "Hello", " ", "123", "45", " ", "\xe4\xb8\x96\xe7\x95\x8c", "ok",
          "!x");
    llm_vocab_free(&m.vocab);
}

/* Every pre-tokenizer name compiles and cuts a mixed text into words
 * that cover it in order. */
static void test_pre_names(void **state) {
    (void)state;
    static const char *const names[] = {
        "default", "gpt-2",  "phi-2",     "mpt",        "olmo",       "llama-bpe",      "llama3",
        "llama-v3", "falcon3", "dbrx",    "smaug-bpe",  "qwen2",      "deepseek-r1-qwen", "megrez",
        "stablelm2", "falcon", "starcoder", "refact",   "smollm",     "command-r",      "codeshell",
        "exaone",  "minerva-7b", "deepseek-coder", "deepseek-llm", "deepseek-v3"};
    static const char text[] = "Hello, world! I've 12345 apples\n\n\t  \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 "
                               "caf\xc3\xa9 \xff\xfe   ";
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        llm_model m;
        abc_vocab(&m, NULL, 0, names[i]);
        assert_string_equal(llm_bpe_pre_name(m.vocab.bpe), names[i]);
        llm_bpe_work w;
        memset(&w, 0, sizeof w);
        size_t n;
        assert_int_equal(llm_bpe_split(m.vocab.bpe, &w, text, sizeof text - 1, &n, NULL), LLM_OK);
        assert_true(n > 5);
        for (size_t k = 0; k < n; k++) assert_true(w.cuts[k] > (k ? w.cuts[k - 1] : 0));
        assert_int_equal(w.cuts[n - 1], sizeof text - 1);
        llm_bpe_work_free(&w);
        llm_vocab_free(&m.vocab);
    }
}

/* ------------------------------------------------------------- merges */

static void test_merge_order(void **state) {
    (void)state;
    llm_model m;
    /* lowest rank first */
    abc_vocab(&m, (const char *const[]){"b c", "a b"}, 2, "gpt-2");
    expect_ids(&m, "abc", IDS(0, 4));
    llm_vocab_free(&m.vocab);
    abc_vocab(&m, (const char *const[]){"a b", "b c"}, 2, "gpt-2");
    expect_ids(&m, "abc", IDS(3, 2));
    llm_vocab_free(&m.vocab);
    /* merged symbols merge on; the first of duplicate merges keeps its rank */
    abc_vocab(&m, (const char *const[]){"a b", "b c", "a b", "ab c"}, 4, "gpt-2");
    expect_ids(&m, "abc", IDS(5));
    llm_vocab_free(&m.vocab);
    abc_vocab(&m, (const char *const[]){"a b", "b c", "a b"}, 3, "gpt-2");
    expect_ids(&m, "abc", IDS(3, 2));
    llm_vocab_free(&m.vocab);
    /* equal ranks: leftmost first */
    abc_vocab(&m, (const char *const[]){"a a"}, 1, "gpt-2");
    expect_ids(&m, "aaa", IDS(6, 0));
    expect_ids(&m, "aaaa", IDS(6, 6));
    llm_vocab_free(&m.vocab);
}

/* Merges whose parts or result are not tokens, and strings without a
 * space, are ignored. A byte whose character is not a token is left out
 * (as llama.cpp does), even when there is an unknown token. */
static void test_merge_oddities(void **state) {
    (void)state;
    llm_model m;
    abc_vocab(&m, (const char *const[]){"abc", "c a", "a x", "a ", " b", "a b"}, 6, "gpt-2");
    expect_ids(&m, "cab", IDS(2, 3));
    expect_ids(&m, "azb", IDS(0, 1));
    llm_vocab_free(&m.vocab);
    llm_error err = {0};
    synth s = {abc_toks, N_ABC, (const char *const[]){"a b"}, 1, "gpt-2", -1, 7, NULL};
    assert_int_equal(synth_load(&s, &m, &err), LLM_OK);
    expect_ids(&m, "abz", IDS(3));
    llm_vocab_free(&m.vocab);
}

/* Llama 3 takes a word that is a token whole, merges or not, and adds
 * BOS by default; the file's add_bos_token wins. */
static void test_llama3_rules(void **state) {
    (void)state;
    llm_model m;
    abc_vocab(&m, (const char *const[]){"a b"}, 1, "gpt-2");
    expect_ids(&m, "abc", IDS(3, 2));
    assert_false(m.vocab.add_bos);
    llm_vocab_free(&m.vocab);
    abc_vocab(&m, (const char *const[]){"a b"}, 1, "llama-bpe");
    expect_ids(&m, "abc", IDS(5));
    expect_ids(&m, "abca", IDS(3, 2, 0));
    assert_true(m.vocab.add_bos);
    assert_false(m.vocab.add_space_prefix);
    llm_vocab_free(&m.vocab);
    llm_error err = {0};
    synth s = {abc_toks, N_ABC, (const char *const[]){"a b"}, 1, "llama-bpe", 0, -1, NULL};
    assert_int_equal(synth_load(&s, &m, &err), LLM_OK);
    assert_false(m.vocab.add_bos);
    llm_vocab_free(&m.vocab);
}

/* --------------------------------------------------- special tokens */

static void test_special(void **state) {
    (void)state;
    llm_model m;
    load_named(&m, "gpt-2");
    assert_false(m.vocab.add_bos); /* no add_bos_token key: llama.cpp's default */
    assert_int_equal(m.vocab.bos, 50256);
    static const char text[] = "Hi<|endoftext|>";
    size_t n;
    int32_t *ids = encode(&m, text, sizeof text - 1, LLM_TOKENIZE_SPECIAL | LLM_TOKENIZE_ADD_BOS, &n);
    assert_ids(ids, n, IDS(50256, find(&m, "Hi"), 50256));
    free(ids);
    ids = encode(&m, text, sizeof text - 1, 0, &n); /* as plain text */
    assert_true(n > 3);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] != 50256);
    free(ids);
    assert_round_trip(&m, text, sizeof text - 1);
    llm_vocab_free(&m.vocab);

    /* deepseek-coder's user-defined "õ" is matched in any text (as in
     * llama.cpp), its control tokens only on request */
    load_named(&m, "deepseek-coder");
    assert_true(m.vocab.add_bos);
    int32_t ud = find(&m, "\xc3\xb5");
    assert_int_equal(m.vocab.types[ud], LLM_TOKTYPE_USER_DEFINED);
    ids = encode(&m, "\xc3\xb5", 2, 0, &n);
    assert_ids(ids, n, IDS(ud));
    free(ids);
    size_t blen;
    const char *bos = llm_vocab_piece(&m.vocab, m.vocab.bos, &blen);
    ids = encode(&m, bos, blen, LLM_TOKENIZE_SPECIAL, &n);
    assert_ids(ids, n, IDS(m.vocab.bos));
    free(ids);
    ids = encode(&m, bos, blen, 0, &n);
    assert_true(n > 1);
    free(ids);
    assert_round_trip(&m, bos, blen);
    llm_vocab_free(&m.vocab);
}

/* ------------------------------------------------------------ decoding */

/* GPT-2's table, built the way its definition states it: the printable
 * bytes keep their code point, the others take 256, 257, ... in order. */
static uint32_t gpt2_char(unsigned b) {
    uint32_t next = 256;
    for (unsigned c = 0; c < 256; c++) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        if (c == b) return printable ? c : next;
        if (!printable) next++;
    }
    return 0;
}

static void test_byte_table(void **state) {
    (void)state;
    llm_model m;
    load_named(&m, "gpt-2");
    char all[256];
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = gpt2_char(b);
        char u[2] = {(char)(0xC0 | cp >> 6), (char)(0x80 | (cp & 0x3F))};
        if (cp < 0x80) u[0] = (char)cp;
        size_t ulen = cp < 0x80 ? 1 : 2;
        int32_t id = m.vocab.byte_tok[b];
        size_t plen;
        const char *p = llm_vocab_piece(&m.vocab, id, &plen);
        assert_int_equal(plen, ulen);
        assert_memory_equal(p, u, ulen);
        char out[4];
        size_t len;
        assert_int_equal(llm_token_to_piece(&m, id, out, sizeof out, &len), LLM_OK);
        assert_int_equal(len, 1);
        assert_int_equal((unsigned char)out[0], b);
        assert_int_equal(llm_bpe_unmap(u, ulen, NULL), 1);
        all[b] = (char)b;
    }
    assert_round_trip(&m, all, sizeof all);
    /* outside the table, and broken sequences, stay as they are */
    char out[8];
    assert_int_equal(llm_bpe_unmap("\xe2\x96\x81" "\xc4", 4, out), 4);
    assert_memory_equal(out, "\xe2\x96\x81" "\xc4", 4);
    assert_int_equal(llm_bpe_unmap("\xc1\x81", 2, out), 2); /* overlong 'A' */
    assert_memory_equal(out, "\xc1\x81", 2);
    llm_vocab_free(&m.vocab);
}

static void test_token_to_piece(void **state) {
    (void)state;
    llm_model m;
    load_named(&m, "gpt-2");
    char buf[32];
    size_t len;
    int32_t hello = find(&m, "\xc4\xa0Hello");
    assert_int_equal(llm_token_to_piece(&m, hello, buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, " Hello", 6);
    assert_int_equal(llm_token_to_piece(&m, hello, buf, 5, &len), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 6);
    assert_int_equal(llm_token_to_piece(&m, 50256, buf, sizeof buf, &len), LLM_OK); /* control */
    assert_int_equal(len, 0);
    llm_vocab_free(&m.vocab);
    load_named(&m, "mpt"); /* user-defined pieces are raw text: runs of spaces */
    int32_t spaces = find(&m, "    ");
    assert_int_equal(m.vocab.types[spaces], LLM_TOKTYPE_USER_DEFINED);
    assert_int_equal(llm_token_to_piece(&m, spaces, buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "    ", 4);
    llm_vocab_free(&m.vocab);
}

static void push(llm_detok *d, int32_t tok, const char *want, size_t want_len) {
    char buf[256];
    size_t len;
    assert_int_equal(llm_detok_push(d, tok, buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, len);
}

/* No dummy-prefix space is removed, and a character whose bytes span
 * tokens comes out whole, in one push. */
static void test_detok_stream(void **state) {
    (void)state;
    llm_model m;
    load_named(&m, "gpt-2");
    static const char text[] = " Hello \xf0\x9f\x98\x80";
    size_t n;
    int32_t *ids = encode(&m, text, sizeof text - 1, 0, &n);
    assert_true(n >= 3); /* the emoji's four bytes need more than one token */
    assert_int_equal(ids[0], find(&m, "\xc4\xa0Hello"));
    llm_detok *d = llm_detok_new(&m, NULL);
    assert_non_null(d);
    push(d, m.vocab.bos, "", 0);
    push(d, ids[0], " Hello", 6);
    char got[16];
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        size_t len;
        assert_int_equal(llm_detok_push(d, ids[i], got + k, sizeof got - k, &len), LLM_OK);
        for (size_t j = 0; j < len; j++)
            if ((unsigned char)got[k + j] >= 0x80) assert_non_null(memmem(got + k, len, "\xf0\x9f\x98\x80", 4));
        k += len;
    }
    assert_int_equal(k, 5);
    assert_memory_equal(got, " \xf0\x9f\x98\x80", 5);
    llm_detok_free(d);
    free(ids);
    llm_vocab_free(&m.vocab);
}

/* ----------------------------------------------- hostile and long text */

/* Invalid UTF-8 comes back byte for byte, but for the bytes whose
 * character is not an ordinary token (some of the bytes UTF-8 never uses,
 * in most vocabularies; a few control characters in Falcon's), which are
 * left out. */
static void test_invalid_utf8(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"\xff", 1}, {"a\x80" "b", 3}, {"\xe2\x96", 2}, {"x\xf0\x9f\x98", 4}, {"\xc3(", 2},
        {"\xf8\x88\x80\x80\x80", 5}, {"\xed\xa0\x80", 3}, {"\xc0\xaf", 2}, {"\0a\0", 3},
        {"caf\xc3\xa9 \xe2\x82\xac 1\xf0\x9f\x98\x80", 14}, {" \x9f \xbf\xbf ", 7}, {"\xe2\x96\x81 x\x03", 6},
    };
    for (size_t v = 0; v < N_VOCABS; v++) {
        llm_model m;
        load_named(&m, bpe_vocabs[v]);
        if (v == 0) /* GPT-2's own vocabulary: every byte, so exact */
            for (int b = 0; b < 256; b++) assert_true(m.vocab.byte_tok[b] >= 0);
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            char want[16];
            size_t k = 0, n, len;
            for (size_t j = 0; j < cases[i].len; j++)
                if (m.vocab.byte_tok[(unsigned char)cases[i].s[j]] >= 0) want[k++] = cases[i].s[j];
            int32_t *ids = encode(&m, cases[i].s, cases[i].len, 0, &n);
            char *back = decode(&m, ids, n, &len);
            assert_int_equal(len, k);
            assert_memory_equal(back, want, k);
            free(back);
            free(ids);
        }
        llm_vocab_free(&m.vocab);
    }
}

/* 1 MB of one character, and long runs of spaces ending in another
 * character: each word is a megabyte. These finish (a merge loop or a
 * pattern quadratic in the word's length would not in the suite's time)
 * and round-trip. */
static void test_long_words(void **state) {
    (void)state;
    size_t len = test_quick() ? 1 << 14 : 1 << 20;
    char *text = malloc(len);
    assert_non_null(text);
    static const char chars[] = {' ', 'a', '\n'};
    for (size_t v = 0; v < N_VOCABS; v++) {
        llm_model m;
        load_named(&m, bpe_vocabs[v]);
        for (size_t c = 0; c < sizeof chars; c++) {
            memset(text, chars[c], len);
            assert_round_trip(&m, text, len);
        }
        memset(text, ' ', len);
        memcpy(text + len - 4, "\xf0\x9f\x98\x80", 4);
        assert_round_trip(&m, text, len);
        llm_vocab_free(&m.vocab);
    }
    free(text);
}

/* ------------------------------------------------------------ threads */

typedef struct job {
    const llm_model *m;
    const char *text;
    size_t len;
    const int32_t *want;
    size_t n_want;
    int ok;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    j->ok = 1;
    for (int r = 0; r < 20 && j->ok; r++) {
        int32_t ids[512];
        size_t n;
        j->ok = llm_tokenize(j->m, j->text, j->len, ids, 512, &n, 0, NULL) == LLM_OK && n == j->n_want &&
                memcmp(ids, j->want, n * sizeof *ids) == 0;
    }
    return NULL;
}

/* One vocabulary, four threads tokenizing at once, each getting what a
 * lone call gives. */
static void test_threads(void **state) {
    (void)state;
    llm_model m;
    load_named(&m, "deepseek-llm");
    static const char *const texts[] = {"Hello world, 12345!", "  \t\n\n  indented code();",
                                        "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c caf\xc3\xa9",
                                        "\xf0\x9f\x98\x80\xf0\x9f\x98\x81 emoji \xff"};
    job jobs[4];
    int32_t *want[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        size_t n;
        want[i] = encode(&m, texts[i], strlen(texts[i]), 0, &n);
        jobs[i] = (job){&m, texts[i], strlen(texts[i]), want[i], n, 0};
    }
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(jobs[i].ok);
        free(want[i]);
    }
    llm_vocab_free(&m.vocab);
}

/* ------------------------------------------------------ load failures */

static void test_load_errors(void **state) {
    (void)state;
    llm_model m;
    llm_error err = {0};
    synth s = {abc_toks, N_ABC, (const char *const[]){"a b"}, 1, "xyz", -1, -1, NULL};
    assert_int_equal(synth_load(&s, &m, &err), LLM_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "pre-tokenizer 'xyz' is not supported");
    s.pre = "";
    assert_int_equal(synth_load(&s, &m, &err), LLM_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "pre-tokenizer '' is not supported");

    s.pre = "gpt-2";
    s.merges = NULL; /* llama.cpp refuses a "gpt2" vocabulary without merges too */
    assert_int_equal(synth_load(&s, &m, &err), LLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "tokenizer.ggml.merges"));

    s.model = "bert";
    assert_int_equal(synth_load(&s, &m, &err), LLM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'bert'"));

    /* an empty merge list loads: every byte stays a token of its own */
    s.model = NULL;
    s.merges = (const char *const[]){NULL};
    s.n_merges = 0;
    assert_int_equal(synth_load(&s, &m, &err), LLM_OK);
    expect_ids(&m, "abc", IDS(0, 1, 2));
    llm_vocab_free(&m.vocab);
}

/* GPT-2 ends a text with <|endoftext|>, a control token known by name,
 * and asks for no BOS; SentencePiece Llama vocabularies do. */
static void test_eog_and_bos(void **state) {
    (void)state;
    llm_model m;
    load_gguf_vocab(&m, "vocab/ggml-vocab-gpt-2.gguf");
    assert_true(llm_token_is_eog(&m, 50256));
    assert_false(llm_token_is_eog(&m, 15496)); /* "Hello" */
    assert_false(llm_token_is_eog(&m, -1));
    assert_false(llm_token_is_eog(&m, 50257));
    assert_false(llm_model_add_bos(&m));
    llm_vocab_free(&m.vocab);
    load_gguf_vocab(&m, "vocab/ggml-vocab-llama-spm.gguf");
    assert_true(llm_model_add_bos(&m));
    assert_true(llm_token_is_eog(&m, 2));
    llm_vocab_free(&m.vocab);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eog_and_bos),
        cmocka_unit_test(test_vectors),        cmocka_unit_test(test_pre_splits),
        cmocka_unit_test(test_pre_names),      cmocka_unit_test(test_merge_order),
        cmocka_unit_test(test_merge_oddities), cmocka_unit_test(test_llama3_rules),
        cmocka_unit_test(test_special),        cmocka_unit_test(test_byte_table),
        cmocka_unit_test(test_token_to_piece), cmocka_unit_test(test_detok_stream),
        cmocka_unit_test(test_invalid_utf8),   cmocka_unit_test(test_long_words),
        cmocka_unit_test(test_threads),        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
