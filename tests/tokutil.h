/* Helpers shared by the tokenizer suites (test_tokenizer.c for
 * SentencePiece, test_tokenizer_bpe.c for byte-level BPE). Each fails the
 * running cmocka test on any error. */
#ifndef LLM_TOKUTIL_H
#define LLM_TOKUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* A model with only a vocabulary, enough for the token functions, from
 * the GGUF at rel under the fixture directory. */
void load_gguf_vocab(llm_model *m, const char *rel);
/* Tokenizes through the two-call protocol: ask the size, then fill.
 * Returns the malloc'd ids (NULL when there are none), *n their count. */
int32_t *encode(const llm_model *m, const char *text, size_t len, uint32_t flags, size_t *n);
/* Streams ids through a detokenizer; returns the bytes (NUL-terminated
 * for convenience) and their count. */
char *decode(const llm_model *m, const int32_t *ids, size_t n, size_t *len);
/* Encodes (no flags) and decodes, expecting the text back. */
void assert_round_trip(const llm_model *m, const char *text, size_t len);
void assert_ids(const int32_t *got, size_t n, const int32_t *want, size_t n_want);
/* Parses whitespace-separated integers starting at *p, up to the end of
 * the line; advances *p past the newline. */
size_t parse_line(const char **p, int32_t *ids, size_t cap);
/* Every string of llama.cpp's ggml-vocab-NAME.gguf.inp encodes (no BOS,
 * special text not parsed) to its line of .out, and decodes back to
 * itself; there are 46. */
void check_vectors(const char *name);

#endif
