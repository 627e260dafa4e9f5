/* Byte-level BPE, token for token what llama.cpp's BPE tokenizer produces
 * for the pre-tokenizers listed below.
 *
 * Encoding a plain run of text (special tokens were split off before):
 *  1. Pre-tokenize: the vocabulary's regular expressions (PCRE2, with
 *     Unicode properties) are applied in turn, each cutting every piece
 *     of the previous step into its matches and the gaps between them,
 *     as llama.cpp's unicode_regex_split does.
 *  2. Each piece (a word) becomes one symbol per byte, whose token is
 *     that byte's GPT-2 character (bytes are drawn as printable
 *     characters: 'a' stays 'a', ' ' becomes U+0120 "Ġ", and so on).
 *  3. Adjacent symbols merge by the rank of the pair in the merge list,
 *     lowest first, leftmost among equals, with a priority queue; the
 *     pair (left id, right id) -> rank and result comes from a hash
 *     table built at load.
 *
 * Invalid UTF-8 is not replaced (llama.cpp turns it into U+FFFD): each
 * run of it is a word of its own, never shown to the expressions, and is
 * encoded byte by byte, so decoding gives the bytes back. A byte whose
 * character is not an ordinary token of the vocabulary (Falcon's lacks
 * some control characters; most lack some of the bytes UTF-8 never uses)
 * is left out, as llama.cpp leaves it out. */
#include "tokenizer_bpe.h"
#include "utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "gguf.h"

/* ---------------------------------------------------- pre-tokenizers */

/* \s as llama.cpp's tables define whitespace (Unicode White_Space);
 * PCRE2's own \s also takes U+180E. */
#define WS "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
#define SP "[" WS "]"
#define NOT_SP "[^" WS "]"

#define GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|" SP "+(?!" NOT_SP ")"

/* Llama 3 and Qwen 2, differing in how many digits make a word. */
#define LLAMA3_LIKE(DIGITS)                                                                           \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" DIGITS \
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|" SP "*[\\r\\n]+|" SP "+(?!" NOT_SP ")|" SP "+"

/* DeepSeek's CJK block and its list of cased letters. */
#define HAN "\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}"
#define DS_LETTERS                                                                                       \
    "A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}\\x{1c4}-\\x{293}"          \
    "\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}\\x{37f}\\x{386}\\x{388}-\\x{38a}"    \
    "\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}"            \
    "\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}"         \
    "\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}"         \
    "\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}"  \
    "\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}" \
    "\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}"          \
    "\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}"           \
    "\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}"           \
    "\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}"          \
    "\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}"         \
    "\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}"      \
    "\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{118a0}-\\x{118df}" \
    "\\x{1e900}-\\x{1e943}"

/* The expression lists, applied in order (NULL-terminated). The same as
 * llama.cpp's for each LLAMA_VOCAB_PRE_TYPE_*, with one rewrite:
 * DeepSeek LLM's "\s+$" is written "(?<!\s)\s+\z", which finds the same
 * leftmost match (a trailing run of spaces starts after a non-space) in
 * linear rather than quadratic time. */
static const char *const re_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const re_gpt2[] = {GPT2, NULL};
static const char *const re_llama3[] = {LLAMA3_LIKE("\\p{N}{1,3}"), NULL};
static const char *const re_qwen2[] = {LLAMA3_LIKE("\\p{N}"), NULL};
static const char *const re_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const re_starcoder[] = {"\\p{N}", GPT2, NULL};
static const char *const re_deepseek_coder[] = {
    "[\\r\\n]", SP "?\\p{L}+", SP "?\\p{P}+", "[" HAN "]+", "\\p{N}", NULL};
static const char *const re_deepseek3[] = {
    "\\p{N}{1,3}",
    "[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\\r\\n]*|" SP "*[\\r\\n]+|" SP "+(?!" NOT_SP ")|" SP "+",
    NULL};
static const char *const re_deepseek_llm[] = {
    "[\\r\\n]",
    SP "?[" DS_LETTERS "]+",
    SP "?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+",
    "(?<!" SP ")" SP "+\\z",
    "[" HAN "]+",
    "\\p{N}+",
    NULL};

#define MAX_RE 6

typedef struct pre_type {
    const char *name;       /* tokenizer.ggml.pre */
    const char *const *re;  /* expressions, at most MAX_RE */
    bool llama3;            /* a word that is a token is taken whole (llama.cpp's
                               ignore_merges), and BOS is added by default */
} pre_type;

/* Names as llama.cpp's loader maps them onto these lists. */
static const pre_type pre_types[] = {
    {"default", re_default, false},
    {"gpt-2", re_gpt2, false},           {"phi-2", re_gpt2, false},
    {"mpt", re_gpt2, false},             {"olmo", re_gpt2, false},
    {"llama-bpe", re_llama3, true},      {"llama3", re_llama3, true},
    {"llama-v3", re_llama3, true},       {"falcon3", re_llama3, true},
    {"dbrx", re_llama3, false},          {"smaug-bpe", re_llama3, false},
    {"qwen2", re_qwen2, false},          {"deepseek-r1-qwen", re_qwen2, false},
    {"megrez", re_qwen2, false},         {"stablelm2", re_qwen2, false},
    {"falcon", re_falcon, false},
    {"starcoder", re_starcoder, false},  {"refact", re_starcoder, false},
    {"smollm", re_starcoder, false},     {"command-r", re_starcoder, false},
    {"codeshell", re_starcoder, false},  {"exaone", re_starcoder, false},
    {"minerva-7b", re_starcoder, false},
    {"deepseek-coder", re_deepseek_coder, false},
    {"deepseek-llm", re_deepseek_llm, false},
    {"deepseek-v3", re_deepseek3, false},
};

static const pre_type *find_pre(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof pre_types / sizeof *pre_types; i++)
        if (strlen(pre_types[i].name) == len && memcmp(pre_types[i].name, name, len) == 0) return &pre_types[i];
    return NULL;
}

/* ------------------------------------------------ GPT-2 byte mapping */

/* GPT-2 draws each byte as a printable character: '!'..'~', U+00A1..U+00AC
 * and U+00AE..U+00FF stand for themselves; the other 68 bytes take
 * U+0100..U+0143 in order (0x00-0x20, then 0x7F-0xA0, then 0xAD). */
static uint32_t byte_cp(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 0x100 + b;
    if (b <= 0xA0) return b + 0xA2;
    return 0x143; /* 0xAD */
}

/* The byte a character stands for, or -1 when it is not in the table. */
static int cp_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);
    if (cp >= 0x121 && cp <= 0x142) return (int)(cp - 0xA2);
    return cp == 0x143 ? 0xAD : -1;
}

/* Writes byte b's character as UTF-8 (1 or 2 bytes); returns the length. */
static size_t byte_char(unsigned b, char *out) {
    uint32_t cp = byte_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

size_t llm_bpe_unmap(const char *s, size_t n, char *dst) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        /* table characters are ASCII or two bytes; everything else,
         * valid or not, is copied a byte at a time */
        int b = -1;
        if (c >= 0xC2 && c <= 0xDF && n - i >= 2 && ((unsigned char)s[i + 1] & 0xC0) == 0x80)
            b = cp_byte((uint32_t)(c & 0x1F) << 6 | ((unsigned char)s[i + 1] & 0x3F));
        if (b >= 0) {
            if (dst) dst[k] = (char)b;
            i += 2;
        } else {
            if (dst) dst[k] = (char)c;
            i += 1;
        }
        k++;
    }
    return k;
}

/* ------------------------------------------------------------ loading */

/* A merge: the pair (left id, right id) as key, its rank and result. */
typedef struct merge_slot {
    uint64_t key;   /* left << 32 | right; MERGE_EMPTY when free */
    int32_t rank;
    int32_t id;
} merge_slot;

#define MERGE_EMPTY UINT64_MAX

struct llm_bpe {
    const pre_type *pre;
    pcre2_general_context *gctx; /* allocation through llm_malloc */
    pcre2_code *re[MAX_RE];      /* (n_re) compiled, JIT when available */
    size_t n_re;
    merge_slot *merges;          /* (merge_mask + 1) open addressing, <= half full */
    uint32_t merge_mask;
};

static void *re_malloc(PCRE2_SIZE size, void *data) {
    (void)data;
    return llm_malloc(size);
}

static void re_free(void *p, void *data) {
    (void)data;
    free(p);
}

static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

/* The slot of key, or the free slot where it would go. */
static merge_slot *find_merge(merge_slot *slots, uint32_t mask, uint64_t key) {
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
    while (slots[i].key != key && slots[i].key != MERGE_EMPTY) i = (i + 1) & mask;
    return &slots[i];
}

/* Compiles the pre-tokenizer's expressions once for the vocabulary's
 * lifetime; matching with them is thread-safe. */
static llm_status compile_all(llm_bpe *b, llm_error *err) {
    pcre2_compile_context *cctx = pcre2_compile_context_create(b->gctx);
    if (!cctx) return llm_fail(err, LLM_ERR_NOMEM, "out of memory compiling the pre-tokenizer");
    llm_status s = LLM_OK;
    for (const char *const *re = b->pre->re; *re; re++) {
        int code;
        PCRE2_SIZE at;
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)*re, PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_UCP, &code, &at, cctx);
        if (!c) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(code, msg, sizeof msg);
            s = llm_fail(err, code == PCRE2_ERROR_HEAP_FAILED ? LLM_ERR_NOMEM : LLM_ERR_UNSUPPORTED,
                         "pre-tokenizer '%s': expression %zu does not compile with this PCRE2 (%s at %zu)",
                         b->pre->name, b->n_re + 1, (const char *)msg, (size_t)at);
            break;
        }
        /* without JIT (unsupported, or no memory for it) the interpreter
         * gives the same matches */
        (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
        b->re[b->n_re++] = c;
    }
    pcre2_compile_context_free(cctx);
    return s;
}

/* Builds the (left id, right id) -> (rank, result) table from the merge
 * strings "left right" (split at the first space after the first byte,
 * as llama.cpp does). The first of duplicate pairs keeps its rank. */
static llm_status build_merges(llm_bpe *b, const llm_vocab *v, const unsigned char *p, uint64_t n,
                               llm_error *err) {
    uint32_t cap = 16;
    while (cap < 2 * n) cap <<= 1; /* n <= LLM_MAX_VOCAB: no overflow */
    b->merges = llm_malloc((size_t)cap * sizeof *b->merges);
    char *joined = llm_malloc((size_t)v->max_piece + 1);
    if (!b->merges || !joined) {
        free(joined);
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %llu BPE merges", (unsigned long long)n);
    }
    memset(b->merges, 0xFF, (size_t)cap * sizeof *b->merges); /* every key MERGE_EMPTY */
    b->merge_mask = cap - 1;
    for (uint64_t rank = 0; rank < n; rank++) {
        gguf_str m = gguf_next_str(&p);
        const char *sp = m.len >= 2 ? memchr(m.ptr + 1, ' ', (size_t)m.len - 1) : NULL;
        if (!sp || m.len - 1 > v->max_piece) continue;
        size_t ll = (size_t)(sp - m.ptr), rl = (size_t)m.len - ll - 1;
        memcpy(joined, m.ptr, ll);
        memcpy(joined + ll, sp + 1, rl);
        int32_t left = llm_vocab_find(v, m.ptr, ll), right = llm_vocab_find(v, sp + 1, rl);
        int32_t id = llm_vocab_find(v, joined, ll + rl);
        if (left < 0 || right < 0 || id < 0) continue;
        merge_slot *slot = find_merge(b->merges, b->merge_mask, pair_key(left, right));
        if (slot->key == MERGE_EMPTY) *slot = (merge_slot){pair_key(left, right), (int32_t)rank, id};
    }
    free(joined);
    return LLM_OK;
}

void llm_bpe_free(llm_bpe *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n_re; i++) pcre2_code_free(b->re[i]);
    pcre2_general_context_free(b->gctx);
    free(b->merges);
    free(b);
}

llm_status llm_bpe_new(llm_vocab *v, const char *pre, size_t pre_len, const unsigned char *merges,
                       uint64_t n_merges, llm_error *err) {
    const pre_type *t = pre ? find_pre(pre, pre_len) : find_pre("default", 7);
    if (!t)
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "pre-tokenizer '%.*s' is not supported",
                        (int)(pre_len > 64 ? 64 : pre_len), pre);
    if (n_merges > LLM_MAX_VOCAB)
        return llm_fail(err, LLM_ERR_LIMIT, "%llu BPE merges exceed the limit %d", (unsigned long long)n_merges,
                        LLM_MAX_VOCAB);
    llm_bpe *b = llm_calloc(1, sizeof *b);
    if (!b) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the BPE tokenizer");
    b->pre = t;
    b->gctx = pcre2_general_context_create(re_malloc, re_free, NULL);
    llm_status s = b->gctx ? LLM_OK : llm_fail(err, LLM_ERR_NOMEM, "out of memory for the BPE tokenizer");
    if (s || (s = compile_all(b, err)) || (s = build_merges(b, v, merges, n_merges, err))) {
        llm_bpe_free(b);
        return s;
    }
    /* a byte's character as a user-defined or control token would decode
     * as its text, not as the byte: such bytes have no token */
    for (unsigned c = 0; c < 256; c++) {
        char u[2];
        int32_t id = llm_vocab_find(v, u, byte_char(c, u));
        v->byte_tok[c] = id >= 0 && v->types[id] == LLM_TOKTYPE_NORMAL ? id : -1;
    }
    v->bpe = b;
    v->add_bos = t->llama3;
    v->add_space_prefix = false;
    return LLM_OK;
}

const char *llm_bpe_pre_name(const llm_bpe *b) {
    return b->pre->name;
}

/* ----------------------------------------------------------- encoding */

static llm_status nomem(llm_error *err) {
    return llm_fail(err, LLM_ERR_NOMEM, "out of memory in the BPE tokenizer");
}

static llm_status push_cut(llm_bpe_work *w, size_t *n, size_t at, llm_error *err) {
    size_t *c = llm_tok_grow(w->spare, &w->spare_cap, *n + 1, sizeof *c);
    if (!c) return nomem(err);
    w->spare = c;
    w->spare[(*n)++] = at;
    return LLM_OK;
}

static llm_status match_failed(int rc, llm_error *err) {
    if (rc == PCRE2_ERROR_NOMEMORY) return nomem(err);
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return llm_fail(err, LLM_ERR_LIMIT, "pre-tokenizer expression failed: %s", (const char *)msg);
}

/* Length of the run at the start of s[0, n) of well-formed characters
 * (valid) or of bytes that start none (!valid). */
static size_t utf8_run(const char *s, size_t n, bool valid) {
    size_t i = 0;
    while (i < n) {
        size_t c = llm_utf8_char((const unsigned char *)s + i, n - i);
        if ((c > 0) != valid) break;
        i += c ? c : 1;
    }
    return i;
}

/* Cuts the word s[0, n) (at offset base of the run) into its matches of
 * re and the gaps between them, appending the ends to w->spare. A word
 * of invalid UTF-8 stays whole. */
static llm_status cut_word(const pcre2_code *re, llm_bpe_work *w, const char *s, size_t n, size_t base,
                           size_t *n_cuts, llm_error *err) {
    if (utf8_run(s, n, true) < n) return push_cut(w, n_cuts, base + n, err);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->match);
    size_t pos = 0;
    llm_status st = LLM_OK;
    while (pos < n && !st) {
        /* the subject is the word alone: lookarounds see its ends as the
         * ends of the text, as when llama.cpp matches each piece. It is
         * valid UTF-8, so PCRE2 need not check it again at every call (a
         * check would make the loop quadratic). */
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NOTEMPTY | PCRE2_NO_UTF_CHECK, w->match, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return match_failed(rc, err);
        if (ov[0] > pos) st = push_cut(w, n_cuts, base + ov[0], err);
        if (!st) st = push_cut(w, n_cuts, base + ov[1], err);
        pos = ov[1];
    }
    if (!st && pos < n) st = push_cut(w, n_cuts, base + n, err);
    return st;
}

/* The cuts just made in w->spare become the current ones. */
static void take_cuts(llm_bpe_work *w) {
    size_t *t = w->cuts, cap = w->cuts_cap;
    w->cuts = w->spare;
    w->cuts_cap = w->spare_cap;
    w->spare = t;
    w->spare_cap = cap;
}

/* First the runs of valid and of invalid UTF-8, so that the expressions
 * only ever see valid text; then each expression in turn. */
llm_status llm_bpe_split(const llm_bpe *b, llm_bpe_work *w, const char *text, size_t len, size_t *n,
                         llm_error *err) {
    if (!w->match && !(w->match = pcre2_match_data_create(1, b->gctx))) return nomem(err);
    llm_status s = LLM_OK;
    size_t m = 0;
    for (size_t pos = 0; pos < len && !s;) {
        pos += utf8_run(text + pos, len - pos, llm_utf8_char((const unsigned char *)text + pos, len - pos) > 0);
        s = push_cut(w, &m, pos, err);
    }
    for (size_t r = 0; r < b->n_re && !s; r++) {
        take_cuts(w);
        *n = m;
        m = 0;
        for (size_t i = 0, start = 0; i < *n && !s; start = w->cuts[i++])
            s = cut_word(b->re[r], w, text + start, w->cuts[i] - start, start, &m, err);
    }
    take_cuts(w);
    *n = m;
    return s;
}

static bool bpe_pair(const void *ctx, const llm_sym *l, const llm_sym *r, float *score, int32_t *id) {
    const llm_bpe *b = ctx;
    if (l->id < 0 || r->id < 0) return false;
    const merge_slot *m = find_merge(b->merges, b->merge_mask, pair_key(l->id, r->id));
    if (m->key == MERGE_EMPTY) return false;
    *score = -(float)m->rank; /* exact: ranks are below 2^24 */
    *id = m->id;
    return true;
}

/* *id: the token that is the whole word s[0, n), or -1. */
static llm_status whole_word(const llm_vocab *v, llm_bpe_work *w, const char *s, size_t n, int32_t *id,
                             llm_error *err) {
    *id = -1;
    if (n > v->max_piece) return LLM_OK; /* its characters take at least n bytes */
    char *u = llm_tok_grow(w->word, &w->word_cap, 2 * n, 1);
    if (!u) return nomem(err);
    w->word = u;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += byte_char((unsigned char)s[i], u + k);
    *id = llm_vocab_find(v, u, k);
    return LLM_OK;
}

static llm_status encode_word(const llm_vocab *v, llm_bpe_work *w, const char *s, size_t n, llm_tok_sink *o,
                              llm_error *err) {
    llm_status st;
    if (v->bpe->pre->llama3) {
        int32_t id;
        if ((st = whole_word(v, w, s, n, &id, err))) return st;
        if (id >= 0) {
            llm_tok_emit(o, id);
            return LLM_OK;
        }
    }
    llm_sym *sy = llm_tok_grow(w->m.syms, &w->m.syms_cap, n, sizeof *sy);
    if (!sy) return nomem(err);
    w->m.syms = sy;
    for (size_t i = 0; i < n; i++)
        sy[i] = (llm_sym){i, 1, i ? i - 1 : LLM_SYM_NONE, i + 1 < n ? i + 1 : LLM_SYM_NONE,
                          v->byte_tok[(unsigned char)s[i]]};
    if ((st = llm_merge(&w->m, n, bpe_pair, v->bpe, err))) return st;
    /* merges always make tokens: a symbol without one is a lone byte
     * whose character the vocabulary lacks, left out as llama.cpp does */
    for (size_t i = 0; i != LLM_SYM_NONE; i = w->m.syms[i].next)
        if (w->m.syms[i].id >= 0) llm_tok_emit(o, w->m.syms[i].id);
    return LLM_OK;
}

llm_status llm_bpe_encode(const llm_vocab *v, llm_bpe_work *w, const char *text, size_t len, llm_tok_sink *o,
                          llm_error *err) {
    size_t n = 0, start = 0;
    llm_status s = len ? llm_bpe_split(v->bpe, w, text, len, &n, err) : LLM_OK;
    for (size_t i = 0; i < n && !s; i++) {
        s = encode_word(v, w, text + start, w->cuts[i] - start, o, err);
        start = w->cuts[i];
    }
    return s;
}

void llm_bpe_work_free(llm_bpe_work *w) {
    llm_merge_work_free(&w->m);
    free(w->cuts);
    free(w->spare);
    free(w->word);
    pcre2_match_data_free(w->match);
    memset(w, 0, sizeof *w);
}
