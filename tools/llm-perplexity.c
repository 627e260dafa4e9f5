/* llm-perplexity: how well a model predicts a text, measured the way
 * llama.cpp's perplexity tool does, and optionally how far a model's
 * predictions drift from a base model's (KL divergence, top-token
 * agreement, perplexity ratio). Uses only the public API.
 *
 * The method: the whole text is tokenized once with BOS. It is cut into
 * n_tokens / CHUNK chunks of CHUNK tokens (the remainder is dropped). Each
 * chunk is evaluated from an empty context with its first token replaced by
 * BOS, and only its second half is scored: for positions i = CHUNK/2 ..
 * CHUNK-2, the model's logits after token i are judged on token i+1, so
 * every scored prediction sees at least CHUNK/2 tokens of context.
 * Perplexity is exp(mean of -log softmax(logits)[next]).
 *
 * With a base model every figure is computed exactly, in double, from both
 * models' logits. llama.cpp instead stores the base's log-probabilities as
 * 16-bit values floored at 16 nats below the top token, so on a text with a
 * very unlikely token its perplexity ratio comes out higher than this one. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "opts.h"
#include "toolutil.h"

const char *const tool_name = "llm-perplexity";

static const char synopsis[] =
    "usage: llm-perplexity -m MODEL [-z TOKENIZER] -f TEXT [-c CHUNK] [--kl-base BASE_MODEL]\n"
    "                      [-t THREADS] [--per-token] [--json]\n"
    "Scores a text: the perplexity of a model on it, and optionally how far its\n"
    "predictions are from another model's.\n\n";

static const char epilog[] = "\nThe time the evaluation took goes to stderr.\n";

/* Tokenizes text with BOS, growing the buffer to the reported size. */
static int32_t *tokenize(const llm_model *model, const char *text, size_t len, size_t *n) {
    llm_error err;
    llm_status s = llm_tokenize(model, text, len, NULL, 0, n, LLM_TOKENIZE_ADD_BOS, &err);
    if (s != LLM_OK && s != LLM_ERR_BUFFER_TOO_SMALL) die("%s", err.msg);
    size_t cap = *n ? *n : 1;
    int32_t *ids = cap <= SIZE_MAX / sizeof *ids ? malloc(cap * sizeof *ids) : NULL;
    if (!ids) die("cannot hold %zu tokens", *n);
    if (llm_tokenize(model, text, len, ids, cap, n, LLM_TOKENIZE_ADD_BOS, &err) != LLM_OK)
        die("%s", err.msg);
    return ids;
}

/* One model being evaluated: its context and a scratch row of n_vocab
 * log-probabilities for the position just decoded. */
typedef struct {
    const char *path;
    llm_model *model;
    llm_ctx *ctx;
    int32_t n_vocab;
    double *logp; /* (n_vocab,) log softmax of the last logits */
} runner;

static void runner_open(runner *r, const char *path, const char *tokenizer, int32_t n_ctx,
                        int32_t n_threads) {
    llm_error err;
    llm_model_params mp = llm_model_default_params();
    mp.tokenizer_path = tokenizer;
    r->path = path;
    r->model = llm_model_load(path, &mp, &err);
    if (!r->model) die("%s", err.msg);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = n_threads;
    cp.n_threads_blas = n_threads;
    r->ctx = llm_ctx_new(r->model, &cp, &err);
    if (!r->ctx) die("%s: %s", path, err.msg);
    r->n_vocab = llm_model_n_vocab(r->model);
    r->logp = r->n_vocab > 0 ? malloc((size_t)r->n_vocab * sizeof *r->logp) : NULL;
    if (!r->logp) die("%s: cannot hold %d log-probabilities", path, (int)r->n_vocab);
}

static void runner_close(runner *r) {
    free(r->logp);
    llm_ctx_free(r->ctx);
    llm_model_free(r->model);
}

/* Runs n more tokens through the model (from an empty cache when fresh is
 * set), keeping the logits of the positions want marks (NULL: the last). */
static void runner_decode(runner *r, const int32_t *toks, int32_t n, const int8_t *want, int fresh) {
    llm_error err;
    if (fresh && llm_ctx_truncate(r->ctx, 0, &err) != LLM_OK) die("%s: %s", r->path, err.msg);
    if (llm_decode_ex(r->ctx, toks, n, want, &err) != LLM_OK) die("%s: %s", r->path, err.msg);
}

/* Turns the logits of token i of the last decode into log-probabilities
 * in r->logp, computed in double: logp[i] = l[i] - max - log(sum exp(l -
 * max)). Returns the arg-max token (the first one on ties). Non-finite
 * logits are fatal: they would make every figure meaningless. */
static int32_t runner_logp(runner *r, int32_t i) {
    const float *l = llm_logits_ith(r->ctx, i);
    int32_t top = 0;
    for (int32_t i = 1; i < r->n_vocab; i++)
        if (l[i] > l[top]) top = i;
    double sum = 0;
    for (int32_t i = 0; i < r->n_vocab; i++) sum += exp((double)l[i] - l[top]);
    double lse = l[top] + log(sum);
    if (!isfinite(lse)) die("%s: the model produced non-finite logits", r->path);
    for (int32_t i = 0; i < r->n_vocab; i++) r->logp[i] = l[i] - lse;
    return top;
}

/* Sums over the scored positions. */
typedef struct {
    double nll;       /* sum of -log P_model(next) */
    double nll_base;  /* sum of -log P_base(next) */
    double kl;        /* sum of KL(P_base || P_model) */
    int64_t same_top; /* positions where both models' arg-max agree */
    int64_t count;    /* scored positions */
} totals;

/* KL(P_base || P_model) = sum_i P_base(i) (log P_base(i) - log P_model(i)). */
static double kl_divergence(const double *logp_base, const double *logp, int32_t n_vocab) {
    double kl = 0;
    for (int32_t i = 0; i < n_vocab; i++) kl += exp(logp_base[i]) * (logp_base[i] - logp[i]);
    return kl;
}

/* Adds the figures of one position whose logits are in r (and base, when
 * there is one) and whose true next token is next. */
static void score(totals *t, const runner *r, int32_t top, const runner *base, int32_t base_top,
                  int32_t next) {
    t->nll -= r->logp[next];
    if (base) {
        t->nll_base -= base->logp[next];
        t->kl += kl_divergence(base->logp, r->logp, r->n_vocab);
        t->same_top += top == base_top;
    }
    t->count++;
}

/* Evaluates one chunk of n_ctx tokens and scores positions n_ctx/2 ..
 * n_ctx-2: one decode of the first n_ctx - 1 tokens that keeps the logits
 * of the scored positions (want marks them). With per_token, the way
 * without per-position logits, for comparison: one decode per token. The
 * last token is never decoded: nothing follows it. chunk[0] is
 * overwritten with BOS in place, which is harmless: no scored position
 * ever predicts the first token of a chunk. */
static void eval_chunk(totals *t, runner *r, runner *base, int32_t *chunk, int32_t n_ctx,
                       int32_t bos, const int8_t *want, int per_token) {
    if (bos != LLM_TOKEN_NULL) chunk[0] = bos;
    int32_t step = per_token ? 1 : n_ctx - 1;
    for (int32_t i0 = 0; i0 < n_ctx - 1; i0 += step) {
        runner_decode(r, chunk + i0, step, per_token ? NULL : want, i0 == 0);
        if (base) runner_decode(base, chunk + i0, step, per_token ? NULL : want, i0 == 0);
        for (int32_t i = i0; i < i0 + step; i++) {
            if (!want[i]) continue;
            int32_t at = per_token ? -1 : i;
            int32_t top = runner_logp(r, at);
            int32_t base_top = base ? runner_logp(base, at) : 0;
            score(t, r, top, base, base_top, chunk[i + 1]);
        }
    }
}

/* Tokenizes with the base model (or the model when there is none) and,
 * with a base, checks that the model's vocabulary agrees on every id. */
static int32_t *tokens_for(const runner *r, const runner *base, const char *text, size_t len,
                           size_t *n) {
    int32_t *ids = tokenize(base ? base->model : r->model, text, len, n);
    if (!base) return ids;
    if (r->n_vocab != base->n_vocab)
        die("vocabularies differ: %s has %d tokens, %s has %d", r->path, (int)r->n_vocab,
            base->path, (int)base->n_vocab);
    if (llm_token_bos(r->model) != llm_token_bos(base->model))
        die("the models' BOS tokens differ (%d and %d)", (int)llm_token_bos(r->model),
            (int)llm_token_bos(base->model));
    size_t n_model;
    int32_t *mine = tokenize(r->model, text, len, &n_model);
    if (n_model != *n || memcmp(mine, ids, *n * sizeof *ids) != 0)
        die("%s and %s tokenize the text differently", r->path, base->path);
    free(mine);
    return ids;
}

/* A JSON number, or null for what JSON cannot express. */
static void json_num(const char *key, double v, int last) {
    if (isfinite(v)) printf("\"%s\": %.10g%s", key, v, last ? "" : ", ");
    else printf("\"%s\": null%s", key, last ? "" : ", ");
}

static void report(const totals *t, size_t n_tokens, size_t n_chunk, int32_t n_ctx, int with_base,
                   int json) {
    double ppl = exp(t->nll / (double)t->count);
    double ppl_base = exp(t->nll_base / (double)t->count);
    double ratio = exp((t->nll - t->nll_base) / (double)t->count);
    double kl = t->kl / (double)t->count;
    double top = (double)t->same_top / (double)t->count;
    if (json) {
        printf("{\"tokens\": %zu, \"chunk\": %d, \"chunks\": %zu, \"scored\": %lld, ", n_tokens,
               (int)n_ctx, n_chunk, (long long)t->count);
        json_num("perplexity", ppl, !with_base);
        if (with_base) {
            json_num("base_perplexity", ppl_base, 0);
            json_num("perplexity_ratio", ratio, 0);
            json_num("mean_kl", kl, 0);
            json_num("same_top", top, 1);
        }
        printf("}\n");
        return;
    }
    printf("tokens: %zu, scored %lld positions in %zu chunks of %d\n", n_tokens,
           (long long)t->count, n_chunk, (int)n_ctx);
    printf("perplexity: %.4f\n", ppl);
    if (!with_base) return;
    printf("base perplexity: %.4f\n", ppl_base);
    printf("perplexity ratio model/base: %.4f\n", ratio);
    printf("mean KL divergence KL(base || model): %.6f\n", kl);
    printf("same top token: %.2f%%\n", 100.0 * top);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *base_path = NULL, *text_path = NULL, *tokenizer = NULL;
    int32_t n_ctx = 128, n_threads = opts_n_cores();
    int json = 0, per_token = 0;
    const opt table[] = {
        {"m", "model", OPT_STR, &model_path, 0, 0, "MODEL", "GGUF file or llama2.c checkpoint to measure", NULL},
        {"z", "tokenizer", OPT_STR, &tokenizer, 0, 0, "TOKENIZER",
         "tokenizer.bin for llama2.c checkpoints (used for -m and\n--kl-base; default: tokenizer.bin beside each checkpoint)", NULL},
        {"f", "file", OPT_STR, &text_path, 0, 0, "TEXT", "file whose text to score (one trailing newline is dropped)", NULL},
        {"c", "ctx-size", OPT_INT, &n_ctx, 3, INT32_MAX / 2, "CHUNK",
         "tokens per chunk; the second half of each is scored (default 128)", NULL},
        {NULL, "kl-base", OPT_STR, &base_path, 0, 0, "BASE",
         "also evaluate BASE on the same tokens and report the mean\nKL(P_base || P_model), how often the top tokens agree, and\n"
         "the perplexity ratio model/base", NULL},
        {"t", "threads", OPT_INT, &n_threads, 1, 256, "THREADS", "worker threads per model (default: the number of cores)", NULL},
        {NULL, "per-token", OPT_FLAG, &per_token, 0, 0, NULL,
         "one decode per token instead of one per chunk\n(the same figures, slower: for measuring the difference)", NULL},
        {NULL, "json", OPT_FLAG, &json, 0, 0, NULL, "print the results as one JSON object", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, epilog, table, NULL, 0, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (!model_path) exit(opts_error(&cmd, "no model given: -m MODEL"));
    if (!text_path) exit(opts_error(&cmd, "no text given: -f TEXT"));

    size_t len;
    char *text = read_file(text_path, &len);
    if (len > 0 && text[len - 1] == '\n') len--; /* as llama.cpp's -f does */

    runner r, base;
    runner_open(&r, model_path, tokenizer, n_ctx, n_threads);
    if (base_path) runner_open(&base, base_path, tokenizer, n_ctx, n_threads);
    runner *b = base_path ? &base : NULL;

    size_t n_tokens;
    int32_t *tokens = tokens_for(&r, b, text, len, &n_tokens);
    if (n_tokens < 2 * (size_t)n_ctx)
        die("the text has %zu tokens; a chunk of %d needs at least %d", n_tokens, (int)n_ctx,
            2 * (int)n_ctx);
    size_t n_chunk = n_tokens / (size_t)n_ctx;
    int32_t bos = llm_token_bos(r.model);

    int8_t *want = malloc((size_t)n_ctx);
    if (!want) die("cannot hold a chunk of %d tokens", (int)n_ctx);
    for (int32_t i = 0; i < n_ctx; i++) want[i] = i >= n_ctx / 2 && i < n_ctx - 1;
    totals t = {0};
    double t0 = now();
    for (size_t c = 0; c < n_chunk; c++) {
        eval_chunk(&t, &r, b, tokens + c * (size_t)n_ctx, n_ctx, bos, want, per_token);
        fprintf(stderr, "[%zu/%zu] perplexity so far %.4f\n", c + 1, n_chunk,
                exp(t.nll / (double)t.count));
    }
    double secs = now() - t0;
    fprintf(stderr, "evaluated %zu chunks in %.3f s (%.1f tokens/s)%s\n", n_chunk, secs,
            (double)(n_chunk * (size_t)(n_ctx - 1)) / secs, per_token ? ", one decode per token" : "");
    free(want);
    report(&t, n_tokens, n_chunk, n_ctx, b != NULL, json);

    free(tokens);
    if (b) runner_close(b);
    runner_close(&r);
    free(text);
    return 0;
}
