/* HTTP for llm-server on GNU libmicrohttpd, a thread per connection: the
 * request checks (Host, API key, body size, content type), routing, and
 * the Server-Sent Events stream, which generates a token each time
 * libmicrohttpd asks for more bytes. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "toolutil.h"
#include <time.h>
#include <unistd.h>

#include "page_html.h"

typedef struct request {
    server *srv;
    sbuf body;
    size_t seen;  /* body bytes received, kept or not */
    double t0;
    int status;
    int fd;       /* the client's socket, polled for a hang-up */
    const char *url;
} request;

/* A streamed generation: the job, and the SSE bytes produced but not yet
 * taken by libmicrohttpd. */
typedef struct stream {
    job *j;
    oai_request r;
    oai_result res;
    char id[48];
    sbuf out;
    size_t out_pos, sent; /* bytes of out handed over; of the text sent */
    int started, done, fd;
} stream;

/* Whether the peer has closed its end (or the socket failed): a poll
 * that does not wait, so it can run before every token. A client that
 * only shuts down its sending side counts as gone too; HTTP clients do
 * not do that while they wait for an answer. */
static int fd_gone(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static int client_gone(void *arg) { return fd_gone(((request *)arg)->fd); }

/* Queues resp (and releases our reference) with the headers every
 * response carries. */
static enum MHD_Result send_response(struct MHD_Connection *c, request *rq, int status,
                                     struct MHD_Response *resp, const char *type) {
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rq->srv->cors_origin) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, rq->srv->cors_origin);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
    rq->status = status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Sends body (malloc'ed, taken over; NULL means memory ran out). */
static enum MHD_Result send_body(struct MHD_Connection *c, request *rq, int status, char *body,
                                 const char *type) {
    if (!body) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        return send_response(c, rq, 500, r, "application/json");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) free(body);
    return send_response(c, rq, status, r, type);
}

static enum MHD_Result send_json(struct MHD_Connection *c, request *rq, int status, char *json) {
    return send_body(c, rq, status, json, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *c, request *rq, const oai_error *e) {
    char *json = oai_error_json(e);
    struct MHD_Response *r = json ? MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!r) {
        free(json);
        return send_json(c, rq, 500, NULL);
    }
    if (e->status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (e->status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    return send_response(c, rq, e->status, r, "application/json");
}

#define FAIL(c, rq, status, code, ...)                                          \
    do {                                                                        \
        oai_error e_;                                                           \
        oai_fail(&e_, status, NULL, code, __VA_ARGS__);                         \
        return send_error(c, rq, &e_);                                          \
    } while (0)

/* ---------------------------------------------------------------- checks */

/* Compares in time that depends only on the expected key's length, so the
 * answer's timing says nothing about how much of a guess was right. */
static int same_secret(const char *got, const char *want) {
    size_t gl = strlen(got), wl = strlen(want);
    unsigned char diff = gl != wl;
    for (size_t i = 0; i < wl; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
    return !diff;
}

static int authorized(server *srv, struct MHD_Connection *c) {
    if (!srv->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return h && !strncasecmp(h, "Bearer ", 7) && same_secret(h + 7, srv->api_key);
}

/* On a loopback address only loopback names may be in Host, with our
 * port: a page on another site whose name an attacker points at 127.0.0.1
 * (DNS rebinding) sends its own name and is refused. */
static int host_allowed(server *srv, struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!srv->loopback || !h) return 1;
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(h, names[i], n)) continue;
        if (!h[n]) return srv->port == 80;
        char *end;
        unsigned long port = h[n] == ':' ? strtoul(h + n + 1, &end, 10) : 0;
        if (h[n] == ':' && h[n + 1] != '+' && h[n + 1] != '-' && !*end && port == srv->port) return 1;
    }
    return 0;
}

/* A POST body must say it is JSON: a cross-origin page cannot send that
 * without a CORS preflight, which this server refuses unless --cors-origin
 * allows the page. */
static int is_json(struct MHD_Connection *c) {
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    return t && !strncasecmp(t, "application/json", 16) && (!t[16] || t[16] == ';' || t[16] == ' ');
}

/* ---------------------------------------------------------------- streams */

/* Appends the chunks for the text produced since the last call, and the
 * closing chunks (finish reason, usage if asked, [DONE]) once finished. */
static int stream_chunks(stream *st) {
    size_t len;
    const char *text = job_text(st->j, &len);
    int rc = 0;
    if (len > st->sent) {
        st->res.text = text + st->sent;
        st->res.text_len = len - st->sent;
        rc |= oai_chunk_sse(&st->out, st->r.kind, &st->res, 0, 0);
        st->sent = len;
    }
    if (!job_finish(st->j)) return rc;
    st->res.text = st->r.kind == OAI_CHAT ? NULL : "";
    st->res.text_len = 0;
    st->res.finish = job_finish(st->j);
    job_tokens(st->j, &st->res.prompt_tokens, &st->res.completion_tokens);
    rc |= oai_chunk_sse(&st->out, st->r.kind, &st->res, 0, 0);
    if (st->r.include_usage) rc |= oai_chunk_sse(&st->out, st->r.kind, &st->res, 0, 1);
    rc |= sbuf_str(&st->out, "data: [DONE]\n\n");
    job_end(st->j); /* the slot is free before the client has read the end */
    st->j = NULL;
    st->done = 1;
    return rc;
}

/* Produces the next SSE bytes: the assistant's role first (chat), then a
 * token's worth of text at a time. An error mid-stream becomes an error
 * event, which the OpenAI clients raise. */
static int stream_next(stream *st) {
    if (!st->started) {
        st->started = 1;
        if (st->r.kind == OAI_CHAT) {
            st->res.text = "";
            st->res.text_len = 0;
            return oai_chunk_sse(&st->out, OAI_CHAT, &st->res, 1, 0);
        }
    }
    oai_error e;
    if (job_step(st->j, &e) >= 0) return stream_chunks(st);
    char *json = oai_error_json(&e);
    int rc = json ? sbuf_printf(&st->out, "data: %s\n\n", json) : -1;
    free(json);
    st->done = 1;
    return rc;
}

/* libmicrohttpd's content reader: it asks for bytes whenever the socket
 * can take them. A client that has hung up ends the response with an
 * error, which closes the connection and frees the stream and its slot. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    while (st->out_pos == st->out.len) {
        st->out.len = st->out_pos = 0;
        if (st->done) return MHD_CONTENT_READER_END_OF_STREAM;
        if (fd_gone(st->fd) || stream_next(st)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out.len - st->out_pos < max ? st->out.len - st->out_pos : max;
    memcpy(buf, st->out.p + st->out_pos, n);
    st->out_pos += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream *st = cls;
    job_end(st->j);
    oai_request_free(&st->r);
    sbuf_free(&st->out);
    free(st);
}

/* ---------------------------------------------------------------- endpoints */

/* An id unique within this process's life: the time and a counter. */
static void make_id(char *buf, size_t cap, const char *prefix) {
    static atomic_ullong counter;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(buf, cap, "%s-%llx%llx", prefix, (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec,
             atomic_fetch_add(&counter, 1));
}

/* Parses the request body as kind, against this server's model and limits. */
static int parse_body(request *rq, oai_kind kind, oai_request *r, oai_error *e) {
    server *srv = rq->srv;
    oai_limits lim = {srv->model_id, pool_n_ctx(srv->pool), llm_model_n_vocab(srv->model),
                      srv->max_messages, srv->max_depth};
    return oai_parse(rq->body.p ? rq->body.p : "", rq->body.len, kind, &lim, r, e);
}

/* The response to a finished non-streaming generation; ends the job. */
static enum MHD_Result reply_done(struct MHD_Connection *c, request *rq, job *j, oai_request *r,
                                  oai_result *res) {
    size_t len;
    res->text = job_text(j, &len);
    res->text_len = len;
    res->finish = job_finish(j);
    job_tokens(j, &res->prompt_tokens, &res->completion_tokens);
    char *json = oai_response_json(r->kind, res);
    job_end(j);
    oai_request_free(r);
    return send_json(c, rq, 200, json);
}

/* POST /v1/chat/completions and /v1/completions: validate, take a slot,
 * then generate to the end (closing the connection if the client leaves)
 * or hand the job to a stream. */
static enum MHD_Result completion(struct MHD_Connection *c, request *rq, oai_kind kind) {
    server *srv = rq->srv;
    stream *st = calloc(1, sizeof *st);
    if (!st) return send_json(c, rq, 500, NULL);
    oai_error e;
    oai_request *r = &st->r;
    int32_t n, *toks = NULL;
    if (parse_body(rq, kind, r, &e) ||
        !(toks = prompt_tokens(srv->model, &srv->tmpl, r, &n, &e)))
        goto fail;
    st->j = job_start(srv->pool, r, toks, n, client_gone, rq, &e);
    free(toks);
    if (!st->j) goto fail;
    make_id(st->id, sizeof st->id, kind == OAI_CHAT ? "chatcmpl" : "cmpl");
    st->res = (oai_result){.id = st->id, .model = srv->model_id, .created = time(NULL)};
    st->fd = rq->fd;
    if (!r->stream) {
        int s;
        while ((s = job_step(st->j, &e)) == 0 && !client_gone(rq)) {}
        if (s == 1) {
            enum MHD_Result ok = reply_done(c, rq, st->j, r, &st->res);
            free(st);
            return ok;
        }
        if (s == 0) e.status = 0; /* the client left */
        goto fail;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (!resp) {
        oai_fail(&e, 500, NULL, NULL, "out of memory for the stream");
        goto fail;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return send_response(c, rq, 200, resp, "text/event-stream");
fail:
    stream_free(st);
    return e.status ? send_error(c, rq, &e) : MHD_NO;
}

/* POST /v1/embeddings: each input embedded on its own, in order. */
static enum MHD_Result embeddings(struct MHD_Connection *c, request *rq) {
    server *srv = rq->srv;
    oai_request r;
    oai_error e;
    if (parse_body(rq, OAI_EMBEDDING, &r, &e)) return send_error(c, rq, &e);
    int dim = llm_model_n_embd(srv->model), rc = 0;
    int32_t total = 0;
    float *vecs = malloc((size_t)r.n_inputs * (size_t)dim * sizeof *vecs);
    if (!vecs) rc = oai_fail(&e, 500, NULL, NULL, "out of memory for %d embeddings", r.n_inputs);
    for (int i = 0; i < r.n_inputs && !rc; i++) {
        int32_t n, *toks = prompt_tokenize(srv->model, r.inputs[i], 0, &n, &e);
        rc = toks ? pool_embed(srv->pool, toks, n, vecs + (size_t)i * dim, client_gone, rq, &e) : -1;
        total += toks ? n : 0;
        free(toks);
    }
    char *json = rc ? NULL : oai_embeddings_json(srv->model_id, vecs, r.n_inputs, dim, r.base64, total);
    free(vecs);
    oai_request_free(&r);
    if (rc) return e.status ? send_error(c, rq, &e) : MHD_NO;
    return send_json(c, rq, 200, json);
}

static enum MHD_Result models(struct MHD_Connection *c, request *rq) {
    return send_json(c, rq, 200, oai_models_json(rq->srv->model_id, rq->srv->created));
}

#define MODELS_PREFIX "/v1/models/"

static enum MHD_Result model(struct MHD_Connection *c, request *rq) {
    const char *name = rq->url + strlen(MODELS_PREFIX);
    if (strcmp(name, rq->srv->model_id)) FAIL(c, rq, 404, "model_not_found", "The model '%.100s' does not exist", name);
    return send_json(c, rq, 200, oai_model_json(rq->srv->model_id, rq->srv->created));
}

static enum MHD_Result health(struct MHD_Connection *c, request *rq) {
    metrics *m = &rq->srv->m;
    sbuf b = {0};
    int busy = atomic_load(&m->slots_busy);
    if (sbuf_printf(&b, "{\"status\":\"ok\",\"slots_idle\":%d,\"slots_processing\":%d,\"queue\":%d}",
                    m->slots_total - busy, busy, atomic_load(&m->queue_depth)))
        sbuf_free(&b);
    return send_json(c, rq, 200, b.p);
}

static enum MHD_Result prometheus(struct MHD_Connection *c, request *rq) {
    sbuf b = {0};
    if (metrics_text(&rq->srv->m, &b)) sbuf_free(&b);
    return send_body(c, rq, 200, b.p, "text/plain; version=0.0.4");
}

static enum MHD_Result page(struct MHD_Connection *c, request *rq) {
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof page_html - 1, (void *)page_html, MHD_RESPMEM_PERSISTENT);
    if (r) MHD_add_response_header(r, "Content-Security-Policy",
                                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                   "connect-src 'self'; frame-ancestors 'none'");
    return send_response(c, rq, 200, r, "text/html; charset=utf-8");
}

static enum MHD_Result chat_route(struct MHD_Connection *c, request *rq) { return completion(c, rq, OAI_CHAT); }
static enum MHD_Result completion_route(struct MHD_Connection *c, request *rq) { return completion(c, rq, OAI_COMPLETION); }

typedef struct route {
    const char *method, *path;
    enum MHD_Result (*fn)(struct MHD_Connection *, request *);
    int open;   /* answered without the API key */
    int prefix; /* path is a prefix of the URLs it answers */
} route;

static const route routes[] = {
    {"GET", "/", page, 1, 0},
    {"GET", "/health", health, 1, 0},
    {"GET", "/metrics", prometheus, 0, 0},
    {"GET", "/v1/models", models, 0, 0},
    {"GET", MODELS_PREFIX, model, 0, 1},
    {"POST", "/v1/chat/completions", chat_route, 0, 0},
    {"POST", "/v1/completions", completion_route, 0, 0},
    {"POST", "/v1/embeddings", embeddings, 0, 0},
};

/* Answers a CORS preflight for the allowed origin. */
static enum MHD_Result preflight(struct MHD_Connection *c, request *rq) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    }
    return send_response(c, rq, 204, r, "text/plain");
}

static enum MHD_Result dispatch(struct MHD_Connection *c, request *rq, const char *url, const char *method) {
    server *srv = rq->srv;
    if (!host_allowed(srv, c))
        FAIL(c, rq, 403, "host_not_allowed", "the Host header must name this loopback server (localhost, 127.0.0.1 or [::1] with port %u)",
             srv->port);
    if (!strcmp(method, "OPTIONS") && srv->cors_origin) return preflight(c, rq);
    const route *match = NULL;
    int known = 0;
    rq->url = url;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (routes[i].prefix ? !strncmp(url, routes[i].path, strlen(routes[i].path)) : !strcmp(url, routes[i].path)) {
            known = 1;
            if (!strcmp(method, routes[i].method)) match = &routes[i];
        }
    if (!match && known) FAIL(c, rq, 405, "method_not_allowed", "%.100s does not take %.20s", url, method);
    if (!match) FAIL(c, rq, 404, "not_found", "no endpoint %.100s", url);
    if (!match->open && !authorized(srv, c))
        FAIL(c, rq, 401, "invalid_api_key", "a valid API key is needed: Authorization: Bearer KEY");
    if (rq->seen > srv->max_body)
        FAIL(c, rq, 413, "request_too_large", "the request body has %zu bytes; the limit is %zu", rq->seen, srv->max_body);
    if (!strcmp(method, "POST") && !is_json(c))
        FAIL(c, rq, 415, "unsupported_media_type", "the body must be sent as Content-Type: application/json");
    return match->fn(c, rq);
}

/* libmicrohttpd calls this first with the headers, then with each piece
 * of the body, then once more with none. The body is kept up to the limit;
 * beyond it, bytes are read and dropped (so the client still reads the 413)
 * unless it goes on past 8 times the limit, where the connection is cut. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *rq = (request){.srv = cls, .t0 = now(), .fd = ci ? ci->connect_fd : -1};
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        rq->seen += n;
        if (rq->seen / 8 > rq->srv->max_body) return MHD_NO;
        if (rq->seen > rq->srv->max_body) return MHD_YES;
        return sbuf_add(&rq->body, upload, n) ? MHD_NO : MHD_YES;
    }
    return dispatch(c, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)c, (void)why;
    server *srv = cls;
    request *rq = *con_cls;
    if (!rq) return;
    metrics_request(&srv->m, rq->status, now() - rq->t0);
    sbuf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

/* A socket bound to host:port and listening, its port (the one the
 * kernel picked for port 0) in srv->port before any connection thread can
 * look at it; -1 with a message in err. */
static int listen_on(server *srv, const char *host, uint16_t port, char *err, size_t cap) {
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t len = sizeof *v4;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        srv->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        srv->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
        len = sizeof *v6;
    } else {
        snprintf(err, cap, "--host '%s' is not a numeric IPv4 or IPv6 address", host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd >= 0 && ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128) ||
        getsockname(fd, (struct sockaddr *)&ss, &len)) {
        snprintf(err, cap, "cannot listen on %s port %u: %s", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    srv->port = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
    return fd;
}

struct MHD_Daemon *http_start(server *srv, const char *host, uint16_t port, int max_conn, char *err, size_t cap) {
    int fd = listen_on(srv, host, port, err, cap);
    if (fd < 0) return NULL;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
            (strchr(host, ':') ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, srv,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_END);
    if (!d) {
        close(fd);
        snprintf(err, cap, "libmicrohttpd cannot serve on %s port %u", host, srv->port);
    }
    return d;
}
