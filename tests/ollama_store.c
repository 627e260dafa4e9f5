#include "ollama_store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char store[PATH_MAX];

const char ollama_manifest_ok[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"sha256:" HEX_TEXT "\"},"
    "\"layers\":[" LAYER("model", HEX_MODEL) "," LAYER("template", HEX_TEMPLATE) "," LAYER("params", HEX_PARAMS)
    "," LAYER("system", HEX_SYSTEM) "," LAYER("license", HEX_TEXT) "]}";

int ollama_store_put(const char *rel, const char *data, size_t len) {
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", store, rel);
    for (char *p = path + strlen(store) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = len ? len : strlen(data);
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int ollama_store_put_manifest(const char *name, const char *json) {
    char rel[256];
    snprintf(rel, sizeof rel, "manifests/registry.ollama.ai/library/%s/latest", name);
    return ollama_store_put(rel, json, 0);
}

const char *ollama_store_new(void) {
    snprintf(store, sizeof store, "%s", "/tmp/llm-ollama-XXXXXX");
    if (!mkdtemp(store)) return NULL;
    char blob[PATH_MAX * 2], model[PATH_MAX];
    snprintf(blob, sizeof blob, "%s/blobs/sha256-" HEX_MODEL, store);
    int r = ollama_store_put("blobs/sha256-" HEX_PARAMS,
                             "{\"temperature\": 0.25, \"top_k\": 7, \"top_p\": 0.5, \"min_p\": 0.125, "
                             "\"repeat_penalty\": 1.5, \"repeat_last_n\": 32, \"num_ctx\": 96, \"num_predict\": 5, "
                             "\"seed\": 4242, \"stop\": [\"<|eot|>\", \"User:\"], \"mirostat\": 0}",
                             0);
    r |= ollama_store_put("blobs/sha256-" HEX_SYSTEM, "You are a tiny storyteller.", 0);
    r |= ollama_store_put("blobs/sha256-" HEX_TEMPLATE, "{{ .System }} {{ .Prompt }}", 0);
    r |= ollama_store_put("blobs/sha256-" HEX_TEXT, "some text that is not GGUF", 0);
    r |= !realpath(test_model_path("stories260K.gguf"), model) || symlink(model, blob) != 0;
    r |= ollama_store_put_manifest("tiny", ollama_manifest_ok);
    r |= ollama_store_put("manifests/example.com/someone/tiny/q8", ollama_manifest_ok, 0);
    return r ? NULL : store;
}

void ollama_store_free(void) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", store);
    if (store[0] && system(cmd) == 0) store[0] = 0;
}
