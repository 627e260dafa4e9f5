/* The chat template API: picks the template (the caller's source, a
 * built-in by name, or the model's tokenizer.chat_template), builds the
 * variables Hugging Face's apply_chat_template passes (messages,
 * bos_token, eos_token, add_generation_prompt, tools and documents as
 * None, and the caller's extra variables from JSON), and renders with the
 * Jinja interpreter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "chat.h"
#include "error.h"
#include "jinja.h"
#include "json.h"
#include "model.h"

llm_chat_params llm_chat_default_params(void) {
    llm_chat_params p = {0};
    p.add_generation_prompt = 1;
    return p;
}

const char *llm_model_chat_template(const llm_model *model) { return model ? model->chat_template : NULL; }

/* A JSON value as a template value (objects keep their order). */
static jv *from_json(jinja_ctx *c, const llm_json *j) {
    size_t n;
    const char *s;
    int64_t i;
    switch (llm_json_type(j)) {
    case LLM_JSON_BOOL: return jv_bool(llm_json_bool(j));
    case LLM_JSON_NUMBER: return llm_json_int(j, &i) ? jv_int(c, i) : jv_float(c, llm_json_num(j));
    case LLM_JSON_STRING: s = llm_json_str(j, &n); return jv_str(c, s, n);
    case LLM_JSON_ARRAY: {
        jv *l = jv_list(c, llm_json_len(j));
        for (size_t k = 0; l && k < llm_json_len(j); k++)
            if (!jv_push(c, l, from_json(c, llm_json_at(j, k)))) { jv_unref(c, l); l = NULL; }
        return l;
    }
    case LLM_JSON_OBJECT: {
        jv *d = jv_dict(c, JV_DICT);
        for (size_t k = 0; d && k < llm_json_len(j); k++) {
            s = llm_json_key_len_at(j, k, &n);
            if (!jv_set(c, d, jv_str(c, s, n), from_json(c, llm_json_at(j, k)))) { jv_unref(c, d); d = NULL; }
        }
        return d;
    }
    default: return &jv_none;
    }
}

/* "YYYY-MM-DD" into tm at midnight, or today (local time) for NULL. */
static llm_status parse_date(const char *date, struct tm *tm, llm_error *err) {
    memset(tm, 0, sizeof *tm);
    if (!date) {
        time_t now = time(NULL);
        struct tm lt;
        if (!localtime_r(&now, &lt)) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: no local time");
        tm->tm_year = lt.tm_year;
        tm->tm_mon = lt.tm_mon;
        tm->tm_mday = lt.tm_mday;
        tm->tm_yday = lt.tm_yday;
        return LLM_OK;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    char tail;
    if (strlen(date) != 10 || sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || date[4] != '-' ||
        date[7] != '-' || y < 1 || m < 1 || m > 12 || d < 1)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: date '%.32s' is not YYYY-MM-DD", date);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: date '%.32s' does not exist", date);
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    for (int k = 0; k < m - 1; k++) tm->tm_yday += mdays[k] + (k == 1 && leap);
    tm->tm_yday += d - 1;
    return LLM_OK;
}

/* The text of a special token of the model, as a new string value, or
 * undefined when the model (or the token) is missing. */
static jv *token_text(jinja_ctx *c, const llm_model *model, int bos) {
    if (!model) return &jv_undefined;
    int32_t id = bos ? model->vocab.bos : model->vocab.eos;
    if (id < 0 || id >= model->vocab.n) return &jv_undefined;
    size_t n;
    const char *p = llm_vocab_piece(&model->vocab, id, &n);
    return jv_str(c, p, n);
}

static jv *cstr_or(jinja_ctx *c, const char *s, jv *otherwise) {
    if (!s) return otherwise;
    jv_unref(c, otherwise);
    return jv_str(c, s, strlen(s));
}

/* The list of {"role", "content"} dicts. */
static jv *messages_value(jinja_ctx *c, const llm_chat_message *msgs, size_t n) {
    jv *l = jv_list(c, n);
    for (size_t i = 0; l && i < n; i++) {
        jv *d = jv_dict(c, JV_DICT);
        int ok = d && jv_set_cstr(c, d, "role", jv_str(c, msgs[i].role, strlen(msgs[i].role))) &&
                 jv_set_cstr(c, d, "content", jv_str(c, msgs[i].content, strlen(msgs[i].content)));
        if (!ok) jv_unref(c, d);
        if (!ok || !jv_push(c, l, d)) { /* a failed push released d */
            jv_unref(c, l);
            l = NULL;
        }
    }
    return l;
}

/* Adds the members of the caller's JSON object as globals. */
static llm_status add_vars(jinja_ctx *c, const char *vars_json, llm_error *err) {
    llm_json *j;
    llm_status s = llm_json_parse(vars_json, strlen(vars_json), &j, err);
    if (s) {
        if (s == LLM_ERR_FORMAT) s = err ? (err->code = LLM_ERR_INVALID_ARG) : LLM_ERR_INVALID_ARG;
        llm_error_prefix(err, "llm_chat_apply: vars_json");
        return s;
    }
    if (llm_json_type(j) != LLM_JSON_OBJECT) {
        llm_json_free(j);
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: vars_json is not a JSON object");
    }
    for (size_t k = 0; k < llm_json_len(j); k++) {
        if (!jinja_set_global(c, llm_json_key_at(j, k), from_json(c, llm_json_at(j, k)))) {
            llm_json_free(j);
            return jinja_status(c);
        }
    }
    llm_json_free(j);
    return LLM_OK;
}

static llm_status check_args(const llm_chat_message *msgs, size_t n_msgs, const char *buf, size_t cap,
                             llm_error *err) {
    if (!msgs && n_msgs) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: msgs is NULL");
    if (!buf && cap) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: buf is NULL");
    for (size_t i = 0; i < n_msgs; i++)
        if (!msgs[i].role || !msgs[i].content)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: message %zu has a NULL %s", i,
                            msgs[i].role ? "content" : "role");
    return LLM_OK;
}

/* Which template source to render, following the documented order. */
static const char *pick_source(const llm_model *model, const llm_chat_params *p, llm_error *err) {
    if (p->template_src) return p->template_src;
    if (p->template_name) {
        const char *s = llm_chat_builtin(p->template_name);
        if (!s)
            llm_fail(err, LLM_ERR_INVALID_ARG, "llm_chat_apply: no built-in template named '%.64s'",
                     p->template_name);
        return s;
    }
    if (model && model->chat_template) return model->chat_template;
    llm_fail(err, LLM_ERR_INVALID_ARG,
             model ? "llm_chat_apply: the model has no chat template; give template_src or template_name"
                   : "llm_chat_apply: no model, template_src or template_name");
    return NULL;
}

/* Sets the globals and renders; *out receives the malloc'd text. */
static llm_status render(const llm_model *model, const llm_chat_params *p, const char *src,
                         const llm_chat_message *msgs, size_t n_msgs, const jinja_limits *lim, char **out,
                         size_t *len, llm_error *err) {
    struct tm tm;
    llm_status s = parse_date(p->date, &tm, err);
    if (s) return s;
    jinja_template *t;
    if ((s = jinja_parse(src, strlen(src), lim, &t, err))) return s;
    jinja_ctx *c = jinja_ctx_new(lim, err);
    if (!c) { jinja_free(t); return err ? err->code : LLM_ERR_NOMEM; }
    jinja_set_time(c, &tm);
    int ok = jinja_set_global(c, "messages", messages_value(c, msgs, n_msgs)) &&
             jinja_set_global(c, "bos_token", cstr_or(c, p->bos_token, token_text(c, model, 1))) &&
             jinja_set_global(c, "eos_token", cstr_or(c, p->eos_token, token_text(c, model, 0))) &&
             jinja_set_global(c, "add_generation_prompt", jv_bool(p->add_generation_prompt)) &&
             /* transformers passes these always, None when there are none */
             jinja_set_global(c, "tools", &jv_none) && jinja_set_global(c, "documents", &jv_none);
    if (!ok) s = jinja_status(c);
    else if (p->vars_json) s = add_vars(c, p->vars_json, err);
    if (!s) s = jinja_render(c, t, out, len);
    jinja_ctx_free(c);
    jinja_free(t);
    return s;
}

llm_status llm_chat_apply(const llm_model *model, const llm_chat_params *params, const llm_chat_message *msgs,
                          size_t n_msgs, char *buf, size_t cap, size_t *needed, llm_error *err) {
    jinja_limits lim = jinja_default_limits();
    return llm_chat_apply_limited(model, params, msgs, n_msgs, buf, cap, needed, &lim, err);
}

llm_status llm_chat_apply_limited(const llm_model *model, const llm_chat_params *params,
                                  const llm_chat_message *msgs, size_t n_msgs, char *buf, size_t cap,
                                  size_t *needed, const jinja_limits *lim, llm_error *err) {
    llm_chat_params p = params ? *params : llm_chat_default_params();
    llm_status s = check_args(msgs, n_msgs, buf, cap, err);
    if (s) return s;
    const char *src = pick_source(model, &p, err);
    if (!src) return LLM_ERR_INVALID_ARG;
    char *out;
    size_t len;
    if ((s = render(model, &p, src, msgs, n_msgs, lim, &out, &len, err))) return s;
    if (needed) *needed = len + 1;
    if (len + 1 > cap) {
        free(out);
        return llm_fail(err, LLM_ERR_BUFFER_TOO_SMALL, "llm_chat_apply: %zu bytes needed, buffer holds %zu",
                        len + 1, cap);
    }
    memcpy(buf, out, len + 1);
    free(out);
    return LLM_OK;
}
