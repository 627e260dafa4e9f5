/* llm_ollama_resolve on a store whose manifest and params layer are the
 * input (split at its first NUL byte: manifest, then params), in a
 * temporary directory made once. The model layer's digest, if the
 * manifest names it, points at a file with the GGUF magic; the system
 * layer's at the params bytes. A resolution must either fail with a
 * message or give a model path and stop strings that are all there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "llm.h"
#include "ollama_store.h"

/* Writes size bytes to dir/rel. */
static void put(const char *dir, const char *rel, const void *data, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "wb");
    fuzz_require(f != NULL, "cannot write the store");
    fuzz_require(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write the store");
}

/* The store's directories, made on the first run. */
static const char *store(void) {
    static char dir[64];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "%s", "/tmp/llm-fuzz-ollama-XXXXXX");
    fuzz_require(mkdtemp(dir) != NULL, "cannot make the store");
    char path[512];
    const char *subs[] = {"blobs", "manifests", "manifests/registry.ollama.ai",
                          "manifests/registry.ollama.ai/library", "manifests/registry.ollama.ai/library/f"};
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        mkdir(path, 0755);
    }
    put(dir, "blobs/sha256-" HEX_MODEL, "GGUF\3\0\0\0", 8);
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = store();
    const uint8_t *nul = memchr(data, 0, size);
    size_t n_manifest = nul ? (size_t)(nul - data) : size;
    const uint8_t *params = nul ? nul + 1 : data + size;
    size_t n_params = size - (size_t)(params - data);
    put(dir, "manifests/registry.ollama.ai/library/f/latest", data, n_manifest);
    put(dir, "blobs/sha256-" HEX_PARAMS, params, n_params);
    put(dir, "blobs/sha256-" HEX_SYSTEM, params, n_params);
    llm_ollama_model m;
    llm_error err = {0};
    llm_status s = llm_ollama_resolve("f", dir, &m, &err);
    if (s != LLM_OK) {
        fuzz_check_error(s, &err);
        fuzz_require(m.model_path == NULL && m.stop == NULL, "a failed resolution left something to free");
        return 0;
    }
    fuzz_require(m.model_path != NULL && strstr(m.model_path, HEX_MODEL) != NULL, "resolved to another blob");
    for (size_t i = 0; i < m.n_stop; i++) fuzz_require(m.stop[i] != NULL, "a stop string is missing");
    llm_ollama_model_free(&m);
    return 0;
}
