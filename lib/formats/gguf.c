#include "gguf.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"

/* A cursor over the image. Every read checks the bytes remain, so a
 * truncated file fails at the first field that runs past the end. */
typedef struct reader {
    const unsigned char *p;
    size_t size;
    size_t pos;
    llm_error *err;
} reader;

static const uint32_t scalar_size[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2,
    [GGUF_U32] = 4, [GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1,
    [GGUF_U64] = 8, [GGUF_I64] = 8, [GGUF_F64] = 8,
};

uint32_t gguf_scalar_size(uint32_t t) { return t < GGUF_VTYPE_COUNT ? scalar_size[t] : 0; }

static const char *vtype_name(uint32_t t) {
    static const char *names[GGUF_VTYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
        "array", "u64", "i64", "f64"};
    return t < GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

uint32_t gguf_rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t gguf_rd_u64(const unsigned char *p) {
    return (uint64_t)gguf_rd_u32(p) | (uint64_t)gguf_rd_u32(p + 4) << 32;
}

float gguf_rd_f32(const unsigned char *p) {
    uint32_t u = gguf_rd_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static llm_status need(reader *r, uint64_t n, const char *what) {
    if (n > r->size - r->pos)
        return llm_fail(r->err, LLM_ERR_FORMAT,
                        "truncated: %s at offset %zu needs %llu bytes, %zu remain",
                        what, r->pos, (unsigned long long)n, r->size - r->pos);
    return LLM_OK;
}

static llm_status rd_u32(reader *r, uint32_t *v, const char *what) {
    llm_status s = need(r, 4, what);
    if (s) return s;
    *v = gguf_rd_u32(r->p + r->pos);
    r->pos += 4;
    return LLM_OK;
}

static llm_status rd_u64(reader *r, uint64_t *v, const char *what) {
    llm_status s = need(r, 8, what);
    if (s) return s;
    *v = gguf_rd_u64(r->p + r->pos);
    r->pos += 8;
    return LLM_OK;
}

static llm_status rd_str(reader *r, gguf_str *out, const char *what) {
    uint64_t len;
    llm_status s = rd_u64(r, &len, what);
    if (s) return s;
    if (len > LLM_MAX_STRING)
        return llm_fail(r->err, LLM_ERR_LIMIT, "%s at offset %zu: string length %llu exceeds the limit %u",
                        what, r->pos - 8, (unsigned long long)len, LLM_MAX_STRING);
    if ((s = need(r, len, what))) return s;
    out->ptr = (const char *)r->p + r->pos;
    out->len = len;
    r->pos += len;
    return LLM_OK;
}

gguf_str gguf_next_str(const unsigned char **p) {
    gguf_str s = {(const char *)*p + 8, gguf_rd_u64(*p)};
    *p += 8 + s.len;
    return s;
}

char *gguf_str_dup(gguf_str s) {
    if (memchr(s.ptr, 0, (size_t)s.len)) return NULL;
    char *c = llm_malloc((size_t)s.len + 1);
    if (!c) return NULL;
    memcpy(c, s.ptr, (size_t)s.len);
    c[s.len] = 0;
    return c;
}

bool gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

bool gguf_is_gguf(const void *data, size_t size) {
    return size >= 4 && memcmp(data, "GGUF", 4) == 0;
}

/* Checks one metadata value in place and moves past it. Arrays are bounded
 * by the bytes left before any per-element work, so a declared count of
 * 2^60 fails at once instead of looping. */
static llm_status skip_value(reader *r, gguf_kv *kv) {
    llm_status s;
    if (kv->type >= GGUF_VTYPE_COUNT)
        return llm_fail(r->err, LLM_ERR_FORMAT, "key '%.*s': unknown value type %u",
                        (int)kv->key.len, kv->key.ptr, kv->type);
    if (kv->type == GGUF_STRING) {
        gguf_str v;
        kv->val = r->p + r->pos;
        return rd_str(r, &v, "string value");
    }
    if (kv->type != GGUF_ARRAY) {
        kv->val = r->p + r->pos;
        if ((s = need(r, scalar_size[kv->type], "metadata value"))) return s;
        r->pos += scalar_size[kv->type];
        return LLM_OK;
    }
    if ((s = rd_u32(r, &kv->arr_type, "array type")) || (s = rd_u64(r, &kv->arr_n, "array length")))
        return s;
    if (kv->arr_type >= GGUF_VTYPE_COUNT || kv->arr_type == GGUF_ARRAY)
        return llm_fail(r->err, LLM_ERR_FORMAT, "key '%.*s': bad array element type %u",
                        (int)kv->key.len, kv->key.ptr, kv->arr_type);
    kv->val = r->p + r->pos;
    uint64_t elem = kv->arr_type == GGUF_STRING ? 8 : scalar_size[kv->arr_type];
    if (kv->arr_n > (r->size - r->pos) / elem)
        return llm_fail(r->err, LLM_ERR_FORMAT, "key '%.*s': array of %llu elements exceeds the file",
                        (int)kv->key.len, kv->key.ptr, (unsigned long long)kv->arr_n);
    if (kv->arr_type != GGUF_STRING) {
        r->pos += kv->arr_n * elem;
        return LLM_OK;
    }
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        gguf_str v;
        if ((s = rd_str(r, &v, "array string"))) return s;
    }
    return LLM_OK;
}

static llm_status read_kvs(gguf_file *f, reader *r) {
    llm_status s;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        if ((s = rd_str(r, &kv->key, "metadata key")) || (s = rd_u32(r, &kv->type, "value type")) ||
            (s = skip_value(r, kv)))
            return s;
    }
    return LLM_OK;
}

static int str_cmp(const void *a, const void *b) {
    const gguf_str *x = *(const gguf_str *const *)a, *y = *(const gguf_str *const *)b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->ptr, y->ptr, x->len);
}

/* Finds a name that occurs twice among n names laid out `stride` bytes
 * apart, by sorting pointers to them: O(n log n) however many names a
 * file declares. */
static llm_status check_unique(const gguf_str *first, uint64_t n, size_t stride, const char *what,
                               llm_error *err) {
    if (n < 2) return LLM_OK;
    const gguf_str **v = llm_malloc(n * sizeof *v);
    if (!v) return llm_fail(err, LLM_ERR_NOMEM, "out of memory checking %s names", what);
    for (uint64_t i = 0; i < n; i++) v[i] = (const gguf_str *)((const char *)first + i * stride);
    qsort(v, n, sizeof *v, str_cmp);
    llm_status s = LLM_OK;
    for (uint64_t i = 1; i < n && !s; i++)
        if (str_cmp(&v[i - 1], &v[i]) == 0)
            s = llm_fail(err, LLM_ERR_FORMAT, "duplicate %s '%.*s'", what,
                         (int)(v[i]->len > 64 ? 64 : v[i]->len), v[i]->ptr);
    free(v);
    return s;
}

/* Reads a tensor's shape and type and computes its byte size, refusing
 * dimension products and sizes that overflow. */
static llm_status read_tensor_info(reader *r, gguf_tensor *t) {
    llm_status s;
    if ((s = rd_str(r, &t->name, "tensor name")) || (s = rd_u32(r, &t->n_dims, "tensor dimensions")))
        return s;
    int nl = (int)(t->name.len > 64 ? 64 : t->name.len);
    if (t->n_dims < 1 || t->n_dims > LLM_MAX_DIMS)
        return llm_fail(r->err, LLM_ERR_FORMAT, "tensor '%.*s': %u dimensions (1 to %d allowed)",
                        nl, t->name.ptr, t->n_dims, LLM_MAX_DIMS);
    uint64_t elems = 1;
    for (int d = 0; d < 4; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < t->n_dims && (s = rd_u64(r, &ne, "tensor shape"))) return s;
        if (ne > (uint64_t)INT64_MAX || (ne && elems > (uint64_t)INT64_MAX / ne))
            return llm_fail(r->err, LLM_ERR_FORMAT, "tensor '%.*s': shape overflows", nl, t->name.ptr);
        elems *= ne;
        t->ne[d] = (int64_t)ne;
    }
    if ((s = rd_u32(r, &t->type, "tensor type")) || (s = rd_u64(r, &t->offset, "tensor offset")))
        return s;
    const llm_dtype_info *dt = llm_dtype(t->type);
    if (!dt)
        return llm_fail(r->err, LLM_ERR_FORMAT, "tensor '%.*s': unknown type %u", nl, t->name.ptr, t->type);
    uint64_t row;
    if (t->ne[0] % dt->blck)
        return llm_fail(r->err, LLM_ERR_FORMAT, "tensor '%.*s': row of %lld is not a whole number of %s blocks",
                        nl, t->name.ptr, (long long)t->ne[0], dt->name);
    if (!llm_dtype_row_size(t->type, (uint64_t)t->ne[0], &row))
        return llm_fail(r->err, LLM_ERR_FORMAT, "tensor '%.*s': size overflows", nl, t->name.ptr);
    uint64_t rows = t->ne[0] ? elems / (uint64_t)t->ne[0] : 0;
    if (rows && row > UINT64_MAX / rows)
        return llm_fail(r->err, LLM_ERR_FORMAT, "tensor '%.*s': size overflows", nl, t->name.ptr);
    t->nbytes = row * rows;
    return LLM_OK;
}

static int offset_cmp(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset != y->offset ? (x->offset < y->offset ? -1 : 1) : 0;
}

/* Refuses tensors whose data ranges overlap, as no GGUF writer lays them
 * out: with each byte of the data section owned by at most one tensor, the
 * declared sizes add up to at most the file's size, so work that follows
 * the tensors (quantizing, converting, checking) is bounded by the real
 * file, not by what a header claims. Empty tensors own no bytes. Sorting
 * pointers by offset keeps this O(n log n). */
static llm_status check_disjoint(const gguf_file *f, llm_error *err) {
    if (f->n_tensors < 2) return LLM_OK;
    const gguf_tensor **v = llm_malloc(f->n_tensors * sizeof *v);
    if (!v) return llm_fail(err, LLM_ERR_NOMEM, "out of memory checking tensor data ranges");
    for (uint64_t i = 0; i < f->n_tensors; i++) v[i] = &f->tensors[i];
    qsort(v, f->n_tensors, sizeof *v, offset_cmp);
    llm_status s = LLM_OK;
    const gguf_tensor *owner = NULL; /* the non-empty tensor reaching furthest so far */
    for (uint64_t i = 0; i < f->n_tensors && !s; i++) {
        const gguf_tensor *t = v[i];
        if (!t->nbytes) continue;
        if (owner && t->offset < owner->offset + owner->nbytes)
            s = llm_fail(err, LLM_ERR_FORMAT, "tensors '%.*s' and '%.*s' share data bytes (at %llu and %llu)",
                         (int)(owner->name.len > 64 ? 64 : owner->name.len), owner->name.ptr,
                         (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr,
                         (unsigned long long)owner->offset, (unsigned long long)t->offset);
        if (!owner || t->offset + t->nbytes > owner->offset + owner->nbytes) owner = t;
    }
    free(v);
    return s;
}

/* Places each tensor in the data section: aligned, inside the image, and
 * at an address its element type may be read from directly. */
static llm_status place_tensors(gguf_file *f, llm_error *err) {
    uint64_t avail = f->size - f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        int nl = (int)(t->name.len > 64 ? 64 : t->name.len);
        if (t->offset % f->alignment)
            return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.*s': offset %llu is not aligned to %llu",
                            nl, t->name.ptr, (unsigned long long)t->offset, (unsigned long long)f->alignment);
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.*s': data [%llu, +%llu) lies past the end of the file",
                            nl, t->name.ptr, (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        t->data = f->base + f->data_offset + t->offset;
        const llm_dtype_info *dt = llm_dtype(t->type);
        uintptr_t natural = dt->blck == 1 ? dt->size : 2;
        if ((uintptr_t)t->data % natural)
            return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.*s': data is misaligned for %s",
                            nl, t->name.ptr, dt->name);
    }
    llm_status s = check_unique(&f->tensors[0].name, f->n_tensors, sizeof f->tensors[0], "tensor", err);
    return s ? s : check_disjoint(f, err);
}

static llm_status read_alignment(gguf_file *f, llm_error *err) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!gguf_find_kv(f, "general.alignment")) return LLM_OK;
    uint32_t a;
    llm_status s = gguf_get_u32(f, "general.alignment", &a, err);
    if (s) return s;
    if (a == 0 || (a & (a - 1)))
        return llm_fail(err, LLM_ERR_FORMAT, "general.alignment %u is not a power of two", a);
    f->alignment = a;
    return LLM_OK;
}

static llm_status parse(gguf_file *f, llm_error *err) {
    reader r = {f->base, f->size, 0, err};
    llm_status s;
    if (!gguf_is_gguf(f->base, f->size))
        return llm_fail(err, LLM_ERR_FORMAT, "bad magic: not a GGUF file");
    r.pos = 4;
    if ((s = rd_u32(&r, &f->version, "version"))) return s;
    if (f->version != 2 && f->version != 3)
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "GGUF version %u is not supported (2 and 3 are)", f->version);
    if ((s = rd_u64(&r, &f->n_tensors, "tensor count")) || (s = rd_u64(&r, &f->n_kv, "metadata count")))
        return s;
    if (f->n_tensors > LLM_MAX_TENSORS)
        return llm_fail(err, LLM_ERR_LIMIT, "%llu tensors exceed the limit of %d",
                        (unsigned long long)f->n_tensors, LLM_MAX_TENSORS);
    if (f->n_kv > LLM_MAX_KV)
        return llm_fail(err, LLM_ERR_LIMIT, "%llu metadata entries exceed the limit of %d",
                        (unsigned long long)f->n_kv, LLM_MAX_KV);
    f->kv = llm_calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->tensors = llm_calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (!f->kv || !f->tensors) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the GGUF index");
    if ((s = read_kvs(f, &r)) ||
        (s = check_unique(&f->kv[0].key, f->n_kv, sizeof f->kv[0], "metadata key", err)) ||
        (s = read_alignment(f, err)))
        return s;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if ((s = read_tensor_info(&r, &f->tensors[i]))) return s;
    uint64_t data = (r.pos + f->alignment - 1) / f->alignment * f->alignment;
    if (f->n_tensors && data > f->size)
        return llm_fail(err, LLM_ERR_FORMAT, "truncated: data section starts past the end of the file");
    f->data_offset = data > f->size ? f->size : data;
    return place_tensors(f, err);
}

llm_status gguf_parse(gguf_file *f, const void *data, size_t size, llm_error *err) {
    if (!f || (!data && size)) return llm_fail(err, LLM_ERR_INVALID_ARG, "gguf_parse: NULL argument");
    memset(f, 0, sizeof *f);
    f->base = data;
    f->size = size;
    llm_status s = parse(f, err);
    if (s) gguf_close(f);
    return s;
}

llm_status gguf_open(gguf_file *f, const char *path, llm_error *err) {
    llm_map map;
    llm_status s = llm_map_open(&map, path, err);
    if (s) return s;
    if ((s = gguf_parse(f, map.data, map.size, err))) {
        llm_map_close(&map);
        llm_error_prefix(err, path);
        return s;
    }
    f->map = map;
    return LLM_OK;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    free(f->kv);
    free(f->tensors);
    llm_map_close(&f->map);
    memset(f, 0, sizeof *f);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (gguf_str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (gguf_str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static llm_status find(const gguf_file *f, const char *key, const gguf_kv **kv, llm_error *err) {
    *kv = gguf_find_kv(f, key);
    if (!*kv) return llm_fail(err, LLM_ERR_FORMAT, "missing metadata key '%s'", key);
    return LLM_OK;
}

static llm_status wrong_type(const char *key, const gguf_kv *kv, const char *want, llm_error *err) {
    return llm_fail(err, LLM_ERR_FORMAT, "metadata key '%s' is %s, expected %s", key,
                    vtype_name(kv->type), want);
}

llm_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, llm_error *err) {
    const gguf_kv *kv;
    llm_status s = find(f, key, &kv, err);
    if (s) return s;
    const unsigned char *p = kv->val;
    int64_t v;
    switch (kv->type) {
    case GGUF_U8: v = p[0]; break;
    case GGUF_I8: v = (int8_t)p[0]; break;
    case GGUF_U16: v = (uint16_t)(p[0] | p[1] << 8); break;
    case GGUF_I16: v = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case GGUF_U32: v = gguf_rd_u32(p); break;
    case GGUF_I32: v = (int32_t)gguf_rd_u32(p); break;
    case GGUF_U64: {
        uint64_t u = gguf_rd_u64(p);
        v = u > UINT32_MAX ? -1 : (int64_t)u;
        break;
    }
    case GGUF_I64: v = (int64_t)gguf_rd_u64(p); break;
    default: return wrong_type(key, kv, "an integer", err);
    }
    if (v < 0 || v > UINT32_MAX)
        return llm_fail(err, LLM_ERR_FORMAT, "metadata key '%s' is out of range", key);
    *out = (uint32_t)v;
    return LLM_OK;
}

llm_status gguf_get_f32(const gguf_file *f, const char *key, float *out, llm_error *err) {
    const gguf_kv *kv;
    llm_status s = find(f, key, &kv, err);
    if (s) return s;
    if (kv->type == GGUF_F32) {
        *out = gguf_rd_f32(kv->val);
    } else if (kv->type == GGUF_F64) {
        uint64_t u = gguf_rd_u64(kv->val);
        double d;
        memcpy(&d, &u, 8);
        *out = (float)d;
    } else {
        return wrong_type(key, kv, "a float", err);
    }
    return LLM_OK;
}

llm_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, llm_error *err) {
    const gguf_kv *kv;
    llm_status s = find(f, key, &kv, err);
    if (s) return s;
    if (kv->type != GGUF_BOOL) return wrong_type(key, kv, "a bool", err);
    *out = kv->val[0] != 0;
    return LLM_OK;
}

llm_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, llm_error *err) {
    const gguf_kv *kv;
    llm_status s = find(f, key, &kv, err);
    if (s) return s;
    if (kv->type != GGUF_STRING) return wrong_type(key, kv, "a string", err);
    const unsigned char *p = kv->val;
    *out = gguf_next_str(&p);
    return LLM_OK;
}

llm_status gguf_get_arr(const gguf_file *f, const char *key, uint32_t elem_type,
                        uint64_t *n, const unsigned char **first, llm_error *err) {
    const gguf_kv *kv;
    llm_status s = find(f, key, &kv, err);
    if (s) return s;
    if (kv->type != GGUF_ARRAY || kv->arr_type != elem_type)
        return llm_fail(err, LLM_ERR_FORMAT, "metadata key '%s' is not an array of %s", key,
                        vtype_name(elem_type));
    *n = kv->arr_n;
    *first = kv->val;
    return LLM_OK;
}
