/* tok-bench: tokenizer encode speed on a vocabulary alone. llm-bench
 * --tok-bench needs a whole model; this opens any GGUF that carries
 * tokenizer.ggml.* keys, the vocabulary-only files of llama.cpp's tests
 * included, with the internal vocabulary loader.
 *
 * For each input kind it tokenizes 1, 2 and 4 MB and prints MB/s: the
 * same figure at every size means time linear in the input. The kinds
 * are a text (FILE, or a built-in mix of prose, code, numbers and other
 * scripts) repeated to size, and single long words: one character
 * repeated, which must not be quadratic in the word's length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "model.h"
#include "tokenizer_bpe.h"
#include "vocab.h"
#include "opts.h"
#include "toolutil.h"

const char *const tool_name = "tok-bench";

static const char synopsis[] =
    "usage: tok-bench VOCAB.gguf [-f FILE] [-r REPS]\n"
    "Tokenizer encode speed on a vocabulary alone.\n\n";

static const char sample[] =
    "The quick brown fox jumps over the lazy dog. It's 3:45pm on 2024-05-17, and we've "
    "shipped version 1.2.3 (build #4567) to 89,000 users!\n"
    "    for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }  // dot product\n"
    "\tif x != None and len(x) > 10:\n\t\treturn {'key': [1, 2, 3]}\n\n"
    "Привет, мир! Γειά σου κόσμε. 你好，世界。こんにちは世界。안녕하세요 세계. "
    "مرحبا بالعالم. Hello 👋🏽 world 🌍!!! — “quoted” ‘text’ …   spaces   and\ttabs\n";

/* Fills len bytes with unit repeated. */
static char *repeat(const char *unit, size_t ulen, size_t len) {
    char *t = malloc(len);
    if (!t) die("out of memory");
    for (size_t i = 0; i < len; i += ulen) memcpy(t + i, unit, len - i < ulen ? len - i : ulen);
    return t;
}

/* Tokenizes the text reps times; prints the fastest run. */
static void bench(const llm_model *m, const char *label, const char *text, size_t len, int reps) {
    size_t n;
    llm_error err;
    int32_t *ids = malloc(len * sizeof *ids); /* a token per byte at most */
    if (!ids) die("out of memory");
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (llm_tokenize(m, text, len, ids, len, &n, 0, &err) != LLM_OK) die("%s", err.msg);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("%-12s %2zu MB %9zu tokens %8.3f s %8.2f MB/s\n", label, len >> 20, n, best, (double)len / 1e6 / best);
    fflush(stdout);
    free(ids);
}

int main(int argc, char **argv) {
    const char *vocab_path = NULL, *file = NULL;
    int32_t reps = 3;
    const opt table[] = {
        {"f", "file", OPT_STR, &file, 0, 0, "FILE", "text to repeat to 1, 2 and 4 MB (default: a built-in sample)", NULL},
        {"r", "repetitions", OPT_INT, &reps, 1, 1000, "REPS", "timed runs per size, the fastest reported (default 3)", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, NULL, table, &vocab_path, 1, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (!vocab_path) exit(opts_error(&cmd, "no vocabulary given: tok-bench VOCAB.gguf"));

    llm_model m;
    memset(&m, 0, sizeof m);
    gguf_file f;
    llm_error err;
    if (gguf_open(&f, vocab_path, &err) != LLM_OK || llm_vocab_from_gguf(&m.vocab, &f, &err) != LLM_OK)
        die("%s", err.msg);
    gguf_close(&f);
    printf("%s: %d tokens, %s\n", vocab_path, m.vocab.n,
           m.vocab.bpe ? llm_bpe_pre_name(m.vocab.bpe) : "SentencePiece");

    size_t ulen = sizeof sample - 1;
    char *owned = file ? read_file(file, &ulen) : NULL;
    const char *unit = owned ? owned : sample;
    static const struct {
        const char *label, *unit;
    } words[] = {{"word 'a'", "a"}, {"spaces", " "}};
    for (size_t mb = 1; mb <= 4; mb *= 2) {
        char *text = repeat(unit, ulen, mb << 20);
        bench(&m, "text", text, mb << 20, reps);
        free(text);
    }
    for (size_t k = 0; k < sizeof words / sizeof *words; k++)
        for (size_t mb = 1; mb <= 4; mb *= 2) {
            char *text = repeat(words[k].unit, 1, mb << 20);
            bench(&m, words[k].label, text, mb << 20, reps);
            free(text);
        }
    free(owned);
    llm_vocab_free(&m.vocab);
    return 0;
}
