#include "hostile_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "error.h"
#include "gguf.h"
#include "gguf_write.h"
#include "vocab.h"

#define N_BASE (3 + 256 + 1 + 26)

void *hostile_vocab(const char *const *special, const uint8_t *control, int32_t n_special, size_t *size,
                    llm_error *err) {
    int32_t n = N_BASE + n_special;
    const char **tokens = calloc((size_t)n, sizeof *tokens);
    int32_t *types = calloc((size_t)n, sizeof *types);
    char (*bytes)[7] = calloc(256 + 27, sizeof *bytes);
    gguf_writer *w = gguf_writer_new(err);
    void *image = NULL;
    llm_status s = tokens && types && bytes && w ? LLM_OK : llm_fail(err, LLM_ERR_NOMEM, "hostile_vocab: out of memory");
    for (int32_t i = 0; !s && i < n; i++) {
        if (i < 3) {
            static const char *const first[3] = {"<unk>", "<s>", "</s>"};
            tokens[i] = first[i];
            types[i] = i ? LLM_TOKTYPE_CONTROL : LLM_TOKTYPE_UNKNOWN;
        } else if (i < 3 + 256) {
            snprintf(bytes[i - 3], sizeof bytes[0], "<0x%02X>", i - 3);
            tokens[i] = bytes[i - 3];
            types[i] = LLM_TOKTYPE_BYTE;
        } else if (i < N_BASE) {
            if (i == 259) snprintf(bytes[i - 3], sizeof bytes[0], "\xe2\x96\x81");
            else snprintf(bytes[i - 3], sizeof bytes[0], "%c", 'a' + i - 260);
            tokens[i] = bytes[i - 3];
            types[i] = LLM_TOKTYPE_NORMAL;
        } else {
            tokens[i] = special[i - N_BASE];
            types[i] = control && control[i - N_BASE] ? LLM_TOKTYPE_CONTROL : LLM_TOKTYPE_USER_DEFINED;
        }
    }
    if (!s) s = gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", err);
    if (!s) s = gguf_writer_add_str_arr(w, "tokenizer.ggml.tokens", tokens, (uint64_t)n, err);
    if (!s) s = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, (uint64_t)n, err);
    if (!s) s = gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", false, err);
    if (!s) s = gguf_writer_to_mem(w, &image, size, err);
    gguf_writer_free(w);
    free(tokens);
    free(types);
    free(bytes);
    return s ? NULL : image;
}

char **hostile_tok_pieces(int32_t n) {
    char **p = calloc((size_t)n, sizeof *p);
    for (int32_t i = 0; p && i < n; i++)
        if (asprintf(&p[i], "<tok%d>", i) < 0) p[i] = NULL;
    return p;
}

void hostile_free_pieces(char **pieces, int32_t n) {
    for (int32_t i = 0; pieces && i < n; i++) free(pieces[i]);
    free(pieces);
}

char *hostile_tok_text(size_t len, int32_t n, uint64_t seed) {
    char *t = malloc(len + 32);
    size_t pos = 0;
    while (t && pos < len) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(seed >> 33);
        if (r % 4 == 0) pos += (size_t)sprintf(t + pos, "<tok%d>", (int)(r / 4 % (unsigned)n));
        else if (r % 4 == 1) pos += (size_t)sprintf(t + pos, "<to");
        else pos += (size_t)sprintf(t + pos, " word%c", 'a' + r % 26);
    }
    return t;
}

static unsigned char *put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
    return p + bytes;
}

void *hostile_aliased_image(uint32_t n, uint64_t floats, size_t *size) {
    enum { INFO = 8 + 9 + 4 + 8 + 4 + 8 }; /* name "t%08u", 1 dim, type, offset */
    size_t head = 24 + (size_t)n * INFO, data = (head + 31) / 32 * 32;
    *size = data + (size_t)floats * 4;
    unsigned char *img = calloc(1, *size), *p = img;
    if (!img) return NULL;
    memcpy(p, "GGUF", 4);
    p = put_le(p + 4, 3, 4);
    p = put_le(p, n, 8);
    p = put_le(p, 0, 8);
    for (uint32_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%08u", i);
        p = put_le(p, 9, 8);
        memcpy(p, name, 9);
        p = put_le(p + 9, 1, 4);
        p = put_le(p, floats, 8);
        p = put_le(p, LLM_DT_F32, 4);
        p = put_le(p, 0, 8);
    }
    return img;
}
