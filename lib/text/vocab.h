/* A vocabulary: the pieces, scores and types of every token, plus the
 * special ids and a hash index from piece bytes to id; for byte-level BPE
 * also the merges and the pre-tokenizer (tokenizer_bpe.h). Owned memory
 * (the strings are copied out of the file), immutable once built. */
#ifndef LLM_VOCAB_H
#define LLM_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "llm.h"

/* Token types as GGUF's tokenizer.ggml.token_type numbers them. */
enum {
    LLM_TOKTYPE_NORMAL = 1, LLM_TOKTYPE_UNKNOWN = 2, LLM_TOKTYPE_CONTROL = 3,
    LLM_TOKTYPE_USER_DEFINED = 4, LLM_TOKTYPE_UNUSED = 5, LLM_TOKTYPE_BYTE = 6
};

typedef struct llm_vocab {
    int32_t n;              /* number of tokens */
    char *arena;            /* every piece's bytes, back to back */
    uint32_t *off;          /* (n + 1) offsets of the pieces in arena */
    float *scores;          /* (n) merge priority, higher merges first */
    uint8_t *types;         /* (n) LLM_TOKTYPE_* */
    int32_t byte_tok[256];  /* id of the token for byte b alone: <0xNN>, or for
                               BPE the byte's GPT-2 character; -1 if none */
    int32_t bos, eos, unk;  /* LLM_TOKEN_NULL when the vocabulary has none */
    bool add_bos;           /* prepend BOS by default */
    bool add_space_prefix;  /* SentencePiece dummy prefix: " " before the text */
    bool nfc;               /* texts are NFC-normalized first (tokenizer.ggml.normalizer "nfc": Qwen) */
    uint32_t *index;        /* (index_cap) open-addressing table of id + 1 */
    uint32_t index_cap;     /* power of two, >= 2 n */
    uint32_t max_piece;     /* longest piece in bytes */
    int32_t *special;       /* (n_special) CONTROL, USER_DEFINED and UNKNOWN ids
                               with non-empty pieces, longest piece first */
    int32_t n_special;
    /* The special pieces as a trie, so that the tokenizer finds every one
     * written in a text with one walk per position, however many there
     * are: node 0 is the empty prefix, edges (node, byte) -> child live in
     * an open-addressing table (llm_trie_next). */
    uint64_t *trie_key;     /* (trie_mask + 1) (node << 8 | byte) + 1; 0 empty */
    uint32_t *trie_child;   /* (trie_mask + 1) */
    uint32_t trie_mask;     /* table size - 1; at most half full */
    int32_t *trie_rank[2];  /* (nodes) the lowest index into special of a token whose
                               piece ends at the node: [0] of any type, [1] of a
                               USER_DEFINED one; -1 for none */
    uint32_t max_special;   /* longest special piece in bytes */
    struct llm_bpe *bpe;    /* byte-level BPE data (model "gpt2"), NULL for
                               SentencePiece */
} llm_vocab;

/* From GGUF tokenizer.ggml.* keys: model "llama" (SentencePiece) or
 * "gpt2" (byte-level BPE, with merges and pre-tokenizer). */
llm_status llm_vocab_from_gguf(llm_vocab *v, const gguf_file *f, llm_error *err);
/* From a llama2.c tokenizer.bin image; n_vocab comes from the checkpoint.
 * Spaces in pieces are stored as "▁" so both sources look alike. */
llm_status llm_vocab_from_llama2c(llm_vocab *v, const void *data, size_t size,
                                  int32_t n_vocab, llm_error *err);
void llm_vocab_free(llm_vocab *v);

/* Id of the piece with these bytes, or -1. When several tokens share a
 * piece, the highest id wins (as llama.cpp's token_to_id map has it). */
int32_t llm_vocab_find(const llm_vocab *v, const char *s, size_t len);

/* The byte a piece of the exact form "<0xNN>" (hex digits of either case)
 * stands for, or -1. */
int llm_piece_byte(const char *s, size_t len);
/* True for the pieces llama.cpp takes as ends of a turn by their text
 * (<|eot_id|>, <|im_end|>, <end_of_turn>, </s>, ...): always control
 * tokens, and ends of generation. */
bool llm_piece_ends_turn(const char *s, size_t len);

static inline uint32_t llm_trie_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* The trie node reached from node by byte b, or 0 for none (the root is
 * nobody's child). */
static inline uint32_t llm_trie_next(const llm_vocab *v, uint32_t node, unsigned char b) {
    uint64_t key = ((uint64_t)node << 8 | b) + 1;
    for (uint32_t i = llm_trie_slot(key, v->trie_mask);; i = (i + 1) & v->trie_mask) {
        if (v->trie_key[i] == key) return v->trie_child[i];
        if (v->trie_key[i] == 0) return 0;
    }
}

static inline const char *llm_vocab_piece(const llm_vocab *v, int32_t id, size_t *len) {
    *len = v->off[id + 1] - v->off[id];
    return v->arena + v->off[id];
}

#endif
