/* A tiny Hugging Face Llama directory, file by file: hidden size 8, one
 * layer, 2 heads sharing 1 KV head, FFN 16, tied embeddings, a 16-token
 * byte-level BPE tokenizer.json, F32 safetensors. The converter harness
 * builds its directory from these and the seed generator writes them as
 * seeds; hf_tiny_file(HF_TOKENIZER_MODEL) is also a valid SentencePiece
 * .model of 16 pieces (<|endoftext|> among them, so that
 * tokenizer_config.json fits either tokenizer). */
#ifndef LLM_FUZZ_HF_TINY_H
#define LLM_FUZZ_HF_TINY_H

#include <stddef.h>

enum hf_file {
    HF_CONFIG, HF_TOKENIZER_JSON, HF_TOKENIZER_CONFIG, HF_GENERATION_CONFIG,
    HF_SAFETENSORS, HF_INDEX, HF_TOKENIZER_MODEL, HF_N_FILES
};

/* The files before HF_INDEX make the base directory; the index (naming
 * model.safetensors as the one shard) and tokenizer.model are valid
 * variants, present only when the harness puts them there. */
#define HF_N_BASE HF_INDEX

/* "config.json", ... */
extern const char *const hf_file_names[HF_N_FILES];

/* The content of file f, malloc'd, *size bytes (exits on out of memory). */
unsigned char *hf_tiny_file(int f, size_t *size);

#endif
