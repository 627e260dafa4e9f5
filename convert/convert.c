#include "llm_convert.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"
#include "gguf.h"
#include "gguf_write.h"
#include "llama2c.h"
#include "mapfile.h"
#include "model.h"
#include "quantize.h"
#include "safetensors.h"
#include "spm_model.h"
#include "vocab.h"

llm_convert_params llm_convert_default_params(void) {
    llm_convert_params p = {.type = LLM_CONVERT_KEEP};
    return p;
}

static llm_status nomem(llm_error *err) {
    return llm_fail(err, LLM_ERR_NOMEM, "out of memory converting a model");
}

/* dir/name into buf. */
static llm_status path_in(char *buf, size_t cap, const char *dir, const char *name, llm_error *err) {
    if ((size_t)snprintf(buf, cap, "%s/%s", dir, name) >= cap)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "path %s/%s is too long", dir, name);
    return LLM_OK;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------------------------------------------------------------- vocabulary */

/* A vocabulary on its way into tokenizer.ggml.*: one token per embedding
 * row, the merges of a BPE vocabulary, and the special ids and flags that
 * the sources state (-1 where they say nothing, so no key is written). */
typedef struct cvocab {
    const char *model;      /* tokenizer.ggml.model: "llama" or "gpt2" */
    const char *pre;        /* tokenizer.ggml.pre, or NULL */
    const char *normalizer; /* tokenizer.ggml.normalizer ("nfc"), or NULL for none */
    int32_t n;
    char **tokens;          /* (n) owned */
    float *scores;          /* (n), NULL for BPE */
    int32_t *types;         /* (n) LLM_TOKTYPE_* */
    char **merges;          /* (n_merges) owned, "left right" */
    uint64_t n_merges;
    int32_t bos, eos, unk, pad;
    int add_bos, add_eos, add_space_prefix;
} cvocab;

static void cvocab_free(cvocab *v) {
    for (int32_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
    for (uint64_t i = 0; v->merges && i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

static llm_status cvocab_alloc(cvocab *v, const char *model, int32_t n, bool scores, llm_error *err) {
    memset(v, 0, sizeof *v);
    v->model = model;
    v->n = n;
    v->tokens = llm_calloc((size_t)n, sizeof *v->tokens);
    v->types = llm_calloc((size_t)n, sizeof *v->types);
    v->scores = scores ? llm_calloc((size_t)n, sizeof *v->scores) : NULL;
    v->bos = v->eos = v->unk = v->pad = -1;
    v->add_bos = v->add_eos = v->add_space_prefix = -1;
    if (!v->tokens || !v->types || (scores && !v->scores)) return nomem(err);
    return LLM_OK;
}

/* Ids the tokenizer does not define (the embedding has more rows) get
 * placeholders, as llama.cpp's converter writes them. */
static llm_status pad_vocab(cvocab *v, llm_error *err) {
    for (int32_t id = 0; id < v->n; id++) {
        if (v->tokens[id]) continue;
        if (asprintf(&v->tokens[id], "[PAD%d]", id) < 0) {
            v->tokens[id] = NULL;
            return nomem(err);
        }
        v->types[id] = LLM_TOKTYPE_UNUSED;
        if (v->scores) v->scores[id] = -1000.0f;
    }
    return LLM_OK;
}

static int32_t find_token(const cvocab *v, const char *text) {
    for (int32_t id = 0; id < v->n; id++)
        if (v->tokens[id] && strcmp(v->tokens[id], text) == 0) return id;
    return -1;
}

/* A llama2.c tokenizer.bin, read by the library's own loader. llama2.c's
 * export writes BOS and EOS as "\n<s>\n" and "\n</s>\n"; control pieces
 * get their plain form back. */
static llm_status vocab_llama2c(cvocab *v, const char *path, int32_t n_vocab, llm_error *err) {
    llm_map map;
    llm_vocab lv;
    llm_status s = llm_map_open(&map, path, err);
    if (s) return s;
    s = llm_vocab_from_llama2c(&lv, map.data, map.size, n_vocab, err);
    llm_map_close(&map);
    if (s) {
        llm_error_prefix(err, path);
        return s;
    }
    s = cvocab_alloc(v, "llama", n_vocab, true, err);
    for (int32_t id = 0; !s && id < n_vocab; id++) {
        size_t len;
        const char *p = llm_vocab_piece(&lv, id, &len);
        if (memchr(p, 0, len)) {
            s = llm_fail(err, LLM_ERR_FORMAT, "%s: piece %d holds a NUL byte", path, id);
            break;
        }
        if (lv.types[id] == LLM_TOKTYPE_CONTROL && len >= 2 && p[0] == '\n' && p[len - 1] == '\n') {
            p++;
            len -= 2;
        }
        if (!(v->tokens[id] = llm_strndup(p, len))) s = nomem(err);
        v->scores[id] = lv.scores[id];
        v->types[id] = lv.types[id];
    }
    v->bos = lv.bos;
    v->eos = lv.eos;
    v->unk = lv.unk;
    llm_vocab_free(&lv);
    return s;
}

/* A SentencePiece .model. libllm's SentencePiece tokenizer merges pieces
 * by score, which is right for BPE models only, so others are refused. */
static llm_status vocab_spm(cvocab *v, const char *path, int32_t n_vocab, llm_error *err) {
    spm_model sm;
    llm_status s = spm_model_open(&sm, path, err);
    if (s) return s;
    if (sm.model_type != 2)
        s = llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: trainer_spec.model_type is %d; only BPE models (2) are converted",
                     path, sm.model_type);
    else if (sm.n > n_vocab)
        s = llm_fail(err, LLM_ERR_FORMAT, "%s: %d pieces, but the model has %d embedding rows", path, sm.n, n_vocab);
    if (!s) s = cvocab_alloc(v, "llama", n_vocab, true, err);
    for (int32_t id = 0; !s && id < sm.n; id++) {
        if (!(v->tokens[id] = llm_strdup(sm.pieces[id]))) s = nomem(err);
        v->scores[id] = sm.scores[id];
        v->types[id] = sm.types[id];
    }
    if (!s) {
        v->unk = sm.unk_id;
        v->bos = sm.bos_id;
        v->eos = sm.eos_id;
        v->pad = sm.pad_id;
        v->add_space_prefix = sm.add_dummy_prefix;
        s = pad_vocab(v, err);
    }
    spm_model_free(&sm);
    return s;
}

/* obj[key] unless absent or null. */
static const cJSON *json_get(const cJSON *obj, const char *key) {
    const cJSON *it = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return it && !cJSON_IsNull(it) ? it : NULL;
}

static bool json_str_is(const cJSON *obj, const char *key, const char *want) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
    return s && strcmp(s, want) == 0;
}

/* A JSON boolean, or def when the key is absent. */
static bool json_flag(const cJSON *obj, const char *key, bool def) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return it ? cJSON_IsTrue(it) : def;
}

static bool byte_level(const cJSON *p, bool use_regex) {
    return json_str_is(p, "type", "ByteLevel") && !json_flag(p, "add_prefix_space", false) &&
           json_flag(p, "use_regex", true) == use_regex;
}

/* The Split pre-tokenizers of tokenizer.json that libllm knows, runs of
 * one to three followed by a ByteLevel without its own expression, by the
 * name llama.cpp gives them in tokenizer.ggml.pre. The patterns are the
 * JSON strings decoded (\r and \n are the characters). */
#define LLAMA3_LIKE_SPLIT(digits)                                                                    \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" digits "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
static const struct { const char *pre, *patterns[4]; } splits[] = {
    {"llama-bpe", {LLAMA3_LIKE_SPLIT("\\p{N}{1,3}")}}, /* Llama 3, SmolLM3 */
    {"qwen2", {LLAMA3_LIKE_SPLIT("\\p{N}")}},          /* Qwen 2, 2.5, 3 */
    {"deepseek-v3",
     {"\\p{N}{1,3}", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
      "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
};

/* The pattern of an Isolated, not inverted Split, or NULL. */
static const char *split_pattern(const cJSON *p) {
    if (!json_str_is(p, "type", "Split") || !json_str_is(p, "behavior", "Isolated") || json_flag(p, "invert", false))
        return NULL;
    return cJSON_GetStringValue(json_get(json_get(p, "pattern"), "Regex"));
}

/* Whether the Sequence items from first on are the patterns of a known
 * run (NULL-terminated), then a ByteLevel without its own expression. */
static bool splits_are(const cJSON *first, const char *const *patterns) {
    for (; *patterns; patterns++, first = first->next) {
        const char *p = first ? split_pattern(first) : NULL;
        if (!p || strcmp(p, *patterns) != 0) return false;
    }
    return first && !first->next && byte_level(first, false);
}

/* The tokenizer.ggml.pre name of a tokenizer.json pre_tokenizer: GPT-2's
 * ByteLevel, a known run of Splits + ByteLevel, or single Digits +
 * ByteLevel (SmolLM, StarCoder: "smollm"); NULL for others. */
static const char *pre_name(const cJSON *pt) {
    if (byte_level(pt, true)) return "gpt-2";
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (!json_str_is(pt, "type", "Sequence") || !cJSON_IsArray(seq) || !seq->child) return NULL;
    const cJSON *first = seq->child;
    if (json_str_is(first, "type", "Digits") && json_flag(first, "individual_digits", false) && first->next &&
        !first->next->next && byte_level(first->next, true))
        return "smollm";
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        if (splits_are(first, splits[i].patterns)) return splits[i].pre;
    return NULL;
}

/* The normalizers of tokenizer.json that byte-level vocabularies carry:
 * none (null, or an empty Sequence) and NFC (Qwen), which the tokenizer
 * applies to the text (*name "nfc", the tokenizer.ggml.normalizer value
 * libllm reads; llama.cpp has no such key and skips the step). */
static bool normalizer_known(const cJSON *norm, const char **name) {
    *name = NULL;
    if (!norm || cJSON_IsNull(norm)) return true;
    if (json_str_is(norm, "type", "Sequence"))
        return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(norm, "normalizers")) == 0;
    if (!json_str_is(norm, "type", "NFC")) return false;
    *name = "nfc";
    return true;
}

/* Puts token text at id, which must be inside the embedding and free
 * (or hold the same text: added tokens repeat vocabulary entries). */
static llm_status bpe_token(cvocab *v, const char *path, uint64_t id, const char *text, llm_error *err) {
    if (id >= (uint64_t)v->n)
        return llm_fail(err, LLM_ERR_FORMAT, "%s: token '%.40s' has id %llu, outside the model's %d embedding rows",
                        path, text, (unsigned long long)id, v->n);
    if (v->tokens[id]) {
        if (strcmp(v->tokens[id], text) == 0) return LLM_OK;
        return llm_fail(err, LLM_ERR_FORMAT, "%s: id %llu is given to both '%.40s' and '%.40s'", path,
                        (unsigned long long)id, v->tokens[id], text);
    }
    return (v->tokens[id] = llm_strdup(text)) ? LLM_OK : nomem(err);
}

static llm_status bpe_vocab(cvocab *v, const char *path, const cJSON *vocab, const cJSON *added, llm_error *err) {
    uint64_t id;
    llm_status s;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!st_json_uint(e, UINT32_MAX, &id))
            return llm_fail(err, LLM_ERR_FORMAT, "%s: model.vocab['%.40s'] is not a token id", path, e->string);
        if ((s = bpe_token(v, path, id, e->string, err))) return s;
        v->types[id] = LLM_TOKTYPE_NORMAL;
    }
    int i = 0;
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next, i++) {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "content"));
        if (!text || !st_json_uint(cJSON_GetObjectItemCaseSensitive(e, "id"), UINT32_MAX, &id))
            return llm_fail(err, LLM_ERR_FORMAT, "%s: added_tokens[%d] lacks an id or content", path, i);
        if ((s = bpe_token(v, path, id, text, err))) return s;
        v->types[id] = json_flag(e, "special", false) ? LLM_TOKTYPE_CONTROL : LLM_TOKTYPE_USER_DEFINED;
    }
    return LLM_OK;
}

/* Merges come as "left right" strings or, in newer files, as
 * ["left", "right"] pairs; GGUF stores the string form. */
static llm_status bpe_merges(cvocab *v, const char *path, const cJSON *merges, llm_error *err) {
    int n = cJSON_GetArraySize(merges);
    v->merges = llm_calloc(n ? (size_t)n : 1, sizeof *v->merges);
    if (!v->merges) return nomem(err);
    for (const cJSON *e = merges->child; e; e = e->next) {
        const char *a = cJSON_GetStringValue(e), *b = NULL;
        if (!a && cJSON_GetArraySize(e) == 2) {
            a = cJSON_GetStringValue(e->child);
            b = cJSON_GetStringValue(e->child->next);
        }
        if (!a || (!b && !cJSON_IsString(e)))
            return llm_fail(err, LLM_ERR_FORMAT, "%s: model.merges[%llu] is neither \"a b\" nor [\"a\", \"b\"]", path,
                            (unsigned long long)v->n_merges);
        char *m = b ? NULL : llm_strdup(a);
        if (b && asprintf(&m, "%s %s", a, b) < 0) m = NULL;
        if (!m) return nomem(err);
        v->merges[v->n_merges++] = m;
    }
    return LLM_OK;
}

/* tokenizer.json with a byte-level BPE model. */
static llm_status vocab_bpe(cvocab *v, const char *path, const cJSON *root, int32_t n_vocab, llm_error *err) {
    llm_status s = LLM_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const char *pre = pre_name(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")), *normalizer = NULL;
    const char *ntype = cJSON_GetStringValue(json_get(norm, "type"));
    if (!cJSON_IsObject(model) || !json_str_is(model, "type", "BPE"))
        s = llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: model.type is not BPE, the only tokenizer.json model converted", path);
    else if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges) || (added && !cJSON_IsArray(added)))
        s = llm_fail(err, LLM_ERR_FORMAT, "%s: model.vocab, model.merges or added_tokens is missing or malformed", path);
    else if (!normalizer_known(norm, &normalizer))
        s = llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: normalizer '%.32s' is not converted (none and NFC are)", path,
                     ntype ? ntype : "?");
    else if (!pre)
        s = llm_fail(err, LLM_ERR_UNSUPPORTED,
                     "%s: pre_tokenizer is none that libllm knows (GPT-2's ByteLevel, Llama 3's Split + ByteLevel)", path);
    if (!s) s = cvocab_alloc(v, "gpt2", n_vocab, false, err);
    if (!s) {
        v->pre = pre;
        v->normalizer = normalizer;
        s = bpe_vocab(v, path, vocab, added, err);
    }
    if (!s) s = bpe_merges(v, path, merges, err);
    if (!s) s = pad_vocab(v, err);
    return s;
}

/* A token text and its id, for finding pieces by text in O(log n). */
typedef struct piece_id {
    const char *text;
    int32_t id;
} piece_id;

static int by_text(const void *a, const void *b) {
    return strcmp(((const piece_id *)a)->text, ((const piece_id *)b)->text);
}

/* SentencePiece merges the adjacent pair whose joined piece scores best;
 * with the piece each merge makes scoring minus its rank (its first rank,
 * if several merges make it) that is the merge order of the BPE model.
 * Pieces no merge makes keep the score below every merge (ordinary ones)
 * or 0 (control, byte, unknown), as in a .model. The merges themselves
 * are not kept: a "llama" vocabulary has none. */
static llm_status spm_scores(cvocab *v, llm_error *err) {
    piece_id *index = llm_malloc(sizeof *index * (size_t)v->n);
    if (!index) return nomem(err);
    for (int32_t id = 0; id < v->n; id++) {
        index[id] = (piece_id){v->tokens[id], id};
        v->scores[id] = v->types[id] == LLM_TOKTYPE_NORMAL ? -(float)v->n_merges - 1.0f : 0.0f;
    }
    qsort(index, (size_t)v->n, sizeof *index, by_text);
    for (uint64_t r = v->n_merges; r-- > 0;) {
        char *sp = strchr(v->merges[r], ' ');
        if (!sp) continue;
        memmove(sp, sp + 1, strlen(sp)); /* "a b" -> "ab" */
        piece_id key = {v->merges[r], 0}, *hit = bsearch(&key, index, (size_t)v->n, sizeof *index, by_text);
        if (hit) v->scores[hit->id] = -(float)r;
    }
    free(index);
    for (uint64_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->merges);
    v->merges = NULL;
    v->n_merges = 0;
    return LLM_OK;
}

/* The dummy prefix of a SentencePiece-style tokenizer.json: a Prepend of
 * "▁" among the normalizers (Llama 2, Mistral) or a Metaspace
 * pre-tokenizer that prepends (newer files); Replace(" " -> "▁") is the
 * SentencePiece space itself. Other normalizers are refused. */
static llm_status spm_prefix(cvocab *v, const char *path, const cJSON *norm, const cJSON *pre, llm_error *err) {
    const cJSON *list = json_str_is(norm, "type", "Sequence") ? cJSON_GetObjectItemCaseSensitive(norm, "normalizers")
                                                              : NULL;
    const cJSON *one = list ? list->child : norm && !cJSON_IsNull(norm) ? norm : NULL;
    v->add_space_prefix = 0;
    for (; one; one = list ? one->next : NULL) {
        if (json_str_is(one, "type", "Prepend") && json_str_is(one, "prepend", "\xe2\x96\x81"))
            v->add_space_prefix = 1;
        else if (!json_str_is(one, "type", "Replace") || !json_str_is(one, "content", "\xe2\x96\x81") ||
                 !json_str_is(json_get(one, "pattern"), "String", " "))
            return llm_fail(err, LLM_ERR_UNSUPPORTED,
                            "%s: normalizer '%.32s' is not converted for a SentencePiece-style vocabulary", path,
                            cJSON_IsString(json_get(one, "type")) ? json_get(one, "type")->valuestring : "?");
    }
    if (json_str_is(pre, "type", "Metaspace"))
        v->add_space_prefix = !json_str_is(pre, "prepend_scheme", "never");
    else if (pre && !cJSON_IsNull(pre))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: pre_tokenizer of a SentencePiece-style vocabulary is not "
                        "null or Metaspace", path);
    return LLM_OK;
}

/* tokenizer.json with SentencePiece-style BPE (byte_fallback, "▁" for
 * spaces, <0xNN> byte pieces), as Gemma and Mistral ship it without a
 * tokenizer.model: written as the "llama" vocabulary the .model would
 * give (spm_scores, spm_prefix). */
static llm_status vocab_spm_json(cvocab *v, const char *path, const cJSON *root, int32_t n_vocab, llm_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const char *unk = cJSON_GetStringValue(json_get(model, "unk_token"));
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges) || (added && !cJSON_IsArray(added)))
        return llm_fail(err, LLM_ERR_FORMAT, "%s: model.vocab, model.merges or added_tokens is missing or malformed",
                        path);
    llm_status s = cvocab_alloc(v, "llama", n_vocab, true, err);
    if (!s) s = bpe_vocab(v, path, vocab, added, err);
    if (!s) s = bpe_merges(v, path, merges, err);
    if (!s) s = spm_prefix(v, path, json_get(root, "normalizer"), json_get(root, "pre_tokenizer"), err);
    for (int32_t id = 0; !s && id < v->n; id++) {
        if (!v->tokens[id]) continue;
        if (llm_piece_byte(v->tokens[id], strlen(v->tokens[id])) >= 0) v->types[id] = LLM_TOKTYPE_BYTE;
        if (unk && strcmp(v->tokens[id], unk) == 0) {
            v->types[id] = LLM_TOKTYPE_UNKNOWN;
            v->unk = id;
        }
    }
    if (!s) s = pad_vocab(v, err);
    return s ? s : spm_scores(v, err);
}

/* tokenizer.json: SentencePiece-style when the BPE model falls back to
 * bytes, else byte-level. */
static llm_status vocab_json(cvocab *v, const char *path, int32_t n_vocab, llm_error *err) {
    cJSON *root;
    llm_status s = st_json_load(path, &root, err);
    if (s) return s;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    bool spm = json_str_is(model, "type", "BPE") && json_flag(model, "byte_fallback", false);
    s = spm ? vocab_spm_json(v, path, root, n_vocab, err) : vocab_bpe(v, path, root, n_vocab, err);
    cJSON_Delete(root);
    return s;
}

static llm_status put_vocab(gguf_writer *w, const cvocab *v, llm_error *err) {
    llm_status s;
    if ((s = gguf_writer_add_str(w, "tokenizer.ggml.model", v->model, err)) ||
        (v->pre && (s = gguf_writer_add_str(w, "tokenizer.ggml.pre", v->pre, err))) ||
        (v->normalizer && (s = gguf_writer_add_str(w, "tokenizer.ggml.normalizer", v->normalizer, err))) ||
        (s = gguf_writer_add_str_arr(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (uint64_t)v->n, err)) ||
        (v->scores && (s = gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_F32, v->scores, (uint64_t)v->n, err))) ||
        (s = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_I32, v->types, (uint64_t)v->n, err)) ||
        (v->n_merges && (s = gguf_writer_add_str_arr(w, "tokenizer.ggml.merges", (const char *const *)v->merges,
                                                     v->n_merges, err))))
        return s;
    const char *ids[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                         "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    int32_t vals[] = {v->bos, v->eos, v->unk, v->pad};
    for (int i = 0; i < 4; i++)
        if (vals[i] >= 0 && (s = gguf_writer_add_u32(w, ids[i], (uint32_t)vals[i], err))) return s;
    const char *flags[] = {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                           "tokenizer.ggml.add_space_prefix"};
    int fv[] = {v->add_bos, v->add_eos, v->add_space_prefix};
    for (int i = 0; i < 3; i++)
        if (fv[i] >= 0 && (s = gguf_writer_add_bool(w, flags[i], fv[i] != 0, err))) return s;
    return LLM_OK;
}

/* The vocabulary as the loader will read it from the output: written
 * alone to memory and read back by llm_vocab_from_gguf, before any tensor
 * is converted. So the converter never writes a file its own loader
 * refuses for its vocabulary (more BPE merges than LLM_MAX_VOCAB, special
 * pieces past the trie's limit, ...): one set of limits, the loader's. */
static llm_status check_vocab(const cvocab *v, const char *path, llm_error *err) {
    gguf_writer *w = gguf_writer_new(err);
    if (!w) return LLM_ERR_NOMEM;
    void *img = NULL;
    size_t n = 0;
    gguf_file f;
    llm_vocab lv;
    memset(&lv, 0, sizeof lv);
    llm_status s = put_vocab(w, v, err);
    if (!s) s = gguf_writer_to_mem(w, &img, &n, err);
    gguf_writer_free(w);
    if (!s && !(s = gguf_parse(&f, img, n, err))) {
        s = llm_vocab_from_gguf(&lv, &f, err);
        gguf_close(&f);
    }
    llm_vocab_free(&lv);
    free(img);
    if (s) llm_error_prefix(err, path);
    return s;
}

/* ---------------------------------------------------------------- tensors */

/* A conversion in progress: the writer, the buffers it borrows, the
 * progress count, and the type the matrices got (general.file_type). */
typedef struct conv {
    gguf_writer *w;
    const llm_convert_params *p;
    const char *out;
    const llm_arch *arch;   /* what is written: general.architecture, keys, tensors */
    llm_hparams hp;
    void **bufs;            /* (n_bufs) converted tensor data */
    size_t n_bufs;
    uint64_t index, count, total;
    uint32_t ftype;         /* type of blk.0.attn_q, or UINT32_MAX before it */
    float rope_factor;      /* linear RoPE scaling, 1 for none */
    float *rope_freqs;      /* (n_rot / 2) Llama 3 RoPE divisors, in bufs; NULL for none */
    float *rope_short, *rope_long; /* (n_rot / 2) LongRoPE's factors, in bufs; NULL for none */
    bool attn_scale_key;    /* hp.attn_scale is written (the config set it) */
    const char *prefix;     /* of the checkpoint's text-model tensors: "" or "language_model."
                               (Gemma 3's multimodal checkpoints) */
} conv;

/* A source tensor: ne1 rows of ne0 elements (a vector: n_dims 1, ne1 1)
 * of type F32, F16 or BF16, little-endian at any alignment. */
typedef struct src {
    const unsigned char *data;
    uint32_t type;
    int64_t ne0, ne1;
    uint32_t n_dims;
} src;

/* The HF row that goes to GGUF row r. Per head of hd rows, HF holds the
 * first members of the rotated pairs in rows 0..hd/2-1 and the second
 * members in hd/2..hd-1; GGUF interleaves them: row 2i + j comes from
 * row j * hd/2 + i. (A bias vector's elements move the same way.) */
static int64_t unrotate(int64_t r, int64_t rows, int64_t heads) {
    int64_t hd = rows / heads, h = r / hd, k = r % hd;
    return h * hd + (k % 2) * (hd / 2) + k / 2;
}

/* How a source tensor changes on its way: q/k rows (or a q/k bias's
 * elements) interleaved per head, and Gemma's norms, which HF applies as
 * (1 + w), stored as 1 + w as llama.cpp's converter does. */
typedef struct change {
    int64_t perm_heads;     /* 0: the order stays */
    bool plus_one;
} change;

static void *keep_buf(conv *c, uint64_t nbytes) {
    void **bufs = llm_realloc(c->bufs, (c->n_bufs + 1) * sizeof *bufs);
    if (!bufs) return NULL;
    c->bufs = bufs;
    unsigned char *dst = nbytes <= SIZE_MAX ? llm_malloc(nbytes ? (size_t)nbytes : 1) : NULL;
    if (dst) c->bufs[c->n_bufs++] = dst;
    return dst;
}

/* Adds tensor name from s: vectors become F32, matrices the requested
 * type (or keep theirs). Data is borrowed from the source when neither
 * the type nor anything else changes, else converted row by row. */
static llm_status emit(conv *c, const char *name, const src *s, const change *ch, llm_error *err) {
    uint32_t to = s->n_dims == 1 ? LLM_DT_F32 : c->p->type == LLM_CONVERT_KEEP ? s->type : c->p->type;
    uint64_t in_row = (uint64_t)s->ne0 * llm_dtype(s->type)->size, out_row;
    llm_dtype_row_size(to, (uint64_t)s->ne0, &out_row); /* F32, F16, BF16: any length */
    uint64_t nbytes = out_row * (uint64_t)s->ne1;
    const void *data = s->data;
    bool vec_perm = ch->perm_heads && s->ne1 == 1, rows_perm = ch->perm_heads && !vec_perm;
    if (to != s->type || ch->perm_heads || ch->plus_one) {
        unsigned char *dst = keep_buf(c, nbytes);
        float *x = llm_malloc((size_t)s->ne0 * sizeof *x), *y = llm_malloc((size_t)s->ne0 * sizeof *y);
        if (!dst || !x || !y) {
            free(x);
            free(y);
            return nomem(err);
        }
        for (int64_t r = 0; r < s->ne1; r++) {
            const unsigned char *row = s->data + (uint64_t)(rows_perm ? unrotate(r, s->ne1, ch->perm_heads) : r) * in_row;
            unsigned char *out = dst + (uint64_t)r * out_row;
            if (to == s->type && !ch->plus_one && !vec_perm) {
                memcpy(out, row, (size_t)in_row);
                continue;
            }
            llm_dtype(s->type)->to_f32(row, x, s->ne0);
            for (int64_t i = 0; i < s->ne0; i++)
                y[i] = (vec_perm ? x[unrotate(i, s->ne0, ch->perm_heads)] : x[i]) + (ch->plus_one ? 1.0f : 0.0f);
            llm_dtype(to)->from_f32(y, out, s->ne0);
        }
        free(x);
        free(y);
        data = dst;
    }
    int64_t ne[2] = {s->ne0, s->ne1};
    llm_status st = gguf_writer_add_tensor(c->w, name, s->n_dims, ne, to, data, nbytes, err);
    if (st) return st;
    if (c->ftype == UINT32_MAX && (strcmp(name, "blk.0.attn_q.weight") == 0 || strcmp(name, "blk.0.attn_qkv.weight") == 0))
        c->ftype = to;
    c->index++;
    c->total += nbytes;
    if (c->p->report) {
        llm_tensor_report r = {name, c->index, c->count, s->type, to, nbytes, c->total, NULL};
        c->p->report(c->p->report_ud, &r);
    }
    return LLM_OK;
}

/* ARCH.key = v, the key under the architecture's prefix. */
static llm_status put_u32(conv *c, const char *key, int32_t v, llm_error *err) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", c->arch->name, key);
    return gguf_writer_add_u32(c->w, full, (uint32_t)v, err);
}

static llm_status put_f32(conv *c, const char *key, float v, llm_error *err) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", c->arch->name, key);
    return gguf_writer_add_f32(c->w, full, v, err);
}

/* The keys llama.cpp's converter writes for the architecture, as far as
 * the model uses them: the common ones, then the family's own. */
static llm_status put_hparams(conv *c, const char *name, llm_error *err) {
    const llm_hparams *h = &c->hp;
    const llm_arch *a = c->arch;
    struct { const char *key; int32_t v; } u32s[] = {
        {"vocab_size", h->n_vocab},
        {"context_length", h->n_ctx_train},
        {"embedding_length", h->n_embd},
        {"block_count", h->n_layer},
        {"feed_forward_length", h->n_ff},
        {"rope.dimension_count", h->n_rot},
        {"attention.head_count", h->n_head},
        {"attention.head_count_kv", h->n_head_kv},
        {"attention.key_length", h->head_dim},
        {"attention.value_length", h->head_dim},
    };
    llm_status s;
    if ((s = gguf_writer_add_str(c->w, "general.architecture", a->name, err)) ||
        (s = gguf_writer_add_str(c->w, "general.name", name, err)))
        return s;
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++)
        if ((s = put_u32(c, u32s[i].key, u32s[i].v, err))) return s;
    if ((s = put_f32(c, "attention.layer_norm_rms_epsilon", h->rms_eps, err)) ||
        (s = put_f32(c, "rope.freq_base", h->rope_base, err)))
        return s;
    char type_key[96];
    snprintf(type_key, sizeof type_key, "%s.rope.scaling.type", a->name);
    if (c->rope_factor != 1.0f && ((s = gguf_writer_add_str(c->w, type_key, "linear", err)) ||
                                   (s = put_f32(c, "rope.scaling.factor", c->rope_factor, err))))
        return s;
    if (c->rope_long && ((s = put_u32(c, "rope.scaling.original_context_length", h->n_ctx_orig, err)) ||
                         (s = put_f32(c, "rope.scaling.attn_factor", h->rope_attn_factor, err))))
        return s;
    if (h->swa_window > 0 &&
        ((s = put_u32(c, "attention.sliding_window", h->swa_window, err)) ||
         (h->swa_period != a->swa_period && (s = put_u32(c, "attention.sliding_window_pattern", h->swa_period, err))) ||
         (s = put_f32(c, "rope.freq_base_swa", h->rope_base_swa, err))))
        return s;
    if ((h->attn_softcap > 0 && (s = put_f32(c, "attn_logit_softcapping", h->attn_softcap, err))) ||
        (h->final_softcap > 0 && (s = put_f32(c, "final_logit_softcapping", h->final_softcap, err))) ||
        (c->attn_scale_key && (s = put_f32(c, "attention.scale", h->attn_scale, err))))
        return s;
    if ((a->keys & LLM_KEYS_GRANITE) &&
        ((s = put_f32(c, "embedding_scale", h->embd_scale, err)) ||
         (s = put_f32(c, "residual_scale", h->residual_scale, err)) ||
         (s = put_f32(c, "logit_scale", 1.0f / h->logit_scale, err))))
        return s;
    return LLM_OK;
}

/* The last component of path without its extension, for general.name. */
static void base_name(char *buf, size_t cap, const char *path) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t end = len;
    for (size_t i = len; i > start + 1; i--)
        if (path[i - 1] == '.') {
            end = i - 1;
            break;
        }
    snprintf(buf, cap, "%.*s", (int)(end - start), path + start);
}

/* Metadata, then the write. The output may not be one of the inputs. */
static llm_status finish(conv *c, const cvocab *v, const char *name, const char *const *inputs, size_t n_inputs,
                         llm_error *err) {
    llm_status s;
    for (size_t i = 0; i < n_inputs; i++)
        if ((s = llm_check_output(c->out, inputs[i], err))) return s;
    uint32_t ftype = c->ftype == UINT32_MAX ? LLM_DT_F32 : c->ftype;
    if ((s = put_hparams(c, name, err)) ||
        (s = gguf_writer_add_u32(c->w, "general.file_type", llm_file_type(ftype), err)) ||
        (s = put_vocab(c->w, v, err)))
        return s;
    return gguf_writer_to_file(c->w, c->out, err);
}

static llm_status conv_init(conv *c, const char *out, const llm_convert_params *p, llm_error *err) {
    memset(c, 0, sizeof *c);
    c->out = out;
    c->p = p;
    c->ftype = UINT32_MAX;
    c->rope_factor = 1.0f;
    if (p->type != LLM_CONVERT_KEEP && p->type != LLM_DT_F32 && p->type != LLM_DT_F16 && p->type != LLM_DT_BF16)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "cannot convert to %s: F32, F16 or BF16", llm_type_name(p->type));
    c->w = gguf_writer_new(err);
    if (!c->w) return LLM_ERR_NOMEM;
    gguf_writer_set_temp(c->w, p->temp, p->temp_ud);
    return LLM_OK;
}

static void conv_free(conv *c) {
    for (size_t i = 0; i < c->n_bufs; i++) free(c->bufs[i]);
    free(c->bufs);
    gguf_writer_free(c->w);
}

/* ---------------------------------------------------------------- llama2.c */

/* The header, by the loader's own reader; a GGUF file is named as such. */
static llm_status l2c_hparams(const llm_map *m, const char *path, llm_hparams *h, bool *shared, llm_error *err) {
    if (gguf_is_gguf(m->data, m->size))
        return llm_fail(err, LLM_ERR_FORMAT, "%s is a GGUF file already, not a llama2.c checkpoint", path);
    llm_status s = l2c_read_header(m->data, m->size, h, shared, err);
    if (s) llm_error_prefix(err, path);
    return s;
}

/* The tensors of a checkpoint, placed by the loader's reader: per-layer
 * stacks in file order, each emitted layer by layer; the classifier is
 * token_embd when shared, and written as output.weight either way, as
 * llama.cpp's converter does. */
static llm_status l2c_tensors(conv *c, const llm_map *m, const char *path, bool shared, llm_error *err) {
    const llm_hparams *h = &c->hp;
    l2c_layout t;
    llm_status s = l2c_place_tensors(m->data, m->size, c->arch, h, shared, &t, err);
    if (s) {
        llm_error_prefix(err, path);
        return s;
    }
    c->count = 3 + t.n_stacks * (uint64_t)h->n_layer;
    int64_t dim = h->n_embd, vocab = h->n_vocab;
    src e = {(const unsigned char *)t.emb, LLM_DT_F32, dim, vocab, 2};
    src n = {(const unsigned char *)t.final_norm, LLM_DT_F32, dim, 1, 1};
    src o = {(const unsigned char *)t.cls, LLM_DT_F32, dim, vocab, 2};
    const change same = {0, false};
    if ((s = emit(c, "token_embd.weight", &e, &same, err)) || (s = emit(c, "output_norm.weight", &n, &same, err)) ||
        (s = emit(c, "output.weight", &o, &same, err)))
        return s;
    for (int l = 0; l < h->n_layer; l++)
        for (int i = 0; i < LLM_LT_COUNT; i++) {
            if (!t.stack[i]) continue;
            const llm_layer_tensor *lt = &llm_layer_tensors[i];
            int64_t ne0 = t.ne[i][0], ne1 = t.ne[i][1];
            src st = {(const unsigned char *)(t.stack[i] + (uint64_t)l * (uint64_t)(ne0 * ne1)), LLM_DT_F32, ne0,
                      ne1, lt->part[0] == LLM_D_ONE ? 1 : 2};
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, lt->gguf);
            if ((s = emit(c, name, &st, &same, err))) return s;
        }
    return LLM_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

llm_status llm_convert_llama2c(const char *model, const char *tokenizer, const char *out,
                               const llm_convert_params *p, llm_error *err) {
    if (!model || !tokenizer || !out)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_convert_llama2c: NULL argument");
    llm_convert_params def = llm_convert_default_params();
    conv c;
    llm_map map = {0};
    cvocab v = {0};
    bool shared = false;
    char name[256];
    const char *inputs[] = {model, tokenizer};
    llm_status s = conv_init(&c, out, p ? p : &def, err);
    c.arch = llm_arch_llama();
    if (!s) s = llm_map_open(&map, model, err);
    if (!s) s = l2c_hparams(&map, model, &c.hp, &shared, err);
    if (!s) s = ends_with(tokenizer, ".model") ? vocab_spm(&v, tokenizer, c.hp.n_vocab, err)
                                               : vocab_llama2c(&v, tokenizer, c.hp.n_vocab, err);
    if (!s) s = check_vocab(&v, tokenizer, err);
    if (!s) s = l2c_tensors(&c, &map, model, shared, err);
    base_name(name, sizeof name, model);
    if (!s) s = finish(&c, &v, name, inputs, 2, err);
    cvocab_free(&v);
    conv_free(&c);
    llm_map_close(&map);
    return s;
}

/* ---------------------------------------------------------------- Hugging Face */

static llm_status cfg_int(const cJSON *cfg, const char *path, const char *key, int64_t def, int32_t *out,
                          llm_error *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, key);
    uint64_t u;
    if (!it || cJSON_IsNull(it)) {
        if (def < 0) return llm_fail(err, LLM_ERR_FORMAT, "%s: %s is missing", path, key);
        *out = (int32_t)def;
        return LLM_OK;
    }
    if (!st_json_uint(it, INT32_MAX, &u))
        return llm_fail(err, LLM_ERR_FORMAT, "%s: %s is not an integer from 0 to %d", path, key, INT32_MAX);
    *out = (int32_t)u;
    return LLM_OK;
}

/* cfg[key], or def when absent; it must lie in [lo, hi], the loader's
 * range, checked as a double so that 1e400 (inf) or 1e39 (inf once a
 * float) are refused by name rather than written. */
static llm_status cfg_float(const cJSON *cfg, const char *path, const char *key, float def, double lo, double hi,
                            float *out, llm_error *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, key);
    *out = def;
    if (!it || cJSON_IsNull(it)) return LLM_OK;
    if (!cJSON_IsNumber(it)) return llm_fail(err, LLM_ERR_FORMAT, "%s: %s is not a number", path, key);
    llm_status s = llm_check_range(key, it->valuedouble, lo, hi, err);
    if (s) llm_error_prefix(err, path);
    else *out = (float)it->valuedouble;
    return s;
}

/* Llama 3's RoPE scaling as llama.cpp's converter turns it into
 * rope_freqs.weight: per pair a divisor of its frequency, 1 for short
 * wavelengths, `factor` for long ones, a smooth blend between. */
static llm_status llama3_factors(conv *c, const cJSON *sc, const char *path, float factor, llm_error *err) {
    const llm_hparams *h = &c->hp;
    float low = 1.0f, high = 4.0f, old = 8192.0f;
    llm_status s;
    if ((s = cfg_float(sc, path, "low_freq_factor", low, 0.0, LLM_SCALE_MAX, &low, err)) ||
        (s = cfg_float(sc, path, "high_freq_factor", high, 0.0, LLM_SCALE_MAX, &high, err)) ||
        (s = cfg_float(sc, path, "original_max_position_embeddings", old, 0.0, 1e12, &old, err)))
        return s;
    if (!(low > 0 && high > low && old > 0 && h->n_rot > 0))
        return llm_fail(err, LLM_ERR_FORMAT, "%s: rope_scaling: low_freq_factor %g, high_freq_factor %g or "
                        "original_max_position_embeddings %g out of range", path, (double)low, (double)high, (double)old);
    if (!(c->rope_freqs = keep_buf(c, sizeof(float) * (uint64_t)(h->n_rot / 2)))) return nomem(err);
    for (int i = 0; i < h->n_rot / 2; i++) {
        double freq = 1.0 / pow(h->rope_base, 2.0 * i / h->n_rot), wavelen = 2 * 3.14159265358979323846 / freq;
        double smooth = (old / wavelen - low) / (high - low);
        c->rope_freqs[i] = wavelen < old / high ? 1.0f : wavelen > old / low ? factor
                         : (float)(1.0 / ((1.0 - smooth) / factor + smooth));
    }
    return LLM_OK;
}

/* n_rot / 2 positive numbers of the JSON array key of sc, into a new
 * buffer of c. */
static llm_status factor_list(conv *c, const cJSON *sc, const char *path, const char *key, float **out,
                              llm_error *err) {
    const cJSON *arr = json_get(sc, key);
    int n = c->hp.n_rot / 2;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n)
        return llm_fail(err, LLM_ERR_FORMAT, "%s: rope_scaling.%s is not a list of %d numbers", path, key, n);
    if (!(*out = keep_buf(c, sizeof(float) * (uint64_t)n))) return nomem(err);
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble > 0 && e->valuedouble < 1e30))
            return llm_fail(err, LLM_ERR_FORMAT, "%s: rope_scaling.%s[%d] is not a positive number", path, key, i);
        (*out)[i] = (float)e->valuedouble;
    }
    return LLM_OK;
}

/* Phi-3.5's LongRoPE as llama.cpp's converter writes it: the short and
 * long factors as rope_factors_short/long.weight, the original context,
 * and the attention factor sqrt(1 + ln(s) / ln(original)) for the
 * context's growth s = max_position_embeddings / original (1 if none). */
static llm_status longrope(conv *c, const cJSON *cfg, const cJSON *sc, const char *path, llm_error *err) {
    llm_hparams *h = &c->hp;
    llm_status s;
    if ((s = cfg_int(cfg, path, "original_max_position_embeddings", -1, &h->n_ctx_orig, err)) ||
        (s = factor_list(c, sc, path, "short_factor", &c->rope_short, err)) ||
        (s = factor_list(c, sc, path, "long_factor", &c->rope_long, err)))
        return s;
    if (h->n_ctx_orig < 2)
        return llm_fail(err, LLM_ERR_FORMAT, "%s: original_max_position_embeddings %d is too small", path, h->n_ctx_orig);
    double scale = (double)h->n_ctx_train / h->n_ctx_orig;
    h->rope_attn_factor = scale > 1.0 ? (float)sqrt(1.0 + log(scale) / log((double)h->n_ctx_orig)) : 1.0f;
    return LLM_OK;
}

/* RoPE scaling, {"type" (or "rope_type"): "linear" or "llama3",
 * "factor": f, ...}: linear as ARCH.rope.scaling.*, llama3 as the
 * rope_freqs.weight divisors; other kinds (yarn, longrope, dynamic, ...)
 * are refused by name. */
static llm_status cfg_rope_scaling(conv *c, const cJSON *cfg, const char *path, llm_error *err) {
    const cJSON *sc = json_get(cfg, "rope_scaling");
    c->rope_factor = 1.0f;
    if (!sc) return LLM_OK;
    const char *type = cJSON_GetStringValue(json_get(sc, "rope_type"));
    if (!type) type = cJSON_GetStringValue(json_get(sc, "type"));
    bool llama3 = type && strcmp(type, "llama3") == 0;
    bool known = type && (!strcmp(type, "linear") || llama3 || !strcmp(type, "longrope") || !strcmp(type, "su"));
    if (!known)
        return llm_fail(err, LLM_ERR_UNSUPPORTED,
                        "%s: rope_scaling type '%.32s' is not converted (linear, llama3 and longrope are)", path,
                        type ? type : "(none)");
    if (type && (strcmp(type, "longrope") == 0 || strcmp(type, "su") == 0)) return longrope(c, cfg, sc, path, err);
    const cJSON *f = json_get(sc, "factor");
    if (!cJSON_IsNumber(f) || !(f->valuedouble >= 1.0 && f->valuedouble <= 1e6))
        return llm_fail(err, LLM_ERR_FORMAT, "%s: rope_scaling.factor is not a number from 1 to 1e6", path);
    if (llama3) return llama3_factors(c, sc, path, (float)f->valuedouble, err);
    c->rope_factor = (float)f->valuedouble;
    c->hp.rope_scale = 1.0f / c->rope_factor;
    return LLM_OK;
}

/* What the converter cannot carry: another activation, biases libllm has
 * no place for. */
static llm_status cfg_supported(const cJSON *cfg, const char *path, const llm_arch *a, llm_error *err) {
    const char *key = json_get(cfg, "hidden_activation") ? "hidden_activation" : "hidden_act";
    const char *act = cJSON_GetStringValue(json_get(cfg, key));
    bool gelu = a->act == LLM_ACT_GELU_TANH;
    if (act && (gelu ? strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu_tanh") : strcmp(act, "silu")))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: %s is \"%.32s\", not \"%s\"", path, key, act,
                        gelu ? "gelu_pytorch_tanh" : "silu");
    if (json_flag(cfg, "attention_bias", false))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: attention_bias is set; libllm has no o_proj bias", path);
    if (json_flag(cfg, "mlp_bias", false))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: mlp_bias is set; libllm has no MLP biases", path);
    return LLM_OK;
}

/* Gemma's sliding window: its size, which layers have it (the pattern,
 * or a layer_types list that must agree with it), the local RoPE base. */
static llm_status cfg_swa(conv *c, const cJSON *cfg, const char *path, llm_error *err) {
    llm_hparams *h = &c->hp;
    llm_status s;
    if ((s = cfg_int(cfg, path, "sliding_window", 0, &h->swa_window, err)) ||
        (s = cfg_int(cfg, path, "sliding_window_pattern", c->arch->swa_period, &h->swa_period, err)) ||
        (s = cfg_float(cfg, path, "rope_local_base_freq", h->rope_base_swa, LLM_ROPE_BASE_MIN, LLM_ROPE_BASE_MAX,
                       &h->rope_base_swa, err)))
        return s;
    const cJSON *types = json_get(cfg, "layer_types");
    int l = 0, p = h->swa_period;
    for (const cJSON *t = types ? types->child : NULL; t; t = t->next, l++) {
        bool swa = p == 0 || l % p < p - 1;
        if (!cJSON_IsString(t))
            return llm_fail(err, LLM_ERR_FORMAT, "%s: layer_types[%d] is not a string", path, l);
        if (strcmp(t->valuestring, swa ? "sliding_attention" : "full_attention") != 0)
            return llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: layer_types[%d] is '%.32s', not the every-%d-th pattern "
                            "libllm runs", path, l, t->valuestring, p);
    }
    return LLM_OK;
}

/* The family's own settings: sliding window, soft-caps, attention scale,
 * Granite's multipliers, SmolLM3's no-RoPE layers. */
static llm_status cfg_arch(conv *c, const cJSON *cfg, const char *path, llm_error *err) {
    llm_hparams *h = &c->hp;
    const llm_arch *a = c->arch;
    llm_status s;
    float qpas = 0.0f, logits = 1.0f;
    int32_t nope = a->nope_period;
    if ((a->keys & LLM_KEYS_SWA) && (s = cfg_swa(c, cfg, path, err))) return s;
    if (((a->keys & LLM_KEYS_ATTN_SOFTCAP) &&
         (s = cfg_float(cfg, path, "attn_logit_softcapping", 0.0f, 0.0, LLM_SCALE_MAX, &h->attn_softcap, err))) ||
        ((a->keys & LLM_KEYS_FINAL_SOFTCAP) &&
         (s = cfg_float(cfg, path, "final_logit_softcapping", 0.0f, 0.0, LLM_SCALE_MAX, &h->final_softcap, err))) ||
        (s = cfg_float(cfg, path, "query_pre_attn_scalar", (float)h->head_dim, 0.0, LLM_SCALE_MAX, &qpas, err)))
        return s;
    if (qpas != (float)h->head_dim) {
        h->attn_scale = qpas > 0 ? 1.0f / sqrtf(qpas) : 0.0f;
        c->attn_scale_key = true;
    }
    if (a->keys & LLM_KEYS_GRANITE) {
        if ((s = cfg_float(cfg, path, "embedding_multiplier", 1.0f, 0.0, LLM_SCALE_MAX, &h->embd_scale, err)) ||
            (s = cfg_float(cfg, path, "residual_multiplier", 1.0f, 0.0, LLM_SCALE_MAX, &h->residual_scale, err)) ||
            (s = cfg_float(cfg, path, "attention_multiplier", h->attn_scale, 0.0, LLM_SCALE_MAX, &h->attn_scale, err)) ||
            (s = cfg_float(cfg, path, "logits_scaling", 1.0f, 1.0 / LLM_SCALE_MAX, LLM_SCALE_MAX, &logits, err)))
            return s;
        h->logit_scale = logits > 0 ? 1.0f / logits : 0.0f;
        c->attn_scale_key = true;
    }
    if (a->nope_period && (s = cfg_int(cfg, path, "no_rope_layer_interval", a->nope_period, &nope, err))) return s;
    if (nope != a->nope_period)
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: no_rope_layer_interval %d; libllm and llama.cpp run %d", path,
                        nope, a->nope_period);
    return LLM_OK;
}

static llm_status hf_config(conv *c, const cJSON *cfg, const char *path, bool *tied, llm_error *err) {
    llm_hparams *h = &c->hp;
    struct { const char *key; int32_t *out; int64_t def; } ints[] = {
        {"hidden_size", &h->n_embd, -1},
        {"intermediate_size", &h->n_ff, -1},
        {"num_hidden_layers", &h->n_layer, -1},
        {"num_attention_heads", &h->n_head, -1},
        {"vocab_size", &h->n_vocab, -1},
        {"max_position_embeddings", &h->n_ctx_train, -1},
    };
    llm_status s;
    memset(h, 0, sizeof *h);
    if (!cJSON_IsObject(cfg)) return llm_fail(err, LLM_ERR_FORMAT, "%s: not a JSON object", path);
    const char *type = cJSON_GetStringValue(json_get(cfg, "model_type"));
    if (!type || !(c->arch = llm_arch_from_hf(type)))
        return llm_fail(err, LLM_ERR_UNSUPPORTED,
                        "%s: model_type '%.32s' is not converted (llama, mistral, qwen2, qwen3, gemma2, gemma3_text, "
                        "gemma3, phi3, olmo2, smollm3, granite are)", path, type ? type : "(none)");
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if ((s = cfg_int(cfg, path, ints[i].key, ints[i].def, ints[i].out, err))) return s;
    bool even = h->n_head > 0 && h->n_embd % h->n_head == 0;
    if ((s = cfg_int(cfg, path, "num_key_value_heads", h->n_head, &h->n_head_kv, err)) ||
        (s = cfg_int(cfg, path, "head_dim", even ? h->n_embd / h->n_head : -1, &h->head_dim, err)) ||
        (s = cfg_float(cfg, path, "rms_norm_eps", 1e-6f, LLM_RMS_EPS_MIN, LLM_RMS_EPS_MAX, &h->rms_eps, err)) ||
        (s = cfg_float(cfg, path, "rope_theta", 10000.0f, LLM_ROPE_BASE_MIN, LLM_ROPE_BASE_MAX, &h->rope_base,
                       err)))
        return s;
    float rotary = 1.0f; /* Phi-4-mini rotates 3/4 of each head */
    if ((s = cfg_float(cfg, path, "partial_rotary_factor", 1.0f, 1e-3, 1.0, &rotary, err))) return s;
    h->n_rot = (int32_t)(rotary * (float)h->head_dim);
    h->rope_scale = 1.0f;
    llm_hparams_defaults(h);
    if (c->arch->rope_base_swa > 0) h->rope_base_swa = c->arch->rope_base_swa;
    if ((s = cfg_rope_scaling(c, cfg, path, err)) || (s = cfg_arch(c, cfg, path, err))) return s;
    if ((s = llm_hparams_validate(h, err))) {
        llm_error_prefix(err, path);
        return s;
    }
    *tied = json_flag(cfg, "tie_word_embeddings", c->arch->hf_tied);
    return cfg_supported(cfg, path, c->arch, err);
}

static void shape_str(char *buf, size_t cap, const uint64_t *shape, uint32_t n) {
    size_t pos = (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < n && pos < cap; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

/* The checkpoint tensor name with the shape config.json implies (HF lists
 * rows first: [ne1, ne0], or [ne0] for a vector). */
static llm_status hf_src(const st_model *m, const char *where, const char *name, int64_t ne0, int64_t ne1,
                         uint32_t n_dims, src *s, llm_error *err) {
    const char *path;
    const st_tensor *t = st_model_find(m, name, &path);
    if (!t) return llm_fail(err, LLM_ERR_FORMAT, "%s: missing tensor '%s'", where, name);
    uint32_t type = t->dtype == ST_F32 ? LLM_DT_F32 : t->dtype == ST_F16 ? LLM_DT_F16
                  : t->dtype == ST_BF16 ? LLM_DT_BF16 : UINT32_MAX;
    if (type == UINT32_MAX)
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16 and BF16 are converted)", path,
                        name, st_dtype_name(t->dtype));
    uint64_t want[2] = {(uint64_t)(n_dims == 2 ? ne1 : ne0), (uint64_t)ne0};
    if (t->n_dims != n_dims || t->shape[0] != want[0] || (n_dims == 2 && t->shape[1] != want[1])) {
        char got[96], exp[48];
        shape_str(got, sizeof got, t->shape, t->n_dims);
        shape_str(exp, sizeof exp, want, n_dims);
        return llm_fail(err, LLM_ERR_FORMAT, "%s: tensor '%s' has shape %s, config.json implies %s", path, name, got,
                        exp);
    }
    *s = (src){t->data, type, ne0, ne1, n_dims};
    return LLM_OK;
}

/* The layer tensor of the architecture that model.layers.N.rest is, or
 * -1. */
static int hf_layer_tensor(const llm_arch *a, const char *rest) {
    uint32_t all = llm_arch_all_tensors(a);
    for (int i = 0; i < LLM_LT_COUNT; i++)
        if ((all & LLM_BIT(i)) && strcmp(rest, llm_layer_tensors[i].hf) == 0) return i;
    return -1;
}

/* True for the names hf_tensors reads (after c->prefix), the RoPE
 * frequency tables some checkpoints carry (recomputed by the loader, so
 * dropped), and in a multimodal checkpoint the vision tower's and its
 * projector's, which a text model leaves out as llama.cpp's converter
 * does. */
static bool hf_known(const conv *c, const char *name, int32_t n_layer) {
    const llm_arch *a = c->arch;
    size_t skip = strlen(c->prefix);
    if (skip) {
        if (strncmp(name, "vision_tower.", 13) == 0 || strncmp(name, "multi_modal_projector.", 22) == 0) return true;
        if (strncmp(name, c->prefix, skip) != 0) return false;
        name += skip;
    }
    if (strcmp(name, "model.embed_tokens.weight") == 0 || strcmp(name, "model.norm.weight") == 0 ||
        strcmp(name, "lm_head.weight") == 0)
        return true;
    int layer, pos = 0;
    char prefix[32];
    if (sscanf(name, "model.layers.%d.%n", &layer, &pos) != 1 || pos == 0 || layer < 0 || layer >= n_layer)
        return false;
    snprintf(prefix, sizeof prefix, "model.layers.%d.", layer);
    if (strncmp(name, prefix, strlen(prefix)) != 0 || strlen(prefix) != (size_t)pos) return false;
    const char *rest = name + pos;
    return strcmp(rest, "self_attn.rotary_emb.inv_freq") == 0 || hf_layer_tensor(a, rest) >= 0;
}

/* A checkpoint tensor that is a norm (Gemma's are stored as 1 + w). */
static change hf_change(const conv *c, const char *hf_name, int perm) {
    const llm_hparams *h = &c->hp;
    size_t n = strlen(hf_name);
    change ch = {0, c->arch->hf_norm_plus_one && n >= 11 && strcmp(hf_name + n - 11, "norm.weight") == 0};
    if (!c->arch->rope_neox) ch.perm_heads = perm == LLM_PERM_HEAD ? h->n_head : perm == LLM_PERM_KV ? h->n_head_kv : 0;
    return ch;
}

/* Whether the checkpoint holds tensor hf (after c->prefix). */
static bool hf_has(const conv *c, const st_model *m, const char *hf) {
    char full[160];
    snprintf(full, sizeof full, "%s%s", c->prefix, hf);
    return st_model_find(m, full, NULL) != NULL;
}

/* One tensor: checkpoint name hf, shape ne0 x ne1 (ne1 1 for a vector),
 * written as gguf. */
static llm_status hf_put(conv *c, const st_model *m, const char *where, const char *hf, const char *gguf, int64_t ne0,
                         int64_t ne1, bool vector, int perm, llm_error *err) {
    src s;
    char full[160];
    snprintf(full, sizeof full, "%s%s", c->prefix, hf);
    change ch = hf_change(c, hf, perm);
    llm_status st = hf_src(m, where, full, ne0, ne1, vector ? 1 : 2, &s, err);
    return st ? st : emit(c, gguf, &s, &ch, err);
}

/* The architecture's tensors of every layer (its optional ones where the
 * checkpoint has them), then those outside the layers. */
static llm_status hf_tensors(conv *c, const st_model *m, const char *where, bool tied, llm_error *err) {
    const llm_hparams *h = &c->hp;
    const llm_arch *a = c->arch;
    for (size_t i = 0; i < m->n_entries; i++)
        if (!hf_known(c, m->entries[i].t->name, h->n_layer))
            return llm_fail(err, LLM_ERR_FORMAT, "%s: unexpected tensor '%.80s' (not part of a %s model)",
                            m->paths[m->entries[i].file], m->entries[i].t->name, a->name);
    uint64_t per_layer = 0;
    for (int i = 0; i < LLM_LT_COUNT; i++) {
        char hf[96];
        snprintf(hf, sizeof hf, "model.layers.0.%s", llm_layer_tensors[i].hf);
        per_layer += (a->tensors & LLM_BIT(i)) || ((a->optional & LLM_BIT(i)) && hf_has(c, m, hf));
    }
    c->count = (tied ? 2 : 3) + (c->rope_freqs != NULL) + 2 * (c->rope_long != NULL) + per_layer * (uint64_t)h->n_layer;
    llm_status st;
    if ((st = hf_put(c, m, where, "model.embed_tokens.weight", "token_embd.weight", h->n_embd, h->n_vocab, false, 0,
                     err)) ||
        (st = hf_put(c, m, where, "model.norm.weight", "output_norm.weight", h->n_embd, 1, true, 0, err)))
        return st;
    if (!tied &&
        (st = hf_put(c, m, where, "lm_head.weight", "output.weight", h->n_embd, h->n_vocab, false, 0, err)))
        return st;
    const struct { const char *name; const float *v; } factors[] = {
        {"rope_freqs.weight", c->rope_freqs}, {"rope_factors_long.weight", c->rope_long},
        {"rope_factors_short.weight", c->rope_short},
    };
    for (size_t i = 0; i < sizeof factors / sizeof factors[0]; i++) {
        if (!factors[i].v) continue;
        src s = {(const unsigned char *)factors[i].v, LLM_DT_F32, h->n_rot / 2, 1, 1};
        const change same = {0, false};
        if ((st = emit(c, factors[i].name, &s, &same, err))) return st;
    }
    for (int l = 0; l < h->n_layer; l++)
        for (int i = 0; i < LLM_LT_COUNT; i++) {
            const llm_layer_tensor *lt = &llm_layer_tensors[i];
            char hf[96], gg[64];
            snprintf(hf, sizeof hf, "model.layers.%d.%s", l, lt->hf);
            snprintf(gg, sizeof gg, "blk.%d.%s", l, lt->gguf);
            if (!(a->tensors & LLM_BIT(i)) && !((a->optional & LLM_BIT(i)) && hf_has(c, m, hf))) continue;
            if ((st = hf_put(c, m, where, hf, gg, llm_arch_dim(a, h, lt->ne0), llm_arch_rows(a, h, lt),
                             lt->part[0] == LLM_D_ONE,
                             lt->perm, err)))
                return st;
        }
    return LLM_OK;
}

/* A special token named by text in tokenizer_config.json: "<s>" or an
 * added-token object {"content": "<s>", ...}. */
static llm_status special_by_text(const cvocab *v, const char *path, const char *key, const cJSON *it, int32_t *id,
                                  llm_error *err) {
    const char *text = cJSON_IsObject(it) ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "content"))
                                          : cJSON_GetStringValue(it);
    if (!text) return llm_fail(err, LLM_ERR_FORMAT, "%s: %s is neither a string nor {\"content\": ...}", path, key);
    if ((*id = find_token(v, text)) < 0)
        return llm_fail(err, LLM_ERR_FORMAT, "%s: %s '%.40s' is not in the vocabulary", path, key, text);
    return LLM_OK;
}

/* A special token id in generation_config.json or config.json (a list,
 * as Llama 3 has for eos, gives its first id). */
static llm_status special_by_id(const cvocab *v, const char *path, const char *key, const cJSON *it, int32_t *id,
                                llm_error *err) {
    const cJSON *first = cJSON_IsArray(it) ? it->child : it;
    uint64_t u;
    if (!st_json_uint(first, (uint64_t)v->n - 1, &u))
        return llm_fail(err, LLM_ERR_FORMAT, "%s: %s is not a token id below %d", path, key, v->n);
    *id = (int32_t)u;
    return LLM_OK;
}

/* An optional JSON file: absent gives NULL and no error. */
static llm_status load_optional(const char *path, cJSON **out, llm_error *err) {
    *out = NULL;
    return exists(path) ? st_json_load(path, out, err) : LLM_OK;
}

/* BOS, EOS, UNK and PAD: by text in tokenizer_config.json, else by id in
 * generation_config.json, else in config.json, else as the tokenizer
 * itself says; add_bos_token / add_eos_token from tokenizer_config.json. */
static llm_status hf_specials(cvocab *v, const char *tc_path, const char *gc_path, const cJSON *cfg,
                              const char *cfg_path, llm_error *err) {
    cJSON *tc = NULL, *gc = NULL;
    llm_status s = load_optional(tc_path, &tc, err);
    if (!s) s = load_optional(gc_path, &gc, err);
    const char *names[] = {"bos", "eos", "unk", "pad"};
    int32_t *ids[] = {&v->bos, &v->eos, &v->unk, &v->pad};
    for (int i = 0; !s && i < 4; i++) {
        char tkey[16], ikey[16];
        snprintf(tkey, sizeof tkey, "%s_token", names[i]);
        snprintf(ikey, sizeof ikey, "%s_token_id", names[i]);
        const cJSON *it;
        if ((it = json_get(tc, tkey))) s = special_by_text(v, tc_path, tkey, it, ids[i], err);
        else if ((it = json_get(gc, ikey))) s = special_by_id(v, gc_path, ikey, it, ids[i], err);
        else if ((it = json_get(cfg, ikey))) s = special_by_id(v, cfg_path, ikey, it, ids[i], err);
    }
    const char *flags[] = {"add_bos_token", "add_eos_token"};
    int *fv[] = {&v->add_bos, &v->add_eos};
    for (int i = 0; !s && i < 2; i++) {
        const cJSON *it = json_get(tc, flags[i]);
        if (it && !cJSON_IsBool(it)) s = llm_fail(err, LLM_ERR_FORMAT, "%s: %s is not a boolean", tc_path, flags[i]);
        else if (it) *fv[i] = cJSON_IsTrue(it);
    }
    cJSON_Delete(tc);
    cJSON_Delete(gc);
    return s;
}

/* The directory's files, each a path in dir. */
typedef struct hf_paths {
    char config[4096], spm[4096], json[4096], index[4096], tc[4096], gc[4096];
} hf_paths;

static llm_status hf_run(conv *c, const char *dir, cvocab *v, st_model *m, llm_error *err) {
    hf_paths p;
    cJSON *cfg = NULL;
    bool tied = false;
    llm_status s;
    if ((s = path_in(p.config, sizeof p.config, dir, "config.json", err)) ||
        (s = path_in(p.spm, sizeof p.spm, dir, "tokenizer.model", err)) ||
        (s = path_in(p.json, sizeof p.json, dir, "tokenizer.json", err)) ||
        (s = path_in(p.index, sizeof p.index, dir, "model.safetensors.index.json", err)) ||
        (s = path_in(p.tc, sizeof p.tc, dir, "tokenizer_config.json", err)) ||
        (s = path_in(p.gc, sizeof p.gc, dir, "generation_config.json", err)) ||
        (s = st_json_load(p.config, &cfg, err)))
        return s;
    const char *tok = exists(p.spm) ? p.spm : p.json;
    /* a multimodal Gemma 3: the text model's settings in text_config, its
     * tensors under language_model. (tie_word_embeddings stays outside) */
    const cJSON *text = json_get(cfg, "text_config");
    c->prefix = cJSON_IsObject(text) ? "language_model." : "";
    s = hf_config(c, cJSON_IsObject(text) ? text : cfg, p.config, &tied, err);
    if (!s && cJSON_IsObject(text)) tied = json_flag(cfg, "tie_word_embeddings", tied);
    if (!s && !exists(tok))
        s = llm_fail(err, LLM_ERR_IO, "%s: neither tokenizer.model nor tokenizer.json is there", dir);
    if (!s) s = tok == p.spm ? vocab_spm(v, tok, c->hp.n_vocab, err) : vocab_json(v, tok, c->hp.n_vocab, err);
    if (!s) s = hf_specials(v, p.tc, p.gc, cfg, p.config, err);
    if (!s) s = check_vocab(v, tok, err);
    if (!s) s = st_model_open(m, dir, err);
    cJSON_Delete(cfg);
    if (s) return s;
    const char *where = m->n_files == 1 && !exists(p.index) ? m->paths[0] : p.index;
    if ((s = hf_tensors(c, m, where, tied, err))) return s;
    /* every file read (those absent are not checked) */
    const char **inputs = llm_calloc(m->n_files + 5, sizeof *inputs);
    if (!inputs) return nomem(err);
    const char *fixed[] = {p.config, tok, p.index, p.tc, p.gc};
    memcpy(inputs, fixed, sizeof fixed);
    for (uint32_t i = 0; i < m->n_files; i++) inputs[i + 5] = m->paths[i];
    char name[256];
    base_name(name, sizeof name, dir);
    s = finish(c, v, name, inputs, m->n_files + 5, err);
    free(inputs);
    return s;
}

llm_status llm_convert_hf(const char *dir, const char *out, const llm_convert_params *p, llm_error *err) {
    if (!dir || !out) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_convert_hf: NULL argument");
    llm_convert_params def = llm_convert_default_params();
    conv c;
    cvocab v = {0};
    st_model m = {0};
    llm_status s = conv_init(&c, out, p ? p : &def, err);
    if (!s) s = hf_run(&c, dir, &v, &m, err);
    st_model_close(&m);
    cvocab_free(&v);
    conv_free(&c);
    return s;
}
