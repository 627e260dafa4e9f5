/* A context's cache as a whole: its state as bytes, saved to a caller's
 * buffer or a file and loaded back, copied between contexts of one
 * model, and shifted to make room (llm_ctx_shift).
 *
 * Layout (native byte order: a state is for the machine that wrote it):
 *   header    (state_header below, 96 bytes)
 *   logits    n_vocab floats of the last token, when has_logits
 *   per layer keys (pos, n_head_kv * head_dim) elements of kv_type, then
 *             values alike
 * Keys are stored per position, not in the cache's transposed blocks, so
 * a state loads into a context of any n_ctx that holds its positions.
 * Everything in the header is checked before any byte is copied, and
 * the payload size must match the header exactly. The cache's values
 * themselves carry no checksum: corrupted floats give wrong logits, never
 * a read outside the buffers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "attention.h"
#include "context.h"
#include "dtype.h"
#include "error.h"
#include "outfile.h"
#include "mapfile.h"

#define STATE_MAGIC "LLMS"
#define STATE_VERSION 1u

typedef struct state_header {
    char magic[4];        /* "LLMS" */
    uint32_t version;     /* STATE_VERSION */
    char arch[32];        /* NUL-padded architecture name */
    int32_t n_vocab, n_embd, n_layer, n_head_kv, head_dim;
    uint32_t kv_type;     /* LLM_TYPE_F32 or LLM_TYPE_F16: the element type of the cache below */
    uint64_t fingerprint; /* model_fingerprint() */
    int32_t n_ctx;        /* the saving context's capacity (informative) */
    int32_t pos;          /* positions saved */
    uint32_t has_logits;  /* 0 or 1 */
    uint32_t reserved;    /* 0 */
    uint64_t payload;     /* bytes after the header */
} state_header;

_Static_assert(sizeof(state_header) == 96, "state header layout");

/* FNV-1a, 64 bits. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t tensor_fnv(uint64_t h, const llm_tensor *t) {
    uint64_t row;
    if (!t->data || !llm_dtype_row_size(t->type, (uint64_t)t->ne[0], &row)) return h;
    return fnv(h, t->data, (size_t)row);
}

/* Tells models apart that share a shape: the hyper-parameters the cache
 * depends on and the first row of the embedding, the classifier and the
 * first layer's key projection. */
static uint64_t model_fingerprint(const llm_model *m) {
    const llm_hparams *h = &m->hp;
    uint64_t f = fnv(0xcbf29ce484222325ull, h, sizeof *h);
    f = tensor_fnv(f, &m->tok_embd);
    f = tensor_fnv(f, &m->output);
    return tensor_fnv(f, &m->layers[0].wk);
}

static size_t kv_dim(const llm_model *m) { return (size_t)m->hp.n_head_kv * (size_t)m->hp.head_dim; }

/* Bytes of one cached element (F32 or F16, types of one element a block). */
static size_t elem_size(uint32_t type) { return llm_dtype(type)->size; }

/* Bytes after the header for pos positions. Bounded by model.c's and
 * context.c's limits (2^20 positions, 2^10 layers, 2^16 kv_dim), so no
 * overflow in 64 bits. */
static uint64_t payload_size(const llm_model *m, uint32_t kv_type, int32_t pos, bool logits) {
    uint64_t cache = 2 * (uint64_t)m->hp.n_layer * (uint64_t)pos * kv_dim(m) * elem_size(kv_type);
    return cache + (logits ? (uint64_t)m->hp.n_vocab * sizeof(float) : 0);
}

static state_header header_of(const llm_ctx *c) {
    const llm_hparams *h = &c->model->hp;
    state_header s;
    memset(&s, 0, sizeof s);
    memcpy(s.magic, STATE_MAGIC, 4);
    s.version = STATE_VERSION;
    memcpy(s.arch, c->model->arch->name, strnlen(c->model->arch->name, sizeof s.arch - 1));
    s.n_vocab = h->n_vocab;
    s.n_embd = h->n_embd;
    s.n_layer = h->n_layer;
    s.n_head_kv = h->n_head_kv;
    s.head_dim = h->head_dim;
    s.kv_type = c->kv.type;
    s.fingerprint = model_fingerprint(c->model);
    s.n_ctx = c->n_ctx;
    s.pos = c->pos;
    s.has_logits = llm_logits(c) != NULL;
    s.payload = payload_size(c->model, s.kv_type, c->pos, s.has_logits);
    return s;
}

size_t llm_state_size(const llm_ctx *c) {
    if (!c) return 0;
    state_header h = header_of(c);
    return sizeof h + (size_t)h.payload;
}

llm_status llm_state_save(const llm_ctx *c, void *buf, size_t cap, size_t *written, llm_error *err) {
    if (!c || (!buf && cap))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_state_save: NULL context or buffer");
    state_header h = header_of(c);
    size_t need = sizeof h + (size_t)h.payload;
    if (written) *written = need;
    if (cap < need)
        return llm_fail(err, LLM_ERR_BUFFER_TOO_SMALL, "llm_state_save: the state needs %zu bytes, the buffer has %zu",
                        need, cap);
    unsigned char *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    size_t nv = (size_t)h.n_vocab * sizeof(float), row = kv_dim(c->model) * elem_size(h.kv_type);
    if (h.has_logits) memcpy(p, llm_logits(c), nv), p += nv;
    for (int l = 0; l < h.n_layer; l++) {
        llm_attn_load_keys(&c->kv, llm_ctx_layer_keys(c, l), 0, c->pos, p, h.kv_type);
        p += (size_t)c->pos * row;
        memcpy(p, llm_ctx_layer_values(c, l), (size_t)c->pos * row);
        p += (size_t)c->pos * row;
    }
    return LLM_OK;
}

/* Names the first header field that does not fit this context. */
static llm_status check_header(const llm_ctx *c, const state_header *s, size_t size, llm_error *err) {
    state_header want = header_of(c);
    if (memcmp(s->magic, STATE_MAGIC, 4) != 0)
        return llm_fail(err, LLM_ERR_FORMAT, "not a libllm state: bad magic");
    if (s->version != STATE_VERSION)
        return llm_fail(err, LLM_ERR_FORMAT, "state format version %u, this build reads version %u", s->version,
                        STATE_VERSION);
    if (memcmp(s->arch, want.arch, sizeof s->arch) != 0)
        return llm_fail(err, LLM_ERR_FORMAT, "state is of another architecture than '%s'", c->model->arch->name);
    const struct { const char *name; int64_t got, want; } f[] = {
        {"n_vocab", s->n_vocab, want.n_vocab}, {"n_embd", s->n_embd, want.n_embd},
        {"n_layer", s->n_layer, want.n_layer}, {"n_head_kv", s->n_head_kv, want.n_head_kv},
        {"head_dim", s->head_dim, want.head_dim},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].got != f[i].want)
            return llm_fail(err, LLM_ERR_FORMAT, "state is of another model: %s %lld, this model has %lld", f[i].name,
                            (long long)f[i].got, (long long)f[i].want);
    if (s->kv_type != want.kv_type)
        return llm_fail(err, LLM_ERR_FORMAT, "state holds a KV cache of type %u, this context's is of type %u (%s)",
                        s->kv_type, want.kv_type, want.kv_type == LLM_TYPE_F16 ? "F16" : "F32");
    if (s->fingerprint != want.fingerprint)
        return llm_fail(err, LLM_ERR_FORMAT, "state is of another model: the weights' fingerprint differs");
    if (s->n_ctx <= 0 || s->pos < 0 || s->pos > s->n_ctx || s->has_logits > 1 || s->reserved != 0)
        return llm_fail(err, LLM_ERR_FORMAT, "state header is corrupt: n_ctx %d, pos %d, has_logits %u", s->n_ctx,
                        s->pos, s->has_logits);
    if (s->pos > c->n_ctx)
        return llm_fail(err, LLM_ERR_CONTEXT_FULL, "state holds %d positions, the context only %d", s->pos, c->n_ctx);
    uint64_t payload = payload_size(c->model, s->kv_type, s->pos, s->has_logits);
    if (s->payload != payload || size - sizeof *s != payload)
        return llm_fail(err, LLM_ERR_FORMAT, "state is %zu bytes, %llu expected for %d positions (truncated or corrupt)",
                        size, (unsigned long long)(payload + sizeof *s), s->pos);
    return LLM_OK;
}

llm_status llm_state_load(llm_ctx *c, const void *buf, size_t size, llm_error *err) {
    if (!c || !buf) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_state_load: NULL context or buffer");
    state_header s;
    if (size < sizeof s)
        return llm_fail(err, LLM_ERR_FORMAT, "state is %zu bytes, shorter than its %zu-byte header", size, sizeof s);
    memcpy(&s, buf, sizeof s);
    llm_status st = check_header(c, &s, size, err);
    if (st) return st;
    const unsigned char *p = (const unsigned char *)buf + sizeof s;
    size_t nv = (size_t)s.n_vocab * sizeof(float), row = kv_dim(c->model) * elem_size(s.kv_type);
    if (s.has_logits) memcpy(c->out_logits, p, nv), p += nv;
    for (int l = 0; l < s.n_layer; l++) {
        llm_attn_store_keys(&c->kv, llm_ctx_layer_keys(c, l), 0, s.pos, p, s.kv_type);
        p += (size_t)s.pos * row;
        memcpy(llm_ctx_layer_values(c, l), p, (size_t)s.pos * row);
        p += (size_t)s.pos * row;
    }
    c->pos = s.pos;
    c->has_logits = s.has_logits;
    c->has_emb = false;
    c->out_n = 1;
    c->out_last_only = true;
    return LLM_OK;
}

/* Writes into "path.XXXXXX" beside path and renames it into place, so a
 * crash never leaves a half-written state under the name; only over a
 * new or regular file, and with any valid name (outfile.h). */
llm_status llm_state_save_file(const llm_ctx *c, const char *path, llm_error *err) {
    if (!c || !path) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_state_save_file: NULL context or path");
    size_t size = llm_state_size(c);
    void *buf = llm_malloc(size);
    if (!buf) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for a state of %zu bytes", size);
    llm_status s = llm_output_ok(path, err);
    if (!s) s = llm_state_save(c, buf, size, NULL, err);
    char *tmp = s ? NULL : llm_temp_name(path);
    if (!s && !tmp) s = llm_fail(err, LLM_ERR_NOMEM, "out of memory for a file name");
    if (!s) {
        int fd = mkstemp(tmp);
        FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
        if (!f) {
            s = llm_fail(err, LLM_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
            if (fd >= 0) {
                close(fd);
                remove(tmp);
            }
        } else {
            bool ok = fwrite(buf, 1, size, f) == size;
            ok = fclose(f) == 0 && ok;
            if (!ok || rename(tmp, path) != 0) {
                s = llm_fail(err, LLM_ERR_IO, "%s: cannot write the state: %s", path, strerror(errno));
                remove(tmp);
            }
        }
    }
    free(tmp);
    free(buf);
    return s;
}

llm_status llm_state_load_file(llm_ctx *c, const char *path, llm_error *err) {
    if (!c || !path) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_state_load_file: NULL context or path");
    llm_map map;
    llm_status s = llm_map_open(&map, path, err);
    if (s) return s;
    s = llm_state_load(c, map.data ? (const void *)map.data : "", map.size, err);
    llm_map_close(&map);
    if (s && err) llm_error_prefix(err, path);
    return s;
}

/* Keys and values go through dst's batch buffers (ctx->k and ctx->v,
 * n_batch rows of floats) a batch of positions at a time, so the two
 * caches may be of different types. */
llm_status llm_ctx_copy_prefix(llm_ctx *dst, const llm_ctx *src, int32_t n, llm_error *err) {
    if (!dst || !src) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_copy_prefix: NULL context");
    if (n < 0 || n > src->pos)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_copy_prefix: %d positions asked, the source holds %d", n,
                        src->pos);
    if (n > dst->n_ctx)
        return llm_fail(err, LLM_ERR_CONTEXT_FULL, "llm_ctx_copy_prefix: %d positions do not fit a context of %d", n,
                        dst->n_ctx);
    if (dst->model != src->model && model_fingerprint(dst->model) != model_fingerprint(src->model))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_copy_prefix: the contexts are of different models");
    if (dst == src) return n < dst->pos ? llm_ctx_truncate(dst, n, err) : LLM_OK; /* a prefix of itself */
    const llm_hparams *h = &dst->model->hp;
    bool logits = n == src->pos && llm_logits(src) != NULL;
    for (int l = 0; l < h->n_layer; l++) {
        for (int32_t p0 = 0; p0 < n; p0 += dst->n_batch) {
            int32_t b = n - p0 < dst->n_batch ? n - p0 : dst->n_batch;
            llm_attn_load_keys(&src->kv, llm_ctx_layer_keys(src, l), p0, b, dst->k, LLM_DT_F32);
            llm_attn_store_keys(&dst->kv, llm_ctx_layer_keys(dst, l), p0, b, dst->k, LLM_DT_F32);
            llm_attn_load_values(&src->kv, llm_ctx_layer_values(src, l), p0, b, dst->v);
            llm_attn_store_values(&dst->kv, llm_ctx_layer_values(dst, l), p0, b, dst->v);
        }
    }
    if (logits) memcpy(dst->out_logits, llm_logits(src), (size_t)h->n_vocab * sizeof(float));
    dst->pos = n;
    dst->has_logits = logits;
    dst->has_emb = false;
    dst->out_n = 1;
    dst->out_last_only = true;
    return LLM_OK;
}

/* Per layer, the keys after the gap go through the batch buffer (ctx->k)
 * a batch at a time: out of the cache, rotated back by discard
 * positions, and into the cache discard positions lower; the values are
 * moved as they are (they carry no position). */
llm_status llm_ctx_shift(llm_ctx *c, int32_t keep, int32_t discard, llm_error *err) {
    if (!c || keep < 0 || discard < 0 || keep > c->pos - discard)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ctx_shift: keep %d and discard %d do not fit the %d positions held",
                        keep, discard, c ? c->pos : 0);
    if (discard == 0) return LLM_OK;
    const llm_hparams *h = &c->model->hp;
    size_t row = kv_dim(c->model) * elem_size(c->kv.type);
    for (int l = 0; l < h->n_layer; l++) {
        void *kc = llm_ctx_layer_keys(c, l);
        char *vc = llm_ctx_layer_values(c, l);
        for (int32_t p0 = keep + discard; p0 < c->pos; p0 += c->n_batch) {
            int32_t b = c->pos - p0 < c->n_batch ? c->pos - p0 : c->n_batch;
            llm_attn_load_keys(&c->kv, kc, p0, b, c->k, LLM_DT_F32);
            llm_forward_rerope(c, l, c->k, b, -discard);
            llm_attn_store_keys(&c->kv, kc, p0 - discard, b, c->k, LLM_DT_F32);
        }
        memmove(vc + (size_t)keep * row, vc + (size_t)(keep + discard) * row, (size_t)(c->pos - keep - discard) * row);
    }
    c->pos -= discard;
    return LLM_OK;
}
