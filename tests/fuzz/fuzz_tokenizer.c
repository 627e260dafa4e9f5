/* Tokenizer and detokenizer on arbitrary bytes, with four real
 * vocabularies found through LLM_TEST_MODELS: SentencePiece ones from
 * stories260K.gguf (512 pieces) and llama-2-tiny-random.gguf (Llama 2's
 * 32000), byte-level BPE ones from vocab/ggml-vocab-gpt-2.gguf and
 * vocab/ggml-vocab-deepseek-llm.gguf (another pre-tokenizer).
 *
 * Input: one control byte, then the payload.
 *   bits 0-1: which vocabulary   bit 2: LLM_TOKENIZE_ADD_BOS
 *   bit 3: LLM_TOKENIZE_SPECIAL  bit 4: payload is token ids (u16 each)
 *          instead of text
 *   bits 5-7: detokenizer buffer size 1 << (bits >> 5), to exercise
 *          LLM_ERR_BUFFER_TOO_SMALL
 * Text must round-trip through tokenize and the streaming detokenizer
 * when it is valid UTF-8 without U+2581 and special matching is off (the
 * lossy cases of lib/tokenizer.c's header are outside that set). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gguf.h"
#include "model.h"
#include "testutil.h"

static llm_model *models[4];

static void die(const char *what, const char *msg) {
    fprintf(stderr, "fuzz_tokenizer: %s: %s (set LLM_TEST_MODELS)\n", what, msg);
    exit(1);
}

/* A model that is only a vocabulary, from a GGUF file without tensors:
 * all that tokenizing and detokenizing look at. */
static llm_model *vocab_model(const char *rel) {
    llm_model *m = calloc(1, sizeof *m);
    gguf_file f;
    llm_error err = {0};
    if (!m) die(rel, "out of memory");
    if (gguf_open(&f, test_model_path(rel), &err) || llm_vocab_from_gguf(&m->vocab, &f, &err)) die(rel, err.msg);
    gguf_close(&f);
    m->hp.n_vocab = m->vocab.n;
    return m;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *full[2] = {"stories260K.gguf", "llama-2-tiny-random.gguf"};
    for (int i = 0; i < 2; i++) {
        llm_error err = {0};
        models[i] = llm_model_load(test_model_path(full[i]), NULL, &err);
        if (!models[i]) die(full[i], err.msg);
    }
    models[2] = vocab_model("vocab/ggml-vocab-gpt-2.gguf");
    models[3] = vocab_model("vocab/ggml-vocab-deepseek-llm.gguf");
    return 0;
}

/* Strictly well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF). */
static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len == 0 || len > n - i) return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
            return false;
        i += len;
    }
    return true;
}

/* Streams toks through a detokenizer whose buffer holds cap bytes,
 * growing to 256 (always enough) when a push reports it too small.
 * Returns the bytes produced, malloc'd, in *out (*len of them). */
static void detokenize(const llm_model *m, const int32_t *toks, size_t n, size_t cap, char **out, size_t *len) {
    llm_error err = {0};
    llm_detok *d = llm_detok_new(m, &err);
    fuzz_require(d != NULL, "llm_detok_new failed");
    char *text = malloc(n * 256 + 256), buf[256];
    fuzz_require(text != NULL, "out of memory");
    size_t total = 0, got;
    for (size_t i = 0; i < n; i++) {
        llm_status s = llm_detok_push(d, toks[i], buf, cap, &got);
        if (s == LLM_ERR_BUFFER_TOO_SMALL) {
            fuzz_require(got > cap && got <= sizeof buf, "BUFFER_TOO_SMALL with a wrong size");
            s = llm_detok_push(d, toks[i], buf, sizeof buf, &got);
        }
        fuzz_require(s == LLM_OK, "llm_detok_push of a valid token failed");
        memcpy(text + total, buf, got);
        total += got;
    }
    fuzz_require(llm_detok_flush(d, buf, sizeof buf, &got) == LLM_OK, "llm_detok_flush failed");
    memcpy(text + total, buf, got);
    *out = text;
    *len = total + got;
    llm_detok_free(d);
}

static void check_text(const llm_model *m, const uint8_t *text, size_t len, uint32_t flags, size_t cap) {
    llm_error err = {0};
    size_t n = 0, n2 = 0;
    llm_status s = llm_tokenize(m, (const char *)text, len, NULL, 0, &n, flags, &err);
    if (s != LLM_ERR_BUFFER_TOO_SMALL && s != LLM_OK) {
        fuzz_check_error(s, &err);
        return;
    }
    int32_t *toks = malloc((n ? n : 1) * sizeof *toks);
    fuzz_require(toks != NULL, "out of memory");
    fuzz_require(llm_tokenize(m, (const char *)text, len, toks, n, &n2, flags, &err) == LLM_OK && n2 == n,
                 "tokenizing into a buffer of the announced size failed");
    int32_t n_vocab = llm_model_n_vocab(m);
    for (size_t i = 0; i < n; i++) fuzz_require(toks[i] >= 0 && toks[i] < n_vocab, "token out of range");
    char *back;
    size_t back_len;
    detokenize(m, toks, n, cap, &back, &back_len);
    if (!(flags & LLM_TOKENIZE_SPECIAL) && valid_utf8(text, len) && !memmem(text, len, "\xe2\x96\x81", 3))
        fuzz_require(back_len == len && memcmp(back, text, len) == 0, "text does not round-trip");
    free(back);
    free(toks);
}

/* Token ids from u16 values, mapped to [-1, n_vocab]: the two ends are
 * invalid and must be refused, the rest decode. */
static void check_ids(const llm_model *m, const uint8_t *p, size_t len, size_t cap) {
    int32_t n_vocab = llm_model_n_vocab(m);
    size_t n = len / 2, valid = 0;
    int32_t *toks = malloc((n ? n : 1) * sizeof *toks);
    fuzz_require(toks != NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int32_t id = (int32_t)((p[2 * i] | p[2 * i + 1] << 8) % (n_vocab + 2)) - 1;
        bool ok = id >= 0 && id < n_vocab;
        char piece[256];
        size_t plen;
        llm_status s = llm_token_to_piece(m, id, piece, sizeof piece, &plen);
        fuzz_require(ok ? s == LLM_OK : s == LLM_ERR_INVALID_ARG, "llm_token_to_piece status");
        if (ok) toks[valid++] = id;
    }
    char *back;
    size_t back_len;
    detokenize(m, toks, valid, cap, &back, &back_len);
    free(back);
    free(toks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    const llm_model *m = models[ctl & 3];
    uint32_t flags = (ctl & 4 ? LLM_TOKENIZE_ADD_BOS : 0) | (ctl & 8 ? LLM_TOKENIZE_SPECIAL : 0);
    size_t cap = (size_t)1 << (ctl >> 5);
    if (ctl & 16)
        check_ids(m, data + 1, size - 1, cap);
    else
        check_text(m, data + 1, size - 1, flags, cap);
    return 0;
}
