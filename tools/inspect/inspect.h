/* What the commands of llm-inspect share: the parsed command line, opening
 * a model, tokenizing a prompt, a token's label. */
#ifndef INSPECT_H
#define INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"
#include "out.h"

typedef struct inspect_args {
    const char *cmd;
    const char *model;
    const char *arg;     /* TEXT, PROMPT or B.gguf, by command */
    const char *out;     /* -o FILE */
    const char *tokenizer; /* -z TOKENIZER, for llama2.c checkpoints */
    int json;            /* --json */
    int32_t layer, head; /* --layer, --head; -1 when not given */
    int32_t steps, top_k; /* trace: generated steps, candidates per step */
} inspect_args;

/* The model at path; with vocab_ok, one whose weights do not load (a
 * vocabulary file) opens for its vocabulary and metadata alone. Dies
 * with the library's message. */
llm_model *open_model(const inspect_args *o, const char *path, bool vocab_ok);
/* The prompt's tokens, BOS first when the model asks for it, control
 * tokens written in the text matched; *n their count. */
int32_t *tokenize_prompt(const llm_model *m, const char *text, size_t *n);
/* Token tok's piece as the vocabulary holds it, NUL-terminated (malloc'd). */
char *token_label(const llm_model *m, int32_t tok);
/* {"id": tok, "piece": ...} into w. */
void jw_token(jw *w, const llm_model *m, int32_t tok);
/* The k (<= n) largest of v (n), largest first, into idx. */
void top_k(const float *v, int n, int k, int *idx);

int cmd_trace(const inspect_args *o);
int cmd_attention(const inspect_args *o);

#endif
