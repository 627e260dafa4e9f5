/* Progress of llm-convert and llm-quantize on stderr: one line per tensor
 * ("[n/N] name: FROM -> TO, bytes"), or, when stderr is a terminal, a bar
 * redrawn in place. Notes (why a tensor did not get the type asked for)
 * are printed on lines of their own either way. */
#ifndef LLM_TOOLS_PROGRESS_H
#define LLM_TOOLS_PROGRESS_H

#include <stdbool.h>

#include "llm_convert.h"

typedef struct progress {
    const char *tool;   /* prefix of every line */
    bool tty;           /* stderr is a terminal: draw a bar */
    bool bar_shown;     /* a bar is on the current line */
    unsigned long long total; /* tensor bytes reported so far */
} progress;

void progress_init(progress *p, const char *tool);
/* An llm_report_fn; ud is the progress. */
void progress_report(void *ud, const llm_tensor_report *r);
/* Takes the bar off the line (before an error message). */
void progress_clear(progress *p);
/* Ends the bar and says what was written. */
void progress_done(progress *p, const char *out);

#endif
