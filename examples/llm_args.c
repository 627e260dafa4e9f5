#include "llm_args.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int fail(const char *fmt, const char *arg) {
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

int parse_args(int argc, char **argv, options *o) {
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
