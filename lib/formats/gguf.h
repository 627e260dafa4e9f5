/* GGUF reader. gguf_parse validates a whole file image up front — header,
 * every metadata value, every tensor's shape, type, offset and size against
 * the image, no two tensors sharing bytes — so that everything after it may
 * trust what it reads, and work that follows the tensors is bounded by the
 * image's real size. Strings and values point into the image (zero-copy);
 * only the index arrays below are allocated. */
#ifndef LLM_GGUF_H
#define LLM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"
#include "mapfile.h"

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4,
    GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8,
    GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_VTYPE_COUNT = 13
};

#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_str {
    const char *ptr; /* (len) bytes in the image, not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    uint32_t type;          /* enum gguf_vtype */
    uint32_t arr_type;      /* element type when type == GGUF_ARRAY */
    uint64_t arr_n;         /* element count when type == GGUF_ARRAY */
    const unsigned char *val; /* the value's bytes (for arrays: first element) */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[4];          /* ne[0] varies fastest; unused dims are 1 */
    uint32_t type;          /* dtype.h numbering */
    uint64_t offset;        /* from the start of the data section */
    uint64_t nbytes;
    const void *data;       /* in the image */
} gguf_tensor;

typedef struct gguf_file {
    llm_map map;            /* owned when opened with gguf_open */
    const unsigned char *base; /* the image */
    size_t size;
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;            /* (n_kv) */
    uint64_t n_tensors;
    gguf_tensor *tensors;   /* (n_tensors) */
    uint64_t alignment;
    uint64_t data_offset;   /* start of the data section in the image */
} gguf_file;

/* True when the image starts with the GGUF magic. */
bool gguf_is_gguf(const void *data, size_t size);

/* Parses an image owned by the caller (kept alive while f is used). */
llm_status gguf_parse(gguf_file *f, const void *data, size_t size, llm_error *err);
/* Maps path and parses it; the map is released by gguf_close. */
llm_status gguf_open(gguf_file *f, const char *path, llm_error *err);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters. Each returns LLM_OK, or LLM_ERR_FORMAT with a message
 * naming the key when it is missing or of an incompatible type (integer
 * getters take any integer type whose value fits; the float getter takes
 * F32 or F64). Optional keys: test with gguf_find_kv first. */
llm_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, llm_error *err);
llm_status gguf_get_f32(const gguf_file *f, const char *key, float *out, llm_error *err);
llm_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, llm_error *err);
llm_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, llm_error *err);
/* An array of elem_type; *n its length, *first the first element's bytes. */
llm_status gguf_get_arr(const gguf_file *f, const char *key, uint32_t elem_type,
                        uint64_t *n, const unsigned char **first, llm_error *err);

/* Walks a validated string array: reads the string at *p and advances *p. */
gguf_str gguf_next_str(const unsigned char **p);

/* A NUL-terminated copy of s (free it), or NULL when s holds a NUL byte,
 * which C strings cannot carry, or memory runs out. */
char *gguf_str_dup(gguf_str s);

/* True when s equals the NUL-terminated c. */
bool gguf_str_eq(gguf_str s, const char *c);

/* Bytes of one value of a scalar type; 0 for strings, arrays and unknown
 * types. */
uint32_t gguf_scalar_size(uint32_t type);

/* Little-endian scalar reads from validated bytes. */
uint32_t gguf_rd_u32(const unsigned char *p);
uint64_t gguf_rd_u64(const unsigned char *p);
float gguf_rd_f32(const unsigned char *p);

#endif
