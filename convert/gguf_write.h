/* GGUF v3 writer. A writer collects metadata and tensors in memory and
 * serializes them either to a malloc'd image or to a file, which appears
 * under its final name only once it is complete (temporary file in the
 * same directory, fsync, rename).
 *
 * The writer only produces files the reader (gguf.h) accepts: keys and
 * tensor names are unique, values have known types, tensor sizes match
 * their shape and type, and every tensor starts at an offset that is a
 * multiple of the alignment and at a file position where its elements can
 * be read in place. Tensor data is not copied: the caller keeps it alive
 * until the writer is serialized for the last time or freed. */
#ifndef LLM_GGUF_WRITE_H
#define LLM_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "llm.h"
#include "llm_convert.h"

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(llm_error *err);
void gguf_writer_free(gguf_writer *w);

/* Data alignment, a power of two (default GGUF_DEFAULT_ALIGNMENT = 32).
 * When it is not the default, the writer stores it as the u32 key
 * general.alignment; adding that key directly is refused. */
llm_status gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, llm_error *err);

/* Scalar metadata. Keys are NUL-terminated and must be new to the writer. */
llm_status gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v, llm_error *err);
llm_status gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v, llm_error *err);
llm_status gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v, llm_error *err);
llm_status gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v, llm_error *err);
llm_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, llm_error *err);
llm_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, llm_error *err);
llm_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, llm_error *err);
llm_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v, llm_error *err);
llm_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v, llm_error *err);
llm_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v, llm_error *err);
llm_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, llm_error *err);
/* A NUL-terminated string value. */
llm_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, llm_error *err);

/* An array of n scalars of elem_type (enum gguf_vtype, not STRING or
 * ARRAY) laid out as C values of that type (bool as one byte each). */
llm_status gguf_writer_add_arr(gguf_writer *w, const char *key, uint32_t elem_type,
                               const void *v, uint64_t n, llm_error *err);
/* An array of n NUL-terminated strings. */
llm_status gguf_writer_add_str_arr(gguf_writer *w, const char *key, const char *const *v,
                                   uint64_t n, llm_error *err);

/* A tensor of n_dims (1..4) dimensions ne[] (ne[0] fastest) in dtype type.
 * nbytes must be exactly the size the shape and type imply. data is
 * borrowed (see above); it may be NULL only when nbytes is 0. */
llm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims,
                                  const int64_t *ne, uint32_t type, const void *data,
                                  uint64_t nbytes, llm_error *err);

/* The whole file as a malloc'd image (*out, *size); the caller frees it. */
llm_status gguf_writer_to_mem(const gguf_writer *w, void **out, size_t *size, llm_error *err);
/* Writes the file to path, replacing a regular file there only on
 * success; refuses (LLM_ERR_INVALID_ARG) when path is a symbolic link or
 * anything but a regular file (llm_output_ok in outfile.h). */
llm_status gguf_writer_to_file(const gguf_writer *w, const char *path, llm_error *err);
/* fn hears of gguf_writer_to_file's temporary file (llm_temp_fn in
 * llm_convert.h); NULL for none, the default. */
void gguf_writer_set_temp(gguf_writer *w, llm_temp_fn fn, void *ud);

/* Adds a copy of a reader's metadata entry (any type, arrays included)
 * under the same key. Keys or strings holding a NUL byte cannot pass the
 * writer's C strings and give LLM_ERR_UNSUPPORTED. */
llm_status gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, llm_error *err);

#endif
