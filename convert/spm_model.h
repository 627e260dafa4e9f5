/* SentencePiece .model files, read directly from their protobuf wire
 * format (no protobuf library): the pieces with their scores and types,
 * the special ids of the trainer spec and the normalizer's dummy prefix.
 * Everything else in the file is skipped. */
#ifndef LLM_SPM_MODEL_H
#define LLM_SPM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"

typedef struct spm_model {
    int32_t n;              /* number of pieces */
    char *arena;            /* every piece, NUL-terminated, back to back */
    char **pieces;          /* (n) pointers into arena */
    float *scores;          /* (n) */
    int32_t *types;         /* (n) SentencePiece's type numbers, which are
                               GGUF's token types (1 normal .. 6 byte) */
    int32_t model_type;     /* trainer_spec.model_type: 1 unigram, 2 BPE,
                               3 word, 4 char */
    int32_t unk_id, bos_id, eos_id, pad_id; /* trainer_spec; -1 for none */
    bool add_dummy_prefix;  /* normalizer_spec: " " before the text */
} spm_model;

/* Parses a .model image. Pieces may not hold NUL bytes; ids must be -1 or
 * name a piece. */
llm_status spm_model_parse(spm_model *m, const void *data, size_t size, llm_error *err);
/* Maps path and parses it; messages start with the path. */
llm_status spm_model_open(spm_model *m, const char *path, llm_error *err);
void spm_model_free(spm_model *m);

#endif
