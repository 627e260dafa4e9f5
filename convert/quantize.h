/* The pieces of the quantizer (llm_quantize_file, in llm_convert.h) that the
 * converter shares: llama.cpp's general.file_type for a type, and the check
 * that an output path is not one of the inputs. */
#ifndef LLM_QUANTIZE_H
#define LLM_QUANTIZE_H

#include <stdint.h>

#include "llm_convert.h"

/* llama.cpp's general.file_type for weights mostly of type. */
uint32_t llm_file_type(uint32_t type);

/* LLM_ERR_INVALID_ARG when out names the same file as in (by device and
 * inode, so links count): a tool must never replace its input. */
llm_status llm_check_output(const char *out, const char *in, llm_error *err);

#endif
