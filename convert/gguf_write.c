#include "gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"
#include "gguf.h"
#include "outfile.h"

#define ALIGNMENT_KEY "general.alignment"
#define MAX_FILE (UINT64_C(1) << 62)

/* A growable byte buffer. */
typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
} bytes;

typedef struct wtensor {
    char *name;
    uint32_t n_dims;
    int64_t ne[4];          /* unused dims are 1 */
    uint32_t type;
    const void *data;       /* (nbytes), borrowed from the caller */
    uint64_t nbytes;
} wtensor;

struct gguf_writer {
    bytes kv;               /* the metadata entries, serialized back to back */
    char **keys;            /* (n_kv) copies, to refuse duplicates */
    uint64_t n_kv;
    wtensor *tensors;       /* (n_tensors) in file order */
    uint64_t n_tensors;
    uint32_t alignment;
    llm_temp_fn temp;       /* told of the temporary file (gguf_writer_set_temp) */
    void *temp_ud;
};

static const uint32_t vsize[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2,
    [GGUF_U32] = 4, [GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1,
    [GGUF_U64] = 8, [GGUF_I64] = 8, [GGUF_F64] = 8,
};

static bool is_scalar(uint32_t t) { return t < GGUF_VTYPE_COUNT && vsize[t] != 0; }

/* Makes room for n more bytes, doubling so appends are amortized O(1). */
static bool reserve(bytes *b, size_t n) {
    if (n <= b->cap - b->len) return true;
    if (n > SIZE_MAX / 2 - b->len) return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) cap *= 2;
    unsigned char *p = llm_realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Stores the low `size` bytes of v little-endian, whatever the host order. */
static void le_store(unsigned char *p, uint64_t v, uint32_t size) {
    for (uint32_t i = 0; i < size; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static bool put(bytes *b, const void *p, size_t n) {
    if (!reserve(b, n)) return false;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return true;
}

static bool put_le(bytes *b, uint64_t v, uint32_t size) {
    if (!reserve(b, size)) return false;
    le_store(b->p + b->len, v, size);
    b->len += size;
    return true;
}

static bool put_str(bytes *b, const char *s, size_t len) {
    return put_le(b, len, 8) && put(b, s, len);
}

static llm_status nomem(llm_error *err) {
    return llm_fail(err, LLM_ERR_NOMEM, "out of memory building a GGUF file");
}

gguf_writer *gguf_writer_new(llm_error *err) {
    gguf_writer *w = llm_calloc(1, sizeof *w);
    if (!w) {
        nomem(err);
        return NULL;
    }
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->kv.p);
    free(w);
}

llm_status gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, llm_error *err) {
    if (!w) return llm_fail(err, LLM_ERR_INVALID_ARG, "gguf_writer_set_alignment: NULL writer");
    if (alignment == 0 || (alignment & (alignment - 1)))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "alignment %u is not a power of two", alignment);
    w->alignment = alignment;
    return LLM_OK;
}

/* Checks that key may be added: a new, reasonably sized name that is not
 * the alignment key the writer manages itself. */
static llm_status check_key(const gguf_writer *w, const char *key, llm_error *err) {
    if (!w || !key) return llm_fail(err, LLM_ERR_INVALID_ARG, "gguf writer: NULL writer or key");
    if (strlen(key) > LLM_MAX_STRING)
        return llm_fail(err, LLM_ERR_LIMIT, "metadata key of %zu bytes exceeds the limit %u",
                        strlen(key), LLM_MAX_STRING);
    if (strcmp(key, ALIGNMENT_KEY) == 0)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "set %s with gguf_writer_set_alignment", ALIGNMENT_KEY);
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "duplicate metadata key '%s'", key);
    if (w->n_kv >= LLM_MAX_KV)
        return llm_fail(err, LLM_ERR_LIMIT, "more than %d metadata entries", LLM_MAX_KV);
    return LLM_OK;
}

/* Adding an entry is a transaction: begin_kv writes the key and type, the
 * caller appends the value, end_kv either records the key or, when any
 * append failed, cuts the buffer back so the writer is as before. */
static size_t begin_kv(gguf_writer *w, const char *key, uint32_t type, bool *ok) {
    size_t mark = w->kv.len;
    *ok = put_str(&w->kv, key, strlen(key)) && put_le(&w->kv, type, 4);
    return mark;
}

static llm_status end_kv(gguf_writer *w, const char *key, size_t mark, bool ok, llm_error *err) {
    char **keys = NULL;
    char *copy = NULL;
    if (ok) {
        keys = llm_realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *keys);
        if (keys) w->keys = keys;
        copy = llm_strdup(key);
    }
    if (!keys || !copy) {
        free(copy);
        w->kv.len = mark;
        return nomem(err);
    }
    w->keys[w->n_kv++] = copy;
    return LLM_OK;
}

static llm_status add_scalar(gguf_writer *w, const char *key, uint32_t type, uint64_t bits,
                             llm_error *err) {
    llm_status s = check_key(w, key, err);
    if (s) return s;
    bool ok;
    size_t mark = begin_kv(w, key, type, &ok);
    ok = ok && put_le(&w->kv, bits, vsize[type]);
    return end_kv(w, key, mark, ok, err);
}

static uint64_t f32_bits(float v) { uint32_t u; memcpy(&u, &v, 4); return u; }
static uint64_t f64_bits(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }

llm_status gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_U8, v, err);
}
llm_status gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_I8, (uint8_t)v, err);
}
llm_status gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_U16, v, err);
}
llm_status gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_I16, (uint16_t)v, err);
}
llm_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_U32, v, err);
}
llm_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_I32, (uint32_t)v, err);
}
llm_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_U64, v, err);
}
llm_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v, llm_error *err) {
    return add_scalar(w, key, GGUF_I64, (uint64_t)v, err);
}
llm_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v, llm_error *err) {
    return add_scalar(w, key, GGUF_F32, f32_bits(v), err);
}
llm_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v, llm_error *err) {
    return add_scalar(w, key, GGUF_F64, f64_bits(v), err);
}
llm_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, llm_error *err) {
    return add_scalar(w, key, GGUF_BOOL, v ? 1 : 0, err);
}

static llm_status check_str(const char *what, const char *v, llm_error *err) {
    if (!v) return llm_fail(err, LLM_ERR_INVALID_ARG, "%s: NULL string", what);
    if (strlen(v) > LLM_MAX_STRING)
        return llm_fail(err, LLM_ERR_LIMIT, "%s: string of %zu bytes exceeds the limit %u",
                        what, strlen(v), LLM_MAX_STRING);
    return LLM_OK;
}

llm_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, llm_error *err) {
    llm_status s = check_key(w, key, err);
    if (s || (s = check_str(key, v, err))) return s;
    bool ok;
    size_t mark = begin_kv(w, key, GGUF_STRING, &ok);
    ok = ok && put_str(&w->kv, v, strlen(v));
    return end_kv(w, key, mark, ok, err);
}

/* Elements are read from host memory one by one and stored little-endian,
 * so the file is the same whatever machine wrote it. */
llm_status gguf_writer_add_arr(gguf_writer *w, const char *key, uint32_t elem_type,
                               const void *v, uint64_t n, llm_error *err) {
    llm_status s = check_key(w, key, err);
    if (s) return s;
    if (!is_scalar(elem_type))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "key '%s': array element type %u is not a scalar type",
                        key, elem_type);
    if (!v && n) return llm_fail(err, LLM_ERR_INVALID_ARG, "key '%s': NULL array", key);
    uint32_t es = vsize[elem_type];
    if (n > SIZE_MAX / es) return nomem(err);
    bool ok;
    size_t mark = begin_kv(w, key, GGUF_ARRAY, &ok);
    ok = ok && put_le(&w->kv, elem_type, 4) && put_le(&w->kv, n, 8) && reserve(&w->kv, (size_t)(n * es));
    for (uint64_t i = 0; ok && i < n; i++) {
        const unsigned char *src = (const unsigned char *)v + i * es;
        uint64_t x = 0;
        switch (es) {
        case 1: x = src[0]; break;
        case 2: { uint16_t t; memcpy(&t, src, 2); x = t; break; }
        case 4: { uint32_t t; memcpy(&t, src, 4); x = t; break; }
        default: memcpy(&x, src, 8); break;
        }
        ok = put_le(&w->kv, x, es);
    }
    return end_kv(w, key, mark, ok, err);
}

llm_status gguf_writer_add_str_arr(gguf_writer *w, const char *key, const char *const *v,
                                   uint64_t n, llm_error *err) {
    llm_status s = check_key(w, key, err);
    if (s) return s;
    if (!v && n) return llm_fail(err, LLM_ERR_INVALID_ARG, "key '%s': NULL array", key);
    for (uint64_t i = 0; i < n; i++)
        if ((s = check_str(key, v[i], err))) return s;
    bool ok;
    size_t mark = begin_kv(w, key, GGUF_ARRAY, &ok);
    ok = ok && put_le(&w->kv, GGUF_STRING, 4) && put_le(&w->kv, n, 8);
    for (uint64_t i = 0; ok && i < n; i++) ok = put_str(&w->kv, v[i], strlen(v[i]));
    return end_kv(w, key, mark, ok, err);
}

/* The byte size a shape and type imply, with the reader's rules: at most
 * INT64_MAX elements, rows a whole number of blocks, no overflow. */
static llm_status tensor_size(const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type,
                              uint64_t *nbytes, llm_error *err) {
    const llm_dtype_info *dt = llm_dtype(type);
    if (!dt) return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': unknown type %u", name, type);
    uint64_t elems = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': dimension %u is negative", name, d);
        if (ne[d] && elems > (uint64_t)INT64_MAX / (uint64_t)ne[d])
            return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': shape overflows", name);
        elems *= (uint64_t)ne[d];
    }
    uint64_t row;
    if (!llm_dtype_row_size(type, (uint64_t)ne[0], &row))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': row of %lld is not a whole number of %s blocks",
                        name, (long long)ne[0], dt->name);
    uint64_t rows = ne[0] ? elems / (uint64_t)ne[0] : 0;
    if (rows && row > UINT64_MAX / rows)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': size overflows", name);
    *nbytes = row * rows;
    return LLM_OK;
}

llm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims,
                                  const int64_t *ne, uint32_t type, const void *data,
                                  uint64_t nbytes, llm_error *err) {
    if (!w || !name || !ne) return llm_fail(err, LLM_ERR_INVALID_ARG, "gguf_writer_add_tensor: NULL argument");
    llm_status s = check_str("tensor name", name, err);
    if (s) return s;
    if (n_dims < 1 || n_dims > LLM_MAX_DIMS)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': %u dimensions (1 to %d allowed)",
                        name, n_dims, LLM_MAX_DIMS);
    uint64_t want = 0;
    if ((s = tensor_size(name, n_dims, ne, type, &want, err))) return s;
    if (nbytes != want)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': %llu bytes given, its shape and %s need %llu",
                        name, (unsigned long long)nbytes, llm_type_name(type), (unsigned long long)want);
    if (!data && nbytes) return llm_fail(err, LLM_ERR_INVALID_ARG, "tensor '%s': NULL data", name);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "duplicate tensor '%s'", name);
    if (w->n_tensors >= LLM_MAX_TENSORS)
        return llm_fail(err, LLM_ERR_LIMIT, "more than %d tensors", LLM_MAX_TENSORS);
    wtensor *ts = llm_realloc(w->tensors, (size_t)(w->n_tensors + 1) * sizeof *ts);
    if (!ts) return nomem(err);
    w->tensors = ts;
    wtensor *t = &ts[w->n_tensors];
    if (!(t->name = llm_strdup(name))) return nomem(err);
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->type = type;
    t->data = data;
    t->nbytes = nbytes;
    w->n_tensors++;
    return LLM_OK;
}

/* ---------------------------------------------------------------- layout */

/* Where everything goes: the header bytes (up to the data section, padding
 * included) and each tensor's offset inside the data section. */
typedef struct layout {
    bytes head;
    uint64_t *offset;       /* (n_tensors) */
    uint64_t size;          /* of the whole file */
} layout;

static void layout_free(layout *l) {
    free(l->head.p);
    free(l->offset);
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* The reader maps tensors in place, so each must start at a file position
 * its elements may be loaded from: the element size for scalar types, 2
 * (the fp16 scale) for block types. */
static uint64_t elem_align(uint32_t type) {
    const llm_dtype_info *dt = llm_dtype(type);
    return dt->blck == 1 ? dt->size : 2;
}

/* Tensors follow one another in the order added, each at the first offset
 * that is a multiple of the alignment and readable in place (this only
 * skips ahead when the alignment is smaller than the element size). Sizes
 * are capped far below 2^64 so no sum here can overflow. */
static llm_status place(const gguf_writer *w, layout *l, uint64_t data_start, llm_error *err) {
    uint64_t a = w->alignment, cur = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        uint64_t off = align_up(cur, a), ea = elem_align(t->type);
        while ((data_start + off) % ea) off += a;
        if (off > MAX_FILE || t->nbytes > MAX_FILE)
            return llm_fail(err, LLM_ERR_LIMIT, "tensor '%s' lies past 2^62 bytes", t->name);
        l->offset[i] = off;
        cur = off + t->nbytes;
    }
    l->size = w->n_tensors ? data_start + align_up(cur, a) : data_start;
    return LLM_OK;
}

static bool put_tensor_info(bytes *b, const wtensor *t, uint64_t offset) {
    bool ok = put_str(b, t->name, strlen(t->name)) && put_le(b, t->n_dims, 4);
    for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = put_le(b, (uint64_t)t->ne[d], 8);
    return ok && put_le(b, t->type, 4) && put_le(b, offset, 8);
}

/* Builds the header. Tensor infos hold offsets, and offsets depend on where
 * the data section starts, i.e. on the header's size: that size is known
 * first (an info's size does not depend on its offset), then the bytes. */
static llm_status make_layout(const gguf_writer *w, layout *l, llm_error *err) {
    memset(l, 0, sizeof *l);
    bool with_align = w->alignment != GGUF_DEFAULT_ALIGNMENT;
    uint64_t n_kv = w->n_kv + with_align;
    if (n_kv > LLM_MAX_KV)
        return llm_fail(err, LLM_ERR_LIMIT, "more than %d metadata entries", LLM_MAX_KV);
    uint64_t info = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++)
        info += 8 + strlen(w->tensors[i].name) + 4 + 8 * (uint64_t)w->tensors[i].n_dims + 4 + 8;
    bytes *h = &l->head;
    l->offset = llm_calloc(w->n_tensors ? w->n_tensors : 1, sizeof *l->offset);
    bool ok = l->offset && put(h, "GGUF", 4) && put_le(h, 3, 4) && put_le(h, w->n_tensors, 8) &&
              put_le(h, n_kv, 8) && put(h, w->kv.p, w->kv.len);
    if (with_align)
        ok = ok && put_str(h, ALIGNMENT_KEY, strlen(ALIGNMENT_KEY)) && put_le(h, GGUF_U32, 4) &&
             put_le(h, w->alignment, 4);
    uint64_t end = h->len + info;
    uint64_t data_start = w->n_tensors ? align_up(end, w->alignment) : end;
    llm_status s = ok ? place(w, l, data_start, err) : nomem(err);
    for (uint64_t i = 0; !s && ok && i < w->n_tensors; i++) ok = put_tensor_info(h, &w->tensors[i], l->offset[i]);
    if (!s && !(ok && data_start <= SIZE_MAX && reserve(h, (size_t)data_start - h->len))) s = nomem(err);
    if (s) {
        layout_free(l);
        return s;
    }
    memset(h->p + h->len, 0, (size_t)data_start - h->len);
    h->len = (size_t)data_start;
    return LLM_OK;
}

/* ---------------------------------------------------------------- output */

/* A destination: a memory image or a file descriptor. */
typedef struct sink {
    unsigned char *mem;     /* the image, or NULL to write to fd */
    int fd;
    uint64_t pos;
    const char *path;       /* for messages */
    llm_error *err;
} sink;

/* Appends n bytes of p (zeros when p is NULL) to the sink. */
static llm_status emit(sink *s, const void *p, uint64_t n) {
    static const unsigned char zeros[4096];
    if (s->mem) {
        if (p) memcpy(s->mem + s->pos, p, (size_t)n);
        else memset(s->mem + s->pos, 0, (size_t)n);
        s->pos += n;
        return LLM_OK;
    }
    const unsigned char *q = p;
    while (n > 0) {
        size_t cap = p ? (size_t)1 << 30 : sizeof zeros;
        size_t chunk = n < cap ? (size_t)n : cap;
        ssize_t got = write(s->fd, p ? q : zeros, chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return llm_fail(s->err, LLM_ERR_IO, "%s: write failed: %s", s->path,
                            got < 0 ? strerror(errno) : "no progress");
        if (p) q += got;
        n -= (uint64_t)got;
        s->pos += (uint64_t)got;
    }
    return LLM_OK;
}

static llm_status serialize(const gguf_writer *w, const layout *l, sink *s) {
    llm_status st = emit(s, l->head.p, l->head.len);
    uint64_t data_start = l->head.len;
    for (uint64_t i = 0; !st && i < w->n_tensors; i++) {
        uint64_t at = data_start + l->offset[i];
        if (!(st = emit(s, NULL, at - s->pos))) st = emit(s, w->tensors[i].data, w->tensors[i].nbytes);
    }
    if (!st) st = emit(s, NULL, l->size - s->pos);
    return st;
}

llm_status gguf_writer_to_mem(const gguf_writer *w, void **out, size_t *size, llm_error *err) {
    if (!w || !out || !size) return llm_fail(err, LLM_ERR_INVALID_ARG, "gguf_writer_to_mem: NULL argument");
    layout l;
    llm_status s = make_layout(w, &l, err);
    if (s) return s;
    unsigned char *mem = l.size <= SIZE_MAX ? llm_malloc((size_t)l.size) : NULL;
    if (!mem) {
        layout_free(&l);
        return nomem(err);
    }
    sink sk = {mem, -1, 0, "memory", err};
    s = serialize(w, &l, &sk); /* cannot fail in memory */
    *out = mem;
    *size = (size_t)l.size;
    layout_free(&l);
    return s;
}

/* Best effort: makes the rename itself durable. The file is complete under
 * its final name whatever happens here, so a failure is not reported. */
static void sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? llm_strndup(path, (size_t)(slash - path) + 1) : llm_strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Writes into a temporary file beside path, syncs it and renames it over
 * path, so a crash or error never leaves a partial file under the final
 * name; the temp hook hears of the temporary file for as long as it
 * exists, so that a program interrupted by a signal can remove it. */
static llm_status write_atomic(const gguf_writer *w, const layout *l, const char *path, llm_error *err) {
    llm_status s = llm_output_ok(path, err);
    if (s) return s;
    char *tmp = llm_temp_name(path);
    if (!tmp) return nomem(err);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        s = llm_fail(err, LLM_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        return s;
    }
    if (w->temp) w->temp(w->temp_ud, tmp);
    sink sk = {NULL, fd, 0, path, err};
    if (fchmod(fd, 0644) != 0)
        s = llm_fail(err, LLM_ERR_IO, "%s: cannot set the temporary file's mode: %s", path, strerror(errno));
    if (!s) s = serialize(w, l, &sk);
    if (!s && fsync(fd) != 0) s = llm_fail(err, LLM_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && !s) s = llm_fail(err, LLM_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = llm_fail(err, LLM_ERR_IO, "%s: cannot rename the temporary file: %s", path, strerror(errno));
    if (s) unlink(tmp);
    if (w->temp) w->temp(w->temp_ud, NULL);
    if (!s) sync_dir(path);
    free(tmp);
    return s;
}

void gguf_writer_set_temp(gguf_writer *w, llm_temp_fn fn, void *ud) {
    w->temp = fn;
    w->temp_ud = ud;
}

llm_status gguf_writer_to_file(const gguf_writer *w, const char *path, llm_error *err) {
    if (!w || !path) return llm_fail(err, LLM_ERR_INVALID_ARG, "gguf_writer_to_file: NULL argument");
    layout l;
    llm_status s = make_layout(w, &l, err);
    if (s) return s;
    s = write_atomic(w, &l, path, err);
    layout_free(&l);
    return s;
}

/* ---------------------------------------------------------------- copying */

static uint32_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

/* The little-endian value of size bytes as the host's C object of that
 * size, which is what the writer's add functions take. */
static void to_host(void *dst, const unsigned char *p, uint32_t size) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < size; i++) v |= (uint64_t)p[i] << (8 * i);
    uint8_t b = (uint8_t)v;
    uint16_t h = (uint16_t)v;
    uint32_t w = (uint32_t)v;
    memcpy(dst, size == 1 ? (void *)&b : size == 2 ? (void *)&h : size == 4 ? (void *)&w : (void *)&v, size);
}

static llm_status copy_scalar(gguf_writer *w, const char *key, uint32_t type, const unsigned char *p,
                              llm_error *err) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; float f32; double f64; } v;
    to_host(&v, p, scalar_size(type));
    switch (type) {
    case GGUF_U8: return gguf_writer_add_u8(w, key, v.u8, err);
    case GGUF_I8: return gguf_writer_add_i8(w, key, v.i8, err);
    case GGUF_U16: return gguf_writer_add_u16(w, key, v.u16, err);
    case GGUF_I16: return gguf_writer_add_i16(w, key, v.i16, err);
    case GGUF_U32: return gguf_writer_add_u32(w, key, v.u32, err);
    case GGUF_I32: return gguf_writer_add_i32(w, key, v.i32, err);
    case GGUF_U64: return gguf_writer_add_u64(w, key, v.u64, err);
    case GGUF_I64: return gguf_writer_add_i64(w, key, v.i64, err);
    case GGUF_F32: return gguf_writer_add_f32(w, key, v.f32, err);
    case GGUF_F64: return gguf_writer_add_f64(w, key, v.f64, err);
    default: return gguf_writer_add_bool(w, key, v.u8 != 0, err);
    }
}

static llm_status copy_str_arr(gguf_writer *w, const char *key, const gguf_kv *kv, llm_error *err) {
    char **v = llm_calloc(kv->arr_n ? (size_t)kv->arr_n : 1, sizeof *v);
    llm_status s = v ? LLM_OK : llm_fail(err, LLM_ERR_NOMEM, "out of memory copying '%s'", key);
    const unsigned char *p = kv->val;
    for (uint64_t i = 0; !s && i < kv->arr_n; i++)
        if (!(v[i] = gguf_str_dup(gguf_next_str(&p))))
            s = llm_fail(err, LLM_ERR_UNSUPPORTED, "'%s'[%llu] holds a NUL byte or memory ran out", key,
                         (unsigned long long)i);
    if (!s) s = gguf_writer_add_str_arr(w, key, (const char *const *)v, kv->arr_n, err);
    for (uint64_t i = 0; v && i < kv->arr_n; i++) free(v[i]);
    free(v);
    return s;
}

static llm_status copy_arr(gguf_writer *w, const char *key, const gguf_kv *kv, llm_error *err) {
    if (kv->arr_type == GGUF_STRING) return copy_str_arr(w, key, kv, err);
    uint32_t es = scalar_size(kv->arr_type);
    if (!es) return llm_fail(err, LLM_ERR_UNSUPPORTED, "'%s' is an array of arrays, which is not copied", key);
    unsigned char *host = llm_malloc(kv->arr_n ? (size_t)(kv->arr_n * es) : 1);
    if (!host) return llm_fail(err, LLM_ERR_NOMEM, "out of memory copying '%s'", key);
    for (uint64_t i = 0; i < kv->arr_n; i++) to_host(host + i * es, kv->val + i * es, es);
    llm_status s = gguf_writer_add_arr(w, key, kv->arr_type, host, kv->arr_n, err);
    free(host);
    return s;
}

static llm_status copy_value(gguf_writer *w, const gguf_kv *kv, const char *key, llm_error *err) {
    if (kv->type == GGUF_ARRAY) return copy_arr(w, key, kv, err);
    if (kv->type != GGUF_STRING) return copy_scalar(w, key, kv->type, kv->val, err);
    const unsigned char *p = kv->val;
    char *v = gguf_str_dup(gguf_next_str(&p));
    llm_status s = v ? gguf_writer_add_str(w, key, v, err)
                     : llm_fail(err, LLM_ERR_UNSUPPORTED, "'%s' holds a NUL byte or memory ran out", key);
    free(v);
    return s;
}

llm_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, llm_error *err) {
    char *key = gguf_str_dup(kv->key);
    llm_status s = key ? copy_value(w, kv, key, err)
                       : llm_fail(err, LLM_ERR_UNSUPPORTED, "metadata key '%.*s' holds a NUL byte or memory ran out",
                                  (int)(kv->key.len > 64 ? 64 : kv->key.len), kv->key.ptr);
    free(key);
    return s;
}
