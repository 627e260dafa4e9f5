/* safetensors (lib/safetensors.c) on the exact bytes: the u64 header
 * length, the JSON header and every tensor's dtype, shape and offsets.
 * A parse either fails with a message or gives tensors whose bytes lie
 * inside the image, sized as shape and dtype say, found again by name. */
#include "fuzz_util.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file f;
    llm_error err = {0};
    llm_status s = st_parse(&f, data, size, &err);
    if (s) {
        fuzz_check_error(s, &err);
        return 0;
    }
    for (size_t i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        uint64_t n = st_dtype_size(t->dtype);
        for (uint32_t d = 0; d < t->n_dims; d++) n *= t->shape[d];
        fuzz_require(t->nbytes == n, "tensor size differs from its shape and dtype");
        fuzz_require(t->data >= data && t->nbytes <= size && t->data - data <= (ptrdiff_t)(size - t->nbytes),
                     "tensor data outside the image");
        fuzz_require(st_find(&f, t->name) == t, "st_find misses a tensor");
    }
    st_close(&f);
    return 0;
}
