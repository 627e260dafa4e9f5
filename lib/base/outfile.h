/* Where the library writes files (converted and quantized models, saved
 * states): into a temporary file beside the output, renamed over it once
 * complete. These two rules are shared by every writer. */
#ifndef LLM_OUTFILE_H
#define LLM_OUTFILE_H

#include "llm.h"

/* LLM_OK when path names nothing or a regular file, the only outputs
 * replaced: a device node, FIFO, socket or directory is refused (as root,
 * replacing /dev/null would break the system), and so is a symbolic link,
 * which the rename would replace rather than its target
 * (LLM_ERR_INVALID_ARG, naming the path). */
llm_status llm_output_ok(const char *path, llm_error *err);

/* "path.XXXXXX" for mkstemp, beside path (llm_malloc'd; NULL when memory
 * runs out). When the suffix would take the name past NAME_MAX, the
 * temporary name is cut instead: any name valid for the output is valid
 * for its temporary file. */
char *llm_temp_name(const char *path);

#endif
