/* GGUF: the container parser on the exact bytes (so that ASan sees any
 * read past them), every typed getter on every key, then the model built
 * from the parsed image and run. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gguf.h"
#include "model.h"

/* Calls each getter on key; whichever does not fit the value's type must
 * fail with a message, and a string array must be walkable to its end. */
static void read_all_getters(const gguf_file *f, const gguf_kv *kv) {
    char key[128];
    if (kv->key.len >= sizeof key || memchr(kv->key.ptr, 0, kv->key.len)) return;
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = 0;
    fuzz_require(gguf_find_kv(f, key) == kv, "gguf_find_kv misses a key the parser read");
    llm_error err = {0};
    uint32_t u;
    float x;
    bool b;
    gguf_str str;
    uint64_t n;
    const unsigned char *first;
    llm_status s;
    if ((s = gguf_get_u32(f, key, &u, &err))) fuzz_check_error(s, &err);
    if ((s = gguf_get_f32(f, key, &x, &err))) fuzz_check_error(s, &err);
    if ((s = gguf_get_bool(f, key, &b, &err))) fuzz_check_error(s, &err);
    if ((s = gguf_get_str(f, key, &str, &err))) fuzz_check_error(s, &err);
    if ((s = gguf_get_arr(f, key, kv->arr_type, &n, &first, &err))) {
        fuzz_check_error(s, &err);
        return;
    }
    if (kv->arr_type != GGUF_STRING) return;
    const unsigned char *end = f->base + f->size;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str e = gguf_next_str(&first);
        fuzz_require((const unsigned char *)e.ptr + e.len <= end, "string array runs past the image");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    llm_model *m = calloc(1, sizeof *m);
    fuzz_require(m != NULL, "out of memory");
    llm_error err = {0};
    llm_status s = gguf_parse(&m->gguf, data, size, &err);
    if (s == LLM_OK) {
        for (uint64_t i = 0; i < m->gguf.n_kv; i++) read_all_getters(&m->gguf, &m->gguf.kv[i]);
        s = llm_model_from_gguf(m, &err);
    }
    if (s == LLM_OK)
        fuzz_run_model(m);
    else
        fuzz_check_error(s, &err);
    llm_model_free(m);
    return 0;
}
