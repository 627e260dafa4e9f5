/* gguf-json FILE: prints, as one JSON object on stdout, what libllm's own
 * GGUF reader (lib/gguf.h) sees in FILE: version, alignment, data offset,
 * every metadata key with its type and value (arrays element by element),
 * and every tensor's name, type, shape, offset and size. check.mjs holds an
 * independent reader's view of the same file against it.
 *
 * Integers and floats are printed as JSON strings: JSON numbers would lose
 * 64-bit integers in JavaScript, and the checker compares floats at their
 * stored width. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dtype.h"
#include "gguf.h"

static void put_str(const char *p, uint64_t n) {
    putchar('"');
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void put_cstr(const char *s) { put_str(s, strlen(s)); }

/* Prints the scalar of GGUF type t at *p and advances *p past it. */
static void put_scalar(uint32_t t, const unsigned char **p) {
    const unsigned char *v = *p;
    int16_t i16;
    uint16_t u16;
    double f64;
    int64_t i64;
    switch (t) {
    case GGUF_U8: printf("\"%u\"", v[0]); *p += 1; return;
    case GGUF_I8: printf("\"%d\"", (int8_t)v[0]); *p += 1; return;
    case GGUF_BOOL: printf(v[0] ? "true" : "false"); *p += 1; return;
    case GGUF_U16: memcpy(&u16, v, 2); printf("\"%u\"", u16); *p += 2; return;
    case GGUF_I16: memcpy(&i16, v, 2); printf("\"%d\"", i16); *p += 2; return;
    case GGUF_U32: printf("\"%" PRIu32 "\"", gguf_rd_u32(v)); *p += 4; return;
    case GGUF_I32: printf("\"%" PRId32 "\"", (int32_t)gguf_rd_u32(v)); *p += 4; return;
    case GGUF_F32: printf("\"%.9g\"", gguf_rd_f32(v)); *p += 4; return;
    case GGUF_U64: printf("\"%" PRIu64 "\"", gguf_rd_u64(v)); *p += 8; return;
    case GGUF_I64: i64 = (int64_t)gguf_rd_u64(v); printf("\"%" PRId64 "\"", i64); *p += 8; return;
    case GGUF_F64: memcpy(&f64, v, 8); printf("\"%.17g\"", f64); *p += 8; return;
    default: {  /* GGUF_STRING: gguf_parse admits no other type */
        gguf_str s = gguf_next_str(p);
        put_str(s.ptr, s.len);
    }
    }
}

static void put_kv(const gguf_kv *kv) {
    put_str(kv->key.ptr, kv->key.len);
    printf(": {\"type\": %" PRIu32 ", ", kv->type);
    const unsigned char *p = kv->val;
    if (kv->type != GGUF_ARRAY) {
        printf("\"value\": ");
        put_scalar(kv->type, &p);
    } else {
        printf("\"arr_type\": %" PRIu32 ", \"value\": [", kv->arr_type);
        for (uint64_t i = 0; i < kv->arr_n; i++) {
            if (i) putchar(',');
            put_scalar(kv->arr_type, &p);
        }
        putchar(']');
    }
    putchar('}');
}

static void put_tensor(const gguf_tensor *t) {
    printf("{\"name\": ");
    put_str(t->name.ptr, t->name.len);
    printf(", \"type\": %" PRIu32 ", \"type_name\": ", t->type);
    put_cstr(llm_type_name(t->type));
    printf(", \"ne\": [");
    for (uint32_t d = 0; d < t->n_dims; d++) printf("%s\"%" PRId64 "\"", d ? ", " : "", t->ne[d]);
    printf("], \"offset\": \"%" PRIu64 "\", \"nbytes\": \"%" PRIu64 "\"}", t->offset, t->nbytes);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gguf-json FILE.gguf\n");
        return 2;
    }
    gguf_file f;
    llm_error err;
    if (gguf_open(&f, argv[1], &err)) {
        fprintf(stderr, "gguf-json: %s\n", err.msg);
        return 1;
    }
    printf("{\"version\": %" PRIu32 ", \"size\": \"%zu\", \"alignment\": \"%" PRIu64 "\", "
           "\"data_offset\": \"%" PRIu64 "\",\n\"kv\": {",
           f.version, f.size, f.alignment, f.data_offset);
    for (uint64_t i = 0; i < f.n_kv; i++) {
        printf(i ? ",\n" : "\n");
        put_kv(&f.kv[i]);
    }
    printf("},\n\"tensors\": [");
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        printf(i ? ",\n" : "\n");
        put_tensor(&f.tensors[i]);
    }
    printf("]}\n");
    gguf_close(&f);
    return 0;
}
