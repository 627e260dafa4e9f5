#include "vocab.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "tokenizer_bpe.h"

/* U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's visible space. */
#define PIECE_SPACE "\xe2\x96\x81"

void llm_vocab_free(llm_vocab *v) {
    if (!v) return;
    free(v->arena);
    free(v->off);
    free(v->scores);
    free(v->types);
    free(v->index);
    free(v->special);
    free(v->trie_key);
    free(v->trie_child);
    free(v->trie_rank[0]);
    free(v->trie_rank[1]);
    llm_bpe_free(v->bpe);
    memset(v, 0, sizeof *v);
}

/* Allocates the per-token arrays of a vocabulary of n tokens whose pieces
 * take arena bytes in total, with every token NORMAL and score 0, and the
 * defaults of a SentencePiece vocabulary. v is left freeable on failure. */
static llm_status vocab_alloc(llm_vocab *v, int32_t n, uint64_t arena, llm_error *err) {
    if (arena > UINT32_MAX)
        return llm_fail(err, LLM_ERR_LIMIT, "vocabulary pieces take %llu bytes, more than 4 GiB",
                        (unsigned long long)arena);
    v->n = n;
    v->arena = llm_malloc(arena ? (size_t)arena : 1);
    v->off = llm_calloc((size_t)n + 1, sizeof *v->off);
    v->scores = llm_calloc((size_t)n, sizeof *v->scores);
    v->types = llm_malloc((size_t)n);
    if (!v->arena || !v->off || !v->scores || !v->types)
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a vocabulary of %d tokens", n);
    memset(v->types, LLM_TOKTYPE_NORMAL, (size_t)n);
    v->bos = v->eos = v->unk = LLM_TOKEN_NULL;
    v->add_bos = true;
    v->add_space_prefix = true;
    return LLM_OK;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int llm_piece_byte(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

/* FNV-1a: short pieces, no adversary who can pick them after the fact
 * (the vocabulary is fixed before any text arrives). */
static uint32_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* The slot holding the piece s, or the empty slot where it would go. The
 * table is at most half full, so the probe always ends. */
static uint32_t find_slot(const llm_vocab *v, const char *s, size_t len) {
    uint32_t mask = v->index_cap - 1;
    for (uint32_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
        uint32_t e = v->index[i];
        if (e == 0) return i;
        size_t plen;
        const char *p = llm_vocab_piece(v, (int32_t)(e - 1), &plen);
        if (plen == len && (len == 0 || memcmp(p, s, len) == 0)) return i;
    }
}

int32_t llm_vocab_find(const llm_vocab *v, const char *s, size_t len) {
    if (!v || !v->index || (!s && len) || len > v->max_piece) return -1;
    uint32_t e = v->index[find_slot(v, s, len)];
    return e ? (int32_t)(e - 1) : -1;
}

/* Builds the hash index. Inserting in id order and overwriting equal
 * pieces makes the highest id win, as in llama.cpp. */
static llm_status build_index(llm_vocab *v, llm_error *err) {
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)v->n) cap <<= 1; /* n <= 2^22: no overflow */
    v->index = llm_calloc(cap, sizeof *v->index);
    if (!v->index) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the vocabulary index");
    v->index_cap = cap;
    for (int32_t id = 0; id < v->n; id++) {
        size_t len;
        const char *s = llm_vocab_piece(v, id, &len);
        v->index[find_slot(v, s, len)] = (uint32_t)id + 1;
    }
    return LLM_OK;
}

typedef struct special_key {
    uint32_t len;
    int32_t id;
} special_key;

static int cmp_special(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool is_special(const llm_vocab *v, int32_t id) {
    uint8_t t = v->types[id];
    return (t == LLM_TOKTYPE_CONTROL || t == LLM_TOKTYPE_USER_DEFINED || t == LLM_TOKTYPE_UNKNOWN) &&
           v->off[id + 1] > v->off[id];
}

/* Adds the piece of special[rank] to the trie, whose nodes so far number
 * *nodes; the table has room for every edge (build_trie sizes it). */
static void trie_add(llm_vocab *v, int32_t rank, uint32_t *nodes) {
    size_t len;
    int32_t id = v->special[rank];
    const unsigned char *p = (const unsigned char *)llm_vocab_piece(v, id, &len);
    uint32_t node = 0;
    for (size_t k = 0; k < len; k++) {
        uint64_t key = ((uint64_t)node << 8 | p[k]) + 1;
        uint32_t i = llm_trie_slot(key, v->trie_mask);
        while (v->trie_key[i] && v->trie_key[i] != key) i = (i + 1) & v->trie_mask;
        if (!v->trie_key[i]) {
            v->trie_key[i] = key;
            v->trie_child[i] = (*nodes)++;
        }
        node = v->trie_child[i];
    }
    if (v->trie_rank[0][node] < 0) v->trie_rank[0][node] = rank;
    if (v->trie_rank[1][node] < 0 && v->types[id] == LLM_TOKTYPE_USER_DEFINED) v->trie_rank[1][node] = rank;
}

/* Builds the trie of the special pieces in matching order, so that each
 * node keeps the first token (the one llama.cpp's order gives the text
 * to) among those sharing its piece. Its size is bounded by the pieces'
 * bytes, which the arena bounds. */
static llm_status build_trie(llm_vocab *v, llm_error *err) {
    uint64_t bytes = 0;
    for (int32_t r = 0; r < v->n_special; r++) bytes += v->off[v->special[r] + 1] - v->off[v->special[r]];
    if (bytes > (1u << 30))
        return llm_fail(err, LLM_ERR_LIMIT, "special token pieces take %llu bytes, more than 1 GiB",
                        (unsigned long long)bytes);
    uint32_t cap = 16;
    while (cap < 2 * bytes) cap <<= 1;
    v->trie_mask = cap - 1;
    v->trie_key = llm_calloc(cap, sizeof *v->trie_key);
    v->trie_child = llm_malloc(cap * sizeof *v->trie_child);
    v->trie_rank[0] = llm_malloc(((size_t)bytes + 1) * sizeof *v->trie_rank[0]);
    v->trie_rank[1] = llm_malloc(((size_t)bytes + 1) * sizeof *v->trie_rank[1]);
    if (!v->trie_key || !v->trie_child || !v->trie_rank[0] || !v->trie_rank[1])
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the special token trie");
    memset(v->trie_rank[0], 0xFF, ((size_t)bytes + 1) * sizeof *v->trie_rank[0]);
    memset(v->trie_rank[1], 0xFF, ((size_t)bytes + 1) * sizeof *v->trie_rank[1]);
    uint32_t nodes = 1;
    for (int32_t r = 0; r < v->n_special; r++) trie_add(v, r, &nodes);
    v->max_special = v->n_special ? v->off[v->special[0] + 1] - v->off[v->special[0]] : 0;
    return LLM_OK;
}

/* Lists the tokens the tokenizer matches verbatim in text (control, user
 * defined, unknown), longest piece first and by id among equals, the
 * order in which llama.cpp splits text around them. */
static llm_status build_special(llm_vocab *v, llm_error *err) {
    int32_t n = 0;
    for (int32_t id = 0; id < v->n; id++) n += is_special(v, id);
    if (n == 0) return build_trie(v, err);
    special_key *keys = llm_malloc((size_t)n * sizeof *keys);
    v->special = llm_malloc((size_t)n * sizeof *v->special);
    if (!keys || !v->special) {
        free(keys);
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the special token list");
    }
    int32_t k = 0;
    for (int32_t id = 0; id < v->n; id++)
        if (is_special(v, id)) keys[k++] = (special_key){v->off[id + 1] - v->off[id], id};
    qsort(keys, (size_t)n, sizeof *keys, cmp_special);
    for (int32_t i = 0; i < n; i++) v->special[i] = keys[i].id;
    v->n_special = n;
    free(keys);
    return build_trie(v, err);
}

/* Derives everything that follows from the pieces and types: the byte
 * fallback table (a BYTE-typed piece wins over another of the same form),
 * the longest piece, the index and the special list. */
bool llm_piece_ends_turn(const char *s, size_t len) {
    static const char *const ends[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        if (strlen(ends[i]) == len && memcmp(s, ends[i], len) == 0) return true;
    return false;
}

/* The indexes over the pieces. A piece that ends a turn is made a control
 * token whatever the file says, as llama.cpp does (phi-3 marks its </s>
 * user-defined): so text holding it does not end generation unless
 * special tokens are asked for. */
static llm_status vocab_finish(llm_vocab *v, llm_error *err) {
    for (int b = 0; b < 256; b++) v->byte_tok[b] = -1;
    v->max_piece = 0;
    for (int32_t id = 0; id < v->n; id++) {
        size_t len;
        const char *s = llm_vocab_piece(v, id, &len);
        if (llm_piece_ends_turn(s, len)) v->types[id] = LLM_TOKTYPE_CONTROL;
        if (len > v->max_piece) v->max_piece = (uint32_t)len;
        int b = llm_piece_byte(s, len);
        if (b < 0) continue;
        int32_t cur = v->byte_tok[b];
        if (cur < 0 || (v->types[cur] != LLM_TOKTYPE_BYTE && v->types[id] == LLM_TOKTYPE_BYTE))
            v->byte_tok[b] = id;
    }
    llm_status s = build_index(v, err);
    return s ? s : build_special(v, err);
}

/* ------------------------------------------------------------- GGUF */

/* An optional per-token array: absent is fine, present must have n
 * elements of elem_type. */
static llm_status optional_arr(const gguf_file *f, const char *key, uint32_t elem_type, uint64_t n,
                               const unsigned char **first, llm_error *err) {
    *first = NULL;
    if (!gguf_find_kv(f, key)) return LLM_OK;
    uint64_t got;
    llm_status s = gguf_get_arr(f, key, elem_type, &got, first, err);
    if (s) return s;
    if (got != n)
        return llm_fail(err, LLM_ERR_FORMAT, "%s has %llu elements for %llu tokens", key,
                        (unsigned long long)got, (unsigned long long)n);
    return LLM_OK;
}

/* An optional special token id. Converters write 0xFFFFFFFF for "none". */
static llm_status special_id(const gguf_file *f, const char *key, int32_t n, int32_t *out, llm_error *err) {
    *out = LLM_TOKEN_NULL;
    if (!gguf_find_kv(f, key)) return LLM_OK;
    uint32_t id;
    llm_status s = gguf_get_u32(f, key, &id, err);
    if (s) return s;
    if (id == UINT32_MAX) return LLM_OK;
    if (id >= (uint32_t)n)
        return llm_fail(err, LLM_ERR_FORMAT, "%s = %u is out of range for %d tokens", key, id, n);
    *out = (int32_t)id;
    return LLM_OK;
}

static llm_status optional_bool(const gguf_file *f, const char *key, bool *out, llm_error *err) {
    return gguf_find_kv(f, key) ? gguf_get_bool(f, key, out, err) : LLM_OK;
}

/* Copies pieces, scores and types out of the (already validated) arrays. */
static llm_status gguf_fill(llm_vocab *v, const unsigned char *tok, const unsigned char *scores,
                            const unsigned char *types, llm_error *err) {
    uint32_t pos = 0;
    for (int32_t id = 0; id < v->n; id++) {
        gguf_str s = gguf_next_str(&tok);
        memcpy(v->arena + pos, s.ptr, (size_t)s.len);
        v->off[id] = pos;
        pos += (uint32_t)s.len;
        if (scores) v->scores[id] = gguf_rd_f32(scores + 4 * (size_t)id);
        if (!types) continue;
        int32_t t = (int32_t)gguf_rd_u32(types + 4 * (size_t)id);
        if (t < 0 || t > LLM_TOKTYPE_BYTE)
            return llm_fail(err, LLM_ERR_FORMAT, "token %d has unknown type %d", id, t);
        /* 0 is gguf's UNDEFINED: treated as an ordinary piece */
        v->types[id] = t == 0 ? LLM_TOKTYPE_NORMAL : (uint8_t)t;
    }
    v->off[v->n] = pos;
    return LLM_OK;
}

/* The byte-level BPE part of a "gpt2" vocabulary: its merges, its
 * pre-tokenizer (llama.cpp's "default" when the file names none) and
 * whether texts are NFC-normalized first (libllm's own key, written by
 * llm-convert for Qwen's tokenizer.json). */
static llm_status bpe_from_gguf(llm_vocab *v, const gguf_file *f, llm_error *err) {
    uint64_t n;
    const unsigned char *merges;
    gguf_str pre = {NULL, 0}, norm = {NULL, 0};
    llm_status s = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_STRING, &n, &merges, err);
    if (!s && gguf_find_kv(f, "tokenizer.ggml.pre")) s = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);
    if (!s && gguf_find_kv(f, "tokenizer.ggml.normalizer")) {
        if ((s = gguf_get_str(f, "tokenizer.ggml.normalizer", &norm, err))) return s;
        if (!gguf_str_eq(norm, "nfc"))
            return llm_fail(err, LLM_ERR_UNSUPPORTED, "tokenizer.ggml.normalizer '%.*s' is not supported (nfc is)",
                            (int)(norm.len > 32 ? 32 : norm.len), norm.ptr);
        v->nfc = true;
    }
    return s ? s : llm_bpe_new(v, pre.ptr, (size_t)pre.len, merges, n, err);
}

static llm_status from_gguf(llm_vocab *v, const gguf_file *f, llm_error *err) {
    gguf_str model;
    llm_status s = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (s) return s;
    bool bpe = gguf_str_eq(model, "gpt2");
    if (!bpe && !gguf_str_eq(model, "llama"))
        return llm_fail(err, LLM_ERR_UNSUPPORTED,
                        "tokenizer model '%.*s' is not supported (only 'llama', SentencePiece, and 'gpt2', "
                        "byte-level BPE)",
                        (int)(model.len > 64 ? 64 : model.len), model.ptr);
    uint64_t n;
    const unsigned char *tok, *scores, *types;
    if ((s = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &n, &tok, err))) return s;
    if (n == 0) return llm_fail(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens is empty");
    if (n > LLM_MAX_VOCAB)
        return llm_fail(err, LLM_ERR_LIMIT, "vocabulary of %llu tokens exceeds the limit %d",
                        (unsigned long long)n, LLM_MAX_VOCAB);
    if ((s = optional_arr(f, "tokenizer.ggml.scores", GGUF_F32, n, &scores, err)) ||
        (s = optional_arr(f, "tokenizer.ggml.token_type", GGUF_I32, n, &types, err)))
        return s;
    uint64_t arena = 0;
    const unsigned char *p = tok;
    for (uint64_t i = 0; i < n; i++) arena += gguf_next_str(&p).len;
    if ((s = vocab_alloc(v, (int32_t)n, arena, err)) || (s = gguf_fill(v, tok, scores, types, err)) ||
        (s = special_id(f, "tokenizer.ggml.bos_token_id", v->n, &v->bos, err)) ||
        (s = special_id(f, "tokenizer.ggml.eos_token_id", v->n, &v->eos, err)) ||
        (s = special_id(f, "tokenizer.ggml.unknown_token_id", v->n, &v->unk, err)) ||
        (s = vocab_finish(v, err)))
        return s;
    /* BPE sets its defaults (BOS by pre-tokenizer, never a dummy prefix)
     * before the file's add_bos_token may override them */
    if (bpe && (s = bpe_from_gguf(v, f, err))) return s;
    if ((s = optional_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos, err))) return s;
    return bpe ? LLM_OK : optional_bool(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err);
}

llm_status llm_vocab_from_gguf(llm_vocab *v, const gguf_file *f, llm_error *err) {
    if (!v || !f) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_vocab_from_gguf: NULL argument");
    memset(v, 0, sizeof *v);
    llm_status s = from_gguf(v, f, err);
    if (s) llm_vocab_free(v);
    return s;
}

/* ---------------------------------------------------------- llama2.c */

static int32_t rd_i32(const unsigned char *p) {
    return (int32_t)gguf_rd_u32(p);
}

/* Walks the n pieces of a tokenizer.bin image after its header, checking
 * every length against the header's maximum and the bytes left, and that
 * the file ends with the last piece (a tokenizer of another model's size
 * is refused rather than silently cut). Without
 * v it only measures: *arena receives the bytes the pieces need once each
 * space is stored as U+2581. With v it copies pieces and scores. */
static llm_status walk_llama2c(const unsigned char *data, size_t size, int32_t n, int32_t max_len,
                               llm_vocab *v, uint64_t *arena, llm_error *err) {
    size_t pos = 4;
    uint64_t total = 0;
    for (int32_t id = 0; id < n; id++) {
        if (size - pos < 8)
            return llm_fail(err, LLM_ERR_FORMAT, "tokenizer truncated at token %d of %d", id, n);
        float score = gguf_rd_f32(data + pos);
        int32_t len = rd_i32(data + pos + 4);
        pos += 8;
        if (len < 0 || len > max_len)
            return llm_fail(err, LLM_ERR_FORMAT, "token %d has length %d (max_token_length %d)", id, len,
                            max_len);
        if ((size_t)len > size - pos)
            return llm_fail(err, LLM_ERR_FORMAT, "tokenizer truncated in token %d (%d bytes, %zu left)", id,
                            len, size - pos);
        if (v) {
            v->off[id] = (uint32_t)total;
            v->scores[id] = score;
        }
        for (int32_t i = 0; i < len; i++) {
            char c = (char)data[pos + (size_t)i];
            if (c == ' ') {
                if (v) memcpy(v->arena + total, PIECE_SPACE, 3);
                total += 3;
            } else {
                if (v) v->arena[total] = c;
                total++;
            }
        }
        pos += (size_t)len;
    }
    if (pos != size)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "tokenizer has %zu bytes after the model's %d pieces: is it the tokenizer for this model?",
                        size - pos, n);
    if (v) v->off[n] = (uint32_t)total;
    *arena = total;
    return LLM_OK;
}

/* Token types as llama2.c's export lays them out: <unk>, <s>, </s>, then
 * the 256 byte pieces among the ordinary ones. */
static void llama2c_types(llm_vocab *v) {
    for (int32_t id = 0; id < v->n; id++) {
        size_t len;
        const char *s = llm_vocab_piece(v, id, &len);
        if (id == 0)
            v->types[id] = LLM_TOKTYPE_UNKNOWN;
        else if (id <= 2)
            v->types[id] = LLM_TOKTYPE_CONTROL;
        else if (llm_piece_byte(s, len) >= 0)
            v->types[id] = LLM_TOKTYPE_BYTE;
    }
    v->unk = 0;
    v->bos = v->n > 1 ? 1 : LLM_TOKEN_NULL;
    v->eos = v->n > 2 ? 2 : LLM_TOKEN_NULL;
}

static llm_status from_llama2c(llm_vocab *v, const unsigned char *data, size_t size, int32_t n_vocab,
                               llm_error *err) {
    if (n_vocab <= 0) return llm_fail(err, LLM_ERR_FORMAT, "vocabulary size %d", n_vocab);
    if (n_vocab > LLM_MAX_VOCAB)
        return llm_fail(err, LLM_ERR_LIMIT, "vocabulary of %d tokens exceeds the limit %d", n_vocab,
                        LLM_MAX_VOCAB);
    if (size < 4) return llm_fail(err, LLM_ERR_FORMAT, "tokenizer truncated: %zu bytes", size);
    int32_t max_len = rd_i32(data);
    if (max_len < 0) return llm_fail(err, LLM_ERR_FORMAT, "tokenizer max_token_length %d", max_len);
    if ((uint32_t)max_len > LLM_MAX_STRING)
        return llm_fail(err, LLM_ERR_LIMIT, "tokenizer max_token_length %d exceeds the limit %u", max_len,
                        LLM_MAX_STRING);
    uint64_t arena = 0;
    llm_status s;
    if ((s = walk_llama2c(data, size, n_vocab, max_len, NULL, &arena, err)) ||
        (s = vocab_alloc(v, n_vocab, arena, err)) ||
        (s = walk_llama2c(data, size, n_vocab, max_len, v, &arena, err)))
        return s;
    llama2c_types(v);
    return vocab_finish(v, err);
}

llm_status llm_vocab_from_llama2c(llm_vocab *v, const void *data, size_t size, int32_t n_vocab,
                                  llm_error *err) {
    if (!v || (!data && size))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_vocab_from_llama2c: NULL argument");
    memset(v, 0, sizeof *v);
    llm_status s = from_llama2c(v, data, size, n_vocab, err);
    if (s) llm_vocab_free(v);
    return s;
}
