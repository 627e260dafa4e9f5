/* The llm example's command line: options and their parser, apart from
 * llm.c so that tests/fuzz/fuzz_cli.c can feed the parser arbitrary argv. */
#ifndef LLM_ARGS_H
#define LLM_ARGS_H

#include <stdint.h>

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

/* Prints "llm: " and fmt with arg to stderr; returns 1, the exit status. */
int fail(const char *fmt, const char *arg);

/* Fills o (zeroed by the caller) from argv; returns 0, or 1 after printing
 * a one-line error, or 2 when --help was printed. Uses getopt_long, so a
 * caller parsing twice resets optind to 0 in between. */
int parse_args(int argc, char **argv, options *o);

#endif
