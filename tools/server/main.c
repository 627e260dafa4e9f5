/* llm-server: an OpenAI-compatible HTTP server for one model, on the
 * public API (llm.h). See tools/server/server.h for how the files divide
 * the work, and README.md for use. */
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opts.h"
#include "server.h"
#include "toolutil.h"

const char *const tool_name = "llm-server";

typedef struct options {
    const char *model, *host, *alias, *template_file;
    int32_t port, n_slots, n_ctx, n_threads, max_queue, max_body, max_messages;
} options;

static const char synopsis[] =
    "usage: llm-server -m MODEL [options]\n"
    "Serve MODEL over HTTP with OpenAI's API (/v1/chat/completions, /v1/completions,\n"
    "/v1/embeddings, /v1/models), /health, /metrics and a chat page at /.\n\n";

/* Fills o from argv; returns OPTS_OK, OPTS_HELP after --help or
 * OPTS_USAGE after a message (tools/opts.h). The threads default to the
 * cores shared among the slots. */
static int parse_args(int argc, char **argv, options *o, server *srv) {
    *o = (options){.host = "127.0.0.1", .port = 8080, .n_slots = 1, .n_threads = 0, .max_queue = 64,
                   .max_body = 1 << 20, .max_messages = 1024};
    srv->api_key = getenv("LLM_API_KEY");
    const opt table[] = {
        {"m", "model", OPT_STR, &o->model, 0, 0, "PATH", "model file (.gguf, or llama2.c .bin)", NULL},
        {NULL, "host", OPT_STR, &o->host, 0, 0, "ADDR", "numeric address to listen on (default 127.0.0.1)", NULL},
        {NULL, "port", OPT_INT, &o->port, 0, 65535, "N", "port (default 8080; 0 picks a free one)", NULL},
        {"np", "parallel", OPT_INT, &o->n_slots, 1, 256, "N", "slots: requests generated at once (default 1)", NULL},
        {"c", "ctx-size", OPT_INT, &o->n_ctx, 0, 1 << 20, "N", "context length of each slot (default: model's, at most 2048)", NULL},
        {"t", "threads", OPT_INT, &o->n_threads, 1, 256, "N", "threads per slot (default: the cores shared among the slots)", NULL},
        {NULL, "alias", OPT_STR, &o->alias, 0, 0, "NAME", "the model's name in the API (default: the file's name)", NULL},
        {NULL, "chat-template", OPT_STR, &srv->tmpl.name, 0, 0, "NAME", "a built-in chat template (chatml, llama3, ...) instead of the model's", NULL},
        {NULL, "chat-template-file", OPT_STR, &o->template_file, 0, 0, "FILE", "a Jinja chat template instead of the model's", NULL},
        {NULL, "api-key", OPT_STR, &srv->api_key, 0, 0, "KEY", "require Authorization: Bearer KEY (default: $LLM_API_KEY)", NULL},
        {NULL, "cors-origin", OPT_STR, &srv->cors_origin, 0, 0, "URL", "allow pages from URL to call the API (default: none)", NULL},
        {NULL, "max-queue", OPT_INT, &o->max_queue, 0, 65536, "N", "requests that may wait for a slot; beyond, 503 (default 64)", NULL},
        {NULL, "max-body", OPT_INT, &o->max_body, 1024, 1 << 30, "BYTES", "largest request body (default 1048576)", NULL},
        {NULL, "max-messages", OPT_INT, &o->max_messages, 1, 1 << 20, "N", "most messages in a chat request (default 1024)", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, NULL, table, NULL, 0, 0};
    int r = opts_parse(&cmd, argc, argv);
    if (r) return r;
    if (!o->model) return opts_error(&cmd, "no model given: use -m MODEL");
    if (srv->api_key && !*srv->api_key) return opts_error(&cmd, "option --api-key: the key is empty");
    if (srv->tmpl.name && o->template_file) return opts_error(&cmd, "give --chat-template or --chat-template-file, not both");
    if (!o->n_threads) o->n_threads = opts_n_cores() / o->n_slots > 1 ? opts_n_cores() / o->n_slots : 1;
    return OPTS_OK;
}

/* The model's name in the API: its file name without directories. */
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
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
    fprintf(stderr, "llm-server: listening on http://%s%s%s:%u/ (%s, %d slot%s of %d tokens)\n", v6 ? "[" : "", o->host,
            v6 ? "]" : "", srv->port, srv->model_id, (int)o->n_slots, o->n_slots == 1 ? "" : "s", pool_n_ctx(srv->pool));
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
    if (r) return r == OPTS_HELP ? 0 : 2;
    srv.model_id = o.alias ? o.alias : base_name(o.model);
    srv.max_body = (size_t)o.max_body;
    srv.max_messages = (int)o.max_messages;
    llm_error err;
    llm_model *model = llm_model_load(o.model, NULL, &err);
    if (!model) die("%s", err.msg);
    srv.model = model;
    size_t tmpl_len; /* read_file ends the text with a NUL (a NUL inside ends it early) */
    char *tmpl_src = o.template_file ? read_file(o.template_file, &tmpl_len) : NULL;
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
    if (!srv.pool) die("cannot make %d slots: %s", (int)o.n_slots, err.msg);
    serve(&srv, &o);
    pool_free(srv.pool);
    free(tmpl_src);
    llm_model_free(model);
    return 0;
}
