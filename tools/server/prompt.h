/* From a request to the tokens of its prompt: a completion's text as it
 * is, a chat's messages rendered by the chat template (llm_chat_apply). */
#ifndef LLM_SERVER_PROMPT_H
#define LLM_SERVER_PROMPT_H

#include <llm.h>

#include "oai.h"

/* The chat template a server uses: a built-in by name, a Jinja source, or
 * (both NULL) the model's own. */
typedef struct prompt_template {
    const char *name;
    const char *src;
} prompt_template;

/* Renders a test conversation, so that a template that cannot work is
 * reported when the server starts. Returns 0, or -1 with err filled. */
int prompt_check_template(const llm_model *m, const prompt_template *t, llm_error *err);

/* The tokens of text, *n of them, malloc'ed, with BOS first when the
 * vocabulary asks for one (added unless the text already begins with it).
 * A chat's rendered text (chat set) matches the control tokens its
 * template writes; other text is taken literally, as `llm` takes a
 * prompt. NULL with e filled (400) when it cannot be tokenized. */
int32_t *prompt_tokenize(const llm_model *m, const char *text, int chat, int32_t *n, oai_error *e);

/* The tokens of r's prompt, *n of them, malloc'ed; NULL with e filled (400
 * for a template that refuses the conversation or no template at all). */
int32_t *prompt_tokens(const llm_model *m, const prompt_template *t, const oai_request *r,
                       int32_t *n, oai_error *e);

#endif
