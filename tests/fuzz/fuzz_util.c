#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void fuzz_require(int cond, const char *msg) {
    if (cond) return;
    fprintf(stderr, "fuzz: broken promise: %s\n", msg);
    abort();
}

void fuzz_check_error(llm_status s, const llm_error *err) {
    fuzz_require(s != LLM_OK, "failure reported as LLM_OK");
    fuzz_require(err->code == s, "llm_error.code differs from the returned status");
    fuzz_require(err->msg[0] != 0, "failure without a message");
    fuzz_require(memchr(err->msg, 0, sizeof err->msg) != NULL, "message not NUL-terminated");
}

const char *fuzz_file(int slot, const void *data, size_t size) {
    static int fd[2] = {-1, -1};
    static char path[2][64];
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("libllm-fuzz", 0);
        fuzz_require(fd[slot] >= 0, "memfd_create failed");
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    fuzz_require(ftruncate(fd[slot], 0) == 0 && ftruncate(fd[slot], (off_t)size) == 0, "ftruncate failed");
    fuzz_require(size == 0 || pwrite(fd[slot], data, size, 0) == (ssize_t)size, "pwrite failed");
    return path[slot];
}

/* Decodes the pushed bytes of every token, checking the documented bound:
 * 256 bytes of buffer always suffice. */
static void detokenize(const llm_model *m, const int32_t *toks, size_t n) {
    llm_error err = {0};
    llm_detok *d = llm_detok_new(m, &err);
    if (!d) {
        fuzz_check_error(err.code, &err);
        return;
    }
    char buf[256];
    size_t len;
    for (size_t i = 0; i < n; i++)
        fuzz_require(llm_detok_push(d, toks[i], buf, sizeof buf, &len) == LLM_OK && len <= sizeof buf,
                     "llm_detok_push of a valid token failed with a 256-byte buffer");
    fuzz_require(llm_detok_flush(d, buf, sizeof buf, &len) == LLM_OK, "llm_detok_flush failed");
    llm_detok_free(d);
}

void fuzz_run_model(const llm_model *m) {
    char desc[256];
    fuzz_require(llm_model_desc(m, desc, sizeof desc, NULL) == LLM_OK, "llm_model_desc failed");
    int32_t n_vocab = llm_model_n_vocab(m);
    fuzz_require(n_vocab > 0, "a loaded model has no vocabulary");
    llm_error err = {0};
    int32_t toks[32]; /* BOS, the dummy prefix and one token per byte at most */
    size_t n = 0;
    llm_status s = llm_tokenize(m, "Once upon a time", 16, toks, 32, &n, LLM_TOKENIZE_ADD_BOS, &err);
    if (s != LLM_OK) {
        fuzz_check_error(s, &err);
        return;
    }
    for (size_t i = 0; i < n; i++) fuzz_require(toks[i] >= 0 && toks[i] < n_vocab, "token out of range");
    if (n == 0) toks[n++] = 0;
    if (n > 7) n = 7; /* room for one more in the context */
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = 8;
    llm_ctx *ctx = llm_ctx_new(m, &cp, &err);
    if (!ctx) {
        fuzz_check_error(err.code, &err);
        return;
    }
    fuzz_require(llm_decode(ctx, toks, (int32_t)n, &err) == LLM_OK, "llm_decode of the prompt failed");
    const float *logits = llm_logits(ctx);
    fuzz_require(logits != NULL, "no logits after a decode");
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best]) best = i;
    toks[n++] = best;
    fuzz_require(llm_decode(ctx, &best, 1, &err) == LLM_OK, "llm_decode of one token failed");
    detokenize(m, toks, n);
    llm_ctx_free(ctx);
}
