#include "safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "error.h"

static const struct {
    const char *name;
    uint32_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},   [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},   [ST_I64] = {"I64", 8}, [ST_U64] = {"U64", 8},
    [ST_F64] = {"F64", 8},
};

const char *st_dtype_name(uint32_t dtype) {
    return dtype < ST_DTYPE_COUNT ? dtypes[dtype].name : "unknown";
}

uint32_t st_dtype_size(uint32_t dtype) {
    return dtype < ST_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

static int dtype_from_name(const char *s) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(dtypes[i].name, s) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------------- JSON */

bool st_json_uint(const cJSON *item, uint64_t max, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > 9007199254740992.0 || v != floor(v) || v > (double)max) return false;
    *out = (uint64_t)v;
    return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Refuses strings that cJSON would read differently from Python's json:
 * \u0000, which a C string cannot carry (cJSON cut the string there), and
 * raw control characters, which JSON forbids (Python refuses them, cJSON
 * took them, a raw NUL again cutting the string). */
static llm_status check_strings(const char *text, size_t len, const char *what, llm_error *err) {
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '"') {
            in_string = false;
        } else if (c < 0x20) {
            return llm_fail(err, LLM_ERR_FORMAT, "%s: raw control character 0x%02x in a string at byte %zu", what, c,
                            i);
        } else if (c == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && len - i >= 6 && memcmp(text + i + 2, "0000", 4) == 0)
                return llm_fail(err, LLM_ERR_FORMAT, "%s: \\u0000 in a string at byte %zu, which libllm cannot carry",
                                what, i);
            i++;
        }
    }
    return LLM_OK;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses an object holding a key twice, in it or any value below it:
 * Python's json keeps the last, cJSON's lookups find the first, so the
 * two would read different files. O(n log n) per object. */
static llm_status check_keys(const cJSON *item, const char *what, llm_error *err) {
    int n = 0;
    for (const cJSON *c = item->child; c; c = c->next) n++;
    const char **names = cJSON_IsObject(item) && n > 1 ? llm_malloc((size_t)n * sizeof *names) : NULL;
    if (cJSON_IsObject(item) && n > 1 && !names)
        return llm_fail(err, LLM_ERR_NOMEM, "%s: out of memory checking JSON keys", what);
    int k = 0;
    for (const cJSON *c = item->child; names && c; c = c->next) names[k++] = c->string;
    if (names) qsort(names, (size_t)n, sizeof *names, name_cmp);
    llm_status s = LLM_OK;
    for (int i = 1; names && i < n && !s; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            s = llm_fail(err, LLM_ERR_FORMAT, "%s: key \"%.60s\" appears twice in one object", what, names[i]);
    free(names);
    for (const cJSON *c = item->child; c && !s; c = c->next) s = check_keys(c, what, err);
    return s;
}

/* cJSON stops at the end of the first value; anything but whitespace
 * after it is refused too, so a file is one JSON value or an error. What
 * cJSON and Python's json would read differently is refused as well
 * (check_strings, check_keys). */
llm_status st_json_parse(const char *text, size_t len, const char *what, cJSON **out,
                         llm_error *err) {
    const char *end = NULL;
    *out = NULL;
    llm_status s = check_strings(text, len, what, err);
    if (s) return s;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    if (!*out) return llm_fail(err, LLM_ERR_FORMAT, "%s: not valid JSON (error at byte %zu)", what, at);
    while (at < len && is_space(text[at])) at++;
    s = at < len ? llm_fail(err, LLM_ERR_FORMAT, "%s: not valid JSON (unexpected data at byte %zu)", what, at)
                 : check_keys(*out, what, err);
    if (s) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return s;
}

llm_status st_json_load(const char *path, cJSON **out, llm_error *err) {
    llm_map map;
    llm_status s = llm_map_open(&map, path, err);
    if (s) return s;
    s = st_json_parse((const char *)map.data, map.size, path, out, err);
    llm_map_close(&map);
    return s;
}

/* ---------------------------------------------------------------- header */

/* One header entry: dtype, shape and data_offsets, each checked against
 * the data section (data_size bytes at data). */
static llm_status parse_tensor(const cJSON *item, const unsigned char *data, uint64_t data_size,
                               st_tensor *t, llm_error *err) {
    const char *nm = item->string;
    if (!cJSON_IsObject(item))
        return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': entry is not an object", nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt))
        return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': dtype is missing or not a string", nm);
    int d = dtype_from_name(dt->valuestring);
    if (d < 0)
        return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': unknown dtype '%.32s'", nm, dt->valuestring);
    t->dtype = (uint32_t)d;
    if (!cJSON_IsArray(shape))
        return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': shape is missing or not an array", nm);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > ST_MAX_DIMS)
        return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': shape has %d dimensions, at most %d are read",
                        nm, n_dims, ST_MAX_DIMS);
    t->n_dims = (uint32_t)n_dims;
    uint64_t elems = 1, i = 0;
    for (const cJSON *e = shape->child; e; e = e->next, i++) {
        if (!st_json_uint(e, UINT64_MAX, &t->shape[i]))
            return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': shape[%llu] is not a non-negative integer",
                            nm, (unsigned long long)i);
        if (t->shape[i] && elems > UINT64_MAX / t->shape[i])
            return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': shape overflows", nm);
        elems *= t->shape[i];
    }
    if (elems > UINT64_MAX / dtypes[d].size)
        return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': shape overflows", nm);
    t->nbytes = elems * dtypes[d].size;
    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !st_json_uint(offs->child, UINT64_MAX, &begin) ||
        !st_json_uint(offs->child->next, UINT64_MAX, &end))
        return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s': data_offsets is not [begin, end]", nm);
    if (begin > end || end > data_size)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "tensor '%.80s': data_offsets [%llu, %llu] lie outside the %llu data bytes", nm,
                        (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != t->nbytes)
        return llm_fail(err, LLM_ERR_FORMAT,
                        "tensor '%.80s': data_offsets span %llu bytes, but its shape and dtype %s need %llu",
                        nm, (unsigned long long)(end - begin), dtypes[d].name, (unsigned long long)t->nbytes);
    t->data = data + begin;
    return LLM_OK;
}

static int cmp_data(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    return (x->data > y->data) - (x->data < y->data);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Tensors may not share bytes (a tensor of 0 bytes shares none), and a
 * name may appear once. Leaves the tensors sorted by name. */
static llm_status check_layout(st_file *f, llm_error *err) {
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_data);
    for (size_t i = 1; i < f->n_tensors; i++) {
        const st_tensor *a = &f->tensors[i - 1], *b = &f->tensors[i];
        if (a->nbytes && b->nbytes && a->data + a->nbytes > b->data)
            return llm_fail(err, LLM_ERR_FORMAT, "tensors '%.60s' and '%.60s' overlap (data_offsets)", a->name,
                            b->name);
    }
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_name);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return llm_fail(err, LLM_ERR_FORMAT, "tensor '%.80s' is listed twice", f->tensors[i].name);
    return LLM_OK;
}

/* Copies the names into one block and parses every entry but the
 * optional __metadata__ object. */
static llm_status parse_entries(st_file *f, const cJSON *root, const unsigned char *data, uint64_t data_size,
                                llm_error *err) {
    size_t n = 0, bytes = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) return llm_fail(err, LLM_ERR_FORMAT, "__metadata__ is not an object");
            continue;
        }
        if (++n > LLM_MAX_TENSORS) return llm_fail(err, LLM_ERR_LIMIT, "more than %d tensors", LLM_MAX_TENSORS);
        bytes += strlen(e->string) + 1;
    }
    f->tensors = llm_calloc(n ? n : 1, sizeof *f->tensors);
    f->names = llm_malloc(bytes ? bytes : 1);
    if (!f->tensors || !f->names) return llm_fail(err, LLM_ERR_NOMEM, "out of memory for %zu tensors", n);
    char *p = f->names;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        st_tensor *t = &f->tensors[f->n_tensors++];
        size_t len = strlen(e->string) + 1;
        memcpy(p, e->string, len);
        t->name = p;
        p += len;
        llm_status s = parse_tensor(e, data, data_size, t, err);
        if (s) return s;
    }
    return check_layout(f, err);
}

static llm_status parse_image(st_file *f, const unsigned char *data, size_t size, llm_error *err) {
    if (size < 8)
        return llm_fail(err, LLM_ERR_FORMAT, "%zu bytes are too few for a safetensors header", size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)data[i] << (8 * i);
    if (hlen > ST_MAX_HEADER)
        return llm_fail(err, LLM_ERR_LIMIT, "header length %llu exceeds the limit of %u bytes",
                        (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > size - 8)
        return llm_fail(err, LLM_ERR_FORMAT, "header length %llu exceeds the %zu bytes after it",
                        (unsigned long long)hlen, size - 8);
    cJSON *root;
    llm_status s = st_json_parse((const char *)data + 8, (size_t)hlen, "header", &root, err);
    if (s) return s;
    if (!cJSON_IsObject(root)) s = llm_fail(err, LLM_ERR_FORMAT, "header is not a JSON object");
    else s = parse_entries(f, root, data + 8 + hlen, size - 8 - hlen, err);
    cJSON_Delete(root);
    return s;
}

static void free_index(st_file *f) {
    free(f->tensors);
    free(f->names);
    f->tensors = NULL;
    f->names = NULL;
    f->n_tensors = 0;
}

llm_status st_parse(st_file *f, const void *data, size_t size, llm_error *err) {
    if (!f || (!data && size)) return llm_fail(err, LLM_ERR_INVALID_ARG, "st_parse: NULL argument");
    memset(f, 0, sizeof *f);
    llm_status s = parse_image(f, data, size, err);
    if (s) free_index(f);
    return s;
}

llm_status st_open(st_file *f, const char *path, llm_error *err) {
    if (!f || !path) return llm_fail(err, LLM_ERR_INVALID_ARG, "st_open: NULL argument");
    memset(f, 0, sizeof *f);
    llm_status s = llm_map_open(&f->map, path, err);
    if (s) return s;
    if ((s = parse_image(f, f->map.data, f->map.size, err))) {
        llm_error_prefix(err, path);
        st_close(f);
    }
    return s;
}

void st_close(st_file *f) {
    if (!f) return;
    free_index(f);
    llm_map_close(&f->map);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    if (!f || !name || !f->n_tensors) return NULL;
    st_tensor key = {.name = name};
    return bsearch(&key, f->tensors, f->n_tensors, sizeof key, cmp_name);
}

/* ---------------------------------------------------------------- model */

static char *join(const char *dir, const char *name) {
    char *p = NULL;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->t->name, ((const st_entry *)b)->t->name);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static llm_status nomem(llm_error *err) {
    return llm_fail(err, LLM_ERR_NOMEM, "out of memory opening a safetensors checkpoint");
}

/* Opens the files named in m->paths (already filled). */
static llm_status open_files(st_model *m, llm_error *err) {
    m->files = llm_calloc(m->n_files, sizeof *m->files);
    if (!m->files) return nomem(err);
    for (uint32_t i = 0; i < m->n_files; i++) {
        llm_status s = st_open(&m->files[i], m->paths[i], err);
        if (s) return s;
    }
    return LLM_OK;
}

/* A single model.safetensors: every tensor is an entry. */
static llm_status open_single(st_model *m, const char *dir, llm_error *err) {
    m->paths = llm_calloc(1, sizeof *m->paths);
    if (!m->paths || !(m->paths[0] = join(dir, "model.safetensors"))) return nomem(err);
    m->n_files = 1;
    llm_status s = open_files(m, err);
    if (s) return s;
    const st_file *f = &m->files[0];
    m->entries = llm_calloc(f->n_tensors ? f->n_tensors : 1, sizeof *m->entries);
    if (!m->entries) return nomem(err);
    for (size_t i = 0; i < f->n_tensors; i++) m->entries[i] = (st_entry){&f->tensors[i], 0};
    m->n_entries = f->n_tensors;
    return LLM_OK;
}

/* The distinct shard names of weight_map, sorted, as paths in dir. A
 * shard must be a plain file name: the index may not reach outside dir. */
static llm_status shard_paths(st_model *m, const char *dir, const char *ipath, const cJSON *wm,
                              llm_error *err) {
    int n = cJSON_GetArraySize(wm);
    if (n > LLM_MAX_TENSORS)
        return llm_fail(err, LLM_ERR_LIMIT, "%s: weight_map lists more than %d tensors", ipath, LLM_MAX_TENSORS);
    char **names = llm_calloc(n ? (size_t)n : 1, sizeof *names);
    if (!names) return nomem(err);
    int k = 0;
    for (const cJSON *e = wm->child; e; e = e->next) {
        const char *v = cJSON_GetStringValue(e);
        if (!v || !*v || strchr(v, '/') || strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
            free(names);
            return llm_fail(err, LLM_ERR_FORMAT, "%s: weight_map['%.80s'] is not the name of a file beside the index",
                            ipath, e->string);
        }
        names[k++] = (char *)v;
    }
    qsort(names, (size_t)k, sizeof *names, cmp_str);
    m->paths = llm_calloc(k ? (size_t)k : 1, sizeof *m->paths);
    llm_status s = m->paths ? LLM_OK : nomem(err);
    for (int i = 0; !s && i < k; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0) continue;
        if (!(m->paths[m->n_files] = join(dir, names[i]))) s = nomem(err);
        else m->n_files++;
    }
    free(names);
    return s;
}

static uint32_t shard_of(const st_model *m, const char *dir, const char *shard) {
    size_t dl = strlen(dir) + 1;
    for (uint32_t i = 0; i < m->n_files; i++)
        if (strcmp(m->paths[i] + dl, shard) == 0) return i;
    return UINT32_MAX; /* not reached: every shard name was collected */
}

/* Entries from weight_map, each found in its shard; then every tensor of
 * every shard must be the entry of its name. */
static llm_status index_entries(st_model *m, const char *dir, const char *ipath, const cJSON *wm,
                                llm_error *err) {
    size_t n = (size_t)cJSON_GetArraySize(wm);
    m->entries = llm_calloc(n ? n : 1, sizeof *m->entries);
    if (!m->entries) return nomem(err);
    for (const cJSON *e = wm->child; e; e = e->next) {
        uint32_t fi = shard_of(m, dir, e->valuestring);
        const st_tensor *t = st_find(&m->files[fi], e->string);
        if (!t)
            return llm_fail(err, LLM_ERR_FORMAT, "%s: weight_map puts '%.80s' in %.80s, which has no such tensor",
                            ipath, e->string, e->valuestring);
        m->entries[m->n_entries++] = (st_entry){t, fi};
    }
    qsort(m->entries, m->n_entries, sizeof *m->entries, cmp_entry);
    for (size_t i = 1; i < m->n_entries; i++)
        if (strcmp(m->entries[i - 1].t->name, m->entries[i].t->name) == 0)
            return llm_fail(err, LLM_ERR_FORMAT, "%s: weight_map lists '%.80s' twice", ipath,
                            m->entries[i].t->name);
    for (uint32_t i = 0; i < m->n_files; i++)
        for (size_t j = 0; j < m->files[i].n_tensors; j++)
            if (st_model_find(m, m->files[i].tensors[j].name, NULL) != &m->files[i].tensors[j])
                return llm_fail(err, LLM_ERR_FORMAT, "%s: tensor '%.80s' of %s is not in weight_map", ipath,
                                m->files[i].tensors[j].name, m->paths[i]);
    return LLM_OK;
}

static llm_status open_sharded(st_model *m, const char *dir, const char *ipath, llm_error *err) {
    cJSON *root;
    llm_status s = st_json_load(ipath, &root, err);
    if (s) return s;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) s = llm_fail(err, LLM_ERR_FORMAT, "%s: weight_map is missing or not an object", ipath);
    if (!s) s = shard_paths(m, dir, ipath, wm, err);
    if (!s) s = open_files(m, err);
    if (!s) s = index_entries(m, dir, ipath, wm, err);
    cJSON_Delete(root);
    return s;
}

llm_status st_model_open(st_model *m, const char *dir, llm_error *err) {
    if (!m || !dir) return llm_fail(err, LLM_ERR_INVALID_ARG, "st_model_open: NULL argument");
    memset(m, 0, sizeof *m);
    char *ipath = join(dir, "model.safetensors.index.json");
    if (!ipath) return nomem(err);
    llm_status s = file_exists(ipath) ? open_sharded(m, dir, ipath, err) : open_single(m, dir, err);
    free(ipath);
    if (s) st_model_close(m);
    return s;
}

void st_model_close(st_model *m) {
    if (!m) return;
    for (uint32_t i = 0; i < m->n_files; i++) {
        if (m->files) st_close(&m->files[i]);
        free(m->paths[i]);
    }
    free(m->files);
    free(m->paths);
    free(m->entries);
    memset(m, 0, sizeof *m);
}

const st_tensor *st_model_find(const st_model *m, const char *name, const char **path) {
    if (!m || !name || !m->n_entries) return NULL;
    st_tensor t = {.name = name};
    st_entry key = {&t, 0};
    const st_entry *e = bsearch(&key, m->entries, m->n_entries, sizeof key, cmp_entry);
    if (!e) return NULL;
    if (path) *path = m->paths[e->file];
    return e->t;
}
