/* llm-inspect: what a model file holds and what happens inside it, through
 * the public API alone. The looking-inside commands (trace, attention)
 * are in inspect/trace.c; the pictures in inspect/draw.c. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/inspect.h"
#include "opts.h"
#include "toolutil.h"

const char *const tool_name = "llm-inspect";

static const char synopsis[] =
    "usage: llm-inspect COMMAND MODEL [ARG] [options]\n"
    "commands:\n"
    "  info MODEL                architecture, hyper-parameters, every metadata key (long arrays\n"
    "                            summarized), chat template, file size against parameter count\n"
    "  tensors MODEL             each tensor's name, type, shape, bytes, offset and share of the\n"
    "                            file; totals per type\n"
    "  tokens MODEL TEXT         each token's id and piece (control tokens matched and shown;\n"
    "                            coloured alternately on a terminal)\n"
    "  trace MODEL PROMPT        per layer at the prompt's last token: residual-stream norm,\n"
    "                            attention entropy per head, logit lens top-k; then per greedy\n"
    "                            step the top-k candidates with their probabilities\n"
    "  attention MODEL PROMPT --layer L [--head H] [-o FILE.svg|FILE.png]\n"
    "                            attention weights of layer L (all heads without --head): a\n"
    "                            heatmap picture with -o, else the numbers\n"
    "  diff A.gguf B.gguf        per tensor the error of B against A: max |B - A|, RMS of B - A,\n"
    "                            relative ||B - A|| / ||A||\n"
    "options:\n";

static const char epilog[] =
    "\ntrace and attention decode through the reference path, with an observer\n"
    "(llm_ctx_set_observer in llm.h).\n";

/* ------------------------------------------------------------ shared */

llm_model *open_model(const inspect_args *o, const char *path, bool vocab_ok) {
    llm_model_params p = llm_model_default_params();
    p.tokenizer_path = o->tokenizer;
    llm_error err, err2;
    llm_model *m = llm_model_load(path, &p, &err);
    p.vocab_only = true;
    if (!m && vocab_ok && !(m = llm_model_load(path, &p, &err2))) die("%s", err.msg);
    if (!m) die("%s", err.msg);
    return m;
}

int32_t *tokenize_prompt(const llm_model *m, const char *text, size_t *n) {
    uint32_t flags = LLM_TOKENIZE_SPECIAL | (llm_model_add_bos(m) ? LLM_TOKENIZE_ADD_BOS : 0);
    size_t len = strlen(text);
    llm_error err;
    llm_status s = llm_tokenize(m, text, len, NULL, 0, n, flags, &err);
    if (s != LLM_OK && s != LLM_ERR_BUFFER_TOO_SMALL) die("%s", err.msg);
    int32_t *ids = xmalloc(sizeof(int32_t) * (*n + 1));
    if (llm_tokenize(m, text, len, ids, *n + 1, n, flags, &err) != LLM_OK) die("%s", err.msg);
    if (*n == 0) die("%s", "the prompt gives no tokens");
    return ids;
}

char *token_label(const llm_model *m, int32_t tok) {
    size_t cap = 64, len = 0;
    for (;;) {
        char *s = xmalloc(cap);
        llm_status st = llm_token_get_text(m, tok, s, cap - 1, &len);
        if (st == LLM_OK) {
            s[len] = 0;
            return s;
        }
        free(s);
        if (st != LLM_ERR_BUFFER_TOO_SMALL) die("token %d has no text", (int)tok);
        cap = len + 1;
    }
}

void jw_token(jw *w, const llm_model *m, int32_t tok) {
    char *label = token_label(m, tok);
    jw_open(w, '{');
    jw_key(w, "id"), jw_int(w, tok);
    jw_key(w, "piece"), jw_cstr(w, label);
    jw_close(w, '}');
    free(label);
}

void top_k(const float *v, int n, int k, int *idx) {
    for (int i = 0; i < k; i++) {
        int best = -1;
        for (int j = 0; j < n; j++) {
            bool taken = false;
            for (int t = 0; t < i && !taken; t++) taken = idx[t] == j;
            if (!taken && (best < 0 || v[j] > v[best])) best = j;
        }
        idx[i] = best;
    }
}

static uint64_t file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) die("cannot stat %s", path);
    return (uint64_t)st.st_size;
}

static llm_tensor_info tensor_info(const llm_model *m, int64_t i) {
    llm_tensor_info t;
    llm_error err;
    if (llm_model_tensor_info(m, i, &t, &err) != LLM_OK) die("%s", err.msg);
    return t;
}

static int64_t n_elements(const llm_tensor_info *t) {
    int64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) n *= t->ne[d];
    return n;
}

/* Metadata as text, through a buffer grown to the size asked for: entry
 * i's key (el -1, key NULL), its value (el -1), or element el of the
 * array under key; malloc'd. */
static char *meta_text(const llm_model *m, int32_t i, const char *key, int64_t el) {
    size_t cap = 256, need = 0;
    for (;;) {
        char *buf = xmalloc(cap);
        llm_status s = !key      ? llm_model_meta_key_by_index(m, i, buf, cap, &need)
                       : el < 0 ? llm_model_meta_val_str_by_index(m, i, buf, cap, &need)
                                : llm_model_meta_arr_str(m, key, el, buf, cap, &need);
        if (s == LLM_OK) return buf;
        free(buf);
        if (s != LLM_ERR_BUFFER_TOO_SMALL) die("cannot read metadata entry %d", (int)i);
        cap = need;
    }
}

#define META_ITEMS 8 /* elements of an array shown before "... (N items)" */

/* Entry i's value, an array of more than META_ITEMS elements summarized
 * as its first ones and its length; malloc'd. */
static char *meta_value(const llm_model *m, int32_t i, const char *key) {
    int64_t n = llm_model_meta_arr_len(m, key);
    if (n <= META_ITEMS) return meta_text(m, i, key, -1);
    size_t cap = 64, len = 1;
    char *out = xmalloc(cap);
    strcpy(out, "[");
    for (int64_t e = 0; e <= META_ITEMS; e++) {
        char item[64], *el = e < META_ITEMS ? meta_text(m, i, key, e) : NULL;
        if (!el) snprintf(item, sizeof item, "... (%" PRId64 " items)]", n);
        const char *piece = el ? el : item;
        size_t add = strlen(piece) + 2;
        if (len + add + 1 > cap) {
            cap = 2 * (len + add + 1);
            char *grown = realloc(out, cap);
            if (!grown) die("%s", "out of memory");
            out = grown;
        }
        len += (size_t)sprintf(out + len, "%s%s", piece, el ? ", " : "");
        free(el);
    }
    return out;
}

/* ------------------------------------------------------------ info */

static int cmd_info(const inspect_args *o) {
    llm_model *m = open_model(o, o->model, true);
    char desc[256];
    llm_model_desc(m, desc, sizeof desc, NULL);
    int64_t params = 0, n_t = llm_model_n_tensors(m);
    int32_t n_kv = llm_model_meta_count(m);
    for (int64_t i = 0; i < n_t; i++) {
        llm_tensor_info t = tensor_info(m, i);
        params += n_elements(&t);
    }
    uint64_t size = file_size(o->model);
    char *tmpl = NULL; /* tokenizer.chat_template, met in the metadata (vocabulary files have it too) */
    struct { const char *name; int32_t v; } hp[] = {
        {"n_vocab", llm_model_n_vocab(m)}, {"n_ctx_train", llm_model_n_ctx_train(m)}, {"n_embd", llm_model_n_embd(m)},
        {"n_layer", llm_model_n_layer(m)}, {"n_head", llm_model_n_head(m)}, {"n_head_kv", llm_model_n_head_kv(m)},
        {"head_dim", llm_model_head_dim(m)}, {"n_ff", llm_model_n_ff(m)},
    };
    jw w;
    jw_init(&w, stdout);
    if (o->json) {
        jw_open(&w, '{');
        jw_key(&w, "file"), jw_cstr(&w, o->model);
        jw_key(&w, "architecture"), jw_cstr(&w, llm_model_arch(m));
        jw_key(&w, "description"), jw_cstr(&w, desc);
        for (size_t i = 0; i < sizeof hp / sizeof *hp; i++) jw_key(&w, hp[i].name), jw_int(&w, hp[i].v);
        jw_key(&w, "file_size"), jw_int(&w, (int64_t)size);
        jw_key(&w, "parameters"), jw_int(&w, params);
        jw_key(&w, "bits_per_parameter"), jw_num(&w, params ? 8.0 * size / params : NAN);
        jw_key(&w, "metadata"), jw_open(&w, '{');
    } else {
        printf("file          %s\nmodel         %s\narchitecture  %s\n", o->model, desc, llm_model_arch(m));
        for (size_t i = 0; i < sizeof hp / sizeof *hp; i++) printf("%-13s %d\n", hp[i].name, hp[i].v);
        printf("file size     %" PRIu64 " bytes\n", size);
        if (params)
            printf("parameters    %" PRId64 " in %" PRId64 " tensors: %.2f bits per parameter\n", params, n_t,
                   8.0 * size / params);
        else
            printf("parameters    (no tensors listed: a llama2.c checkpoint or a vocabulary file)\n");
        printf("metadata      %d keys\n", (int)n_kv);
    }
    for (int32_t i = 0; i < n_kv; i++) {
        char *key = meta_text(m, i, NULL, -1), *val = meta_value(m, i, key);
        if (o->json) {
            jw_key(&w, key), jw_cstr(&w, val);
        } else {
            printf("  %s = ", key);
            put_text(stdout, val, strlen(val), 't');
            printf("\n");
        }
        if (strcmp(key, "tokenizer.chat_template") == 0 && !tmpl) tmpl = val;
        else free(val);
        free(key);
    }
    if (o->json) {
        jw_close(&w, '}');
        jw_key(&w, "chat_template"), jw_cstr(&w, tmpl);
        jw_close(&w, '}');
    } else {
        printf("chat template %s\n", tmpl ? "" : "(none)");
        for (const char *line = tmpl; line && *line;) { /* line by line, control bytes spelled out */
            size_t len = strcspn(line, "\n");
            put_text(stdout, line, len, 't');
            printf("\n");
            line += len + (line[len] == '\n');
        }
    }
    free(tmpl);
    llm_model_free(m);
    return 0;
}

/* ------------------------------------------------------------ tensors */

typedef struct type_total {
    int64_t tensors, params;
    uint64_t bytes;
} type_total;

static int by_offset(const void *a, const void *b) {
    const llm_tensor_info *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmd_tensors(const inspect_args *o) {
    llm_model *m = open_model(o, o->model, true);
    int64_t n = llm_model_n_tensors(m);
    if (n == 0) die("%s lists no tensors (a llama2.c checkpoint, or a vocabulary file)", o->model);
    uint64_t size = file_size(o->model), total = 0;
    llm_tensor_info *t = xmalloc(sizeof *t * (size_t)n);
    type_total types[64] = {{0}};
    jw w;
    jw_init(&w, stdout);
    if (o->json) jw_open(&w, '{'), jw_key(&w, "tensors"), jw_open(&w, '[');
    else printf("%-32s %-6s %-20s %12s %12s %7s\n", "name", "type", "shape", "bytes", "offset", "share");
    for (int64_t i = 0; i < n; i++) {
        t[i] = tensor_info(m, i);
        type_total *tt = &types[t[i].type % 64];
        tt->tensors++, tt->params += n_elements(&t[i]), tt->bytes += t[i].nbytes;
        total += t[i].nbytes;
        char shape[96] = "";
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64, d ? " x " : "", t[i].ne[d]);
        double share = 100.0 * (double)t[i].nbytes / (double)size;
        if (o->json) {
            jw_open(&w, '{');
            jw_key(&w, "name"), jw_str(&w, t[i].name, t[i].name_len);
            jw_key(&w, "type"), jw_cstr(&w, llm_type_name(t[i].type));
            jw_key(&w, "shape"), jw_open(&w, '[');
            for (uint32_t d = 0; d < t[i].n_dims; d++) jw_int(&w, t[i].ne[d]);
            jw_close(&w, ']');
            jw_key(&w, "bytes"), jw_int(&w, (int64_t)t[i].nbytes);
            jw_key(&w, "offset"), jw_int(&w, (int64_t)t[i].offset);
            jw_key(&w, "share"), jw_num(&w, share / 100.0);
            jw_close(&w, '}');
        } else {
            printf("%-32.*s %-6s %-20s %12" PRIu64 " %12" PRIu64 " %6.2f%%\n", (int)t[i].name_len, t[i].name,
                   llm_type_name(t[i].type), shape, t[i].nbytes, t[i].offset, share);
        }
    }
    /* the data section: from the first tensor's data to the end of the file */
    qsort(t, (size_t)n, sizeof *t, by_offset);
    uint64_t start = t[0].offset, padding = 0, end = start; /* end: of the data seen so far */
    for (int64_t i = 0; i < n; i++) { /* gaps only: tensors of a hostile file may overlap */
        if (t[i].offset > end) padding += t[i].offset - end;
        if (t[i].offset + t[i].nbytes > end) end = t[i].offset + t[i].nbytes;
    }
    if (size > end) padding += size - end;
    if (o->json) jw_close(&w, ']'), jw_key(&w, "types"), jw_open(&w, '[');
    else printf("\ntotals by type:\n");
    for (uint32_t ty = 0; ty < 64; ty++) {
        type_total *tt = &types[ty];
        if (!tt->tensors) continue;
        if (o->json) {
            jw_open(&w, '{');
            jw_key(&w, "type"), jw_cstr(&w, llm_type_name(ty));
            jw_key(&w, "tensors"), jw_int(&w, tt->tensors);
            jw_key(&w, "parameters"), jw_int(&w, tt->params);
            jw_key(&w, "bytes"), jw_int(&w, (int64_t)tt->bytes);
            jw_key(&w, "share"), jw_num(&w, (double)tt->bytes / (double)size);
            jw_close(&w, '}');
        } else {
            printf("  %-6s %5" PRId64 " tensors %12" PRId64 " parameters %12" PRIu64 " bytes %6.2f%%\n",
                   llm_type_name(ty), tt->tensors, tt->params, tt->bytes, 100.0 * (double)tt->bytes / (double)size);
        }
    }
    if (o->json) {
        jw_close(&w, ']');
        jw_key(&w, "tensor_bytes"), jw_int(&w, (int64_t)total);
        jw_key(&w, "padding"), jw_int(&w, (int64_t)padding);
        jw_key(&w, "data_start"), jw_int(&w, (int64_t)start);
        jw_key(&w, "file_size"), jw_int(&w, (int64_t)size);
        jw_close(&w, '}');
    } else {
        printf("tensor data %" PRIu64 " bytes + alignment padding %" PRIu64 " = the data section, bytes %" PRIu64
               " .. %" PRIu64 " of the file (the header and metadata are the first %" PRIu64 ")\n",
               total, padding, start, size, start);
    }
    free(t);
    llm_model_free(m);
    return 0;
}

/* ------------------------------------------------------------ tokens */

static int cmd_tokens(const inspect_args *o) {
    llm_model *m = open_model(o, o->model, true);
    size_t n;
    int32_t *ids = tokenize_prompt(m, o->arg, &n);
    static const char *const kinds[] = {"?", "normal", "unknown", "control", "user", "unused", "byte"};
    jw w;
    jw_init(&w, stdout);
    if (o->json) {
        jw_open(&w, '[');
        for (size_t i = 0; i < n; i++) jw_token(&w, m, ids[i]);
        jw_close(&w, ']');
    } else {
        bool tty = isatty(STDOUT_FILENO);
        for (size_t i = 0; tty && i < n; i++) { /* the text, token by token in alternating colours */
            char *label = token_label(m, ids[i]);
            printf("\033[%sm", i % 2 ? "30;46" : "30;43");
            put_text(stdout, label, strlen(label), 't');
            printf("\033[0m");
            free(label);
        }
        if (tty) printf("\n");
        for (size_t i = 0; i < n; i++) {
            char *label = token_label(m, ids[i]);
            int ty = (int)llm_token_get_attr(m, ids[i]);
            printf("%4zu %7d  %-8s '", i, (int)ids[i], kinds[ty >= 0 && ty <= 6 ? ty : 0]);
            put_text(stdout, label, strlen(label), 't');
            printf("'\n");
            free(label);
        }
    }
    free(ids);
    llm_model_free(m);
    return 0;
}

/* ------------------------------------------------------------ diff */

/* The error of tensor ib of B against tensor ia of A, over all its rows. */
typedef struct tensor_err {
    double max, sum_sq, ref_sq;
    int64_t n;
} tensor_err;

static bool compare_tensor(const llm_model *a, int64_t ia, const llm_model *b, int64_t ib, tensor_err *e) {
    llm_tensor_info ta = tensor_info(a, ia);
    int64_t rows = n_elements(&ta) / ta.ne[0];
    float *ra = xmalloc(sizeof(float) * (size_t)ta.ne[0]), *rb = xmalloc(sizeof(float) * (size_t)ta.ne[0]);
    memset(e, 0, sizeof *e);
    bool ok = true;
    for (int64_t r = 0; r < rows && ok; r++) {
        ok = llm_model_tensor_row(a, ia, r, ra, NULL) == LLM_OK && llm_model_tensor_row(b, ib, r, rb, NULL) == LLM_OK;
        for (int64_t c = 0; ok && c < ta.ne[0]; c++) {
            double d = (double)rb[c] - ra[c];
            e->max = fmax(e->max, fabs(d));
            e->sum_sq += d * d;
            e->ref_sq += (double)ra[c] * ra[c];
        }
    }
    e->n = rows * ta.ne[0];
    free(ra);
    free(rb);
    return ok;
}

static int64_t find_tensor(const llm_model *m, const char *name, size_t len) {
    for (int64_t i = 0; i < llm_model_n_tensors(m); i++) {
        llm_tensor_info t = tensor_info(m, i);
        if (t.name_len == len && memcmp(t.name, name, len) == 0) return i;
    }
    return -1;
}

static int cmd_diff(const inspect_args *o) {
    llm_model *a = open_model(o, o->model, false), *b = open_model(o, o->arg, false);
    if (!llm_model_n_tensors(a) || !llm_model_n_tensors(b)) die("%s", "diff compares two GGUF files");
    jw w;
    jw_init(&w, stdout);
    if (o->json) jw_open(&w, '[');
    else printf("%-32s %-6s %-6s %12s %12s %12s\n", "name", "A", "B", "max", "rms", "relative");
    for (int64_t i = 0; i < llm_model_n_tensors(a); i++) {
        llm_tensor_info ta = tensor_info(a, i);
        int64_t j = find_tensor(b, ta.name, ta.name_len);
        llm_tensor_info tb = j >= 0 ? tensor_info(b, j) : ta;
        const char *problem = j < 0 ? "missing in B" : memcmp(ta.ne, tb.ne, sizeof ta.ne) ? "shapes differ" : NULL;
        tensor_err e = {0};
        if (!problem && !compare_tensor(a, i, b, j, &e)) problem = "a type libllm does not read";
        double rms = e.n ? sqrt(e.sum_sq / e.n) : 0.0, rel = e.ref_sq > 0 ? sqrt(e.sum_sq / e.ref_sq) : 0.0;
        if (o->json) {
            jw_open(&w, '{');
            jw_key(&w, "name"), jw_str(&w, ta.name, ta.name_len);
            jw_key(&w, "type_a"), jw_cstr(&w, llm_type_name(ta.type));
            jw_key(&w, "type_b"), jw_cstr(&w, j >= 0 ? llm_type_name(tb.type) : NULL);
            if (problem) {
                jw_key(&w, "problem"), jw_cstr(&w, problem);
            } else {
                jw_key(&w, "max"), jw_num(&w, e.max);
                jw_key(&w, "rms"), jw_num(&w, rms);
                jw_key(&w, "relative"), jw_num(&w, rel);
            }
            jw_close(&w, '}');
        } else if (problem) {
            printf("%-32.*s %-6s %-6s %s\n", (int)ta.name_len, ta.name, llm_type_name(ta.type),
                   j >= 0 ? llm_type_name(tb.type) : "-", problem);
        } else {
            printf("%-32.*s %-6s %-6s %12.4g %12.4g %12.4g\n", (int)ta.name_len, ta.name, llm_type_name(ta.type),
                   llm_type_name(tb.type), e.max, rms, rel);
        }
    }
    for (int64_t j = 0; j < llm_model_n_tensors(b); j++) { /* what only B has */
        llm_tensor_info tb = tensor_info(b, j);
        if (find_tensor(a, tb.name, tb.name_len) >= 0) continue;
        if (o->json) {
            jw_open(&w, '{');
            jw_key(&w, "name"), jw_str(&w, tb.name, tb.name_len);
            jw_key(&w, "type_a"), jw_cstr(&w, NULL);
            jw_key(&w, "type_b"), jw_cstr(&w, llm_type_name(tb.type));
            jw_key(&w, "problem"), jw_cstr(&w, "missing in A");
            jw_close(&w, '}');
        } else {
            printf("%-32.*s %-6s %-6s missing in A\n", (int)tb.name_len, tb.name, "-", llm_type_name(tb.type));
        }
    }
    if (o->json) jw_close(&w, ']');
    llm_model_free(a);
    llm_model_free(b);
    return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
    inspect_args o = {.layer = -1, .head = -1, .steps = 8, .top_k = 5};
    const opt table[] = {
        {NULL, "json", OPT_FLAG, &o.json, 0, 0, NULL, "JSON on stdout instead of text (every command)", NULL},
        {NULL, "layer", OPT_INT, &o.layer, 0, 1 << 20, "L", "attention: the layer", NULL},
        {NULL, "head", OPT_INT, &o.head, 0, 1 << 20, "H", "attention: the head (default: a grid of all)", NULL},
        {"o", NULL, OPT_STR, &o.out, 0, 0, "FILE", "attention: write the picture (.svg or .png)", NULL},
        {"n", NULL, OPT_INT, &o.steps, 0, 1 << 16, "N", "trace: generated steps (default 8)", NULL},
        {NULL, "top-k", OPT_INT, &o.top_k, 1, 64, "K", "trace: candidates shown (default 5)", NULL},
        {"z", "tokenizer", OPT_STR, &o.tokenizer, 0, 0, "TOKENIZER",
         "tokenizer.bin of a llama2.c checkpoint (default: beside it)", NULL},
        OPTS_END};
    const char *pos[3] = {NULL, NULL, NULL};
    opts_cmd cmd = {tool_name, synopsis, epilog, table, pos, 3, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    o.cmd = pos[0], o.model = pos[1], o.arg = pos[2];
    static const struct { const char *name; int (*run)(const inspect_args *); bool arg; } cmds[] = {
        {"info", cmd_info, false}, {"tensors", cmd_tensors, false}, {"tokens", cmd_tokens, true},
        {"trace", cmd_trace, true}, {"attention", cmd_attention, true}, {"diff", cmd_diff, true},
    };
    if (!o.cmd) exit(opts_error(&cmd, "no command given"));
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        if (strcmp(o.cmd, cmds[i].name) != 0) continue;
        if (!o.model || cmds[i].arg != (o.arg != NULL))
            exit(opts_error(&cmd, "%s takes %s", o.cmd, cmds[i].arg ? "a model and one more argument" : "a model"));
        return cmds[i].run(&o);
    }
    exit(opts_error(&cmd, "unknown command '%s'", o.cmd));
}
