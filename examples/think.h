/* The llm example's display of thinking blocks: a reply's <think>...</think>
 * is shown apart from the answer, dim on a terminal and between [think]
 * and [/think] otherwise. The bytes arrive a token at a time and a tag may
 * be split over tokens, so a possible start of one is held back until it
 * is known to be a tag or not. */
#ifndef LLM_EXAMPLE_THINK_H
#define LLM_EXAMPLE_THINK_H

#include <stddef.h>
#include <stdio.h>

typedef struct think {
    FILE *out;
    int tty;          /* escape codes rather than brackets */
    int inside;       /* within a thinking block */
    char held[16];    /* a possible start of the next tag */
    size_t n_held;
} think;

/* A display on out; inside when the prompt already opened a block (as
 * DeepSeek R1's template does), which is then marked at once. */
void think_start(think *t, FILE *out, int tty, int inside);
/* Shows n bytes of the reply. */
void think_put(think *t, const char *s, size_t n);
/* The end of the reply: what is held back, the block closed, a newline. */
void think_end(think *t);

#endif
