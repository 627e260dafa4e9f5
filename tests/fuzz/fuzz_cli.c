/* The llm example's argument parser (examples/llm_args.c, tools/opts.c):
 * the input, split at NUL bytes, is argv after "llm". Accepted options
 * must be in their documented ranges, parsing again over the result (as
 * llm does for an Ollama model's defaults) must change nothing, and the
 * sampler they describe must either be refused with a message or pick a
 * valid token. Run with -close_fd_mask=3:
 * the parser prints its errors and --help. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "llm_args.h"
#include "opts.h"

#define MAX_ARGS 64

/* The sampler from the parsed options on a small fixed distribution. */
static void sample_with(const options *o) {
    static const float logits[8] = {1.5f, -2.0f, 0.25f, 3.0f, 3.0f, -0.5f, 0.0f, 2.0f};
    llm_error err = {0};
    llm_sampler *s = llm_sampler_from_params(&o->sp, &err);
    if (!s) {
        fuzz_check_error(err.code, &err);
        return;
    }
    for (int i = 0; i < 4; i++) {
        int32_t tok = llm_sampler_sample(s, logits, 8, &err);
        fuzz_require(tok >= 0 && tok < 8, "sampled token out of range");
        llm_sampler_accept(s, tok);
    }
    llm_sampler_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    fuzz_require(buf != NULL, "out of memory");
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[MAX_ARGS + 2] = {"llm"};
    int argc = 1;
    for (char *p = buf; p <= buf + size && argc <= MAX_ARGS; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;
    options o;
    default_options(&o);
    int r = parse_args(argc, argv, &o);
    fuzz_require(r == OPTS_OK || r == OPTS_HELP || r == OPTS_USAGE, "parse_args returned an unknown status");
    if (r == OPTS_OK) {
        options again;
        memcpy(&again, &o, sizeof o); /* padding included, for the memcmp */
        fuzz_require(parse_args(argc, argv, &again) == OPTS_OK && memcmp(&again, &o, sizeof o) == 0,
                     "parsing the same argv twice gave another result");
        fuzz_require(o.model != NULL, "accepted without a model");
        fuzz_require(o.n_predict >= 0 && o.n_ctx >= 0 && o.n_threads >= 1 && o.n_threads <= 256,
                     "accepted an out-of-range count");
        sample_with(&o);
    }
    free(buf);
    return 0;
}
