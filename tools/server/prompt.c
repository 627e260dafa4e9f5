#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs llm_chat_apply into a buffer grown to the size it reports. */
static char *render(const llm_model *m, const prompt_template *t, const llm_chat_message *msgs,
                    size_t n, llm_error *err) {
    llm_chat_params cp = llm_chat_default_params();
    cp.template_name = t->name;
    cp.template_src = t->src;
    size_t cap = 4096, need = 0;
    char *buf = malloc(cap);
    llm_status st = buf ? llm_chat_apply(m, &cp, msgs, n, buf, cap, &need, err) : LLM_ERR_NOMEM;
    if (st == LLM_ERR_BUFFER_TOO_SMALL) {
        free(buf);
        buf = malloc(need);
        st = buf ? llm_chat_apply(m, &cp, msgs, n, buf, need, &need, err) : LLM_ERR_NOMEM;
    }
    if (st == LLM_ERR_NOMEM && err) *err = (llm_error){LLM_ERR_NOMEM, "out of memory rendering the chat"};
    if (st != LLM_OK) free(buf);
    return st == LLM_OK ? buf : NULL;
}

int prompt_check_template(const llm_model *m, const prompt_template *t, llm_error *err) {
    llm_chat_message msg = {"user", "Hello"};
    char *s = render(m, t, &msg, 1, err);
    free(s);
    return s ? 0 : -1;
}

int32_t *prompt_tokenize(const llm_model *m, const char *text, int chat, int32_t *n, oai_error *e) {
    size_t len = strlen(text), cap = len + 2, need = 0;
    int32_t bos = llm_token_bos(m), add_bos = (llm_model_add_bos(m) || !len) && bos != LLM_TOKEN_NULL;
    uint32_t flags = chat ? LLM_TOKENIZE_SPECIAL : 0;
    int32_t *toks = malloc(cap * sizeof *toks);
    llm_error err;
    llm_status st = toks ? llm_tokenize(m, text, len, toks + 1, cap - 1, &need, flags, &err) : LLM_ERR_NOMEM;
    if (st == LLM_ERR_BUFFER_TOO_SMALL) {
        int32_t *t2 = realloc(toks, (need + 1) * sizeof *toks);
        st = t2 ? llm_tokenize(m, text, len, t2 + 1, need, &need, flags, &err) : LLM_ERR_NOMEM;
        toks = t2 ? t2 : toks;
    }
    if (st != LLM_OK) {
        free(toks);
        if (st == LLM_ERR_NOMEM) oai_fail(e, 500, NULL, NULL, "out of memory tokenizing the prompt");
        else oai_fail(e, 400, NULL, "invalid_prompt", "cannot tokenize the prompt: %s", err.msg);
        return NULL;
    }
    int skip = !(add_bos && (need == 0 || toks[1] != bos));
    if (need + !skip == 0) {
        free(toks);
        oai_fail(e, 400, "prompt", "invalid_prompt", "the prompt is empty and the model has no BOS token");
        return NULL;
    }
    toks[0] = bos;
    *n = (int32_t)need + !skip;
    memmove(toks, toks + skip, (size_t)*n * sizeof *toks);
    return toks;
}

/* The messages rendered; the template's own refusals (roles that do not
 * alternate, ...) are the client's error. */
static char *chat_text(const llm_model *m, const prompt_template *t, const oai_request *r, oai_error *e) {
    if (!t->name && !t->src && !llm_model_chat_template(m)) {
        oai_fail(e, 400, "messages", "no_chat_template",
                 "the model has no chat template; start llm-server with --chat-template NAME or --chat-template-file FILE");
        return NULL;
    }
    llm_chat_message *msgs = malloc((size_t)r->n_messages * sizeof *msgs);
    if (!msgs) return oai_fail(e, 500, NULL, NULL, "out of memory"), NULL;
    for (int i = 0; i < r->n_messages; i++) msgs[i] = (llm_chat_message){r->messages[i].role, r->messages[i].content};
    llm_error err;
    char *s = render(m, t, msgs, (size_t)r->n_messages, &err);
    free(msgs);
    if (!s) oai_fail(e, err.code == LLM_ERR_NOMEM ? 500 : 400, "messages", "template_error",
                     "the chat template refused the messages: %s", err.msg);
    return s;
}

int32_t *prompt_tokens(const llm_model *m, const prompt_template *t, const oai_request *r,
                       int32_t *n, oai_error *e) {
    if (r->kind != OAI_CHAT) return prompt_tokenize(m, r->prompt, 0, n, e);
    char *text = chat_text(m, t, r, e);
    int32_t *toks = text ? prompt_tokenize(m, text, 1, n, e) : NULL;
    free(text);
    return toks;
}
