#include "quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "alloc.h"
#include "dtype.h"
#include "error.h"
#include "gguf.h"
#include "gguf_write.h"
#include "outfile.h"
#include "quant.h"

bool llm_type_from_name(const char *name, llm_type *type) {
    static const llm_type types[] = {LLM_DT_F32,  LLM_DT_F16,  LLM_DT_BF16, LLM_DT_Q8_0,
                                     LLM_DT_Q4_0, LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
    for (size_t i = 0; name && i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(name, llm_type_name(types[i])) == 0) {
            *type = types[i];
            return true;
        }
    return false;
}

uint32_t llm_file_type(uint32_t type) {
    switch (type) {
    case LLM_DT_F16: return 1;
    case LLM_DT_Q4_0: return 2;
    case LLM_DT_Q8_0: return 7;
    case LLM_DT_Q4_K: return 14; /* llama.cpp's Q4_K_S, Q5_K_S, Q6_K */
    case LLM_DT_Q5_K: return 16;
    case LLM_DT_Q6_K: return 18;
    case LLM_DT_BF16: return 32;
    default: return 0;
    }
}

llm_status llm_check_output(const char *out, const char *in, llm_error *err) {
    if (!out || !in) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_check_output: NULL path");
    llm_status s = llm_output_ok(out, err);
    if (s) return s;
    struct stat so, si;
    if (stat(out, &so) != 0 || stat(in, &si) != 0) return LLM_OK;
    if (so.st_dev == si.st_dev && so.st_ino == si.st_ino)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "output %s is the input %s: refusing to replace it", out, in);
    return LLM_OK;
}

/* ---------------------------------------------------------------- metadata */

/* Every entry but those the quantizer sets itself. */
static llm_status copy_metadata(gguf_writer *w, const gguf_file *f, llm_error *err) {
    static const char *const own[] = {"general.alignment", "general.file_type", "general.quantization_version"};
    for (uint64_t i = 0; i < f->n_kv; i++) {
        bool skip = false;
        for (size_t j = 0; j < sizeof own / sizeof own[0]; j++) skip |= gguf_str_eq(f->kv[i].key, own[j]);
        if (skip) continue;
        llm_status s = gguf_writer_copy_kv(w, &f->kv[i], err);
        if (s) return s;
    }
    return LLM_OK;
}

/* ---------------------------------------------------------------- tensors */

/* The i of a tensor name "blk.i.*", or -1. */
static int64_t layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0 || name[4] < '0' || name[4] > '9') return -1;
    char *end;
    long long i = strtoll(name + 4, &end, 10);
    return *end == '.' && i < INT32_MAX ? (int64_t)i : -1;
}

/* llama.cpp's use_more_bits: layer i of n is among the first or last
 * eighth, or every third one between. */
static bool more_bits(int64_t i, int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The type tensor t gets (see quantize.h); note explains any departure
 * from the requested type. head is the output head's name: output.weight,
 * or token_embd.weight when the embeddings are tied; n_layer is one more
 * than the largest layer number in the file. */
static uint32_t choose(const gguf_tensor *t, const char *name, const char *head, int64_t n_layer,
                       const llm_quantize_params *p, char *note, size_t cap) {
    note[0] = 0;
    if (t->n_dims < 2) {
        if (t->type != LLM_DT_F32) snprintf(note, cap, "vectors are written F32");
        return LLM_DT_F32;
    }
    uint32_t to = p->type;
    size_t r = 0;
    while (r < p->n_rules && !strstr(name, p->rules[r].pattern)) r++;
    if (r < p->n_rules) {
        to = p->rules[r].type;
        snprintf(note, cap, "matches '%s'", p->rules[r].pattern);
    } else if ((to == LLM_DT_Q4_0 || to == LLM_DT_Q4_K || to == LLM_DT_Q5_K) && strcmp(name, head) == 0) {
        to = t->ne[0] % QK_K == 0 ? LLM_DT_Q6_K : LLM_DT_Q8_0;
        snprintf(note, cap, "the output head gets %s with %s, as in llama.cpp", llm_type_name(to),
                 llm_type_name(p->type));
    } else if (p->mixture_m && (strstr(name, "attn_v.weight") || strstr(name, "ffn_down")) &&
               layer_of(name) >= 0 && more_bits(layer_of(name), n_layer)) {
        to = LLM_DT_Q6_K;
        snprintf(note, cap, "layer %lld of %lld gets Q6_K in %s_M", (long long)layer_of(name), (long long)n_layer,
                 llm_type_name(p->type));
    }
    uint64_t row;
    if (!llm_dtype_row_size(to, (uint64_t)t->ne[0], &row)) {
        uint32_t wide = t->type == LLM_DT_BF16 ? LLM_DT_BF16 : LLM_DT_F16;
        if (llm_dtype(to)->blck == QK_K && t->ne[0] % QK8_0 == 0) wide = LLM_DT_Q8_0;
        snprintf(note, cap, "row length %lld is not a multiple of the %s block of %u, %s instead",
                 (long long)t->ne[0], llm_type_name(to), llm_dtype(to)->blck, llm_type_name(wide));
        to = wide;
    }
    return to;
}

/* Re-encodes t row by row into a new buffer (*out, *nbytes). */
static llm_status reencode(const gguf_tensor *t, const char *name, uint32_t to, void **out, uint64_t *nbytes,
                           llm_error *err) {
    if (!llm_dtype_supported(t->type))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "tensor '%s' is %s, which cannot be re-encoded", name,
                        llm_type_name(t->type));
    int64_t n = t->ne[0];
    uint64_t in_row, out_row;
    llm_dtype_row_size(t->type, (uint64_t)n, &in_row); /* the reader checked the shape */
    llm_dtype_row_size(to, (uint64_t)n, &out_row);     /* choose() checked this one */
    uint64_t rows = in_row ? t->nbytes / in_row : 0;
    if (rows && out_row > SIZE_MAX / rows) return llm_fail(err, LLM_ERR_NOMEM, "tensor '%s' is too large", name);
    *nbytes = out_row * rows;
    unsigned char *dst = llm_malloc(*nbytes ? (size_t)*nbytes : 1);
    float *x = llm_malloc(n ? (size_t)n * sizeof *x : 1);
    if (!dst || !x) {
        free(dst);
        free(x);
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory re-encoding tensor '%s'", name);
    }
    const unsigned char *src = t->data;
    for (uint64_t r = 0; r < rows; r++) {
        llm_dtype(t->type)->to_f32(src + r * in_row, x, n);
        llm_dtype(to)->from_f32(x, dst + r * out_row, n);
    }
    free(x);
    *out = dst;
    return LLM_OK;
}

typedef struct qjob {
    gguf_file in;
    gguf_writer *w;
    void **bufs;            /* (in.n_tensors) re-encoded data, or NULL */
} qjob;

static llm_status add_tensors(qjob *j, const llm_quantize_params *p, llm_error *err) {
    uint64_t total = 0;
    const char *head = gguf_find_tensor(&j->in, "output.weight") ? "output.weight" : "token_embd.weight";
    int64_t n_layer = 0;
    for (uint64_t i = 0; i < j->in.n_tensors; i++) {
        char *name = gguf_str_dup(j->in.tensors[i].name);
        if (name && layer_of(name) >= n_layer) n_layer = layer_of(name) + 1;
        free(name);
    }
    for (uint64_t i = 0; i < j->in.n_tensors; i++) {
        const gguf_tensor *t = &j->in.tensors[i];
        char *name = gguf_str_dup(t->name);
        if (!name) return llm_fail(err, LLM_ERR_UNSUPPORTED, "tensor %llu: name holds a NUL byte or memory ran out",
                                   (unsigned long long)i);
        char note[160];
        uint32_t to = choose(t, name, head, n_layer, p, note, sizeof note);
        const void *data = t->data;
        uint64_t nbytes = t->nbytes;
        llm_status s = to == t->type ? LLM_OK : reencode(t, name, to, &j->bufs[i], &nbytes, err);
        if (!s && j->bufs[i]) data = j->bufs[i];
        if (!s) s = gguf_writer_add_tensor(j->w, name, t->n_dims, t->ne, to, data, nbytes, err);
        total += nbytes;
        if (!s && p->report) {
            llm_tensor_report r = {name, i + 1, j->in.n_tensors, t->type, to, nbytes, total, note[0] ? note : NULL};
            p->report(p->report_ud, &r);
        }
        free(name);
        if (s) return s;
    }
    return LLM_OK;
}

static llm_status quantize(qjob *j, const char *in, const char *out, const llm_quantize_params *p,
                           llm_error *err) {
    llm_status s = gguf_open(&j->in, in, err);
    if (s) return s;
    if (j->in.alignment > UINT32_MAX)
        return llm_fail(err, LLM_ERR_FORMAT, "%s: alignment %llu", in, (unsigned long long)j->in.alignment);
    j->bufs = llm_calloc(j->in.n_tensors ? (size_t)j->in.n_tensors : 1, sizeof *j->bufs);
    if (!j->bufs) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %llu tensors",
                                  (unsigned long long)j->in.n_tensors);
    if (!(j->w = gguf_writer_new(err))) return err ? err->code : LLM_ERR_NOMEM;
    gguf_writer_set_temp(j->w, p->temp, p->temp_ud);
    if ((s = gguf_writer_set_alignment(j->w, (uint32_t)j->in.alignment, err)) ||
        (s = copy_metadata(j->w, &j->in, err)) ||
        (s = gguf_writer_add_u32(j->w, "general.quantization_version", 2, err)) ||
        (s = gguf_writer_add_u32(j->w, "general.file_type",
                                 p->mixture_m ? (p->type == LLM_DT_Q4_K ? 15 : 17) : llm_file_type(p->type), err)) ||
        (s = add_tensors(j, p, err)))
        return s;
    return gguf_writer_to_file(j->w, out, err);
}

llm_quantize_params llm_quantize_default_params(void) {
    return (llm_quantize_params){.type = LLM_TYPE_Q8_0};
}

llm_status llm_quantize_file(const char *in, const char *out, const llm_quantize_params *p, llm_error *err) {
    if (!in || !out || !p || (p->n_rules && !p->rules))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_quantize_file: NULL argument");
    if (!llm_dtype_supported(p->type))
        return llm_fail(err, LLM_ERR_INVALID_ARG, "cannot write type %s", llm_type_name(p->type));
    if (p->mixture_m && p->type != LLM_DT_Q4_K && p->type != LLM_DT_Q5_K)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "the _M mixtures are of Q4_K or Q5_K, not %s", llm_type_name(p->type));
    for (size_t i = 0; i < p->n_rules; i++)
        if (!p->rules[i].pattern || !llm_dtype_supported(p->rules[i].type))
            return llm_fail(err, LLM_ERR_INVALID_ARG, "rule %zu: no pattern, or a type that cannot be written", i);
    llm_status s = llm_check_output(out, in, err);
    if (s) return s;
    qjob j;
    memset(&j, 0, sizeof j);
    s = quantize(&j, in, out, p, err);
    for (uint64_t i = 0; j.bufs && i < j.in.n_tensors; i++) free(j.bufs[i]);
    free(j.bufs);
    gguf_writer_free(j.w);
    gguf_close(&j.in);
    return s;
}
