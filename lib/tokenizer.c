/* SentencePiece BPE tokenizer, token for token what llama.cpp's SPM
 * tokenizer produces, and a streaming detokenizer.
 *
 * Encoding a text:
 *  1. Split it around the pieces of special tokens written in it
 *     (user-defined always, control and unknown with LLM_TOKENIZE_SPECIAL).
 *  2. For each run of plain text: spaces become U+2581 ("▁"), and one "▁"
 *     is prepended when the vocabulary asks for the dummy prefix and the
 *     run starts the text or follows a special token.
 *  3. Start from one symbol per UTF-8 character and repeatedly merge the
 *     adjacent pair whose concatenation is the best-scoring piece (ties:
 *     leftmost), with a priority queue: O(n log n).
 *  4. Each final symbol is its piece's token, or when it is no piece, one
 *     <0xNN> token per byte (byte fallback), or unk if that is missing.
 *
 * Decoding gives the text back except where these rules lose it, as in
 * llama.cpp: a literal U+2581 in the text comes back as a space; an
 * invalid lead byte takes up to three following bytes into its symbol,
 * so a space among them comes back as U+2581's bytes; and a run after a
 * special token gains the dummy prefix space. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "vocab.h"

#define PIECE_SPACE "\xe2\x96\x81"
#define NONE SIZE_MAX

/* A symbol: bytes text[off, off + n) of the escaped text, linked to the
 * symbols still alive. n is 0 once it has been merged into its left. */
typedef struct sym {
    size_t off, n;
    size_t prev, next; /* NONE at the ends */
} sym;

/* A queued merge of two adjacent symbols into a piece of this score.
 * size is their byte length when queued: if either symbol has grown or
 * died since, the entry is stale and skipped. */
typedef struct bigram {
    float score;
    size_t left, right, size;
} bigram;

/* A run of the input: plain text, or a special token matched in it. */
typedef struct frag {
    size_t off, len; /* bytes of the input */
    int32_t tok;     /* the special token, or -1 for plain text */
} frag;

/* Scratch memory of one llm_tokenize call, reused across runs. */
typedef struct work {
    char *text;           /* (text_cap) escaped run */
    size_t text_cap;
    sym *syms;            /* (syms_cap) */
    size_t syms_cap;
    bigram *heap;         /* (heap_cap) binary max-heap of heap_n entries */
    size_t heap_n, heap_cap;
    frag *frags, *spare;  /* (frags_cap / spare_cap) */
    size_t n_frags, frags_cap, spare_cap;
} work;

/* The caller's buffer: tokens are stored while they fit and always
 * counted, so the needed size is known when the buffer is too small. */
typedef struct sink {
    int32_t *out;
    size_t cap, n;
} sink;

static void emit(sink *o, int32_t id) {
    if (o->n < o->cap) o->out[o->n] = id;
    o->n++;
}

/* p grown to hold at least need elements of elem bytes (doubling), or
 * NULL when memory runs out, p then being left as it was. */
static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap && p) return p;
    size_t n = *cap ? *cap : 16;
    while (n < need) n = n > SIZE_MAX / 2 ? need : n * 2;
    if (n > SIZE_MAX / elem) return NULL;
    void *q = realloc(p, n * elem);
    if (q) *cap = n;
    return q;
}

static llm_status nomem(llm_error *err) {
    return llm_fail(err, LLM_ERR_NOMEM, "out of memory in the tokenizer");
}

/* ------------------------------------------------------------- heap */

static bool before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static llm_status heap_push(work *w, bigram b, llm_error *err) {
    bigram *h = grow(w->heap, &w->heap_cap, w->heap_n + 1, sizeof *h);
    if (!h) return nomem(err);
    w->heap = h;
    size_t i = w->heap_n++;
    while (i > 0 && before(&b, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = b;
    return LLM_OK;
}

static bigram heap_pop(work *w) {
    bigram top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

/* ------------------------------------------------------------- merging */

/* The token plain text may become for these bytes, or -1. Control,
 * unknown, byte and unused pieces are never produced from text: they
 * come only from special matching, fallback, or not at all. */
static int32_t text_token(const llm_vocab *v, const char *s, size_t n) {
    int32_t id = llm_vocab_find(v, s, n);
    if (id < 0) return -1;
    uint8_t t = v->types[id];
    return t == LLM_TOKTYPE_NORMAL || t == LLM_TOKTYPE_USER_DEFINED ? id : -1;
}

/* Queues the merge of symbols left and right if it makes a piece. */
static llm_status try_bigram(const llm_vocab *v, work *w, size_t left, size_t right, llm_error *err) {
    if (left == NONE || right == NONE) return LLM_OK;
    size_t size = w->syms[left].n + w->syms[right].n;
    if (size > v->max_piece) return LLM_OK;
    int32_t id = text_token(v, w->text + w->syms[left].off, size);
    if (id < 0) return LLM_OK;
    return heap_push(w, (bigram){v->scores[id], left, right, size}, err);
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
    char *t = grow(w->text, &w->text_cap, 3 + 3 * len, 1);
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

/* Splits w->text[0, n) into one symbol per UTF-8 character; a sequence
 * cut short by the end keeps the bytes that remain. */
static llm_status split_chars(work *w, size_t n, size_t *n_syms, llm_error *err) {
    sym *sy = grow(w->syms, &w->syms_cap, n, sizeof *sy);
    if (!sy) return nomem(err);
    w->syms = sy;
    size_t k = 0;
    for (size_t off = 0; off < n; k++) {
        size_t c = utf8_len((unsigned char)w->text[off]);
        if (c > n - off) c = n - off;
        w->syms[k] = (sym){off, c, k ? k - 1 : NONE, off + c < n ? k + 1 : NONE};
        off += c;
    }
    *n_syms = k;
    return LLM_OK;
}

/* Emits the token of a final symbol, or its bytes through fallback. */
static llm_status emit_symbol(const llm_vocab *v, const char *s, size_t n, sink *o, llm_error *err) {
    int32_t id = text_token(v, s, n);
    if (id >= 0) {
        emit(o, id);
        return LLM_OK;
    }
    for (size_t j = 0; j < n; j++) {
        unsigned char b = (unsigned char)s[j];
        id = v->byte_tok[b] >= 0 ? v->byte_tok[b] : v->unk;
        if (id < 0)
            return llm_fail(err, LLM_ERR_UNSUPPORTED,
                            "byte 0x%02X has no token and the vocabulary has no unknown token", b);
        emit(o, id);
    }
    return LLM_OK;
}

/* Encodes one run of plain text with the merge loop of llama.cpp's
 * llm_tokenizer_spm: pop the best pair, skip it if stale, merge, and
 * queue the two pairs the merged symbol now forms. */
static llm_status encode_run(const llm_vocab *v, work *w, const char *s, size_t len, bool prefix, sink *o,
                             llm_error *err) {
    size_t n = 0, ns = 0;
    llm_status st;
    if ((st = escape(w, s, len, prefix, &n, err)) || (st = split_chars(w, n, &ns, err))) return st;
    w->heap_n = 0;
    for (size_t i = 1; i < ns; i++)
        if ((st = try_bigram(v, w, i - 1, i, err))) return st;
    while (w->heap_n > 0) {
        bigram b = heap_pop(w);
        sym *l = &w->syms[b.left], *r = &w->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next != NONE) w->syms[r->next].prev = b.left;
        if ((st = try_bigram(v, w, l->prev, b.left, err)) || (st = try_bigram(v, w, b.left, l->next, err)))
            return st;
    }
    for (size_t i = ns ? 0 : NONE; i != NONE; i = w->syms[i].next)
        if ((st = emit_symbol(v, w->text + w->syms[i].off, w->syms[i].n, o, err))) return st;
    return LLM_OK;
}

/* --------------------------------------------------- special tokens */

static llm_status push_frag(work *w, size_t off, size_t len, int32_t tok, llm_error *err) {
    frag *f = grow(w->spare, &w->spare_cap, w->n_frags + 1, sizeof *f);
    if (!f) return nomem(err);
    w->spare = f;
    w->spare[w->n_frags++] = (frag){off, len, tok};
    return LLM_OK;
}

/* Splits every plain run around the occurrences of one special piece,
 * leftmost first, as llama.cpp's tokenizer_st_partition does for each
 * special token in turn. Builds the new list in w->spare, then swaps. */
static llm_status split_special(work *w, const char *text, const char *piece, size_t plen, int32_t id,
                                llm_error *err) {
    frag *cur = w->frags;
    size_t n_cur = w->n_frags;
    llm_status s = LLM_OK;
    w->n_frags = 0;
    for (size_t i = 0; i < n_cur && !s; i++) {
        frag f = cur[i];
        if (f.tok >= 0 || f.len < plen) {
            s = push_frag(w, f.off, f.len, f.tok, err);
            continue;
        }
        size_t pos = f.off, end = f.off + f.len;
        const char *m;
        while (!s && (m = memmem(text + pos, end - pos, piece, plen)) != NULL) {
            size_t at = (size_t)(m - text);
            if (at > pos) s = push_frag(w, pos, at - pos, -1, err);
            if (!s) s = push_frag(w, 0, 0, id, err);
            pos = at + plen;
        }
        if (!s && pos < end) s = push_frag(w, pos, end - pos, -1, err);
    }
    w->frags = w->spare;
    w->spare = cur;
    size_t c = w->frags_cap;
    w->frags_cap = w->spare_cap;
    w->spare_cap = c;
    return s;
}

/* Cuts the text into plain runs and special tokens. */
static llm_status partition(const llm_vocab *v, work *w, const char *text, size_t len, uint32_t flags,
                            llm_error *err) {
    w->n_frags = 0;
    if (len == 0) return LLM_OK;
    frag *f = grow(w->frags, &w->frags_cap, 1, sizeof *f);
    if (!f) return nomem(err);
    w->frags = f;
    w->frags[w->n_frags++] = (frag){0, len, -1};
    llm_status s = LLM_OK;
    for (int32_t i = 0; i < v->n_special && !s; i++) {
        int32_t id = v->special[i];
        if (v->types[id] != LLM_TOKTYPE_USER_DEFINED && !(flags & LLM_TOKENIZE_SPECIAL)) continue;
        size_t plen;
        const char *piece = llm_vocab_piece(v, id, &plen);
        if (plen <= len) s = split_special(w, text, piece, plen, id, err);
    }
    return s;
}

static llm_status tokenize(const llm_vocab *v, work *w, const char *text, size_t len, sink *o,
                           uint32_t flags, llm_error *err) {
    if ((flags & LLM_TOKENIZE_ADD_BOS) && v->bos != LLM_TOKEN_NULL) emit(o, v->bos);
    llm_status s = partition(v, w, text, len, flags, err);
    bool after_special = true; /* the text's start counts as following one */
    for (size_t i = 0; i < w->n_frags && !s; i++) {
        frag f = w->frags[i];
        if (f.tok >= 0) {
            emit(o, f.tok);
            after_special = true;
        } else {
            s = encode_run(v, w, text + f.off, f.len, v->add_space_prefix && after_special, o, err);
            after_special = false;
        }
    }
    return s;
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
    sink o = {out, cap, 0};
    llm_status s = tokenize(v, &w, text, len, &o, flags, err);
    free(w.text);
    free(w.syms);
    free(w.heap);
    free(w.frags);
    free(w.spare);
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

int llm_token_is_eog(const llm_model *model, int32_t tok) {
    if (!model || tok == LLM_TOKEN_NULL) return 0;
    return tok == model->vocab.eos || tok == model->vocab.bos;
}

/* Writes the bytes token tok stands for to dst (when not NULL) and
 * returns their count: a byte piece gives its byte; ordinary and
 * user-defined pieces their text with U+2581 turned back into spaces;
 * control, unknown and unused tokens nothing (llama.cpp prints them
 * only when asked for special text, which libllm never does). */
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
    llm_detok *d = calloc(1, sizeof *d);
    char *scratch = malloc((size_t)model->vocab.max_piece + 3);
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
