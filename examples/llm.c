/* llm: generate text with a model, on the public API only.
 *
 * Prints the prompt and the continuation to stdout as they are produced;
 * statistics go to stderr. Exit status 0 on success, 1 on any error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llm.h>

#include "llm_args.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Streams one token's bytes to stdout as soon as they form whole
 * characters; a piece longer than the buffer (vocabularies hold runs of
 * hundreds of spaces, and any length loads) gets a buffer of its size. */
static void emit(llm_detok *d, int32_t tok) {
    char small[512], *buf = small;
    size_t len;
    llm_status s = llm_detok_push(d, tok, buf, sizeof small, &len);
    if (s == LLM_ERR_BUFFER_TOO_SMALL && (buf = malloc(len))) s = llm_detok_push(d, tok, buf, len, &len);
    if (s == LLM_OK) {
        fwrite(buf, 1, len, stdout);
        fflush(stdout);
    }
    if (buf != small) free(buf);
}

/* Tokenizes the prompt (with BOS when the vocabulary wants it, and always
 * for an empty prompt, which has nothing else to start from), growing the
 * buffer once if needed. */
static int32_t *tokenize(const llm_model *m, const char *text, size_t *n, llm_error *err) {
    size_t cap = strlen(text) + 2;
    int32_t *toks = malloc(cap * sizeof *toks);
    if (!toks) return NULL;
    uint32_t flags = llm_model_add_bos(m) || !*text ? LLM_TOKENIZE_ADD_BOS : 0;
    llm_status s = llm_tokenize(m, text, strlen(text), toks, cap, n, flags, err);
    if (s == LLM_ERR_BUFFER_TOO_SMALL) {
        int32_t *t2 = realloc(toks, *n * sizeof *toks);
        if (!t2) { free(toks); return NULL; }
        toks = t2;
        s = llm_tokenize(m, text, strlen(text), toks, *n, n, flags, err);
    }
    if (s != LLM_OK) { free(toks); return NULL; }
    return toks;
}

/* Prompt, then up to n_predict sampled tokens; returns generated count or
 * -1 on error. */
static int generate(const options *o, const llm_model *m, llm_ctx *ctx, llm_sampler *smp,
                    llm_detok *d, double *t_prompt, double *t_gen, size_t *n_prompt) {
    llm_error err;
    int32_t *prompt = tokenize(m, o->prompt ? o->prompt : "", n_prompt, &err);
    if (!prompt) return fail("cannot tokenize the prompt: %s", err.msg), -1;
    double t0 = now();
    llm_status s = *n_prompt ? llm_decode(ctx, prompt, (int32_t)*n_prompt, &err) : LLM_ERR_INVALID_ARG;
    if (s != LLM_OK) {
        free(prompt);
        return fail("%s", *n_prompt ? err.msg : "the model has no BOS token; give a prompt"), -1;
    }
    for (size_t i = 0; i < *n_prompt; i++) {
        llm_sampler_accept(smp, prompt[i]);
        emit(d, prompt[i]);
    }
    free(prompt);
    double t1 = now();
    *t_prompt = t1 - t0;
    int n = 0;
    while (n < o->n_predict) {
        int32_t tok = llm_sampler_sample(smp, llm_logits(ctx), llm_model_n_vocab(m), &err);
        if (tok < 0) return fail("sampling failed: %s", err.msg), -1;
        if (llm_token_is_eog(m, tok)) break;
        emit(d, tok);
        llm_sampler_accept(smp, tok);
        n++;
        if (n == o->n_predict) break;
        if ((s = llm_decode(ctx, &tok, 1, &err)) != LLM_OK) {
            if (s == LLM_ERR_CONTEXT_FULL) fprintf(stderr, "\nllm: context full, stopping\n");
            else return fail("%s", err.msg), -1;
            break;
        }
    }
    *t_gen = now() - t1;
    return n;
}

int main(int argc, char **argv) {
    options o = {0};
    int r = parse_args(argc, argv, &o);
    if (r) return r == 2 ? 0 : 1;
    llm_error err;
    double t0 = now();
    llm_model_params mp = llm_model_default_params();
    mp.tokenizer_path = o.tokenizer;
    llm_model *m = llm_model_load(o.model, &mp, &err);
    if (!m) return fail("%s", err.msg);
    double t_load = now() - t0;
    if (o.verbose) {
        char desc[256];
        if (llm_model_desc(m, desc, sizeof desc, NULL) == LLM_OK) fprintf(stderr, "llm: %s\n", desc);
    }
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_threads = o.n_threads;
    cp.n_threads_blas = o.n_threads;
    llm_ctx *ctx = llm_ctx_new(m, &cp, &err);
    llm_sampler *smp = ctx ? llm_sampler_from_params(&o.sp, &err) : NULL;
    llm_detok *d = smp ? llm_detok_new(m, &err) : NULL;
    int rc = 1;
    if (!d) {
        fail("%s", err.msg);
    } else {
        double tp = 0, tg = 0;
        size_t np = 0;
        int n = generate(&o, m, ctx, smp, d, &tp, &tg, &np);
        char tail[64];
        size_t len;
        if (llm_detok_flush(d, tail, sizeof tail, &len) == LLM_OK) fwrite(tail, 1, len, stdout);
        printf("\n");
        fflush(stdout);
        if (n >= 0) {
            fprintf(stderr, "llm: load %.1f ms, prompt %zu tokens %.1f tok/s, generated %d tokens %.1f tok/s, seed %llu\n",
                    t_load * 1e3, np, tp > 0 ? np / tp : 0.0, n, tg > 0 ? n / tg : 0.0,
                    (unsigned long long)o.sp.seed);
            rc = 0;
        }
    }
    llm_detok_free(d);
    llm_sampler_free(smp);
    llm_ctx_free(ctx);
    llm_model_free(m);
    return rc;
}
