/* The public view of a model's metadata: the GGUF key/value pairs as the
 * reader validated them (gguf.c), rendered as text into caller-sized
 * buffers. Nothing is allocated: each call renders into a sink that
 * counts every byte and copies those that fit, so the size needed comes
 * out of the same pass that fills the buffer. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

typedef struct sink {
    char *buf;
    size_t cap, len; /* len counts every byte written, kept or not */
} sink;

static void put(sink *s, const char *p, size_t n) {
    if (s->len < s->cap) memcpy(s->buf + s->len, p, n < s->cap - s->len ? n : s->cap - s->len);
    s->len += n;
}

static void put_str(sink *s, const char *c) { put(s, c, strlen(c)); }

/* Ends the text with a NUL and reports the size; a buffer too small is
 * left holding a prefix (still NUL-terminated when cap > 0). */
static llm_status finish(sink *s, size_t *needed) {
    put(s, "", 1);
    if (needed) *needed = s->len;
    if (s->len <= s->cap) return LLM_OK;
    if (s->cap) s->buf[s->cap - 1] = 0;
    return LLM_ERR_BUFFER_TOO_SMALL;
}

/* A string inside an array: quoted, with JSON's escapes for the quote,
 * the backslash and control bytes; other bytes (UTF-8 or not) as they are. */
static void put_quoted(sink *s, gguf_str v) {
    put(s, "\"", 1);
    for (uint64_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        char esc[8];
        if (c == '"' || c == '\\') snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n') snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t') snprintf(esc, sizeof esc, "\\t");
        else if (c < 0x20 || c == 0x7f) snprintf(esc, sizeof esc, "\\u%04x", c);
        else esc[0] = (char)c, esc[1] = 0;
        put(s, esc, esc[1] ? strlen(esc) : 1);
    }
    put(s, "\"", 1);
}

/* One scalar of type t at p (validated little-endian bytes). */
static void put_scalar(sink *s, uint32_t t, const unsigned char *p) {
    char num[40];
    uint16_t u16 = (uint16_t)(p[0] | p[1] << 8);
    switch (t) {
    case GGUF_U8: snprintf(num, sizeof num, "%u", p[0]); break;
    case GGUF_I8: snprintf(num, sizeof num, "%d", (int8_t)p[0]); break;
    case GGUF_U16: snprintf(num, sizeof num, "%u", u16); break;
    case GGUF_I16: snprintf(num, sizeof num, "%d", (int16_t)u16); break;
    case GGUF_U32: snprintf(num, sizeof num, "%" PRIu32, gguf_rd_u32(p)); break;
    case GGUF_I32: snprintf(num, sizeof num, "%" PRId32, (int32_t)gguf_rd_u32(p)); break;
    case GGUF_F32: snprintf(num, sizeof num, "%.9g", (double)gguf_rd_f32(p)); break;
    case GGUF_BOOL: snprintf(num, sizeof num, "%s", p[0] ? "true" : "false"); break;
    case GGUF_U64: snprintf(num, sizeof num, "%" PRIu64, gguf_rd_u64(p)); break;
    case GGUF_I64: snprintf(num, sizeof num, "%" PRId64, (int64_t)gguf_rd_u64(p)); break;
    case GGUF_F64: {
        uint64_t bits = gguf_rd_u64(p);
        double d;
        memcpy(&d, &bits, sizeof d);
        snprintf(num, sizeof num, "%.17g", d);
        break;
    }
    default: snprintf(num, sizeof num, "?"); break;
    }
    put_str(s, num);
}

/* One value of scalar or string type t at *p, which moves past it;
 * strings quoted when they are array elements. */
static void put_one(sink *s, uint32_t t, const unsigned char **p, bool quoted) {
    if (t != GGUF_STRING) {
        put_scalar(s, t, *p);
        *p += gguf_scalar_size(t);
        return;
    }
    gguf_str v = gguf_next_str(p);
    if (quoted) put_quoted(s, v);
    else put(s, v.ptr, (size_t)v.len);
}

static void put_value(sink *s, const gguf_kv *kv) {
    const unsigned char *p = kv->val;
    if (kv->type != GGUF_ARRAY) {
        put_one(s, kv->type, &p, false);
        return;
    }
    put(s, "[", 1);
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        if (i) put(s, ", ", 2);
        put_one(s, kv->arr_type, &p, true);
    }
    put(s, "]", 1);
}

static const gguf_kv *kv_at(const llm_model *m, int32_t i) {
    return m && i >= 0 && (uint64_t)i < m->gguf.n_kv ? &m->gguf.kv[i] : NULL;
}

static const gguf_kv *kv_named(const llm_model *m, const char *key) {
    return m && key ? gguf_find_kv(&m->gguf, key) : NULL;
}

int32_t llm_model_meta_count(const llm_model *m) { return m ? (int32_t)m->gguf.n_kv : 0; }

llm_status llm_model_meta_key_by_index(const llm_model *m, int32_t i, char *buf, size_t cap, size_t *needed) {
    const gguf_kv *kv = kv_at(m, i);
    if (!kv || (!buf && cap)) return LLM_ERR_INVALID_ARG;
    sink s = {buf, cap, 0};
    put(&s, kv->key.ptr, (size_t)kv->key.len);
    return finish(&s, needed);
}

static llm_status render(const gguf_kv *kv, char *buf, size_t cap, size_t *needed) {
    if (!kv || (!buf && cap)) return LLM_ERR_INVALID_ARG;
    sink s = {buf, cap, 0};
    put_value(&s, kv);
    return finish(&s, needed);
}

llm_status llm_model_meta_val_str_by_index(const llm_model *m, int32_t i, char *buf, size_t cap, size_t *needed) {
    return render(kv_at(m, i), buf, cap, needed);
}

llm_status llm_model_meta_val_str(const llm_model *m, const char *key, char *buf, size_t cap, size_t *needed) {
    return render(kv_named(m, key), buf, cap, needed);
}

int64_t llm_model_meta_arr_len(const llm_model *m, const char *key) {
    const gguf_kv *kv = kv_named(m, key);
    return kv && kv->type == GGUF_ARRAY ? (int64_t)kv->arr_n : -1;
}

llm_status llm_model_meta_arr_str(const llm_model *m, const char *key, int64_t i, char *buf, size_t cap,
                                  size_t *needed) {
    const gguf_kv *kv = kv_named(m, key);
    if (!kv || kv->type != GGUF_ARRAY || i < 0 || (uint64_t)i >= kv->arr_n || (!buf && cap))
        return LLM_ERR_INVALID_ARG;
    sink s = {buf, cap, 0};
    const unsigned char *p = kv->val;
    if (kv->arr_type == GGUF_STRING) /* strings have no index: walk to it */
        for (int64_t k = 0; k < i; k++) gguf_next_str(&p);
    else
        p += (uint64_t)i * gguf_scalar_size(kv->arr_type);
    put_one(&s, kv->arr_type, &p, false);
    return finish(&s, needed);
}
