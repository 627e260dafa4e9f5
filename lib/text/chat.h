/* Chat templates: the built-in Jinja sources (chat_builtin.c). */
#ifndef LLM_CHAT_H
#define LLM_CHAT_H

/* The source of the built-in template called name, or NULL. */
const char *llm_chat_builtin(const char *name);

#endif
