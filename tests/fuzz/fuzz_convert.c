/* The Hugging Face converter (lib/convert.c, lib/safetensors.c,
 * lib/spm_model.c): config.json, tokenizer.json, tokenizer_config.json,
 * generation_config.json, model.safetensors, the shard index and
 * tokenizer.model. A valid tiny directory (hf_tiny.c) is made once; each
 * input replaces one of its files:
 *   [u8: file, enum hf_file modulo HF_N_FILES][the file's bytes]
 * and llm_convert_hf runs on the directory. It must fail with a message
 * or write a GGUF file that loads and runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm_convert.h"
#include "fuzz_util.h"
#include "hf_tiny.h"

static char dir[256];

static char *path_of(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const void *data, size_t size) {
    FILE *f = fopen(path_of(name), "wb");
    fuzz_require(f && fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write the directory");
}

/* Writes the valid file f into the directory. */
static void restore(int f) {
    size_t size;
    unsigned char *p = hf_tiny_file(f, &size);
    write_file(hf_file_names[f], p, size);
    free(p);
}

static void cleanup(void) {
    for (int f = 0; f < HF_N_FILES; f++) unlink(path_of(hf_file_names[f]));
    unlink(path_of("out.gguf"));
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/libllm-fuzz-convert-%d", base, (int)getpid());
    fuzz_require(mkdir(dir, 0700) == 0 || errno == EEXIST, "cannot make the directory");
    for (int f = 0; f < HF_N_BASE; f++) restore(f);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int f = data[0] % HF_N_FILES;
    write_file(hf_file_names[f], data + 1, size - 1);
    const char *out = path_of("out.gguf");
    llm_error err = {0};
    llm_status s = llm_convert_hf(dir, out, NULL, &err);
    if (s) {
        fuzz_check_error(s, &err);
    } else {
        llm_model *m = llm_model_load(out, NULL, &err);
        if (!m) fprintf(stderr, "fuzz: %s\n", err.msg);
        fuzz_require(m != NULL, "the converter wrote a file the loader refuses");
        fuzz_run_model(m);
        llm_model_free(m);
    }
    if (f < HF_N_BASE)
        restore(f);
    else
        unlink(path_of(hf_file_names[f]));
    return 0;
}
