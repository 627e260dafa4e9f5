/* llm-server: an OpenAI-compatible HTTP server for one model, on the
 * public API (llm.h). See tools/server/server.h for how the files divide
 * the work, and README.md for use. */
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "toolutil.h"

const char *const tool_name = "llm-server";

typedef struct options {
    const char *model, *host, *alias, *template_file;
    long port, n_slots, n_ctx, n_threads, max_queue, max_body, max_messages;
} options;

static void usage(FILE *out) {
    fprintf(out,
            "usage: llm-server -m MODEL [options]\n"
            "Serve MODEL over HTTP with OpenAI's API (/v1/chat/completions, /v1/completions,\n"
            "/v1/embeddings, /v1/models), /health, /metrics and a chat page at /.\n\n"
            "  -m, --model PATH        model file (.gguf, or llama2.c .bin)\n"
            "      --host ADDR         numeric address to listen on (default 127.0.0.1)\n"
            "      --port N            port (default 8080; 0 picks a free one)\n"
            "  -np, --parallel N       slots: requests generated at once (default 1)\n"
            "  -c, --ctx-size N        context length of each slot (default: model's, at most 2048)\n"
            "  -t, --threads N         threads per slot (default 1)\n"
            "      --alias NAME        the model's name in the API (default: the file's name)\n"
            "      --chat-template NAME  a built-in chat template (chatml, llama3, ...) instead of the model's\n"
            "      --chat-template-file FILE  a Jinja chat template instead of the model's\n"
            "      --api-key KEY       require Authorization: Bearer KEY (default: $LLM_API_KEY)\n"
            "      --cors-origin URL   allow pages from URL to call the API (default: none)\n"
            "      --max-queue N       requests that may wait for a slot; beyond, 503 (default 64)\n"
            "      --max-body BYTES    largest request body (default 1048576)\n"
            "      --max-messages N    most messages in a chat request (default 1024)\n"
            "  -h, --help              this help\n");
}

static int bad(const char *what, const char *arg) {
    fprintf(stderr, "llm-server: %s: '%s'\n", what, arg);
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Fills o from argv; returns 0, 1 on a bad option (with a message), or 2
 * after --help. "-np" is llama-server's spelling of --parallel. */
static int parse_args(int argc, char **argv, options *o, server *srv) {
    enum { O_HOST = 256, O_PORT, O_ALIAS, O_KEY, O_CORS, O_QUEUE, O_BODY, O_MSGS, O_TMPL, O_TMPL_FILE };
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'}, {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT}, {"parallel", required_argument, 0, 'P'},
        {"ctx-size", required_argument, 0, 'c'}, {"threads", required_argument, 0, 't'},
        {"alias", required_argument, 0, O_ALIAS}, {"api-key", required_argument, 0, O_KEY},
        {"cors-origin", required_argument, 0, O_CORS}, {"max-queue", required_argument, 0, O_QUEUE},
        {"max-body", required_argument, 0, O_BODY}, {"max-messages", required_argument, 0, O_MSGS},
        {"chat-template", required_argument, 0, O_TMPL}, {"chat-template-file", required_argument, 0, O_TMPL_FILE},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-np")) argv[i] = "--parallel";
    *o = (options){.host = "127.0.0.1", .port = 8080, .n_slots = 1, .n_threads = 1, .max_queue = 64,
                   .max_body = 1 << 20, .max_messages = 1024};
    srv->api_key = getenv("LLM_API_KEY");
    int c;
    while ((c = getopt_long(argc, argv, "m:c:t:h", longs, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case O_HOST: o->host = optarg; break;
        case O_ALIAS: o->alias = optarg; break;
        case O_KEY: srv->api_key = optarg; break;
        case O_CORS: srv->cors_origin = optarg; break;
        case O_TMPL: srv->tmpl.name = optarg; break;
        case O_TMPL_FILE: o->template_file = optarg; break;
        case O_PORT: if (parse_long(optarg, 0, 65535, &o->port)) return bad("--port must be 0 to 65535", optarg); break;
        case 'P': if (parse_long(optarg, 1, 256, &o->n_slots)) return bad("-np must be 1 to 256", optarg); break;
        case 'c': if (parse_long(optarg, 0, 1 << 20, &o->n_ctx)) return bad("-c must be 0 to 1048576", optarg); break;
        case 't': if (parse_long(optarg, 1, 1024, &o->n_threads)) return bad("-t must be 1 to 1024", optarg); break;
        case O_QUEUE: if (parse_long(optarg, 0, 65536, &o->max_queue)) return bad("--max-queue must be 0 to 65536", optarg); break;
        case O_BODY: if (parse_long(optarg, 1024, 1L << 30, &o->max_body)) return bad("--max-body must be 1024 to 1073741824", optarg); break;
        case O_MSGS: if (parse_long(optarg, 1, 1 << 20, &o->max_messages)) return bad("--max-messages must be 1 to 1048576", optarg); break;
        case 'h': usage(stdout); return 2;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) return bad("unexpected argument", argv[optind]);
    if (!o->model) return bad("a model is needed", "-m MODEL");
    if (srv->api_key && !*srv->api_key) return bad("the API key is empty", "--api-key");
    if (srv->tmpl.name && o->template_file) return bad("--chat-template and --chat-template-file exclude each other; the file", o->template_file);
    return 0;
}

/* The model's name in the API: its file name without directories. */
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A template file's text, NUL-terminated (a NUL inside ends it). */
static char *template_source(const char *path) {
    size_t len;
    char *src = read_file(path, &len), *s = realloc(src, len + 1);
    if (!s) die("out of memory reading %s", path);
    s[len] = 0;
    return s;
}

/* Serves until SIGINT or SIGTERM. The signals are blocked before any
 * thread starts, so every thread inherits the mask and sigwait here is
 * the one place they arrive. */
static void serve(server *srv, const options *o) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[256];
    int max_conn = (int)(o->n_slots + o->max_queue + 64);
    struct MHD_Daemon *d = http_start(srv, o->host, (uint16_t)o->port, max_conn, err, sizeof err);
    if (!d) die("%s", err);
    int v6 = strchr(o->host, ':') != NULL;
    fprintf(stderr, "llm-server: listening on http://%s%s%s:%u/ (%s, %ld slot%s of %d tokens)\n", v6 ? "[" : "", o->host,
            v6 ? "]" : "", srv->port, srv->model_id, o->n_slots, o->n_slots == 1 ? "" : "s", pool_n_ctx(srv->pool));
    int sig;
    sigwait(&set, &sig);
    fprintf(stderr, "llm-server: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    pool_stop(srv->pool);
    MHD_stop_daemon(d);
}

int main(int argc, char **argv) {
    options o;
    server srv = {.max_depth = 64};
    int r = parse_args(argc, argv, &o, &srv);
    if (r) return r == 2 ? 0 : 1;
    srv.model_id = o.alias ? o.alias : base_name(o.model);
    srv.max_body = (size_t)o.max_body;
    srv.max_messages = (int)o.max_messages;
    llm_error err;
    llm_model *model = llm_model_load(o.model, NULL, &err);
    if (!model) die("%s", err.msg);
    srv.model = model;
    char *tmpl_src = o.template_file ? template_source(o.template_file) : NULL;
    srv.tmpl.src = tmpl_src;
    if ((srv.tmpl.name || tmpl_src) && prompt_check_template(model, &srv.tmpl, &err))
        die("the chat template cannot render a conversation: %s", err.msg);
    srv.created = time(NULL);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = (int32_t)o.n_ctx;
    cp.n_threads = (int32_t)o.n_threads;
    cp.n_threads_blas = cp.n_threads; /* every slot asks the same, so OpenBLAS's count is set once */
    cp.embeddings = true; /* for /v1/embeddings: unit-length means, as OpenAI's */
    cp.pooling = LLM_POOLING_MEAN;
    cp.normalize = true;
    srv.pool = pool_new(model, (int)o.n_slots, &cp, (int)o.max_queue, &srv.m, &err);
    if (!srv.pool) die("cannot make %ld slots: %s", o.n_slots, err.msg);
    serve(&srv, &o);
    pool_free(srv.pool);
    free(tmpl_src);
    llm_model_free(model);
    return 0;
}
