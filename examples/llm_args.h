/* The llm example's command line: options and their parser, apart from
 * llm.c so that tests/fuzz/fuzz_cli.c can feed the parser arbitrary argv. */
#ifndef LLM_ARGS_H
#define LLM_ARGS_H

#include <stdint.h>

#include <llm.h>

typedef struct options {
    const char *model;     /* a path, or ollama:NAME[:TAG] */
    const char *tokenizer;
    const char *prompt;
    const char *prompt_file;
    const char *system;    /* -sys */
    const char *chat_template; /* a built-in name or a file */
    int32_t n_predict;
    int32_t n_ctx;
    int32_t n_threads;
    int escapes;           /* -e: \n, \t, ... in -p and -sys */
    int special;           /* --special: control tokens in -p match */
    int conversation;      /* -cnv */
    int no_conversation;   /* -no-cnv */
    int verbose;
    int verbose_prompt;    /* the ids fed to the model, per turn, on stderr */
    llm_sampler_params sp;
    const char *const *stop; /* n_stop strings that end a reply (an Ollama model's) */
    size_t n_stop;
} options;

/* Prints "llm: " and fmt with arg to stderr; returns 1, the exit status. */
int fail(const char *fmt, const char *arg);

/* The defaults: 256 tokens, a thread per core, the sampler's defaults with
 * a fresh random seed. */
void default_options(options *o);

/* Fills o, which holds defaults (default_options, or those of an Ollama
 * model), from argv; returns OPTS_OK, OPTS_HELP after printing --help, or
 * OPTS_USAGE after a one-line error on stderr (opts.h). Calling it again
 * on the same argv gives the same result: llm parses twice when the model
 * brings its own defaults, so that the command line overrides them. */
int parse_args(int argc, char **argv, options *o);

#endif
