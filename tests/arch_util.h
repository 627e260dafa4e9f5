/* The fixtures of ../shared/golden/arch (see its README.md): tiny
 * random-weight models of each architecture with llama.cpp's logits for
 * every prompt position and its greedy continuation, and the check that a
 * model reproduces them through the public API. Shared by the arch suite
 * (the fixtures' own files) and the converter suite (the same weights
 * written out as Hugging Face directories and converted back). */
#ifndef LLM_TEST_ARCH_UTIL_H
#define LLM_TEST_ARCH_UTIL_H

#include <stdint.h>

#include "llm.h"

#define ARCH_MAX_IDS 64

typedef struct arch_fixture {
    char name[64];                 /* NAME of NAME.gguf */
    int32_t prompt[ARCH_MAX_IDS];  /* NAME.prompt.ids */
    int n_prompt;
    int32_t greedy[ARCH_MAX_IDS];  /* NAME.greedy.ids */
    int n_greedy;
    float *logits;                 /* (n_prompt, n_vocab) NAME.logits.f32 */
    int n_vocab;
    double tol;                    /* tolerance.txt's bound for NAME */
} arch_fixture;

/* The NAMEs of the *.gguf files of the fixture directory, sorted, as a
 * malloc'd array of n (fails the test when there are none). */
char **arch_fixture_names(int *n);
void arch_names_free(char **names, int n);
/* Reads NAME's files (fails the test when one is missing or malformed). */
void arch_fixture_load(arch_fixture *f, const char *name);
void arch_fixture_free(arch_fixture *f);
/* "golden/arch/NAME.gguf" in a static buffer. */
const char *arch_fixture_model(const char *name);

/* The index of the largest of n values, the lowest on a tie (as the
 * fixtures' greedy tokens were picked). */
int arch_argmax(const float *v, int n);

/* Decodes the prompt one token at a time, comparing every position's
 * logits with the fixture's (max difference within f->tol, the same
 * argmax), then greedily continues and compares the tokens. Returns the
 * largest difference seen. */
double arch_check(llm_model *m, const arch_fixture *f, const llm_ctx_params *cp);

#endif
