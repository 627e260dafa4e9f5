/* safetensors checkpoints, as Hugging Face writes them: a u64 header
 * length, a JSON header {name: {dtype, shape, data_offsets}, ...} and the
 * raw little-endian tensor bytes. st_parse checks the whole header against
 * the file before anything is used (lengths, dtypes, shapes, offsets,
 * overlaps, duplicate names), so that a tensor's bytes are always inside
 * the file and exactly as many as its shape and dtype say.
 *
 * A checkpoint is one model.safetensors or several shards listed by
 * model.safetensors.index.json; st_model opens either and gives one view
 * of all tensors. Tensor data is used in place from read-only maps. */
#ifndef LLM_SAFETENSORS_H
#define LLM_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"
#include "mapfile.h"

struct cJSON;

/* Every dtype the format defines; only F32, F16 and BF16 are converted,
 * but all of them are sized so any valid file can be checked. */
enum st_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_I64, ST_U64, ST_F64, ST_DTYPE_COUNT
};

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20) /* bytes, the limit of the reference reader */

typedef struct st_tensor {
    const char *name;        /* NUL-terminated, owned by the st_file */
    uint32_t dtype;          /* enum st_dtype */
    uint32_t n_dims;
    uint64_t shape[ST_MAX_DIMS]; /* (n_dims) slowest-varying first, as listed */
    uint64_t nbytes;
    const unsigned char *data; /* (nbytes) in the image; not aligned */
} st_tensor;

typedef struct st_file {
    llm_map map;             /* owned when opened with st_open */
    char *names;             /* every tensor name, NUL-terminated, back to back */
    st_tensor *tensors;      /* (n_tensors) sorted by name */
    size_t n_tensors;
} st_file;

/* Parses an image the caller keeps alive while f is used. */
llm_status st_parse(st_file *f, const void *data, size_t size, llm_error *err);
/* Maps path and parses it; messages start with the path. */
llm_status st_open(st_file *f, const char *path, llm_error *err);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);

/* "F32", "BF16", ... */
const char *st_dtype_name(uint32_t dtype);
/* Bytes per element. */
uint32_t st_dtype_size(uint32_t dtype);

/* A whole checkpoint: every tensor of every file, sorted by name. */
typedef struct st_entry {
    const st_tensor *t;
    uint32_t file;           /* index into st_model.paths / files */
} st_entry;

typedef struct st_model {
    st_file *files;          /* (n_files) */
    char **paths;            /* (n_files) */
    uint32_t n_files;
    st_entry *entries;       /* (n_entries) sorted by tensor name */
    size_t n_entries;
} st_model;

/* Opens dir/model.safetensors, or, when dir has model.safetensors.index.json,
 * the shards it lists. The index must list exactly the tensors the shards
 * hold, each in the shard that has it, and may only name files inside dir.
 * Messages name the file at fault. */
llm_status st_model_open(st_model *m, const char *dir, llm_error *err);
void st_model_close(st_model *m);
/* The tensor called name, or NULL; *path (when not NULL) gets its file. */
const st_tensor *st_model_find(const st_model *m, const char *name, const char **path);

/* JSON helpers shared with the converter: item as an integer in
 * [0, max] (JSON numbers are doubles: exact up to 2^53). */
bool st_json_uint(const struct cJSON *item, uint64_t max, uint64_t *out);
/* Parses len bytes of JSON; on failure fills err with the byte offset
 * where parsing stopped ("what" names the text, e.g. the file). What
 * Python's json would read otherwise is refused, not guessed at: a key
 * twice in one object, \u0000 or a raw control character in a string. */
llm_status st_json_parse(const char *text, size_t len, const char *what, struct cJSON **out,
                         llm_error *err);
/* Maps and parses a JSON file; messages name the path. */
llm_status st_json_load(const char *path, struct cJSON **out, llm_error *err);

#endif
