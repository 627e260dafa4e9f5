/* Models in an Ollama store, by name (llm.h, llm_ollama_resolve).
 *
 * The store is a content-addressed directory: manifests/HOST/NAMESPACE/
 * MODEL/TAG is a JSON manifest (Docker's image manifest v2) whose layers
 * name blobs by digest, each blob at blobs/sha256-HEX. The layer of media
 * type application/vnd.ollama.image.model is a GGUF file, used in place;
 * .params is a JSON object of sampling defaults, .system the default
 * system prompt. The .template layer is a Go template, not Jinja: it is
 * noted and left alone. An .adapter layer (LoRA) is refused, since the
 * model without it is not the model asked for; other layers (license,
 * projector, messages) are not read.
 *
 * Everything here is read from files another program wrote, perhaps a
 * hostile one: names are checked before they become paths, digests
 * before they become file names, files are bounded in size, and every
 * JSON value is type-checked before use. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "json.h"
#include "llm.h"

#define PATH_CAP 4096
#define PART_MAX 128
#define MEDIA "application/vnd.ollama.image."

/* The name's parts, each NUL-terminated. */
typedef struct ref {
    char host[PART_MAX + 1], ns[PART_MAX + 1], model[PART_MAX + 1], tag[PART_MAX + 1];
} ref;

/* A part of a name: 1 to PART_MAX of [A-Za-z0-9._-], not starting with
 * '.' or '-' (so never "." or ".."), copied into dst. */
static llm_status take_part(const char *s, size_t n, char *dst, const char *what, const char *name,
                            llm_error *err) {
    if (n == 0 || n > PART_MAX)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "ollama name '%.200s': the %s must be 1 to %d characters",
                        name, what, PART_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return llm_fail(err, LLM_ERR_INVALID_ARG,
                            "ollama name '%.200s': the %s may hold only letters, digits, '_', and '.' or '-' "
                            "after its first character",
                            name, what);
    }
    memcpy(dst, s, n);
    dst[n] = 0;
    return LLM_OK;
}

/* Splits "[[HOST/]NAMESPACE/]MODEL[:TAG]" into r, with Ollama's defaults. */
static llm_status parse_ref(const char *name, ref *r, llm_error *err) {
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *colon = strchr(base, ':');
    size_t blen = colon ? (size_t)(colon - base) : strlen(base);
    llm_status s = take_part(base, blen, r->model, "model", name, err);
    if (!s) s = colon ? take_part(colon + 1, strlen(colon + 1), r->tag, "tag", name, err)
                      : take_part("latest", 6, r->tag, "tag", name, err);
    if (s) return s;
    const char *ns_end = slash ? slash : name, *ns = name;
    const char *host_end = NULL;
    for (const char *p = name; p < ns_end; p++)
        if (*p == '/') host_end = p;
    if (host_end) {
        ns = host_end + 1;
        if ((s = take_part(name, (size_t)(host_end - name), r->host, "host", name, err))) return s;
    } else {
        strcpy(r->host, "registry.ollama.ai");
    }
    if (slash) return take_part(ns, (size_t)(ns_end - ns), r->ns, "namespace", name, err);
    strcpy(r->ns, "library");
    return LLM_OK;
}

/* The store's directory: models_dir, $OLLAMA_MODELS or ~/.ollama/models. */
static llm_status store_root(const char *models_dir, char *buf, llm_error *err) {
    const char *env = getenv("OLLAMA_MODELS"), *home = getenv("HOME");
    int n;
    if (models_dir) n = snprintf(buf, PATH_CAP, "%s", models_dir);
    else if (env && *env) n = snprintf(buf, PATH_CAP, "%s", env);
    else if (home && *home) n = snprintf(buf, PATH_CAP, "%s/.ollama/models", home);
    else return llm_fail(err, LLM_ERR_INVALID_ARG, "no Ollama store: neither $OLLAMA_MODELS nor $HOME is set");
    if (n < 0 || n >= PATH_CAP) return llm_fail(err, LLM_ERR_LIMIT, "the Ollama store's path is too long");
    return LLM_OK;
}

/* A regular file of at most LLM_OLLAMA_MAX_LAYER bytes, NUL-terminated,
 * into *out (the caller frees it). Opened without blocking, so that a
 * FIFO planted in the store is refused rather than waited on. */
static llm_status read_small(const char *path, char **out, size_t *len, llm_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return llm_fail(err, LLM_ERR_IO, "cannot open %.3000s: %s", path, strerror(errno));
    struct stat st;
    llm_status s = LLM_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        s = llm_fail(err, LLM_ERR_FORMAT, "%.3000s is not a regular file", path);
    else if (st.st_size > LLM_OLLAMA_MAX_LAYER)
        s = llm_fail(err, LLM_ERR_LIMIT, "%.3000s has %lld bytes, more than the %d allowed", path,
                     (long long)st.st_size, LLM_OLLAMA_MAX_LAYER);
    else if (!(*out = llm_malloc((size_t)st.st_size + 1)))
        s = llm_fail(err, LLM_ERR_NOMEM, "out of memory reading %.3000s", path);
    size_t n = 0;
    while (!s && n < (size_t)st.st_size) {
        ssize_t got = read(fd, *out + n, (size_t)st.st_size - n);
        if (got <= 0) s = llm_fail(err, LLM_ERR_IO, "cannot read %.3000s", path);
        else n += (size_t)got;
    }
    close(fd);
    if (s) {
        free(*out);
        *out = NULL;
        return s;
    }
    (*out)[n] = 0;
    *len = n;
    return LLM_OK;
}

/* The blob file of a digest "sha256:" + 64 lowercase hex digits. */
static llm_status blob_path(const char *root, const llm_json *digest, char *buf, llm_error *err) {
    size_t n;
    const char *d = llm_json_str(digest, &n);
    int ok = d && n == 71 && strncmp(d, "sha256:", 7) == 0;
    for (size_t i = 7; ok && i < n; i++) ok = (d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f');
    if (!ok) return llm_fail(err, LLM_ERR_FORMAT, "a layer's digest is not \"sha256:\" and 64 hex digits");
    if (snprintf(buf, PATH_CAP, "%s/blobs/sha256-%s", root, d + 7) >= PATH_CAP)
        return llm_fail(err, LLM_ERR_LIMIT, "the Ollama store's path is too long");
    return LLM_OK;
}

/* A copy of s (len bytes, which may not hold NUL) as a C string. */
static llm_status dup_text(const char *s, size_t len, const char *what, char **out, llm_error *err) {
    if (memchr(s, 0, len)) return llm_fail(err, LLM_ERR_FORMAT, "the ollama %s holds a NUL byte", what);
    if (!(*out = llm_strndup(s, len))) return llm_fail(err, LLM_ERR_NOMEM, "out of memory copying the %s", what);
    return LLM_OK;
}

/* A float parameter: absent leaves *dst, a finite number sets it. */
static llm_status param_float(const llm_json *params, const char *key, float *dst, llm_error *err) {
    const llm_json *v = llm_json_get(params, key);
    if (!v) return LLM_OK;
    double x = llm_json_num(v);
    if (llm_json_type(v) != LLM_JSON_NUMBER || !isfinite(x) || fabs(x) > 1e30)
        return llm_fail(err, LLM_ERR_FORMAT, "ollama params: \"%s\" is not a number", key);
    *dst = (float)x;
    return LLM_OK;
}

/* An integer parameter in [lo, hi]: absent leaves *dst. */
static llm_status param_int(const llm_json *params, const char *key, int64_t lo, int64_t hi, int64_t *dst,
                            llm_error *err) {
    const llm_json *v = llm_json_get(params, key);
    if (!v) return LLM_OK;
    int64_t x;
    if (!llm_json_int(v, &x) || x < lo || x > hi)
        return llm_fail(err, LLM_ERR_FORMAT, "ollama params: \"%s\" is not an integer from %lld to %lld", key,
                        (long long)lo, (long long)hi);
    *dst = x;
    return LLM_OK;
}

/* "stop": a string or an array of strings, copied into m. */
static llm_status param_stop(const llm_json *params, llm_ollama_model *m, llm_error *err) {
    const llm_json *v = llm_json_get(params, "stop");
    if (!v) return LLM_OK;
    int single = llm_json_type(v) == LLM_JSON_STRING;
    size_t n = single ? 1 : llm_json_len(v);
    if (!single && llm_json_type(v) != LLM_JSON_ARRAY)
        return llm_fail(err, LLM_ERR_FORMAT, "ollama params: \"stop\" is neither a string nor an array");
    if (!(m->stop = llm_calloc(n ? n : 1, sizeof *m->stop)))
        return llm_fail(err, LLM_ERR_NOMEM, "out of memory for the stop strings");
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = llm_json_str(single ? v : llm_json_at(v, i), &len);
        if (!s) return llm_fail(err, LLM_ERR_FORMAT, "ollama params: \"stop\"[%zu] is not a string", i);
        llm_status st = dup_text(s, len, "stop string", &m->stop[i], err);
        if (st) return st;
        m->n_stop++;
    }
    return LLM_OK;
}

/* The params layer: a JSON object, kept as text, its known values read. */
static llm_status read_params(const char *text, size_t len, llm_ollama_model *m, llm_error *err) {
    llm_json *j;
    llm_status s = llm_json_parse(text, len, &j, err);
    if (s) {
        llm_error_prefix(err, "ollama params layer");
        return s;
    }
    int64_t ints[4] = {m->top_k, m->repeat_last_n, m->num_ctx, m->num_predict};
    if (llm_json_type(j) != LLM_JSON_OBJECT) s = llm_fail(err, LLM_ERR_FORMAT, "ollama params layer is not an object");
    if (!s) s = param_float(j, "temperature", &m->temperature, err);
    if (!s) s = param_float(j, "top_p", &m->top_p, err);
    if (!s) s = param_float(j, "min_p", &m->min_p, err);
    if (!s) s = param_float(j, "repeat_penalty", &m->repeat_penalty, err);
    if (!s) s = param_int(j, "top_k", 0, INT32_MAX, &ints[0], err);
    if (!s) s = param_int(j, "repeat_last_n", -1, INT32_MAX, &ints[1], err);
    if (!s) s = param_int(j, "num_ctx", 1, INT32_MAX, &ints[2], err);
    if (!s) s = param_int(j, "num_predict", -2, INT32_MAX, &ints[3], err);
    if (!s) s = param_int(j, "seed", INT64_MIN, INT64_MAX, &m->seed, err);
    if (!s) s = param_stop(j, m, err);
    if (!s) s = dup_text(text, len, "params layer", &m->params_json, err);
    m->top_k = (int32_t)ints[0];
    m->repeat_last_n = (int32_t)ints[1];
    m->num_ctx = (int32_t)ints[2];
    m->num_predict = (int32_t)ints[3];
    llm_json_free(j);
    return s;
}

/* Nonzero when the file at path is a regular file that begins with the
 * GGUF magic (opened without blocking, as read_small does). */
static int is_gguf(const char *path) {
    char magic[4];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, magic, 4) : -1;
    close(fd);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

/* The model layer: its blob must exist and be GGUF. */
static llm_status take_model(const char *path, llm_ollama_model *m, llm_error *err) {
    if (access(path, R_OK) != 0)
        return llm_fail(err, LLM_ERR_IO, "the model's blob %.3000s cannot be read: %s", path, strerror(errno));
    if (!is_gguf(path))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "the model's blob %.3000s is not a GGUF file", path);
    return dup_text(path, strlen(path), "blob path", &m->model_path, err);
}

/* One layer of the manifest: what its media type asks for. */
static llm_status take_layer(const char *root, const llm_json *layer, size_t i, llm_ollama_model *m,
                             llm_error *err) {
    const char *type = llm_json_str(llm_json_get(layer, "mediaType"), NULL);
    if (!type) return llm_fail(err, LLM_ERR_FORMAT, "ollama manifest: layers[%zu] has no mediaType string", i);
    int model = strcmp(type, MEDIA "model") == 0, params = strcmp(type, MEDIA "params") == 0,
        system = strcmp(type, MEDIA "system") == 0;
    if (strcmp(type, MEDIA "template") == 0) m->has_template = 1;
    if (strcmp(type, MEDIA "adapter") == 0)
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "ollama manifest: layers[%zu] is a LoRA adapter, which libllm "
                        "cannot apply (the model without it would answer differently)", i);
    if ((model && m->model_path) || (params && m->params_json) || (system && m->system) ||
        !(model || params || system))
        return LLM_OK; /* the first of each kind; other kinds (license, projector, ...) are not read */
    char path[PATH_CAP];
    llm_status s = blob_path(root, llm_json_get(layer, "digest"), path, err);
    if (s) return s;
    if (model) return take_model(path, m, err);
    char *text;
    size_t len;
    if ((s = read_small(path, &text, &len, err))) return s;
    if (params) s = read_params(text, len, m, err);
    else s = dup_text(text, len, "system layer", &m->system, err);
    free(text);
    return s;
}

/* Every layer of a parsed manifest. */
static llm_status take_layers(const char *root, const llm_json *manifest, const char *name, llm_ollama_model *m,
                              llm_error *err) {
    const llm_json *layers = llm_json_get(manifest, "layers");
    if (llm_json_type(layers) != LLM_JSON_ARRAY)
        return llm_fail(err, LLM_ERR_FORMAT, "ollama manifest of '%.200s' has no \"layers\" array", name);
    for (size_t i = 0; i < llm_json_len(layers); i++) {
        const llm_json *layer = llm_json_at(layers, i);
        if (llm_json_type(layer) != LLM_JSON_OBJECT)
            return llm_fail(err, LLM_ERR_FORMAT, "ollama manifest: layers[%zu] is not an object", i);
        llm_status s = take_layer(root, layer, i, m, err);
        if (s) return s;
    }
    if (!m->model_path)
        return llm_fail(err, LLM_ERR_UNSUPPORTED,
                        "ollama model '%.200s' has no " MEDIA "model layer (a GGUF file): per-tensor and cloud "
                        "models cannot be opened",
                        name);
    return LLM_OK;
}

void llm_ollama_model_free(llm_ollama_model *m) {
    if (!m) return;
    free(m->model_path);
    free(m->system);
    free(m->params_json);
    for (size_t i = 0; i < m->n_stop; i++) free(m->stop[i]);
    free(m->stop);
    memset(m, 0, sizeof *m);
}

/* The name's manifest, parsed into *out. */
static llm_status read_manifest(const char *root, const ref *r, const char *name, llm_json **out, llm_error *err) {
    char path[PATH_CAP];
    if (snprintf(path, PATH_CAP, "%s/manifests/%s/%s/%s/%s", root, r->host, r->ns, r->model, r->tag) >= PATH_CAP)
        return llm_fail(err, LLM_ERR_LIMIT, "the Ollama store's path is too long");
    char *text;
    size_t len;
    llm_status s = read_small(path, &text, &len, err);
    if (s == LLM_ERR_IO && access(path, F_OK) != 0)
        return llm_fail(err, LLM_ERR_IO, "no ollama model '%.200s' in %.3000s (no manifest %s/%s/%s/%s)", name, root,
                        r->host, r->ns, r->model, r->tag);
    if (s) return s;
    s = llm_json_parse(text, len, out, err);
    free(text);
    if (s) llm_error_prefix(err, "ollama manifest");
    else if (llm_json_type(*out) != LLM_JSON_OBJECT)
        s = llm_fail(err, LLM_ERR_FORMAT, "ollama manifest of '%.200s' is not a JSON object", name);
    return s;
}

llm_status llm_ollama_resolve(const char *name, const char *models_dir, llm_ollama_model *out, llm_error *err) {
    if (!out) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ollama_resolve: out is NULL");
    *out = (llm_ollama_model){.temperature = NAN, .top_p = NAN, .min_p = NAN, .repeat_penalty = NAN,
                              .top_k = -1, .repeat_last_n = -1, .num_ctx = -1, .num_predict = -1, .seed = -1};
    if (!name) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_ollama_resolve: name is NULL");
    ref r;
    char root[PATH_CAP];
    llm_status s = parse_ref(name, &r, err);
    if (!s) s = store_root(models_dir, root, err);
    llm_json *manifest = NULL;
    if (!s) s = read_manifest(root, &r, name, &manifest, err);
    if (!s) s = take_layers(root, manifest, name, out, err);
    llm_json_free(manifest);
    if (s) llm_ollama_model_free(out);
    return s;
}
