/* What a model file holds, listed for tools: its GGUF metadata entries
 * (key, value as text) and its tensors (name, type, shape, place). All of
 * it was validated when the file was opened (gguf.c), so this file only
 * reads and formats. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dtype.h"
#include "error.h"
#include "matmul.h"
#include "model.h"

/* Text written into a caller's buffer of cap bytes: what fits is kept,
 * len counts all of it, so the size needed is known at the end. */
typedef struct text_out {
    char *buf;
    size_t cap, len;
} text_out;

static void put(text_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

/* LLM_OK when the text (and its NUL) fit, else LLM_ERR_BUFFER_TOO_SMALL;
 * *needed gets the size either way. */
static llm_status finish(const text_out *o, size_t *needed) {
    if (needed) *needed = o->len + 1;
    return o->len < o->cap ? LLM_OK : LLM_ERR_BUFFER_TOO_SMALL;
}

/* The bytes of s up to the first NUL, if any. */
static void put_str(text_out *o, gguf_str s) {
    put(o, "%.*s", (int)(s.len > INT32_MAX ? INT32_MAX : s.len), s.ptr);
}

/* One value of scalar type `type` at p; p advances past it. */
static void put_scalar(text_out *o, uint32_t type, const unsigned char **p) {
    const unsigned char *v = *p;
    switch (type) {
    case GGUF_STRING: put_str(o, gguf_next_str(p)); return;
    case GGUF_U8: put(o, "%u", v[0]); *p += 1; return;
    case GGUF_I8: put(o, "%d", (int8_t)v[0]); *p += 1; return;
    case GGUF_BOOL: put(o, "%s", v[0] ? "true" : "false"); *p += 1; return;
    case GGUF_U16: put(o, "%u", (unsigned)(v[0] | v[1] << 8)); *p += 2; return;
    case GGUF_I16: put(o, "%d", (int16_t)(v[0] | v[1] << 8)); *p += 2; return;
    case GGUF_U32: put(o, "%" PRIu32, gguf_rd_u32(v)); *p += 4; return;
    case GGUF_I32: put(o, "%" PRId32, (int32_t)gguf_rd_u32(v)); *p += 4; return;
    case GGUF_F32: put(o, "%.9g", (double)gguf_rd_f32(v)); *p += 4; return;
    case GGUF_U64: put(o, "%" PRIu64, gguf_rd_u64(v)); *p += 8; return;
    case GGUF_I64: put(o, "%" PRId64, (int64_t)gguf_rd_u64(v)); *p += 8; return;
    case GGUF_F64: {
        double d;
        uint64_t u = gguf_rd_u64(v);
        memcpy(&d, &u, sizeof d);
        put(o, "%.17g", d);
        *p += 8;
        return;
    }
    default: put(o, "?"); return; /* no other type passes gguf.c's checks */
    }
}

int64_t llm_model_meta_count(const llm_model *m) { return m ? (int64_t)m->gguf.n_kv : 0; }

llm_status llm_model_meta_key(const llm_model *m, int64_t i, char *buf, size_t cap, size_t *needed) {
    if (!m || i < 0 || (uint64_t)i >= m->gguf.n_kv || (!buf && cap)) return LLM_ERR_INVALID_ARG;
    text_out o = {buf, cap, 0};
    put_str(&o, m->gguf.kv[i].key);
    return finish(&o, needed);
}

llm_status llm_model_meta_value(const llm_model *m, int64_t i, int64_t max_items, char *buf, size_t cap,
                                size_t *needed) {
    if (!m || i < 0 || (uint64_t)i >= m->gguf.n_kv || (!buf && cap) || max_items < 0) return LLM_ERR_INVALID_ARG;
    const gguf_kv *kv = &m->gguf.kv[i];
    text_out o = {buf, cap, 0};
    const unsigned char *p = kv->val;
    if (kv->type != GGUF_ARRAY) {
        put_scalar(&o, kv->type, &p);
        return finish(&o, needed);
    }
    put(&o, "[");
    for (uint64_t j = 0; j < kv->arr_n && j < (uint64_t)max_items; j++) {
        if (j) put(&o, ", ");
        put_scalar(&o, kv->arr_type, &p);
    }
    if (kv->arr_n > (uint64_t)max_items) put(&o, "%s... (%" PRIu64 " items)", max_items ? ", " : "", kv->arr_n);
    put(&o, "]");
    return finish(&o, needed);
}

int64_t llm_model_n_tensors(const llm_model *m) { return m ? (int64_t)m->gguf.n_tensors : 0; }

llm_status llm_model_tensor_info(const llm_model *m, int64_t i, llm_tensor_info *info, llm_error *err) {
    if (!m || !info || i < 0 || (uint64_t)i >= m->gguf.n_tensors)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_model_tensor_info: NULL model or info, or tensor %" PRId64
                        " outside 0..%" PRId64, i, llm_model_n_tensors(m) - 1);
    const gguf_tensor *t = &m->gguf.tensors[i];
    info->name = t->name.ptr;
    info->name_len = (size_t)t->name.len;
    info->type = t->type;
    info->n_dims = t->n_dims;
    memcpy(info->ne, t->ne, sizeof info->ne);
    info->offset = m->gguf.data_offset + t->offset;
    info->nbytes = t->nbytes;
    return LLM_OK;
}

llm_status llm_model_tensor_row(const llm_model *m, int64_t i, int64_t r, float *out, llm_error *err) {
    llm_tensor_info info;
    llm_status s = llm_model_tensor_info(m, i, &info, err);
    if (s) return s;
    int64_t rows = info.ne[1] * info.ne[2] * info.ne[3];
    if (!out || r < 0 || r >= rows)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_model_tensor_row: NULL out, or row %" PRId64
                        " outside 0..%" PRId64 " of %.*s", r, rows - 1, (int)info.name_len, info.name);
    if (!llm_dtype_supported(info.type))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "tensor %.*s is of type %s, which libllm does not read",
                        (int)info.name_len, info.name, llm_type_name(info.type));
    llm_tensor t = {m->gguf.tensors[i].data, info.type, {info.ne[0], rows}};
    llm_tensor_row(&t, r, out);
    return LLM_OK;
}

int32_t llm_model_n_ff(const llm_model *m) { return m ? m->hp.n_ff : 0; }
int32_t llm_model_head_dim(const llm_model *m) { return m ? m->hp.head_dim : 0; }
const char *llm_model_arch(const llm_model *m) { return m ? m->arch->name : NULL; }

const char *llm_token_text(const llm_model *m, int32_t tok, size_t *len) {
    if (!m || tok < 0 || tok >= m->vocab.n) return NULL;
    size_t n;
    const char *p = llm_vocab_piece(&m->vocab, tok, &n);
    if (len) *len = n;
    return p;
}

int llm_token_type(const llm_model *m, int32_t tok) {
    return m && tok >= 0 && tok < m->vocab.n ? m->vocab.types[tok] : 0;
}
