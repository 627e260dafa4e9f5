/* llm: generate text with a model, on the public API only.
 *
 * Prints the prompt and the continuation to stdout as they are produced;
 * statistics go to stderr. Exit status 0 on success, 1 on any error. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llm.h>

typedef struct options {
    const char *model;
    const char *tokenizer;
    const char *prompt;
    int32_t n_predict;
    int32_t n_ctx;
    int32_t n_threads;
    int verbose;
    llm_sampler_params sp;
} options;

static void usage(FILE *out) {
    fprintf(out,
            "usage: llm -m MODEL [options]\n"
            "Generate text with a GGUF model or a llama2.c checkpoint.\n\n"
            "  -m, --model PATH        model file (.gguf, or llama2.c .bin)\n"
            "  -z, --tokenizer PATH    tokenizer.bin for a llama2.c checkpoint\n"
            "                          (default: tokenizer.bin beside the model)\n"
            "  -p, --prompt TEXT       prompt (default: empty, start from BOS)\n"
            "  -n, --n-predict N       tokens to generate (default 256); stops early at EOS/BOS\n"
            "  -c, --ctx-size N        context length in tokens (default: model's, at most 2048)\n"
            "  -t, --threads N         worker threads (default 1)\n"
            "      --temp T            temperature; 0 = greedy (default 0.8)\n"
            "      --top-k K           keep the K most likely tokens; 0 = off (default 40)\n"
            "      --top-p P           nucleus sampling mass; 1 = off (default 0.95)\n"
            "      --min-p P           drop tokens below P x the top probability; 0 = off (default 0.05)\n"
            "      --repeat-penalty R  penalise recently seen tokens; 1 = off (default 1)\n"
            "      --repeat-last-n N   window of the repeat penalty (default 64)\n"
            "      --seed S            random seed (default: from the clock)\n"
            "  -v, --verbose           print the model description to stderr\n"
            "  -h, --help              this help\n");
}

static int fail(const char *fmt, const char *arg) {
    fprintf(stderr, "llm: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

static int parse_int(const char *s, long lo, long hi, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int32_t)v;
    return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

/* Fills o from argv; returns 0, or 1 after printing a one-line error, or
 * 2 when --help was printed. */
static int parse_args(int argc, char **argv, options *o) {
    enum { O_TEMP = 256, O_TOPK, O_TOPP, O_MINP, O_SEED, O_RPEN, O_RLAST };
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},   {"tokenizer", required_argument, 0, 'z'},
        {"prompt", required_argument, 0, 'p'},  {"n-predict", required_argument, 0, 'n'},
        {"ctx-size", required_argument, 0, 'c'}, {"threads", required_argument, 0, 't'},
        {"temp", required_argument, 0, O_TEMP}, {"top-k", required_argument, 0, O_TOPK},
        {"top-p", required_argument, 0, O_TOPP}, {"min-p", required_argument, 0, O_MINP},
        {"seed", required_argument, 0, O_SEED}, {"repeat-penalty", required_argument, 0, O_RPEN},
        {"repeat-last-n", required_argument, 0, O_RLAST}, {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    o->sp = llm_sampler_default_params();
    o->sp.seed = (uint64_t)time(NULL);
    o->n_predict = 256;
    o->n_threads = 1;
    opterr = 0;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, ":m:z:p:n:c:t:vh", longs, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'z': o->tokenizer = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 'n': bad = parse_int(optarg, 0, INT32_MAX, &o->n_predict); break;
        case 'c': bad = parse_int(optarg, 1, INT32_MAX, &o->n_ctx); break;
        case 't': bad = parse_int(optarg, 1, 256, &o->n_threads); break;
        case O_TEMP: bad = parse_float(optarg, 0, 100, &o->sp.temperature); break;
        case O_TOPK: bad = parse_int(optarg, 0, INT32_MAX, &o->sp.top_k); break;
        case O_TOPP: bad = parse_float(optarg, 0, 1, &o->sp.top_p); break;
        case O_MINP: bad = parse_float(optarg, 0, 1, &o->sp.min_p); break;
        case O_RPEN: bad = parse_float(optarg, 0, 100, &o->sp.repeat_penalty); break;
        case O_RLAST: bad = parse_int(optarg, 0, INT32_MAX, &o->sp.repeat_last_n); break;
        case O_SEED: {
            char *end;
            errno = 0;
            o->sp.seed = strtoull(optarg, &end, 10);
            bad = errno || end == optarg || *end || optarg[0] == '-';
            break;
        }
        case 'v': o->verbose = 1; break;
        case 'h': usage(stdout); return 2;
        case ':': return fail("option '%s' needs a value (see --help)", argv[optind - 1]);
        default: return fail("unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (bad) return fail("invalid value '%s' (see --help)", optarg);
    if (optind < argc) return fail("unexpected argument '%s' (see --help)", argv[optind]);
    if (!o->model) return fail("%s", "no model given: use -m MODEL (see --help)");
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Streams one token's bytes to stdout as soon as they form whole
 * characters. */
static void emit(llm_detok *d, int32_t tok) {
    char buf[512];
    size_t len;
    if (llm_detok_push(d, tok, buf, sizeof buf, &len) == LLM_OK) {
        fwrite(buf, 1, len, stdout);
        fflush(stdout);
    }
}

/* Tokenizes the prompt with BOS, growing the buffer once if needed. */
static int32_t *tokenize(const llm_model *m, const char *text, size_t *n, llm_error *err) {
    size_t cap = strlen(text) + 2;
    int32_t *toks = malloc(cap * sizeof *toks);
    if (!toks) return NULL;
    llm_status s = llm_tokenize(m, text, strlen(text), toks, cap, n, LLM_TOKENIZE_ADD_BOS, err);
    if (s == LLM_ERR_BUFFER_TOO_SMALL) {
        int32_t *t2 = realloc(toks, *n * sizeof *toks);
        if (!t2) { free(toks); return NULL; }
        toks = t2;
        s = llm_tokenize(m, text, strlen(text), toks, *n, n, LLM_TOKENIZE_ADD_BOS, err);
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
