#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llm.h"

static const char *models_dir(void) {
    const char *d = getenv("LLM_TEST_MODELS");
    return (d && *d) ? d : LLM_TEST_MODELS_DEFAULT;
}

const char *test_model_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", models_dir(), rel);
    return buf;
}

llm_model *test_load_model(const char *rel) {
    llm_error err = {0};
    llm_model *m = llm_model_load(test_model_path(rel), NULL, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    return m;
}

const char *test_golden_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/../golden/%s", models_dir(), rel);
    return buf;
}

char *test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (set LLM_TEST_MODELS to the fixture directory)\n", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (size) *size = n;
    return buf;
}

static char tmp_path[256];

const char *test_write_tmp(const void *data, size_t size) {
    test_cleanup_tmp();
    snprintf(tmp_path, sizeof tmp_path, "/tmp/libllm-test-XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0) return NULL;
    const char *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w <= 0) { close(fd); return NULL; }
        p += w;
        size -= (size_t)w;
    }
    close(fd);
    return tmp_path;
}

void test_cleanup_tmp(void) {
    if (tmp_path[0]) unlink(tmp_path);
    tmp_path[0] = 0;
}

bool test_quick(void) {
    const char *q = getenv("LLM_TEST_QUICK");
    return q && strcmp(q, "1") == 0;
}
