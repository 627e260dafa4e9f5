#include "oai.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int oai_fail(oai_error *e, int status, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    e->type = status == 401 ? "authentication_error"
              : status == 404 ? "not_found_error"
              : status == 503 ? "server_busy"
              : status >= 500 ? "server_error" : "invalid_request_error";
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int nomem(oai_error *e) { return oai_fail(e, 500, NULL, NULL, "out of memory"); }

/* A field counts as absent when it is missing or JSON null, as the OpenAI
 * clients send null for "not set". */
static const cJSON *field(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* A number field in [lo, hi], *out untouched when absent. */
static int number(const cJSON *obj, const char *name, double lo, double hi, float *out,
                  oai_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return oai_fail(e, 400, name, "invalid_value", "'%s' must be a number from %g to %g",
                        name, lo, hi);
    *out = (float)v->valuedouble;
    return 0;
}

/* An integer field in [lo, hi] (hi at most 2^53, where doubles stay exact). */
static int integer(const cJSON *obj, const char *name, double lo, double hi, double *out,
                   oai_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return oai_fail(e, 400, name, "invalid_value", "'%s' must be an integer from %.0f to %.0f",
                        name, lo, hi);
    *out = d;
    return 0;
}

static int boolean(const cJSON *obj, const char *name, int *out, oai_error *e) {
    const cJSON *v = field(obj, name);
    if (!v) return 0;
    if (!cJSON_IsBool(v))
        return oai_fail(e, 400, name, "invalid_type", "'%s' must be a boolean", name);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int dup_string(const char *s, char **out, oai_error *e) {
    *out = strdup(s);
    return *out ? 0 : nomem(e);
}

/* Deeper than max nesting fails; cJSON itself stops at 1000 levels, so
 * this recursion is bounded too. */
static int too_deep(const cJSON *v, int max) {
    if (max < 0) return 1;
    for (const cJSON *c = v->child; c; c = c->next)
        if (too_deep(c, max - 1)) return 1;
    return 0;
}

/* The parts of a message's content: a string, or an array of
 * {"type":"text","text":...} parts, joined; null (an assistant turn that
 * only called tools) is empty. */
static int content_text(const cJSON *c, int i, char **out, oai_error *e) {
    if (!c) return dup_string("", out, e);
    if (cJSON_IsString(c)) return dup_string(c->valuestring, out, e);
    if (!cJSON_IsArray(c))
        return oai_fail(e, 400, "messages", "invalid_type",
                        "messages[%d].content must be a string or an array of text parts", i);
    sbuf b = {0};
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = field(part, "type"), *text = field(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text)) {
            sbuf_free(&b);
            return oai_fail(e, 400, "messages", "unsupported_content",
                            "messages[%d].content: only {\"type\":\"text\",\"text\":...} parts are supported", i);
        }
        if (sbuf_str(&b, text->valuestring)) return sbuf_free(&b), nomem(e);
    }
    *out = sbuf_take(&b);
    return *out ? 0 : nomem(e);
}

static int parse_messages(const cJSON *root, const oai_limits *lim, oai_request *r, oai_error *e) {
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    const cJSON *msgs = field(root, "messages");
    if (!msgs) return oai_fail(e, 400, "messages", "missing_required_parameter", "'messages' is required");
    int n = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : -1;
    if (n < 1 || n > lim->max_messages)
        return oai_fail(e, 400, "messages", "invalid_value",
                        "'messages' must be an array of 1 to %d messages", lim->max_messages);
    r->messages = calloc((size_t)n, sizeof *r->messages);
    if (!r->messages) return nomem(e);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        int i = r->n_messages;
        const cJSON *role = field(m, "role");
        size_t k = 0;
        while (cJSON_IsString(role) && k < sizeof roles / sizeof *roles && strcmp(role->valuestring, roles[k])) k++;
        if (!cJSON_IsString(role) || k == sizeof roles / sizeof *roles)
            return oai_fail(e, 400, "messages", "invalid_value",
                            "messages[%d].role must be one of system, developer, user, assistant, tool", i);
        if (dup_string(roles[k], &r->messages[i].role, e)) return -1;
        r->n_messages++;
        if (content_text(field(m, "content"), i, &r->messages[i].content, e)) return -1;
    }
    return 0;
}

/* "stop": one string or an array of up to OAI_MAX_STOP, each non-empty. */
static int parse_stop(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *stop = field(root, "stop");
    if (!stop) return 0;
    int n = cJSON_IsString(stop) ? 1 : cJSON_IsArray(stop) ? cJSON_GetArraySize(stop) : -1;
    if (n < 0 || n > OAI_MAX_STOP)
        return oai_fail(e, 400, "stop", "invalid_value", "'stop' must be a string or an array of up to %d strings", OAI_MAX_STOP);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_IsString(stop) ? stop : cJSON_GetArrayItem(stop, i);
        size_t len = cJSON_IsString(s) ? strlen(s->valuestring) : 0;
        if (len < 1 || len > OAI_MAX_STOP_LEN)
            return oai_fail(e, 400, "stop", "invalid_value", "each stop string must have 1 to %d bytes", OAI_MAX_STOP_LEN);
        if (dup_string(s->valuestring, &r->stop[r->n_stop], e)) return -1;
        r->n_stop++;
    }
    return 0;
}

/* "logit_bias": {"token id": bias from -100 to 100}. */
static int parse_bias(const cJSON *root, const oai_limits *lim, oai_request *r, oai_error *e) {
    const cJSON *lb = field(root, "logit_bias");
    if (!lb) return 0;
    int n = cJSON_IsObject(lb) ? cJSON_GetArraySize(lb) : -1;
    if (n < 0 || n > OAI_MAX_BIAS)
        return oai_fail(e, 400, "logit_bias", "invalid_value", "'logit_bias' must be an object of up to %d entries", OAI_MAX_BIAS);
    r->bias = calloc((size_t)n + 1, sizeof *r->bias);
    if (!r->bias) return nomem(e);
    const cJSON *b;
    cJSON_ArrayForEach(b, lb) {
        char *end;
        long tok = strtol(b->string, &end, 10);
        if (!*b->string || *end || b->string[0] == '-' || b->string[0] == '+' || tok < 0 || tok >= lim->n_vocab)
            return oai_fail(e, 400, "logit_bias", "invalid_value", "logit_bias key '%.40s' is not a token id below %d",
                            b->string, lim->n_vocab);
        if (!cJSON_IsNumber(b) || !(b->valuedouble >= -100 && b->valuedouble <= 100))
            return oai_fail(e, 400, "logit_bias", "invalid_value", "logit_bias values must be numbers from -100 to 100");
        r->bias[r->n_bias++] = (llm_logit_bias){(int32_t)tok, (float)b->valuedouble};
    }
    return 0;
}

/* Fields that ask for something the server does not do are refused by
 * name rather than ignored, so the client does not silently go without. */
static int refuse_unsupported(const cJSON *root, oai_error *e) {
    static const char *const names[] = {"tools", "functions", "logprobs", "top_logprobs", "echo",
                                        "best_of", "suffix", "response_format", "dimensions", "audio"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const cJSON *v = field(root, names[i]);
        if (v && !cJSON_IsFalse(v) && !(cJSON_IsArray(v) && !cJSON_GetArraySize(v)))
            return oai_fail(e, 400, names[i], "unsupported_parameter", "'%s' is not supported by this server", names[i]);
    }
    return 0;
}

static int parse_sampling(const cJSON *root, const oai_limits *lim, oai_request *r, oai_error *e) {
    double n = 1, seed = 0, max = 0;
    r->temperature = r->top_p = 1;
    if (integer(root, "n", 1, 128, &n, e) || number(root, "temperature", 0, 2, &r->temperature, e) ||
        number(root, "top_p", 0, 1, &r->top_p, e) ||
        number(root, "presence_penalty", -2, 2, &r->presence_penalty, e) ||
        number(root, "frequency_penalty", -2, 2, &r->frequency_penalty, e) ||
        integer(root, "seed", -9007199254740992.0, 9007199254740992.0, &seed, e) ||
        integer(root, "max_tokens", 1, lim->n_ctx, &max, e) ||
        integer(root, "max_completion_tokens", 1, lim->n_ctx, &max, e) ||
        boolean(root, "stream", &r->stream, e) || parse_stop(root, r, e) || parse_bias(root, lim, r, e))
        return -1;
    if (n != 1) return oai_fail(e, 400, "n", "invalid_value", "only n = 1 is supported");
    if (r->top_p == 0) return oai_fail(e, 400, "top_p", "invalid_value", "'top_p' must be above 0");
    r->has_seed = field(root, "seed") != NULL;
    r->seed = (uint64_t)(int64_t)seed;
    /* OpenAI's completions default to 16 tokens; chat runs to the end. */
    r->max_tokens = max ? (int32_t)max : r->kind == OAI_COMPLETION ? 16 : 0;
    const cJSON *so = field(root, "stream_options");
    if (so && (!r->stream || !cJSON_IsObject(so)))
        return oai_fail(e, 400, "stream_options", "invalid_value", "'stream_options' must be an object, and only with stream: true");
    return so ? boolean(so, "include_usage", &r->include_usage, e) : 0;
}

static int parse_inputs(const cJSON *root, oai_request *r, oai_error *e) {
    const cJSON *in = field(root, "input"), *fmt = field(root, "encoding_format");
    int n = cJSON_IsString(in) ? 1 : cJSON_IsArray(in) ? cJSON_GetArraySize(in) : -1;
    if (n < 1 || n > OAI_MAX_INPUTS)
        return oai_fail(e, 400, "input", "invalid_value", "'input' must be a string or an array of 1 to %d strings", OAI_MAX_INPUTS);
    if (fmt && !(cJSON_IsString(fmt) && (!strcmp(fmt->valuestring, "float") || !strcmp(fmt->valuestring, "base64"))))
        return oai_fail(e, 400, "encoding_format", "invalid_value", "'encoding_format' must be \"float\" or \"base64\"");
    r->base64 = fmt && !strcmp(fmt->valuestring, "base64");
    r->inputs = calloc((size_t)n, sizeof *r->inputs);
    if (!r->inputs) return nomem(e);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_IsString(in) ? in : cJSON_GetArrayItem(in, i);
        if (!cJSON_IsString(s) || !*s->valuestring)
            return oai_fail(e, 400, "input", "invalid_value", "input[%d] must be a non-empty string", i);
        if (dup_string(s->valuestring, &r->inputs[i], e)) return -1;
        r->n_inputs++;
    }
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The first key that appears twice in one object, or NULL (-1 in *oom
 * when memory runs out). cJSON keeps the first of two, Python's json (and
 * so OpenAI's own servers) the last: refusing both spares a client or a
 * proxy in front from reading the request differently. */
static const char *repeated_key(const cJSON *v, int *oom) {
    int n = 0;
    for (const cJSON *c = v->child; c; c = c->next) n++;
    const cJSON **keys = cJSON_IsObject(v) && n > 1 ? malloc((size_t)n * sizeof *keys) : NULL;
    if (cJSON_IsObject(v) && n > 1 && !keys) return *oom = -1, NULL;
    const char *dup = NULL;
    if (keys) {
        n = 0;
        for (const cJSON *c = v->child; c; c = c->next) keys[n++] = c;
        qsort(keys, (size_t)n, sizeof *keys, by_name);
        for (int i = 1; i < n && !dup; i++)
            if (!strcmp(keys[i - 1]->string, keys[i]->string)) dup = keys[i]->string;
        free(keys);
    }
    for (const cJSON *c = v->child; c && !dup && !*oom; c = c->next) dup = repeated_key(c, oom);
    return dup;
}

/* Whether a string in the body escapes a NUL (\u0000), which cJSON would
 * silently cut the string at: a backslash escapes it when an odd number
 * of them stand before the u. */
static int escapes_nul(const char *body, size_t len) {
    for (size_t i = 1; i + 5 <= len; i++) {
        if (body[i] != 'u' || memcmp(body + i + 1, "0000", 4)) continue;
        size_t k = i;
        while (k > 0 && body[k - 1] == '\\') k--;
        if ((i - k) % 2) return 1;
    }
    return 0;
}

static int parse_root(const cJSON *root, const oai_limits *lim, oai_request *r, oai_error *e) {
    if (!cJSON_IsObject(root)) return oai_fail(e, 400, NULL, "invalid_json", "the request body must be a JSON object");
    if (too_deep(root, lim->max_depth))
        return oai_fail(e, 400, NULL, "invalid_json", "the request nests deeper than %d levels", lim->max_depth);
    int oom = 0;
    const char *dup = repeated_key(root, &oom);
    if (oom) return nomem(e);
    if (dup) return oai_fail(e, 400, NULL, "invalid_json", "the key '%.100s' appears twice in one object", dup);
    const cJSON *model = field(root, "model");
    if (!cJSON_IsString(model)) return oai_fail(e, 400, "model", "missing_required_parameter", "'model' must be a string");
    if (strcmp(model->valuestring, lim->model_id))
        return oai_fail(e, 404, "model", "model_not_found", "The model '%.100s' does not exist; this server has '%.100s'",
                        model->valuestring, lim->model_id);
    if (refuse_unsupported(root, e)) return -1;
    if (r->kind == OAI_EMBEDDING) return parse_inputs(root, r, e);
    if (parse_sampling(root, lim, r, e)) return -1;
    if (r->kind == OAI_CHAT) return parse_messages(root, lim, r, e);
    const cJSON *prompt = field(root, "prompt");
    if (!cJSON_IsString(prompt)) return oai_fail(e, 400, "prompt", "invalid_type", "'prompt' must be a string");
    return dup_string(prompt->valuestring, &r->prompt, e);
}

int oai_parse(const char *body, size_t len, oai_kind kind, const oai_limits *lim,
              oai_request *req, oai_error *e) {
    *req = (oai_request){.kind = kind};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return oai_fail(e, 400, NULL, "invalid_json", "the request body is not valid JSON (at byte %zu)", at);
    }
    while (end < body + len && strchr(" \t\r\n", *end) && *end) end++;
    int rc = end < body + len ? oai_fail(e, 400, NULL, "invalid_json", "the request body has bytes after its JSON value")
             : escapes_nul(body, len) ? oai_fail(e, 400, NULL, "invalid_json", "a string holds \\u0000, which this server cannot keep")
                                      : parse_root(root, lim, req, e);
    cJSON_Delete(root);
    if (rc) oai_request_free(req);
    return rc;
}

void oai_request_free(oai_request *r) {
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    for (int i = 0; i < r->n_messages; i++) {
        free(r->messages[i].role);
        free(r->messages[i].content);
    }
    for (int i = 0; i < r->n_inputs; i++) free(r->inputs[i]);
    free(r->messages);
    free(r->inputs);
    free(r->bias);
    free(r->prompt);
    *r = (oai_request){0};
}

/* ---------------------------------------------------------------- output */

/* The printed object, deleted; NULL if either step ran out of memory. */
static char *print(cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static cJSON *nullable_string(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

char *oai_error_json(const oai_error *e) {
    cJSON *o = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type);
    cJSON_AddItemToObject(err, "param", nullable_string(e->param));
    cJSON_AddItemToObject(err, "code", nullable_string(e->code));
    return print(o);
}

/* Length of the well-formed UTF-8 sequence at s (of n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : s[0] >= 0xE0 && s[0] < 0xF0 ? 3
                 : s[0] >= 0xF0 && s[0] < 0xF5 ? 4 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) || (s[0] == 0xF0 && s[1] < 0x90) ||
        (s[0] == 0xF4 && s[1] >= 0x90))
        return 0; /* overlong, a surrogate, or beyond U+10FFFF */
    return len;
}

/* A string of the len bytes at s (not NUL-terminated where it ends) as
 * valid JSON text: a byte that is not part of well-formed UTF-8 (a model
 * can emit any bytes) and NUL (which cJSON cannot hold) become U+FFFD. */
static cJSON *text_item(const char *s, size_t len) {
    sbuf b = {0};
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    int rc = sbuf_add(&b, "", 0);
    for (size_t i = 0, n; s && i < len && !rc; i += n ? n : 1) {
        n = u[i] ? utf8_len(u + i, len - i) : 0;
        rc = n ? sbuf_add(&b, u + i, n) : sbuf_str(&b, "\xEF\xBF\xBD");
    }
    cJSON *v = rc ? NULL : cJSON_CreateString(b.p);
    sbuf_free(&b);
    return v;
}

static cJSON *usage(const oai_result *r) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", r->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)r->prompt_tokens + r->completion_tokens);
    return u;
}

/* The fields every response and chunk starts with. */
static cJSON *envelope(const oai_result *r, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)r->created);
    cJSON_AddStringToObject(o, "model", r->model);
    return o;
}

/* One choice: a chat message or delta, or a completion's text. */
static cJSON *choice(oai_kind kind, const oai_result *r, const char *msg_key, int role) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (kind == OAI_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(c, msg_key);
        if (role) cJSON_AddStringToObject(m, "role", "assistant");
        if (r->text) cJSON_AddItemToObject(m, "content", text_item(r->text, r->text_len));
    } else {
        cJSON_AddItemToObject(c, "text", text_item(r->text, r->text_len));
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddItemToObject(c, "finish_reason", nullable_string(r->finish));
    return c;
}

char *oai_response_json(oai_kind kind, const oai_result *r) {
    cJSON *o = envelope(r, kind == OAI_CHAT ? "chat.completion" : "text_completion");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice(kind, r, "message", 1));
    cJSON_AddItemToObject(o, "usage", usage(r));
    return print(o);
}

int oai_chunk_sse(sbuf *out, oai_kind kind, const oai_result *r, int role, int with_usage) {
    cJSON *o = envelope(r, kind == OAI_CHAT ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (with_usage) cJSON_AddItemToObject(o, "usage", usage(r));
    else cJSON_AddItemToArray(choices, choice(kind, r, "delta", role));
    char *s = print(o);
    int rc = s ? sbuf_printf(out, "data: %s\n\n", s) : -1;
    free(s);
    return rc;
}

/* Standard base64 of n bytes. */
static char *base64(const unsigned char *p, size_t n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc((n + 2) / 3 * 4 + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? p[i + 1] : 0) << 8 | (i + 2 < n ? p[i + 2] : 0);
        *o++ = digits[v >> 18];
        *o++ = digits[v >> 12 & 63];
        *o++ = i + 1 < n ? digits[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? digits[v & 63] : '=';
    }
    *o = 0;
    return s;
}

static cJSON *embedding_item(const float *v, int dim, int b64) {
    if (!b64) {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; i < dim; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
        return a;
    }
    unsigned char *le = malloc((size_t)dim * 4);
    char *s = NULL;
    if (le) {
        for (int i = 0; i < dim; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            for (int k = 0; k < 4; k++) le[4 * i + k] = (unsigned char)(u >> 8 * k);
        }
        s = base64(le, (size_t)dim * 4);
    }
    cJSON *item = s ? cJSON_CreateString(s) : NULL;
    free(le);
    free(s);
    return item;
}

char *oai_embeddings_json(const char *model, const float *vecs, int n, int dim, int b64,
                          int32_t prompt_tokens) {
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data");
    cJSON_AddStringToObject(o, "object", "list");
    for (int i = 0; i < n; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", i);
        cJSON_AddItemToObject(d, "embedding", embedding_item(vecs + (size_t)i * dim, dim, b64));
        cJSON_AddItemToArray(data, d);
    }
    cJSON_AddStringToObject(o, "model", model);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", prompt_tokens);
    return print(o);
}

static cJSON *model_item(const char *model_id, long long created) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "llm-server");
    return m;
}

char *oai_model_json(const char *model_id, long long created) { return print(model_item(model_id, created)); }

char *oai_models_json(const char *model_id, long long created) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_item(model_id, created));
    return print(o);
}
