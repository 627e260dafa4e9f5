/* Command lines of llm and the tools, parsed one way: from a table of
 * options that also prints the --help text.
 *
 * The conventions (llama.cpp's, as its users type them):
 *  - every argument is one whole option: -cnv, -sys and -fa are names of
 *    their own, never bundles of single letters, and -n4 is not -n 4;
 *  - a value is the next argument, whatever it looks like (-p "-x" gives
 *    the prompt "-x"), or follows '=' in a long option (--temp=0.5);
 *  - -h and --help print the help to stdout;
 *  - an error names the option as typed and what it accepts ("-n wants an
 *    integer from 0 to 2147483647, not 'x'"), and the caller exits with
 *    status 2, as for any other mistake on the command line. */
#ifndef LLM_OPTS_H
#define LLM_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum opt_kind {
    OPT_FLAG,  /* no value; sets an int to 1 */
    OPT_STR,   /* const char *, the argument itself */
    OPT_INT,   /* int32_t in [lo, hi] */
    OPT_FLOAT, /* float in [lo, hi] */
    OPT_U64,   /* uint64_t, any decimal value */
    OPT_CALL   /* call(value, dst): NULL, or why the value is refused */
} opt_kind;

typedef struct opt {
    const char *shrt; /* name after '-' ("m", "cnv"), or NULL */
    const char *lng;  /* name after "--" ("model"), or NULL */
    opt_kind kind;
    void *dst;
    double lo, hi;    /* OPT_INT, OPT_FLOAT */
    const char *meta; /* the value in the help ("N", "PATH"); NULL for flags */
    const char *help; /* may span lines with '\n' */
    const char *(*call)(const char *value, void *dst);
} opt;

/* The entry that ends a table. */
#define OPTS_END {NULL, NULL, OPT_FLAG, NULL, 0, 0, NULL, NULL, NULL}

typedef struct opts_cmd {
    const char *prog;     /* message prefix, "llm" */
    const char *synopsis; /* help text above the options */
    const char *epilog;   /* help text below them, or NULL */
    const opt *table;     /* ends with an entry whose shrt and lng are NULL */
    const char **pos;     /* room for positional arguments, or NULL */
    int max_pos;
    int n_pos;            /* out: how many were given */
} opts_cmd;

enum { OPTS_OK = 0, OPTS_HELP = 1, OPTS_USAGE = 2 };

/* Fills the table's destinations from argv[1..argc-1]. Returns OPTS_OK,
 * OPTS_HELP after printing the help to stdout, or OPTS_USAGE after
 * printing "prog: what is wrong (see --help)" to stderr. Keeps no state
 * between calls. */
int opts_parse(opts_cmd *cmd, int argc, char **argv);
/* opts_parse for the tools: returns on OPTS_OK, else exits, with status 0
 * after --help and 2 after an error. */
void opts_parse_or_exit(opts_cmd *cmd, int argc, char **argv);

/* "prog: message (see --help)" on stderr; returns OPTS_USAGE, so that a
 * check after opts_parse can end with return opts_error(...). */
int opts_error(const opts_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The default thread count of every tool: the online CPUs, 1 to 256. */
int32_t opts_n_cores(void);
/* A seed that differs between runs, even two started in the same second:
 * getrandom, or else the clock's nanoseconds and the pid. */
uint64_t opts_random_seed(void);

#endif
