/* SentencePiece BPE tokenizer, token for token what llama.cpp's SPM
 * tokenizer produces; the shared front end that hands byte-level BPE
 * vocabularies to tokenizer_bpe.c; and decoding, with a streaming
 * detokenizer, for both.
 *
 * Encoding a text:
 *  1. Split it around the pieces of special tokens written in it
 *     (user-defined always, control and unknown with LLM_TOKENIZE_SPECIAL).
 *  2. A BPE vocabulary encodes each run of plain text with llm_bpe_encode.
 *     For SentencePiece: spaces become U+2581 ("▁"), and one "▁" is
 *     prepended when the vocabulary asks for the dummy prefix and the
 *     run starts the text or follows a special token.
 *  3. Start from one symbol per UTF-8 character and repeatedly merge the
 *     adjacent pair whose concatenation is the best-scoring piece (ties:
 *     leftmost), with a priority queue: O(n log n).
 *  4. Each final symbol is its piece's token, or when it is no piece, one
 *     <0xNN> token per byte (byte fallback), or unk if that is missing.
 *
 * SentencePiece decoding gives the text back except where these rules
 * lose it, as in llama.cpp: a literal U+2581 in the text comes back as a
 * space; an invalid lead byte takes up to three following bytes into its
 * symbol, so a space among them comes back as U+2581's bytes; and a run
 * after a special token gains the dummy prefix space. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "alloc.h"
#include "error.h"
#include "model.h"
#include "tokenizer_bpe.h"
#include "vocab.h"

#define PIECE_SPACE "\xe2\x96\x81"

/* A run of the input: plain text, or a special token matched in it. */
typedef struct frag {
    size_t off, len; /* bytes of the input */
    int32_t tok;     /* the special token, or -1 for plain text */
} frag;

/* A special piece found in the text: its matching order and position. */
typedef struct cand {
    int32_t rank;
    size_t pos;
} cand;

/* Scratch memory of one llm_tokenize call, reused across runs. */
typedef struct work {
    char *text;           /* (text_cap) escaped run (SentencePiece) */
    size_t text_cap;
    llm_merge_work m;     /* SentencePiece symbols and merge queue */
    llm_bpe_work bpe;     /* the byte-level BPE encoder's scratch */
    frag *frags, *spare;  /* (frags_cap / spare_cap) the runs; the special tokens taken */
    size_t n_frags, frags_cap, spare_cap;
    uint32_t *depth;      /* (depth_cap) per byte: longest special piece starting there */
    unsigned char *seen;  /* (seen_cap) per length: a special piece of it occurs */
    unsigned char *claimed; /* (claimed_cap) per byte: taken by a special token */
    cand *cand;           /* (cand_cap) the pieces of one length found in the text */
    size_t depth_cap, seen_cap, claimed_cap, cand_cap;
} work;

void *llm_tok_grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap && p) return p;
    size_t n = *cap ? *cap : 16;
    while (n < need) n = n > SIZE_MAX / 2 ? need : n * 2;
    if (n > SIZE_MAX / elem) return NULL;
    void *q = llm_realloc(p, n * elem);
    if (q) *cap = n;
    return q;
}

static llm_status nomem(llm_error *err) {
    return llm_fail(err, LLM_ERR_NOMEM, "out of memory in the tokenizer");
}

/* ------------------------------------------------------- merge queue */

static bool before(const llm_bigram *a, const llm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static llm_status heap_push(llm_merge_work *m, llm_bigram b, llm_error *err) {
    llm_bigram *h = llm_tok_grow(m->heap, &m->heap_cap, m->heap_n + 1, sizeof *h);
    if (!h) return nomem(err);
    m->heap = h;
    size_t i = m->heap_n++;
    while (i > 0 && before(&b, &m->heap[(i - 1) / 2])) {
        m->heap[i] = m->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    m->heap[i] = b;
    return LLM_OK;
}

static llm_bigram heap_pop(llm_merge_work *m) {
    llm_bigram top = m->heap[0], last = m->heap[--m->heap_n];
    size_t i = 0, n = m->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&m->heap[c + 1], &m->heap[c])) c++;
        if (!before(&m->heap[c], &last)) break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (n > 0) m->heap[i] = last;
    return top;
}

/* Queues the merge of symbols left and right if pair says they merge. */
static llm_status queue_pair(llm_merge_work *m, size_t left, size_t right, llm_pair_fn pair, const void *ctx,
                             llm_error *err) {
    if (left == LLM_SYM_NONE || right == LLM_SYM_NONE) return LLM_OK;
    const llm_sym *l = &m->syms[left], *r = &m->syms[right];
    llm_bigram b = {0.0f, -1, left, right, l->n + r->n};
    return pair(ctx, l, r, &b.score, &b.id) ? heap_push(m, b, err) : LLM_OK;
}

/* The merge loop of llama.cpp's SPM and BPE tokenizers: pop the best
 * pair, skip it if stale, merge, and queue the two pairs the merged
 * symbol now forms. Each merge queues at most two entries, so the queue
 * never holds more than 3 n. */
llm_status llm_merge(llm_merge_work *m, size_t n, llm_pair_fn pair, const void *ctx, llm_error *err) {
    llm_status st = LLM_OK;
    m->heap_n = 0;
    for (size_t i = 1; i < n && !st; i++) st = queue_pair(m, i - 1, i, pair, ctx, err);
    while (m->heap_n > 0 && !st) {
        llm_bigram b = heap_pop(m);
        llm_sym *l = &m->syms[b.left], *r = &m->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        l->id = b.id;
        r->n = 0;
        l->next = r->next;
        if (r->next != LLM_SYM_NONE) m->syms[r->next].prev = b.left;
        st = queue_pair(m, l->prev, b.left, pair, ctx, err);
        if (!st) st = queue_pair(m, b.left, l->next, pair, ctx, err);
    }
    return st;
}

void llm_merge_work_free(llm_merge_work *m) {
    free(m->syms);
    free(m->heap);
    memset(m, 0, sizeof *m);
}

/* ----------------------------------------------------- SentencePiece */

/* The token plain text may become for these bytes, or -1. Control,
 * unknown, byte and unused pieces are never produced from text: they
 * come only from special matching, fallback, or not at all. */
static int32_t text_token(const llm_vocab *v, const char *s, size_t n) {
    int32_t id = llm_vocab_find(v, s, n);
    if (id < 0) return -1;
    uint8_t t = v->types[id];
    return t == LLM_TOKTYPE_NORMAL || t == LLM_TOKTYPE_USER_DEFINED ? id : -1;
}

/* The escaped run whose symbols are being merged. */
typedef struct spm_run {
    const llm_vocab *v;
    const char *text;
} spm_run;

/* Two symbols merge when their concatenation is a piece; its score is
 * the priority. */
static bool spm_pair(const void *ctx, const llm_sym *l, const llm_sym *r, float *score, int32_t *id) {
    const spm_run *run = ctx;
    size_t size = l->n + r->n;
    if (size > run->v->max_piece) return false;
    *id = text_token(run->v, run->text + l->off, size);
    if (*id < 0) return false;
    *score = run->v->scores[*id];
    return true;
}

/* Bytes of the UTF-8 character a lead byte announces (1 for continuation
 * bytes, which then stand alone), as llama.cpp counts them. */
static size_t utf8_len(unsigned char c) {
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

/* Escapes a run into w->text: the optional dummy prefix, then the bytes
 * with each space as U+2581. Returns the escaped length in *n. */
static llm_status escape(work *w, const char *s, size_t len, bool prefix, size_t *n, llm_error *err) {
    if (len > (SIZE_MAX - 3) / 3)
        return llm_fail(err, LLM_ERR_NOMEM, "text of %zu bytes is too large to tokenize", len);
    char *t = llm_tok_grow(w->text, &w->text_cap, 3 + 3 * len, 1);
    if (!t) return nomem(err);
    w->text = t;
    size_t k = 0;
    if (prefix) {
        memcpy(w->text, PIECE_SPACE, 3);
        k = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(w->text + k, PIECE_SPACE, 3);
            k += 3;
        } else {
            w->text[k++] = s[i];
        }
    }
    *n = k;
    return LLM_OK;
}

/* Splits w->text[0, n) into one symbol per UTF-8 character, each with
 * its piece's token if it has one; a sequence cut short by the end keeps
 * the bytes that remain. */
static llm_status split_chars(const llm_vocab *v, work *w, size_t n, size_t *n_syms, llm_error *err) {
    llm_sym *sy = llm_tok_grow(w->m.syms, &w->m.syms_cap, n, sizeof *sy);
    if (!sy) return nomem(err);
    w->m.syms = sy;
    size_t k = 0;
    for (size_t off = 0; off < n; k++) {
        size_t c = utf8_len((unsigned char)w->text[off]);
        if (c > n - off) c = n - off;
        sy[k] = (llm_sym){off, c, k ? k - 1 : LLM_SYM_NONE, off + c < n ? k + 1 : LLM_SYM_NONE,
                          text_token(v, w->text + off, c)};
        off += c;
    }
    *n_syms = k;
    return LLM_OK;
}

/* Emits, for each of the n bytes, its <0xNN> piece, else the unknown
 * token; fails naming the byte when the vocabulary has neither. */
static llm_status emit_bytes(const llm_vocab *v, const char *s, size_t n, llm_tok_sink *o, llm_error *err) {
    for (size_t j = 0; j < n; j++) {
        unsigned char b = (unsigned char)s[j];
        int32_t id = v->byte_tok[b] >= 0 ? v->byte_tok[b] : v->unk;
        if (id < 0)
            return llm_fail(err, LLM_ERR_UNSUPPORTED,
                            "byte 0x%02X has no token and the vocabulary has no unknown token", b);
        llm_tok_emit(o, id);
    }
    return LLM_OK;
}

/* Encodes one run of plain text as llama.cpp's llm_tokenizer_spm does:
 * merge, then each symbol is its token or goes out through byte fallback. */
static llm_status encode_run(const llm_vocab *v, work *w, const char *s, size_t len, bool prefix,
                             llm_tok_sink *o, llm_error *err) {
    size_t n = 0, ns = 0;
    llm_status st;
    spm_run run = {v, NULL};
    if ((st = escape(w, s, len, prefix, &n, err)) || (st = split_chars(v, w, n, &ns, err))) return st;
    run.text = w->text;
    if ((st = llm_merge(&w->m, ns, spm_pair, &run, err))) return st;
    for (size_t i = ns ? 0 : LLM_SYM_NONE; i != LLM_SYM_NONE && !st; i = w->m.syms[i].next) {
        const llm_sym *y = &w->m.syms[i];
        if (y->id >= 0)
            llm_tok_emit(o, y->id);
        else
            st = emit_bytes(v, w->text + y->off, y->n, o, err);
    }
    return st;
}

/* --------------------------------------------------- special tokens */

/* The matching order of the token whose piece ends at trie node `node`,
 * if flags let it match: user-defined tokens always, control and unknown
 * ones with LLM_TOKENIZE_SPECIAL; -1 otherwise. */
static int32_t node_rank(const llm_vocab *v, uint32_t node, uint32_t flags) {
    return v->trie_rank[flags & LLM_TOKENIZE_SPECIAL ? 0 : 1][node];
}

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int cmp_frag(const void *a, const void *b) {
    const frag *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

/* One walk of the trie from each position: depth[i] becomes the length
 * of the longest matchable piece starting at i (0: none), seen[L] is set
 * for each length that occurs. Returns whether any piece occurs. */
static bool find_lengths(const llm_vocab *v, work *w, const unsigned char *t, size_t len, uint32_t flags) {
    bool any = false;
    memset(w->seen, 0, (size_t)v->max_special + 1);
    for (size_t i = 0; i < len; i++) {
        uint32_t d = 0, node = 0;
        for (size_t j = i; j < len && (node = llm_trie_next(v, node, t[j])); j++)
            if (node_rank(v, node, flags) >= 0) {
                d = (uint32_t)(j - i + 1);
                w->seen[d] = 1;
            }
        w->depth[i] = d;
        any |= d > 0;
    }
    return any;
}

/* The rank of the piece of exactly L bytes at t[i], when one matches and
 * none of its bytes is taken yet; -1 otherwise. */
static int32_t match_at(const llm_vocab *v, const work *w, const unsigned char *t, size_t i, uint32_t L,
                        uint32_t flags) {
    uint32_t node = 0;
    for (size_t j = i; j < i + L; j++)
        if (w->claimed[j] || !(node = llm_trie_next(v, node, t[j]))) return -1;
    return node_rank(v, node, flags);
}

/* The pieces of length L, in matching order and each leftmost first,
 * take the bytes they cover unless one of them is taken already (by a
 * longer piece, one earlier in the order, or an earlier occurrence of the
 * same piece: occurrences do not overlap). */
static llm_status claim_length(const llm_vocab *v, work *w, const unsigned char *t, size_t len, uint32_t L,
                               uint32_t flags, llm_error *err) {
    size_t n = 0;
    for (size_t i = 0; i + L <= len; i++) {
        int32_t r = w->depth[i] >= L && !w->claimed[i] ? match_at(v, w, t, i, L, flags) : -1;
        if (r >= 0) w->cand[n++] = (cand){r, i};
    }
    qsort(w->cand, n, sizeof *w->cand, cmp_cand);
    for (size_t k = 0; k < n; k++) {
        size_t i = w->cand[k].pos;
        if (match_at(v, w, t, i, L, flags) < 0) continue;
        memset(w->claimed + i, 1, L);
        frag *f = llm_tok_grow(w->spare, &w->spare_cap, w->n_frags + 1, sizeof *f);
        if (!f) return nomem(err);
        w->spare = f;
        w->spare[w->n_frags++] = (frag){i, L, v->special[w->cand[k].rank]};
    }
    return LLM_OK;
}

/* Appends one fragment to w->frags. */
static llm_status push_frag(work *w, size_t off, size_t len, int32_t tok, llm_error *err) {
    frag *f = llm_tok_grow(w->frags, &w->frags_cap, w->n_frags + 1, sizeof *f);
    if (!f) return nomem(err);
    w->frags = f;
    w->frags[w->n_frags++] = (frag){off, len, tok};
    return LLM_OK;
}

/* Cuts the text into plain runs and special tokens exactly as llama.cpp's
 * tokenizer_st_partition does (each special token in turn, longest piece
 * first, splits every plain run around its leftmost non-overlapping
 * occurrences), but in time roughly linear in the text rather than one
 * scan of it per special token, which cost seconds with vocabularies of
 * 10^5 user-defined tokens. The trie finds every occurrence; the pieces
 * of one length at a time then take their bytes in that order, so an
 * occurrence is taken exactly when the sequential splitting would find it
 * in a plain run. The work is O(len * longest piece) at worst (pieces
 * that are prefixes of one another), O(len) when pieces seldom start at
 * the same byte. */
static llm_status partition(const llm_vocab *v, work *w, const char *text, size_t len, uint32_t flags,
                            llm_error *err) {
    const unsigned char *t = (const unsigned char *)text;
    w->n_frags = 0;
    if (len == 0) return LLM_OK;
    uint32_t *depth = llm_tok_grow(w->depth, &w->depth_cap, len, sizeof *depth);
    if (depth) w->depth = depth;
    unsigned char *seen = llm_tok_grow(w->seen, &w->seen_cap, (size_t)v->max_special + 1, 1);
    if (seen) w->seen = seen;
    if (!depth || !seen) return nomem(err);
    if (!find_lengths(v, w, t, len, flags)) return push_frag(w, 0, len, -1, err);
    unsigned char *claimed = llm_tok_grow(w->claimed, &w->claimed_cap, len, 1);
    if (claimed) w->claimed = claimed;
    cand *c = llm_tok_grow(w->cand, &w->cand_cap, len, sizeof *c);
    if (c) w->cand = c;
    if (!claimed || !c) return nomem(err);
    memset(w->claimed, 0, len);
    llm_status s = LLM_OK;
    for (uint32_t L = v->max_special; L > 0 && !s; L--)
        if (w->seen[L]) s = claim_length(v, w, t, len, L, flags, err);
    if (s) return s;
    size_t n_taken = w->n_frags, pos = 0;
    w->n_frags = 0;
    qsort(w->spare, n_taken, sizeof *w->spare, cmp_frag);
    for (size_t k = 0; k < n_taken && !s; k++) {
        frag f = w->spare[k];
        if (f.off > pos) s = push_frag(w, pos, f.off - pos, -1, err);
        if (!s) s = push_frag(w, 0, 0, f.tok, err);
        pos = f.off + f.len;
    }
    if (!s && pos < len) s = push_frag(w, pos, len - pos, -1, err);
    return s;
}

static llm_status tokenize(const llm_vocab *v, work *w, const char *text, size_t len, llm_tok_sink *o,
                           uint32_t flags, llm_error *err) {
    if ((flags & LLM_TOKENIZE_ADD_BOS) && v->bos != LLM_TOKEN_NULL) llm_tok_emit(o, v->bos);
    llm_status s = partition(v, w, text, len, flags, err);
    bool after_special = true; /* the text's start counts as following one */
    for (size_t i = 0; i < w->n_frags && !s; i++) {
        frag f = w->frags[i];
        if (f.tok >= 0) {
            llm_tok_emit(o, f.tok);
            after_special = true;
        } else if (v->bpe) {
            s = llm_bpe_encode(v, &w->bpe, text + f.off, f.len, o, err);
        } else {
            s = encode_run(v, w, text + f.off, f.len, v->add_space_prefix && after_special, o, err);
            after_special = false;
        }
    }
    return s;
}

/* The NFC form of text (len bytes of UTF-8) in a new buffer *out of
 * *out_len bytes, by utf8proc: decomposed into code points, composed,
 * re-encoded in place. Text that is not UTF-8 has no NFC form: an error
 * naming the problem, as Hugging Face's tokenizers (Rust strings) refuse
 * it too. */
static llm_status nfc(const char *text, size_t len, char **out, size_t *out_len, llm_error *err) {
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
    if (len > (size_t)PTRDIFF_MAX / 64) return llm_fail(err, LLM_ERR_LIMIT, "text of %zu bytes is too long", len);
    utf8proc_ssize_t n = utf8proc_decompose(s, (utf8proc_ssize_t)len, NULL, 0, opt);
    if (n < 0)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "text is not valid UTF-8, which NFC normalization needs (%s)",
                        utf8proc_errmsg(n));
    utf8proc_int32_t *cp = llm_malloc((size_t)n * sizeof *cp + 1);
    if (!cp) return llm_fail(err, LLM_ERR_NOMEM, "out of memory normalizing %zu bytes of text", len);
    n = utf8proc_decompose(s, (utf8proc_ssize_t)len, cp, n, opt);
    if (n >= 0) n = utf8proc_normalize_utf32(cp, n, opt);
    if (n >= 0) n = utf8proc_reencode(cp, n, opt);
    if (n < 0) {
        free(cp);
        return llm_fail(err, LLM_ERR_INVALID_ARG, "NFC normalization failed: %s", utf8proc_errmsg(n));
    }
    *out = (char *)cp;
    *out_len = (size_t)n;
    return LLM_OK;
}

llm_status llm_tokenize(const llm_model *model, const char *text, size_t len, int32_t *out, size_t cap,
                        size_t *n_tokens, uint32_t flags, llm_error *err) {
    if (n_tokens) *n_tokens = 0;
    if (!model || !n_tokens || (!text && len) || (!out && cap))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_tokenize: NULL argument");
    if (flags & ~(LLM_TOKENIZE_ADD_BOS | LLM_TOKENIZE_SPECIAL))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_tokenize: unknown flags 0x%x", flags);
    const llm_vocab *v = &model->vocab;
    if (v->n <= 0) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_tokenize: the model has no vocabulary");
    work w = {0};
    llm_tok_sink o = {out, cap, 0};
    char *normed = NULL;
    llm_status s = v->nfc ? nfc(text, len, &normed, &len, err) : LLM_OK;
    if (!s) s = tokenize(v, &w, normed ? normed : text, len, &o, flags, err);
    free(normed);
    free(w.text);
    llm_merge_work_free(&w.m);
    llm_bpe_work_free(&w.bpe);
    free(w.frags);
    free(w.spare);
    free(w.depth);
    free(w.seen);
    free(w.claimed);
    free(w.cand);
    if (s) return s;
    *n_tokens = o.n;
    if (o.n > cap)
        return llm_fail(err, LLM_ERR_BUFFER_TOO_SMALL, "the text needs %zu tokens, the buffer holds %zu", o.n,
                        cap);
    return LLM_OK;
}

/* ------------------------------------------------------------- decoding */

int32_t llm_token_bos(const llm_model *model) {
    return model ? model->vocab.bos : LLM_TOKEN_NULL;
}

int32_t llm_token_eos(const llm_model *model) {
    return model ? model->vocab.eos : LLM_TOKEN_NULL;
}

int32_t llm_token_unk(const llm_model *model) {
    return model ? model->vocab.unk : LLM_TOKEN_NULL;
}

/* End of generation: EOS, BOS (as llama2.c stops on it), and the control
 * tokens that chat and instruction models end a turn with, which their
 * vocabularies mark only by name (Llama 3's <|eot_id|> beside its EOS
 * <|end_of_text|>, ChatML's <|im_end|>, GPT-2's <|endoftext|>, Gemma's
 * <end_of_turn>; llm_piece_ends_turn). */
int llm_token_is_eog(const llm_model *model, int32_t tok) {
    if (!model || tok < 0 || tok >= model->vocab.n) return 0;
    const llm_vocab *v = &model->vocab;
    if (tok == v->eos || tok == v->bos) return 1;
    size_t len;
    const char *piece = llm_vocab_piece(v, tok, &len);
    return v->types[tok] == LLM_TOKTYPE_CONTROL && llm_piece_ends_turn(piece, len);
}

int llm_model_add_bos(const llm_model *model) {
    return model && model->vocab.add_bos && model->vocab.bos != LLM_TOKEN_NULL;
}

/* Writes the bytes token tok stands for to dst (when not NULL) and
 * returns their count, never more than the piece's length: a byte piece
 * gives its byte; ordinary and user-defined pieces their text with
 * U+2581 turned back into spaces (SentencePiece), or ordinary pieces
 * their GPT-2 characters turned back into bytes and user-defined ones
 * their text as it is (BPE); control, unknown and unused tokens nothing
 * (llama.cpp prints them only when asked for special text, which libllm
 * never does). */
static size_t piece_bytes(const llm_vocab *v, int32_t tok, char *dst) {
    size_t n;
    const char *s = llm_vocab_piece(v, tok, &n);
    uint8_t t = v->types[tok];
    if (t == LLM_TOKTYPE_BYTE) {
        int b = llm_piece_byte(s, n);
        if (b >= 0) {
            if (dst) *dst = (char)b;
            return 1;
        }
    } else if (t != LLM_TOKTYPE_NORMAL && t != LLM_TOKTYPE_USER_DEFINED) {
        return 0;
    }
    if (v->bpe && t == LLM_TOKTYPE_NORMAL) return llm_bpe_unmap(s, n, dst);
    if (v->bpe) {
        if (dst && n) memcpy(dst, s, n);
        return n;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; k++) {
        bool space = n - i >= 3 && memcmp(s + i, PIECE_SPACE, 3) == 0;
        if (dst) dst[k] = space ? ' ' : s[i];
        i += space ? 3 : 1;
    }
    return k;
}

static bool valid_token(const llm_model *model, int32_t tok) {
    return tok >= 0 && tok < model->vocab.n;
}

llm_status llm_token_to_piece(const llm_model *model, int32_t tok, char *buf, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!model || !len || (!buf && cap)) return LLM_ERR_INVALID_ARG;
    if (!valid_token(model, tok)) return LLM_ERR_INVALID_ARG;
    size_t n = piece_bytes(&model->vocab, tok, NULL);
    *len = n;
    if (n > cap) return LLM_ERR_BUFFER_TOO_SMALL;
    piece_bytes(&model->vocab, tok, buf);
    return LLM_OK;
}

llm_status llm_token_get_text(const llm_model *model, int32_t tok, char *buf, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!model || !len || (!buf && cap) || !valid_token(model, tok)) return LLM_ERR_INVALID_ARG;
    const char *s = llm_vocab_piece(&model->vocab, tok, len);
    if (*len > cap) return LLM_ERR_BUFFER_TOO_SMALL;
    if (*len) memcpy(buf, s, *len);
    return LLM_OK;
}

/* The vocabulary's types are GGUF's numbers (vocab.c maps anything else
 * to NORMAL), which llm_token_attr repeats. */
llm_token_attr llm_token_get_attr(const llm_model *model, int32_t tok) {
    if (!model || !valid_token(model, tok)) return LLM_TOKEN_ATTR_NONE;
    return (llm_token_attr)model->vocab.types[tok];
}

struct llm_detok {
    const llm_vocab *v;
    int32_t prev;       /* last token pushed, LLM_TOKEN_NULL before the first */
    char held[3];       /* the start of a UTF-8 character still incomplete */
    size_t n_held;
    char *scratch;      /* (max_piece + 3): held bytes, then the new piece */
};

llm_detok *llm_detok_new(const llm_model *model, llm_error *err) {
    if (!model || model->vocab.n <= 0) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "llm_detok_new: no model or vocabulary");
        return NULL;
    }
    llm_detok *d = llm_calloc(1, sizeof *d);
    char *scratch = llm_malloc((size_t)model->vocab.max_piece + 3);
    if (!d || !scratch) {
        free(d);
        free(scratch);
        llm_fail(err, LLM_ERR_NOMEM, "out of memory for a detokenizer");
        return NULL;
    }
    d->v = &model->vocab;
    d->prev = LLM_TOKEN_NULL;
    d->scratch = scratch;
    return d;
}

void llm_detok_free(llm_detok *d) {
    if (!d) return;
    free(d->scratch);
    free(d);
}

/* How many bytes at the end of s[0, n) begin a UTF-8 character whose
 * remaining bytes have not arrived yet (0 to 3). Anything invalid counts
 * as complete, so it is passed on as raw bytes. */
static size_t incomplete_tail(const char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xC0) == 0x80) continue;
        size_t need = c >= 0xF0 && c <= 0xF7 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC0 && c <= 0xDF ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

/* The dummy-prefix space SentencePiece removes: the leading space of a
 * text piece at the start of the stream or right after BOS. */
static bool strips_space(const llm_detok *d, int32_t tok) {
    return d->v->add_space_prefix && (d->prev == LLM_TOKEN_NULL || d->prev == d->v->bos) &&
           d->v->types[tok] != LLM_TOKTYPE_BYTE;
}

llm_status llm_detok_push(llm_detok *d, int32_t tok, char *buf, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!d || !len || (!buf && cap)) return LLM_ERR_INVALID_ARG;
    if (tok < 0 || tok >= d->v->n) return LLM_ERR_INVALID_ARG;
    char *s = d->scratch;
    memcpy(s, d->held, d->n_held);
    size_t n = piece_bytes(d->v, tok, s + d->n_held);
    if (n > 0 && s[d->n_held] == ' ' && strips_space(d, tok)) memmove(s + d->n_held, s + d->n_held + 1, --n);
    n += d->n_held;
    size_t keep = incomplete_tail(s, n);
    *len = n - keep;
    if (n - keep > cap) return LLM_ERR_BUFFER_TOO_SMALL;
    if (n > keep) memcpy(buf, s, n - keep);
    memcpy(d->held, s + n - keep, keep);
    d->n_held = keep;
    d->prev = tok;
    return LLM_OK;
}

llm_status llm_detok_flush(llm_detok *d, char *buf, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!d || !len || (!buf && cap)) return LLM_ERR_INVALID_ARG;
    *len = d->n_held;
    if (d->n_held > cap) return LLM_ERR_BUFFER_TOO_SMALL;
    if (d->n_held) memcpy(buf, d->held, d->n_held);
    d->n_held = 0;
    return LLM_OK;
}
