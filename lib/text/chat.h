/* Chat templates: the built-in Jinja sources (chat_builtin.c). */
#ifndef LLM_CHAT_H
#define LLM_CHAT_H

#include <stddef.h>

#include "jinja.h"
#include "llm.h"

/* llm_chat_apply with the engine's limits given (the fuzzer's are small). */
llm_status llm_chat_apply_limited(const llm_model *model, const llm_chat_params *params,
                                  const llm_chat_message *msgs, size_t n_msgs, char *buf, size_t cap,
                                  size_t *needed, const jinja_limits *lim, llm_error *err);

/* The source of the built-in template called name, or NULL. */
const char *llm_chat_builtin(const char *name);

#endif
