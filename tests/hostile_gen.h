/* Hostile inputs that cost work rather than crash, made in memory for
 * both the tests (test_hostile2.c, with time bounds) and the measurement
 * of their cost (tools/hostile-bench.c). No cmocka: the tool links it. */
#ifndef LLM_TEST_HOSTILE_GEN_H
#define LLM_TEST_HOSTILE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

/* A GGUF image holding only a SentencePiece vocabulary (no dummy prefix):
 * <unk>, <s>, </s>, the 256 byte pieces, "▁", 'a' to 'z', then the
 * n_special pieces given, each USER_DEFINED, or CONTROL where control[i]
 * (control may be NULL). malloc'd; NULL with err filled on failure. */
void *hostile_vocab(const char *const *special, const uint8_t *control, int32_t n_special, size_t *size,
                    llm_error *err);

/* The pieces "<tok0>" ... "<tok(n-1)>" (malloc'd, free with
 * hostile_free_pieces): a vocabulary of many user-defined tokens sharing
 * their first bytes, so that no cheap filter can skip them. */
char **hostile_tok_pieces(int32_t n);
void hostile_free_pieces(char **pieces, int32_t n);

/* len bytes (malloc'd, not NUL-terminated) of words with "<tok%d>" of
 * ids below n and their prefixes ("<to") among them, from seed. */
char *hostile_tok_text(size_t len, int32_t n, uint64_t seed);

/* A GGUF image (malloc'd, *size bytes) of n F32 tensors of `floats`
 * elements, every one at data offset 0: n times the work of one tensor
 * declared on the bytes of one, which the reader must refuse. */
void *hostile_aliased_image(uint32_t n, uint64_t floats, size_t *size);

#endif
