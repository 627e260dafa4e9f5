/* hostile-bench: the cost of the inputs whose harm is work, not a crash
 * (issue 17), measured here rather than in the tests, which only bound it
 * generously (tests/test_hostile2.c). Each row is made in memory by
 * tests/hostile_gen.c:
 *
 *  - special tokens: N user-defined tokens "<tokI>" sharing their first
 *    bytes, on a text a quarter of whose words are such tokens (and
 *    prefixes of them); MB/s must not fall with N;
 *  - nested pieces: the user-defined tokens "a", "aa", ..., a^K on a text
 *    of a's, the worst case of the one-pass matching (O(len * K));
 *  - aliased tensors: N tensors declared on the same bytes, which the GGUF
 *    reader refuses; the time to refuse, against the work accepting them
 *    would have started (N times the bytes);
 *  - a FIFO as a model: the time to refuse it (it used to block forever). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "hostile_gen.h"
#include "model.h"
#include "opts.h"
#include "toolutil.h"
#include "vocab.h"

const char *const tool_name = "hostile-bench";

/* A model holding only the vocabulary hostile_vocab makes of pieces. */
static void load_vocab(llm_model *m, const char *const *pieces, int32_t n) {
    llm_error err;
    size_t size;
    void *img = hostile_vocab(pieces, NULL, n, &size, &err);
    gguf_file f;
    memset(m, 0, sizeof *m);
    if (!img || gguf_parse(&f, img, size, &err) || llm_vocab_from_gguf(&m->vocab, &f, &err)) die("%s", err.msg);
    gguf_close(&f);
    free(img);
}

/* Seconds of the fastest of three tokenizations of text; *n_tok tokens. */
static double time_tokenize(const llm_model *m, const char *text, size_t len, size_t *n_tok) {
    int32_t *ids = xmalloc(len * sizeof *ids);
    llm_error err;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        if (llm_tokenize(m, text, len, ids, len, n_tok, 0, &err)) die("%s", err.msg);
        if (now() - t0 < best) best = now() - t0;
    }
    free(ids);
    return best;
}

static void special_tokens(void) {
    printf("special tokens: N user-defined \"<tokI>\", text with them\n");
    printf("%10s %8s %12s %10s %10s\n", "N", "text", "load s", "tok s", "MB/s");
    static const int32_t ns[] = {1000, 10000, 100000, 200000};
    static const size_t lens[] = {65536, 1 << 20};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        char **pieces = hostile_tok_pieces(ns[i]);
        if (!pieces) die("out of memory");
        llm_model m;
        double t0 = now();
        load_vocab(&m, (const char *const *)pieces, ns[i]);
        double load = now() - t0;
        hostile_free_pieces(pieces, ns[i]);
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            char *text = hostile_tok_text(lens[k], ns[i], 42);
            size_t n_tok;
            double dt = time_tokenize(&m, text, lens[k], &n_tok);
            printf("%10d %7zuK %12.3f %10.4f %10.1f\n", ns[i], lens[k] >> 10, load, dt, (double)lens[k] / 1e6 / dt);
            free(text);
        }
        llm_vocab_free(&m.vocab);
    }
}

static void nested_pieces(void) {
    printf("\nnested pieces: user-defined a, aa, ..., a^K on 64 KB of a's\n");
    printf("%10s %10s %10s\n", "K", "tok s", "MB/s");
    static const int32_t ks[] = {16, 64, 256, 1024};
    size_t len = 65536;
    char *text = xmalloc(len);
    memset(text, 'a', len);
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        char **pieces = xmalloc((size_t)ks[i] * sizeof *pieces);
        for (int32_t k = 0; k < ks[i]; k++) {
            pieces[k] = xmalloc((size_t)k + 2);
            memset(pieces[k], 'a', (size_t)k + 1);
            pieces[k][k + 1] = 0;
        }
        llm_model m;
        load_vocab(&m, (const char *const *)pieces, ks[i]);
        hostile_free_pieces(pieces, ks[i]);
        size_t n_tok;
        double dt = time_tokenize(&m, text, len, &n_tok);
        printf("%10d %10.4f %10.1f\n", ks[i], dt, (double)len / 1e6 / dt);
        llm_vocab_free(&m.vocab);
    }
    free(text);
}

static void aliased_tensors(void) {
    printf("\naliased tensors: N tensors of 1 MiB on the same bytes\n");
    printf("%10s %12s %14s %12s\n", "N", "file MiB", "declared MiB", "refused in s");
    static const uint32_t ns[] = {250, 4096, 65536};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        size_t size;
        void *img = hostile_aliased_image(ns[i], 1 << 18, &size);
        if (!img) die("out of memory");
        gguf_file f;
        llm_error err;
        double t0 = now();
        llm_status s = gguf_parse(&f, img, size, &err);
        double dt = now() - t0;
        if (s == LLM_OK) die("%u aliased tensors accepted", ns[i]);
        printf("%10u %12.1f %14u %12.4f\n", ns[i], (double)size / (1 << 20), ns[i], dt);
        free(img);
    }
}

static void fifo_model(void) {
    char dir[] = "/tmp/hostile-bench-XXXXXX", path[64];
    if (!mkdtemp(dir)) die("mkdtemp failed");
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    if (mkfifo(path, 0600)) die("mkfifo failed");
    llm_error err;
    double t0 = now();
    llm_model *m = llm_model_load(path, NULL, &err);
    double dt = now() - t0;
    if (m) die("a FIFO loaded");
    printf("\nFIFO as the model: refused in %.6f s (%s)\n", dt, err.msg);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv) {
    const opt table[] = {OPTS_END};
    opts_cmd cmd = {tool_name, "usage: hostile-bench\nPrints the cost of the hostile inputs that are work, not crashes.\n\n",
                    NULL, table, NULL, 0, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    special_tokens();
    nested_pieces();
    aliased_tensors();
    fifo_model();
    return 0;
}
