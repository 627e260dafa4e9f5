/* The llm example's conversation mode (llm_chat.c), and the text helpers it
 * shares with llm.c's plain generation. */
#ifndef LLM_EXAMPLE_CHAT_H
#define LLM_EXAMPLE_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include <llm.h>

#include "llm_args.h"

/* The tokens of a C string with llm_tokenize's flags, in a buffer the
 * caller frees; NULL with err filled on failure. */
int32_t *tokenize(const llm_model *m, const char *text, uint32_t flags, size_t *n, llm_error *err);

/* --verbose-prompt: "llm: fed at POS, N tokens: ID ID ..." on stderr. */
void print_ids(const char *what, int32_t pos, const int32_t *ids, size_t n);

/* -e: replaces \n \t \r \\ \" \' \a \b \f \v \0 and \xNN in s by what they
 * stand for, in place; other backslashes stay as they are. */
void unescape(char *s);

/* A conversation on stdin/stdout until /exit or end of input; first, when
 * not empty, is the first user message. Returns the exit status. */
int chat_run(const options *o, const char *first, const llm_model *m, llm_ctx *ctx, llm_sampler *smp);

#endif
