/* Byte-level BPE (GPT-2 style vocabularies, tokenizer model "gpt2"), and
 * what it shares with the SentencePiece encoder of tokenizer.c: the
 * caller's token buffer, growable scratch arrays, byte fallback and the
 * priority-queue merge loop.
 *
 * tokenizer.c owns llm_tokenize (BOS, special tokens written in the text)
 * and all decoding; for a BPE vocabulary it hands each plain run of text
 * to llm_bpe_encode and each normal piece to llm_bpe_unmap. */
#ifndef LLM_TOKENIZER_BPE_H
#define LLM_TOKENIZER_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"
#include "vocab.h"

/* ------------------------------------------------------------ shared */

/* The caller's buffer: tokens are stored while they fit and always
 * counted, so the needed size is known when the buffer is too small. */
typedef struct llm_tok_sink {
    int32_t *out;
    size_t cap, n;
} llm_tok_sink;

static inline void llm_tok_emit(llm_tok_sink *o, int32_t id) {
    if (o->n < o->cap) o->out[o->n] = id;
    o->n++;
}

/* p grown to hold at least need elements of elem bytes (doubling), or
 * NULL when memory runs out, p then being left as it was. */
void *llm_tok_grow(void *p, size_t *cap, size_t need, size_t elem);

/* A symbol: bytes [off, off + n) of the text being merged, linked to the
 * symbols still alive (prev/next are LLM_SYM_NONE at the ends), with the
 * token it is (-1: none). n is 0 once the symbol has been merged into its
 * left neighbour. */
#define LLM_SYM_NONE SIZE_MAX

typedef struct llm_sym {
    size_t off, n;
    size_t prev, next;
    int32_t id;
} llm_sym;

/* A queued merge of symbols left and right into token id, of priority
 * score (higher first; ties: leftmost). size is their byte length when
 * queued: if either symbol has grown or died since, the entry is stale. */
typedef struct llm_bigram {
    float score;
    int32_t id;
    size_t left, right, size;
} llm_bigram;

/* Scratch of the merge loop, reused across runs and words. */
typedef struct llm_merge_work {
    llm_sym *syms;     /* (syms_cap) */
    size_t syms_cap;
    llm_bigram *heap;  /* (heap_cap) binary max-heap of heap_n entries */
    size_t heap_n, heap_cap;
} llm_merge_work;

/* Whether adjacent symbols l and r merge: if so, into which token and
 * with what priority. */
typedef bool (*llm_pair_fn)(const void *ctx, const llm_sym *l, const llm_sym *r, float *score,
                            int32_t *id);

/* Merges m->syms[0, n) (linked in order, ids set) until no adjacent pair
 * merges: repeatedly the pair of highest priority, leftmost among equals,
 * with a priority queue, so O(n log n) in the number of symbols. The
 * survivors stay linked from symbol 0. */
llm_status llm_merge(llm_merge_work *m, size_t n, llm_pair_fn pair, const void *ctx, llm_error *err);
void llm_merge_work_free(llm_merge_work *m);

/* ------------------------------------------------------- byte-level BPE */

typedef struct llm_bpe llm_bpe; /* merge ranks and compiled pre-tokenizer */

/* Completes a vocabulary whose pieces, index and special ids are loaded
 * with its byte-level BPE data: the pre-tokenizer named pre (pre_len
 * bytes; NULL for a file without tokenizer.ggml.pre, which gets llama.cpp's
 * "default" one) and n_merges merge strings "left right" (a GGUF string
 * array starting at merges), whose position is their rank. Sets v->bpe,
 * v->byte_tok (each byte's GPT-2 character, if an ordinary token) and the defaults
 * of add_bos (true for the Llama 3 family, as in llama.cpp) and
 * add_space_prefix (false). An unknown pre-tokenizer is LLM_ERR_UNSUPPORTED
 * naming it. Merges whose parts or result are not tokens are ignored. */
llm_status llm_bpe_new(llm_vocab *v, const char *pre, size_t pre_len, const unsigned char *merges,
                       uint64_t n_merges, llm_error *err);
void llm_bpe_free(llm_bpe *b);

/* The pre-tokenizer's name as the vocabulary gave it (or "default"). */
const char *llm_bpe_pre_name(const llm_bpe *b);

/* Scratch of one llm_tokenize call. Zero-initialized before first use. */
typedef struct llm_bpe_work {
    llm_merge_work m;
    size_t *cuts, *spare; /* (cuts_cap / spare_cap) word ends in the run */
    size_t cuts_cap, spare_cap;
    char *word;           /* (word_cap) a word in GPT-2 characters */
    size_t word_cap;
    void *match;          /* pcre2_match_data, made on first use */
} llm_bpe_work;

/* Encodes len bytes of plain text (no special tokens in it) with the
 * vocabulary's BPE data into o. Any bytes are accepted: each run of
 * invalid UTF-8 is a word of its own, which the pre-tokenizer's
 * expressions never see, encoded byte by byte like everything else; a
 * byte whose character is not in the vocabulary is left out (as in
 * llama.cpp). */
llm_status llm_bpe_encode(const llm_vocab *v, llm_bpe_work *w, const char *text, size_t len, llm_tok_sink *o,
                          llm_error *err);
/* The pre-tokenizer alone (step 1 of llm_bpe_encode, open to tests):
 * cuts text[0, len), len > 0, into words; w->cuts[0, *n) are their ends. */
llm_status llm_bpe_split(const llm_bpe *b, llm_bpe_work *w, const char *text, size_t len, size_t *n,
                         llm_error *err);
void llm_bpe_work_free(llm_bpe_work *w);

/* The raw bytes of a piece written in GPT-2 characters: each character
 * of the byte<->unicode table becomes its byte, anything else (characters
 * outside the table, invalid UTF-8) is kept as it is. Writes to dst when
 * not NULL and returns the count, which never exceeds n. */
size_t llm_bpe_unmap(const char *s, size_t n, char *dst);

#endif
