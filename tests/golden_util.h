/* The golden cases of ../shared/golden/stories260K and the check that a
 * model reproduces them: greedy generation through the public API must
 * give the reference implementation's tokens and text exactly. Shared by
 * the golden suite (every kernel set and thread count) and the converter
 * suite (models written by llm-convert). */
#ifndef LLM_TEST_GOLDEN_UTIL_H
#define LLM_TEST_GOLDEN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

typedef struct golden {
    char name[64];
    int steps;            /* tokens after BOS, the number in the name */
    char *prompt;
    size_t prompt_len;
    int32_t ids[1024];    /* expected tokens after BOS */
    int n_ids;
    char *text;           /* what run.c printed */
    size_t text_len;
} golden;

/* The case names, NULL-terminated. */
extern const char *const golden_cases[];

/* Reads NAME.prompt, NAME.ids and NAME.txt (fails the test if absent). */
void golden_load(golden *g, const char *name);
void golden_free(golden *g);

/* One case: the prompt with BOS, then greedy steps until `steps` tokens
 * follow BOS or BOS is sampled; tokens and text must equal the golden
 * ones (a mismatch is reported on stderr and fails the test). */
void golden_run(llm_model *m, const golden *g, const llm_ctx_params *cp);
/* golden_run for every case (the first two when test_quick()). */
void golden_run_cases(llm_model *m, const llm_ctx_params *cp);

#endif
