/* Conversation mode of the llm example (-cnv).
 *
 * The conversation is a list of messages. Each turn renders the whole of
 * it with the chat template (llm_chat_apply) and tokenizes the text with
 * control tokens matched; the KV cache already holds the tokens of the
 * last turn, so only what follows their common prefix is decoded (the
 * cache is cut back to the prefix where the two differ, e.g. where the
 * reply as sampled and the reply as tokenized again part ways). When the
 * conversation outgrows the context, the oldest exchanges are dropped,
 * the system message kept, and what is left is read again; the program
 * says so and goes on. */
#include "llm_chat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "think.h"
#include "toolutil.h"

/* ---------------------------------------------------------------- text */

int32_t *tokenize(const llm_model *m, const char *text, uint32_t flags, size_t *n, llm_error *err) {
    size_t len = strlen(text), cap = len + 2;
    int32_t *toks = xmalloc(cap * sizeof *toks);
    llm_status s = llm_tokenize(m, text, len, toks, cap, n, flags, err);
    if (s == LLM_ERR_BUFFER_TOO_SMALL) {
        free(toks);
        toks = xmalloc(*n * sizeof *toks);
        s = llm_tokenize(m, text, len, toks, *n, n, flags, err);
    }
    if (s == LLM_OK) return toks;
    free(toks);
    return NULL;
}

void print_ids(const char *what, int32_t pos, const int32_t *ids, size_t n) {
    fprintf(stderr, "llm: %s: fed at %d, %zu tokens:", what, (int)pos, n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

static int hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

void unescape(char *s) {
    static const char from[] = "ntr\\\"'abfv0", to[] = "\n\t\r\\\"'\a\b\f\v";
    char *w = s;
    for (const char *r = s; *r; r++) {
        const char *k = r[0] == '\\' && r[1] ? strchr(from, r[1]) : NULL;
        if (k) {
            *w++ = to[k - from]; /* \0 maps to the terminating NUL of to */
            r++;
        } else if (r[0] == '\\' && r[1] == 'x' && hex(r[2]) >= 0 && hex(r[3]) >= 0) {
            *w++ = (char)(hex(r[2]) * 16 + hex(r[3]));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

/* A JSON string of len bytes of s, on stderr (--verbose-prompt shows
 * replies so, which keeps their bytes exact and on one line). */
static void print_json_string(const char *s, size_t len) {
    fputc('"', stderr);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(stderr, "\\%c", c);
        else if (c < 0x20) fprintf(stderr, "\\u%04x", c);
        else fputc(c, stderr);
    }
    fputs("\"\n", stderr);
}

/* ---------------------------------------------------------------- Ctrl-C */

/* Ctrl-C ends the reply being written; at the prompt, the conversation
 * (as in llama.cpp). The handler only sets the flag: the reply loop polls
 * it, and getline, not restarted, returns at once. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void catch_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART */
}

/* ---------------------------------------------------------------- conversation */

typedef struct chat {
    const options *o;
    const llm_model *m;
    llm_ctx *ctx;
    llm_sampler *smp;
    llm_chat_params params;
    char *template_src;     /* --chat-template FILE's text */
    llm_chat_message *msgs; /* role and content owned */
    size_t n_msgs, cap_msgs;
    size_t n_keep;          /* leading messages never dropped: the system message */
    int think_open;         /* the rendered text ends inside <think> (DeepSeek R1) */
    int32_t *cache;         /* the tokens in the KV cache, n_cache of them */
    size_t n_cache;
    size_t kept;            /* of them, those the last sync_cache kept (for -v) */
    int turn;
} chat;

static void push_msg(chat *c, const char *role, const char *content, size_t len) {
    if (c->n_msgs == c->cap_msgs) {
        c->cap_msgs = c->cap_msgs ? 2 * c->cap_msgs : 16;
        llm_chat_message *m = realloc(c->msgs, c->cap_msgs * sizeof *m);
        if (!m) die("out of memory");
        c->msgs = m;
    }
    char *r = xmalloc(strlen(role) + 1), *t = xmalloc(len + 1);
    strcpy(r, role);
    memcpy(t, content, len);
    t[len] = 0;
    c->msgs[c->n_msgs++] = (llm_chat_message){r, t};
}

/* Removes count messages from index at on. */
static void drop_msgs(chat *c, size_t at, size_t count) {
    if (!count) return;
    for (size_t i = at; i < at + count; i++) {
        free((char *)c->msgs[i].role);
        free((char *)c->msgs[i].content);
    }
    memmove(c->msgs + at, c->msgs + at + count, (c->n_msgs - at - count) * sizeof *c->msgs);
    c->n_msgs -= count;
}

/* The oldest exchange after the kept messages: its first message and the
 * ones up to the next user message, never the last user message. Returns
 * how many were dropped (0: nothing left to drop). */
static size_t drop_oldest(chat *c) {
    size_t last_user = c->n_msgs;
    while (last_user > c->n_keep && strcmp(c->msgs[last_user - 1].role, "user") != 0) last_user--;
    if (last_user == 0 || last_user - 1 <= c->n_keep) return 0;
    size_t end = c->n_keep + 1;
    while (end < last_user - 1 && strcmp(c->msgs[end].role, "user") != 0) end++;
    drop_msgs(c, c->n_keep, end - c->n_keep);
    return end - c->n_keep;
}

/* The conversation rendered with the generation prompt, tokenized with
 * control tokens matched; BOS is added when the vocabulary wants it and
 * the template did not write it already. NULL after a message. */
static int32_t *render(chat *c, size_t *n) {
    llm_error err;
    size_t needed = 0, cap = 4096;
    char *text = xmalloc(cap);
    llm_status s = llm_chat_apply(c->m, &c->params, c->msgs, c->n_msgs, text, cap, &needed, &err);
    if (s == LLM_ERR_BUFFER_TOO_SMALL) {
        free(text);
        text = xmalloc(cap = needed);
        s = llm_chat_apply(c->m, &c->params, c->msgs, c->n_msgs, text, cap, &needed, &err);
    }
    int32_t *toks = s == LLM_OK ? tokenize(c->m, text, LLM_TOKENIZE_SPECIAL, n, &err) : NULL;
    const char *open = toks ? strstr(text, "<think>") : NULL;
    while (open && strstr(open + 1, "<think>")) open = strstr(open + 1, "<think>");
    c->think_open = open && !strstr(open, "</think>");
    free(text);
    if (!toks) {
        fail("cannot render the conversation: %s", err.msg);
        return NULL;
    }
    int32_t bos = llm_token_bos(c->m);
    if (llm_model_add_bos(c->m) && bos != LLM_TOKEN_NULL && (*n == 0 || toks[0] != bos)) {
        int32_t *t = xmalloc((*n + 1) * sizeof *t);
        t[0] = bos;
        memcpy(t + 1, toks, *n * sizeof *t);
        free(toks);
        toks = t;
        (*n)++;
    }
    return toks;
}

/* Makes the KV cache hold toks: keeps the common prefix, decodes the rest
 * (at least the last token, whose logits the reply starts from). A shift
 * in the middle of a reply is labelled apart in --verbose-prompt. */
static int sync_cache(chat *c, const int32_t *toks, size_t n, int mid_reply) {
    size_t keep = 0;
    while (keep < n && keep < c->n_cache && c->cache[keep] == toks[keep]) keep++;
    if (keep == n && n > 0) keep--;
    llm_error err;
    if (llm_ctx_truncate(c->ctx, (int32_t)keep, &err) != LLM_OK) return fail("%s", err.msg);
    c->n_cache = c->kept = keep;
    if (c->o->verbose_prompt) {
        char what[32];
        snprintf(what, sizeof what, mid_reply ? "turn %d, reply shifted" : "turn %d", c->turn);
        print_ids(what, (int32_t)keep, toks + keep, n - keep);
    }
    if (n > keep && llm_decode(c->ctx, toks + keep, (int32_t)(n - keep), &err) != LLM_OK) return fail("%s", err.msg);
    for (size_t i = keep; i < n; i++) llm_sampler_accept(c->smp, toks[i]);
    memcpy(c->cache + keep, toks + keep, (n - keep) * sizeof *toks);
    c->n_cache = n;
    return 0;
}

/* Renders the conversation so that it fits the context with room for
 * reserve more tokens, dropping the oldest exchanges as needed (and
 * saying so), then brings the cache to it followed by the tokens extra (a
 * reply under way). Returns 0; 1 when the conversation cannot be rendered
 * (said on stderr); 2 when it does not fit even with nothing left to
 * drop; -1 when decoding failed. */
static int fit(chat *c, size_t reserve, const int32_t *extra, size_t n_extra) {
    size_t n_ctx = (size_t)llm_ctx_n_ctx(c->ctx), dropped = 0, n;
    int32_t *toks;
    while ((toks = render(c, &n)) && n + n_extra + reserve > n_ctx) {
        free(toks);
        size_t k = drop_oldest(c);
        if (!k) return 2;
        dropped += k;
    }
    if (!toks) return 1;
    if (dropped)
        fprintf(stderr, "\nllm: context full: dropped the oldest %zu messages, reading the other %zu again\n",
                dropped, c->n_msgs);
    toks = realloc(toks, (n + n_extra + 1) * sizeof *toks);
    if (!toks) die("out of memory");
    if (n_extra) memcpy(toks + n, extra, n_extra * sizeof *toks);
    int r = sync_cache(c, toks, n + n_extra, extra != NULL);
    free(toks);
    return r ? -1 : 0;
}

/* Nonzero when the reply ends with one of the stop strings; *len then
 * drops it. */
static int ends_with_stop(const options *o, const char *reply, size_t *len) {
    for (size_t i = 0; i < o->n_stop; i++) {
        size_t k = strlen(o->stop[i]);
        if (k && k <= *len && memcmp(reply + *len - k, o->stop[i], k) == 0) {
            *len -= k;
            return 1;
        }
    }
    return 0;
}

/* A growing byte buffer for the reply's text. */
typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes;

static void bytes_add(bytes *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        if (!(b->p = realloc(b->p, b->cap))) die("out of memory");
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* Room for one more token of a reply whose tokens are cache[*first..]:
 * when the context is full, the oldest turns go and the rest is read
 * again with the reply so far. 0, 1 when the reply must end there (said
 * on stderr), -1 on error. */
static int make_room(chat *c, size_t *first) {
    if (c->n_cache + 1 <= (size_t)llm_ctx_n_ctx(c->ctx)) return 0;
    size_t n_reply = c->n_cache - *first;
    int32_t *sofar = xmalloc((n_reply + 1) * sizeof *sofar);
    memcpy(sofar, c->cache + *first, n_reply * sizeof *sofar);
    int r = fit(c, 1, sofar, n_reply);
    free(sofar);
    if (r == 2) fprintf(stderr, "\nllm: context full: the reply is cut short\n");
    if (r == 0) *first = c->n_cache - n_reply;
    return r < 0 ? -1 : r > 0;
}

/* Bytes of the reply: shown, and kept for the conversation. */
static void reply_bytes(think *th, bytes *text, const char *s, size_t len) {
    think_put(th, s, len);
    bytes_add(text, s, len);
}

/* The end of a reply: what the detokenizer held back, the display reset,
 * the reply as the assistant's message (and on stderr with
 * --verbose-prompt). */
static void reply_end(chat *c, think *th, llm_detok *d, bytes *text) {
    char tail[64];
    size_t len;
    if (llm_detok_flush(d, tail, sizeof tail, &len) == LLM_OK) reply_bytes(th, text, tail, len);
    think_end(th);
    if (c->o->verbose_prompt) {
        fprintf(stderr, "llm: turn %d reply: ", c->turn);
        print_json_string(text->p ? text->p : "", text->n);
    }
    push_msg(c, "assistant", text->p ? text->p : "", text->n);
}

/* Samples, streams and records the assistant's reply, up to n_predict
 * tokens, the end of the turn or a stop string. Returns 0 or 1. */
static int reply(chat *c) {
    think th;
    think_start(&th, stdout, isatty(STDOUT_FILENO), c->think_open);
    llm_error err;
    llm_detok *d = llm_detok_new(c->m, &err);
    if (!d) return fail("%s", err.msg);
    bytes text = {0};
    size_t first = c->n_cache; /* the reply's tokens are cache[first..] */
    int rc = 0;
    interrupted = 0;
    for (int i = 0; i < c->o->n_predict && !rc && !interrupted; i++) {
        int32_t tok = llm_sampler_sample(c->smp, llm_logits(c->ctx), llm_model_n_vocab(c->m), &err);
        if (tok < 0) rc = fail("sampling failed: %s", err.msg);
        if (rc || llm_token_is_eog(c->m, tok)) break;
        llm_sampler_accept(c->smp, tok);
        char small[512], *owned;
        size_t len;
        const char *piece = detok_piece(d, tok, small, sizeof small, &len, &owned);
        if (piece) reply_bytes(&th, &text, piece, len);
        free(owned);
        int room = ends_with_stop(c->o, text.p, &text.n) ? 1 : make_room(c, &first);
        if (room) {
            rc = room < 0;
            break;
        }
        if (llm_decode(c->ctx, &tok, 1, &err) != LLM_OK) rc = fail("%s", err.msg);
        else c->cache[c->n_cache++] = tok;
    }
    reply_end(c, &th, d, &text);
    llm_detok_free(d);
    free(text.p);
    return rc;
}

/* One turn: the conversation (the user's message last) into the cache,
 * then the reply. A message that does not fit is taken back. */
static int turn(chat *c) {
    c->turn++;
    size_t reserve = (size_t)c->o->n_predict < (size_t)llm_ctx_n_ctx(c->ctx) / 4
                         ? (size_t)c->o->n_predict : (size_t)llm_ctx_n_ctx(c->ctx) / 4;
    double t0 = now();
    size_t n_before = c->n_cache;
    int r = fit(c, reserve ? reserve : 1, NULL, 0);
    double t1 = now();
    if (r == 2)
        fprintf(stderr, "llm: the message is left out: with room for a reply it does not fit the context of %d tokens\n",
                (int)llm_ctx_n_ctx(c->ctx));
    if (r > 0) {
        drop_msgs(c, c->n_msgs - 1, 1);
        return 0; /* the conversation goes on */
    }
    if (r < 0) return 1;
    size_t kept = c->kept, n_prompt = c->n_cache;
    int rc = reply(c);
    if (c->o->verbose)
        fprintf(stderr, "llm: turn %d: %zu of %zu cached tokens kept, %zu read in %.1f ms, %zu generated in %.1f ms\n",
                c->turn, kept, n_before, n_prompt - kept, (t1 - t0) * 1e3, c->n_cache - n_prompt, (now() - t1) * 1e3);
    return rc;
}

/* The chat template: --chat-template NAME (a built-in) or FILE, else the
 * model's; -v says which. Returns 0, or 1 after a message. */
static int pick_template(chat *c) {
    const char *t = c->o->chat_template;
    if (!t) {
        if (!llm_model_chat_template(c->m))
            return fail("%s", "the model has no chat template: give one with --chat-template NAME|FILE");
        if (c->o->verbose) fprintf(stderr, "llm: chat template: the model's\n");
        return 0;
    }
    for (const char *const *n = llm_chat_builtin_names(); *n; n++)
        if (strcmp(*n, t) == 0) {
            c->params.template_name = t;
            if (c->o->verbose) fprintf(stderr, "llm: chat template: the built-in %s\n", t);
            return 0;
        }
    if (access(t, R_OK) != 0)
        return fail("--chat-template '%s' is neither a built-in template nor a readable file", t);
    size_t len;
    c->template_src = read_file(t, &len);
    c->params.template_src = c->template_src;
    if (c->o->verbose) fprintf(stderr, "llm: chat template: %s (%zu bytes)\n", t, len);
    return 0;
}

/* A line of stdin without its newline; a line ending in '\' goes on with
 * the next; "" for one holding a NUL byte (said on stderr). NULL at the
 * end of input or on Ctrl-C. */
static char *read_message(void) {
    bytes b = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = 0;
    interrupted = 0;
    while (!interrupted && (n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') n--;
        int more = n > 0 && line[n - 1] == '\\';
        bytes_add(&b, line, (size_t)(n - more));
        if (!more) break;
        bytes_add(&b, "\n", 1);
    }
    free(line);
    if (interrupted || (n <= 0 && !b.p)) {
        free(b.p);
        return NULL;
    }
    if (memchr(b.p, 0, b.n)) {
        fprintf(stderr, "llm: a message holding a NUL byte is left out\n");
        b.n = 0;
    }
    bytes_add(&b, "", 0);
    b.p[b.n] = 0;
    return b.p;
}

/* /clear, /regen: 1 when the line was one of them (and done). */
static int command(chat *c, const char *line, int *rc) {
    if (strcmp(line, "/clear") == 0) {
        drop_msgs(c, c->n_keep, c->n_msgs - c->n_keep);
        llm_sampler_reset(c->smp);
        fprintf(stderr, "llm: conversation cleared\n");
        return 1;
    }
    if (strcmp(line, "/regen") != 0) return 0;
    if (c->n_msgs == c->n_keep || strcmp(c->msgs[c->n_msgs - 1].role, "assistant") != 0) {
        fprintf(stderr, "llm: /regen: no reply to write again\n");
        return 1;
    }
    drop_msgs(c, c->n_msgs - 1, 1);
    *rc = turn(c);
    return 1;
}

static void chat_free(chat *c) {
    drop_msgs(c, 0, c->n_msgs);
    free(c->msgs);
    free(c->cache);
    free(c->template_src);
}

int chat_run(const options *o, const char *first, const llm_model *m, llm_ctx *ctx, llm_sampler *smp) {
    chat c = {.o = o, .m = m, .ctx = ctx, .smp = smp, .params = llm_chat_default_params()};
    if (pick_template(&c)) return 1;
    c.cache = xmalloc((size_t)llm_ctx_n_ctx(ctx) * sizeof *c.cache);
    if (o->system) push_msg(&c, "system", o->system, strlen(o->system));
    c.n_keep = c.n_msgs;
    int tty = isatty(STDIN_FILENO), rc = 0;
    if (tty) {
        fprintf(stderr, "llm: conversation mode; /exit, /clear, /regen; Ctrl-C ends a reply (see --help)\n");
        catch_sigint();
    }
    char *line = *first ? strcpy(xmalloc(strlen(first) + 1), first) : NULL;
    while (!rc) {
        if (!line && tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if (!line && !(line = read_message())) break;
        if (strcmp(line, "/exit") == 0) break;
        if (!command(&c, line, &rc) && *line) {
            push_msg(&c, "user", line, strlen(line));
            rc = turn(&c);
        }
        free(line);
        line = NULL;
    }
    free(line);
    chat_free(&c);
    return rc;
}
