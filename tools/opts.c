#include "opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int opts_error(const opts_cmd *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cmd->prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see --help)\n");
    va_end(ap);
    return OPTS_USAGE;
}

/* The option whose name arg is: "-" + shrt or "--" + lng exactly, or
 * "--" + lng + "=" with *inline_value pointing past the '='. */
static const opt *find(const opt *t, const char *arg, const char **inline_value) {
    *inline_value = NULL;
    for (; t->shrt || t->lng; t++) {
        if (t->shrt && arg[1] != '-' && strcmp(arg + 1, t->shrt) == 0) return t;
        if (!t->lng || strncmp(arg, "--", 2) != 0) continue;
        size_t n = strlen(t->lng);
        if (strncmp(arg + 2, t->lng, n) != 0) continue;
        if (arg[2 + n] == 0) return t;
        if (arg[2 + n] == '=' && t->kind != OPT_FLAG) {
            *inline_value = arg + 3 + n;
            return t;
        }
    }
    return NULL;
}

/* What an option accepts, for messages: "an integer from 0 to 10". */
static void describe(const opt *o, char *buf, size_t cap) {
    switch (o->kind) {
    case OPT_INT: snprintf(buf, cap, "an integer from %.0f to %.0f", o->lo, o->hi); break;
    case OPT_FLOAT: snprintf(buf, cap, "a number from %g to %g", o->lo, o->hi); break;
    case OPT_U64: snprintf(buf, cap, "an integer from 0 to %llu", (unsigned long long)UINT64_MAX); break;
    default: snprintf(buf, cap, "%s", o->meta ? o->meta : "a value"); break;
    }
}

/* Stores value into o's destination; 0, or -1 when it is out of range or
 * not a number (why, for OPT_CALL, receives the callback's reason). */
static int store(const opt *o, const char *v, const char **why) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case OPT_FLAG: *(int *)o->dst = 1; return 0;
    case OPT_STR: *(const char **)o->dst = v; return 0;
    case OPT_INT: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < o->lo || x > o->hi) return -1;
        *(int32_t *)o->dst = (int32_t)x;
        return 0;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (errno || end == v || *end || !(x >= o->lo && x <= o->hi)) return -1;
        *(float *)o->dst = x;
        return 0;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-' || v[0] == '+' || v[0] == ' ') return -1;
        *(uint64_t *)o->dst = x;
        return 0;
    }
    case OPT_CALL: *why = o->call(v, o->dst); return *why ? -1 : 0;
    }
    return -1;
}

/* One option's help: "  -m, --model PATH" padded to a column, then the
 * text, whose further lines are indented to the same column. */
static void usage_line(const opt *o, FILE *out) {
    enum { COL = 28 };
    char left[96];
    int n = snprintf(left, sizeof left, "  %s%s%s%s%s%s%s", o->shrt ? "-" : "    ", o->shrt ? o->shrt : "",
                     o->shrt && o->lng ? ", " : "", o->lng ? "--" : "", o->lng ? o->lng : "",
                     o->meta ? " " : "", o->meta ? o->meta : "");
    fputs(left, out);
    if (n >= COL - 1) fprintf(out, "\n%*s", COL, "");
    else fprintf(out, "%*s", COL - n, "");
    for (const char *h = o->help; *h; h++) {
        fputc(*h, out);
        if (*h == '\n') fprintf(out, "%*s", COL, "");
    }
    fputc('\n', out);
}

/* The help: the synopsis, a line per option (and -h), the epilog. */
static void usage(const opts_cmd *cmd, FILE *out) {
    fputs(cmd->synopsis, out);
    for (const opt *o = cmd->table; o->shrt || o->lng; o++) usage_line(o, out);
    usage_line(&(opt){"h", "help", OPT_FLAG, NULL, 0, 0, NULL, "this help", NULL}, out);
    if (cmd->epilog) fputs(cmd->epilog, out);
}

/* A positional argument: stored when there is room. */
static int positional(opts_cmd *cmd, const char *arg) {
    if (cmd->n_pos >= cmd->max_pos) return opts_error(cmd, "unexpected argument '%s'", arg);
    cmd->pos[cmd->n_pos++] = arg;
    return OPTS_OK;
}

/* The option argv[*i] (and its value, the next argument unless it came
 * after '='), stored; *i is left on the last argument used. */
static int one_option(opts_cmd *cmd, int argc, char **argv, int *i) {
    const char *typed = argv[*i], *v;
    const opt *o = find(cmd->table, typed, &v);
    if (!o) return opts_error(cmd, "unknown option '%s'", typed);
    char what[96], name[160];
    describe(o, what, sizeof what);
    snprintf(name, sizeof name, v ? "--%s" : "%s", v ? o->lng : typed); /* "--temp", not "--temp=x" */
    if (o->kind != OPT_FLAG && !v) {
        if (*i + 1 >= argc) return opts_error(cmd, "option %s needs a value: %s", name, what);
        v = argv[++*i];
    }
    const char *why = NULL;
    if (store(o, v, &why) == 0) return OPTS_OK;
    if (why) return opts_error(cmd, "option %s: %s", name, why);
    return opts_error(cmd, "option %s wants %s, not '%s'", name, what, v);
}

int opts_parse(opts_cmd *cmd, int argc, char **argv) {
    cmd->n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (a[0] != '-' || a[1] == 0) r = positional(cmd, a);
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) r = OPTS_HELP;
        else r = one_option(cmd, argc, argv, &i);
        if (r == OPTS_HELP) usage(cmd, stdout);
        if (r) return r;
    }
    return OPTS_OK;
}

void opts_parse_or_exit(opts_cmd *cmd, int argc, char **argv) {
    int r = opts_parse(cmd, argc, argv);
    if (r) exit(r == OPTS_HELP ? 0 : 2);
}

int32_t opts_n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int32_t)n;
}

uint64_t opts_random_seed(void) {
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s) return s;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}
