/* The model as a vocabulary and a bag of metadata, on the public API:
 * vocabulary-only loading (every ggml-vocab-*.gguf, and every vector set
 * of ../shared/golden/tokenizer through the llm-tokenize tool, whose path
 * is argv[1]), token text and kinds, GGUF metadata by name and index, and
 * models loaded from memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm.h"
#include "testutil.h"
#include "tokutil.h"

static const char *tokenize_exe; /* tools/llm-tokenize */

static const char *const vocabs[] = {"llama-spm", "phi-3", "gpt-2", "falcon", "deepseek-coder",
                                     "deepseek-llm", "mpt", "refact", "starcoder"};
#define N_VOCABS (sizeof vocabs / sizeof *vocabs)

static llm_model *load_with(const char *rel, bool vocab_only) {
    llm_error err = {0};
    llm_model_params p = llm_model_default_params();
    p.vocab_only = vocab_only;
    llm_model *m = llm_model_load(test_model_path(rel), &p, &err);
    if (!m) fprintf(stderr, "%s: %s\n", rel, err.msg);
    assert_non_null(m);
    return m;
}

static llm_model *load_vocab(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    return load_with(rel, true);
}

/* The metadata value under key, in a static buffer. */
static const char *meta(const llm_model *m, const char *key) {
    static char buf[4096];
    size_t need = 0;
    assert_int_equal(llm_model_meta_val_str(m, key, buf, sizeof buf, &need), LLM_OK);
    assert_int_equal(need, strlen(buf) + 1);
    return buf;
}

/* Runs llm-tokenize on the bytes of text (through a file) and parses the
 * ids it prints; returns their count. */
static size_t run_tokenize(const char *vocab, const char *text, size_t len, const char *opts, int32_t *ids,
                           size_t cap) {
    const char *in = test_write_tmp(text, len);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' %s -f '%s'", tokenize_exe, test_model_path(vocab), opts, in);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[1 << 16];
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    int status = pclose(p);
    test_cleanup_tmp();
    if (status != 0) fail_msg("%s failed (%d): %s", cmd, status, out);
    const char *o = out;
    return parse_line(&o, ids, cap);
}

/* Every vector set, every string (the first 4 under LLM_TEST_QUICK),
 * through llm-tokenize --no-bos on the vocabulary file alone. */
static void test_vectors_via_tool(void **state) {
    (void)state;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    for (size_t v = 0; v < N_VOCABS; v++) {
        char rel[128], vocab[128];
        snprintf(vocab, sizeof vocab, "vocab/ggml-vocab-%s.gguf", vocabs[v]);
        snprintf(rel, sizeof rel, "tokenizer/ggml-vocab-%s.gguf.inp", vocabs[v]);
        size_t inp_len;
        char *inp = test_read_file(test_golden_path(rel), &inp_len);
        snprintf(rel, sizeof rel, "tokenizer/ggml-vocab-%s.gguf.out", vocabs[v]);
        char *out = test_read_file(test_golden_path(rel), NULL);
        assert_non_null(inp);
        assert_non_null(out);
        const char *p = inp, *end = inp + inp_len, *o = out, *at;
        int count = 0;
        static int32_t want[4096], got[4096];
        while ((at = memmem(p, (size_t)(end - p), sep, sizeof sep - 1)) != NULL && (!test_quick() || count < 4)) {
            size_t len = (size_t)(at - p);
            size_t n_want = parse_line(&o, want, 4096);
            size_t n = run_tokenize(vocab, p, len, "--no-bos", got, 4096);
            if (n != n_want || (n && memcmp(got, want, n * sizeof *got) != 0))
                fail_msg("%s string %d ('%.*s'): %zu tokens, expected %zu", vocabs[v], count, (int)len, p, n, n_want);
            count++;
            p = at + sizeof sep - 1;
        }
        assert_int_equal(count, test_quick() ? 4 : 46);
        free(inp);
        free(out);
    }
}

/* Each vocabulary file opens vocabulary-only (whatever its architecture)
 * and not otherwise; a context is refused with a message; tokenizing,
 * detokenizing and metadata work. */
static void test_vocab_only(void **state) {
    (void)state;
    for (size_t v = 0; v < N_VOCABS; v++) {
        llm_model *m = load_vocab(vocabs[v]);
        assert_true(llm_model_vocab_only(m));
        assert_true(llm_model_n_vocab(m) > 0);
        assert_int_equal(llm_model_n_layer(m), 0);
        llm_error err = {0};
        assert_null(llm_ctx_new(m, NULL, &err));
        assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
        assert_non_null(strstr(err.msg, "vocabulary-only"));
        const char *model = meta(m, "tokenizer.ggml.model");
        assert_true(strcmp(model, "gpt2") == 0 || strcmp(model, "llama") == 0);
        assert_true(llm_model_meta_count(m) > 0);
        assert_int_equal(llm_model_meta_arr_len(m, "tokenizer.ggml.tokens"), llm_model_n_vocab(m));
        assert_round_trip(m, "Hello world", 11);
        char desc[128];
        assert_int_equal(llm_model_desc(m, desc, sizeof desc, NULL), LLM_OK);
        assert_non_null(strstr(desc, "vocabulary only"));
        llm_model_free(m);
    }
    llm_error err = {0};
    assert_null(llm_model_load(test_model_path("vocab/ggml-vocab-llama-spm.gguf"), NULL, &err));
    assert_non_null(strstr(err.msg, "token_embd.weight"));
    /* a full model opened vocabulary-only tokenizes the same */
    llm_model *full = load_with("stories260K.gguf", false), *voc = load_with("stories260K.gguf", true);
    size_t n1, n2;
    int32_t *a = encode(full, "Once upon a time", 16, LLM_TOKENIZE_ADD_BOS, &n1);
    int32_t *b = encode(voc, "Once upon a time", 16, LLM_TOKENIZE_ADD_BOS, &n2);
    assert_ids(a, n1, b, n2);
    assert_false(llm_model_vocab_only(full));
    free(a);
    free(b);
    llm_model_free(full);
    llm_model_free(voc);
}

/* Raw text and kind of tokens of each kind; control tokens have text
 * though no bytes; out-of-range ids and small buffers are reported. */
static void test_token_text_attr(void **state) {
    (void)state;
    llm_model *m = load_with("stories260K.gguf", false);
    char buf[64];
    size_t len = 0;
    struct { int32_t id; const char *text; llm_token_attr attr; } want[] = {
        {0, "<unk>", LLM_TOKEN_UNKNOWN}, {1, "<s>", LLM_TOKEN_CONTROL}, {2, "</s>", LLM_TOKEN_CONTROL},
        {13, "<0x0A>", LLM_TOKEN_BYTE}, {261, "\xe2\x96\x81" "a", LLM_TOKEN_NORMAL},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_int_equal(llm_token_get_text(m, want[i].id, buf, sizeof buf, &len), LLM_OK);
        assert_int_equal(len, strlen(want[i].text));
        assert_memory_equal(buf, want[i].text, len);
        assert_int_equal(llm_token_get_attr(m, want[i].id), want[i].attr);
    }
    assert_int_equal(llm_token_to_piece(m, 1, buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, 0); /* no bytes, as documented */
    assert_int_equal(llm_token_get_text(m, 1, buf, 2, &len), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 3);
    assert_int_equal(llm_token_get_text(m, 512, buf, sizeof buf, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_token_get_text(m, -1, buf, sizeof buf, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_token_get_text(NULL, 1, buf, sizeof buf, &len), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_token_get_attr(m, 512), LLM_TOKEN_ATTR_NONE);
    assert_int_equal(llm_token_get_attr(NULL, 0), LLM_TOKEN_ATTR_NONE);
    llm_model_free(m);
    /* phi-3's turn markers: control tokens, shown by llm-tokenize --pieces */
    m = load_vocab("phi-3");
    size_t n;
    int32_t *ids = encode(m, "<|user|>", 8, LLM_TOKENIZE_SPECIAL, &n);
    assert_int_equal(n, 1);
    assert_int_equal(llm_token_get_text(m, ids[0], buf, sizeof buf, &len), LLM_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(buf, "<|user|>", 8);
    assert_int_equal(llm_token_get_attr(m, ids[0]), LLM_TOKEN_CONTROL);
    free(ids);
    llm_model_free(m);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' --special --pieces --no-bos -p '<|user|>Hi<|end|>'", tokenize_exe,
             test_model_path("vocab/ggml-vocab-phi-3.gguf"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[256];
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "'<|user|>'"));
    assert_non_null(strstr(out, "'<|end|>'"));
}

/* Metadata of stories260K by name and by index: strings, integers,
 * floats that read back, arrays whole and by element, escapes, sizes. */
static void test_metadata(void **state) {
    (void)state;
    llm_model *m = load_with("stories260K.gguf", false);
    assert_string_equal(meta(m, "general.architecture"), "llama");
    assert_string_equal(meta(m, "llama.block_count"), "5");
    assert_string_equal(meta(m, "llama.embedding_length"), "64");
    float eps = strtof(meta(m, "llama.attention.layer_norm_rms_epsilon"), NULL);
    assert_true(eps > 0 && eps < 1e-3f);
    assert_int_equal(llm_model_meta_arr_len(m, "tokenizer.ggml.tokens"), 512);
    assert_int_equal(llm_model_meta_arr_len(m, "general.architecture"), -1);
    assert_int_equal(llm_model_meta_arr_len(m, "no.such.key"), -1);
    char buf[64];
    size_t need = 0;
    assert_int_equal(llm_model_meta_arr_str(m, "tokenizer.ggml.tokens", 1, buf, sizeof buf, &need), LLM_OK);
    assert_string_equal(buf, "<s>");
    assert_int_equal(llm_model_meta_arr_str(m, "tokenizer.ggml.tokens", 512, buf, sizeof buf, &need),
                     LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_meta_arr_str(m, "tokenizer.ggml.scores", 0, buf, sizeof buf, &need), LLM_OK);
    assert_int_equal(llm_model_meta_arr_str(m, "tokenizer.ggml.token_type", 1, buf, sizeof buf, &need), LLM_OK);
    assert_string_equal(buf, "3");
    /* a whole array: too big for buf, then in a buffer of the size asked */
    assert_int_equal(llm_model_meta_val_str(m, "tokenizer.ggml.tokens", buf, sizeof buf, &need),
                     LLM_ERR_BUFFER_TOO_SMALL);
    assert_true(need > sizeof buf);
    assert_int_equal(strlen(buf), sizeof buf - 1);
    char *all = malloc(need);
    size_t need2;
    assert_int_equal(llm_model_meta_val_str(m, "tokenizer.ggml.tokens", all, need, &need2), LLM_OK);
    assert_int_equal(need2, need);
    assert_int_equal(strncmp(all, "[\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\"", 33), 0);
    assert_int_equal(all[need - 2], ']');
    free(all);
    assert_int_equal(llm_model_meta_val_str(m, "tokenizer.ggml.tokens", NULL, 0, &need2), LLM_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(need2, need);
    /* every entry by index has a key and a value; the key finds the same value */
    int32_t n = llm_model_meta_count(m);
    assert_true(n >= 10);
    for (int32_t i = 0; i < n; i++) {
        char key[256], v1[64], v2[64];
        size_t n1, n2;
        assert_int_equal(llm_model_meta_key_by_index(m, i, key, sizeof key, NULL), LLM_OK);
        llm_status s1 = llm_model_meta_val_str_by_index(m, i, v1, sizeof v1, &n1);
        llm_status s2 = llm_model_meta_val_str(m, key, v2, sizeof v2, &n2);
        assert_int_equal(s1, s2);
        assert_int_equal(n1, n2);
        assert_string_equal(v1, v2);
    }
    assert_int_equal(llm_model_meta_key_by_index(m, n, buf, sizeof buf, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_meta_key_by_index(m, -1, buf, sizeof buf, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_meta_val_str(m, "no.such.key", buf, sizeof buf, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_meta_val_str(m, NULL, buf, sizeof buf, NULL), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_meta_count(NULL), 0);
    llm_model_free(m);
    /* escapes: gpt-2's tokens 1 and 59 are a quote and a backslash */
    m = load_vocab("gpt-2");
    assert_int_equal(llm_model_meta_val_str(m, "tokenizer.ggml.tokens", NULL, 0, &need), LLM_ERR_BUFFER_TOO_SMALL);
    char *toks = malloc(need);
    assert_int_equal(llm_model_meta_val_str(m, "tokenizer.ggml.tokens", toks, need, NULL), LLM_OK);
    assert_int_equal(strncmp(toks, "[\"!\", \"\\\"\", \"#\"", 15), 0);
    assert_non_null(strstr(toks, "\"[\", \"\\\\\", \"]\""));
    free(toks);
    llm_model_free(m);
    /* a llama2.c checkpoint has no metadata */
    llm_model_params p = llm_model_default_params();
    char path[4096], tok[4096];
    snprintf(tok, sizeof tok, "%s", test_model_path("tok512.bin"));
    snprintf(path, sizeof path, "%s", test_model_path("stories260K.bin"));
    p.tokenizer_path = tok;
    llm_error err = {0};
    m = llm_model_load(path, &p, &err);
    assert_non_null(m);
    assert_int_equal(llm_model_meta_count(m), 0);
    assert_int_equal(llm_model_meta_val_str(m, "general.architecture", buf, sizeof buf, NULL), LLM_ERR_INVALID_ARG);
    llm_model_free(m);
}

/* A model from memory computes what the same file does; images that are
 * not GGUF, truncated ones and NULL are refused. */
static void test_load_from_buffer(void **state) {
    (void)state;
    size_t size;
    char *img = test_read_file(test_model_path("stories260K.gguf"), &size);
    assert_non_null(img);
    llm_error err = {0};
    llm_model *mem = llm_model_load_from_buffer(img, size, NULL, &err);
    assert_non_null(mem);
    llm_model *file = load_with("stories260K.gguf", false);
    llm_ctx *a = llm_ctx_new(mem, NULL, &err), *b = llm_ctx_new(file, NULL, &err);
    int32_t toks[3] = {1, 400, 300};
    assert_int_equal(llm_decode(a, toks, 3, &err), LLM_OK);
    assert_int_equal(llm_decode(b, toks, 3, &err), LLM_OK);
    assert_memory_equal(llm_logits(a), llm_logits(b), 512 * sizeof(float));
    assert_string_equal(meta(mem, "general.architecture"), "llama");
    llm_ctx_free(a);
    llm_ctx_free(b);
    llm_model_free(mem);
    llm_model_free(file);
    llm_model_params p = llm_model_default_params();
    p.vocab_only = true;
    mem = llm_model_load_from_buffer(img, size, &p, &err);
    assert_non_null(mem);
    assert_true(llm_model_vocab_only(mem));
    llm_model_free(mem);
    assert_null(llm_model_load_from_buffer(img, size / 2, NULL, &err));
    assert_int_equal(err.code, LLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "memory"));
    assert_null(llm_model_load_from_buffer("not a model", 11, NULL, &err));
    assert_int_equal(err.code, LLM_ERR_UNSUPPORTED);
    assert_null(llm_model_load_from_buffer(NULL, 0, NULL, &err));
    assert_int_equal(err.code, LLM_ERR_INVALID_ARG);
    free(img);
}

int main(int argc, char **argv) {
    tokenize_exe = argc > 1 ? argv[1] : "tools/llm-tokenize";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_only),
        cmocka_unit_test(test_token_text_attr),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_load_from_buffer),
        cmocka_unit_test(test_vectors_via_tool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
