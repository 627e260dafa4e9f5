/* llm-synth: writes a Llama GGUF file with random weights in the shape of
 * a known model, so that speed can be measured at real sizes without
 * downloading real weights. The vocabulary (every tokenizer.ggml.* key) is
 * copied from a vocabulary-only GGUF file, which also fixes n_vocab.
 *
 * Weights are drawn from normal(0, 0.02) by Box-Muller over a seeded
 * splitmix64 stream, in one fixed order, so a seed gives the same weights
 * in every type (a q8_0 file holds the quantized values of the f32 one).
 * Norm weights are 1 and stay F32, as converters write them.
 *
 * The writer (lib/gguf_write.h) serializes from memory, so the whole model
 * is held in memory once before it is written (about 2.2 GB for the 1.1B
 * shape in F16). */
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "dtype.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "quant.h"
#include "opts.h"
#include "toolutil.h"

const char *const tool_name = "llm-synth";

typedef struct shape {
    const char *name;
    int dim;        /* embedding length */
    int ff;         /* feed-forward hidden length */
    int n_layer;
    int n_head;
    int n_head_kv;
    const char *arch;  /* general.architecture; its tensors are the table's (arch.h) */
    float rope_base;
    bool tied;         /* no output.weight: the classifier is token_embd */
    bool qkv_bias;     /* blk.N.attn_{q,k,v}.bias, the arch's optional tensors */
    bool llama3_rope;  /* rope_freqs.weight with Llama 3.1's scaling */
    int head_dim;      /* attention.key_length; 0: dim / n_head */
    int swa;           /* attention.sliding_window; 0: none */
} shape;

static const shape shapes[] = {
    {"tiny", 64, 128, 2, 4, 2, "llama", 10000.0f, false, false, false, 0, 0},
    {"tiny-256", 256, 768, 4, 4, 2, "llama", 10000.0f, false, false, false, 0, 0},
    {"stories15M", 288, 768, 6, 6, 6, "llama", 10000.0f, false, false, false, 0, 0},
    {"stories110M", 768, 2048, 12, 12, 12, "llama", 10000.0f, false, false, false, 0, 0},
    {"tinyllama-1.1B", 2048, 5632, 22, 32, 4, "llama", 10000.0f, false, false, false, 0, 0},
    {"llama-3.2-1B", 2048, 8192, 16, 32, 8, "llama", 500000.0f, true, false, true, 0, 0},
    {"smollm2-135M", 576, 1536, 30, 9, 3, "llama", 100000.0f, true, false, false, 0, 0},
    {"qwen2.5-0.5B", 896, 4864, 24, 14, 2, "qwen2", 1000000.0f, true, true, false, 0, 0},
    {"tiny-qwen2", 64, 128, 2, 4, 2, "qwen2", 1000000.0f, true, true, false, 0, 0},
    {"tiny-llama3", 64, 128, 2, 4, 2, "llama", 500000.0f, true, false, true, 0, 0},
    {"qwen3-0.6B", 1024, 3072, 28, 16, 8, "qwen3", 1000000.0f, true, false, false, 128, 0},
    {"gemma-3-1B", 1152, 6912, 26, 4, 1, "gemma3", 1000000.0f, true, false, false, 256, 512},
    {"phi-3.5-mini", 3072, 8192, 32, 32, 32, "phi3", 10000.0f, false, false, false, 0, 0},
};

/* ftype is llama.cpp's general.file_type for the mix (LLAMA_FTYPE_*). */
typedef struct wtype {
    const char *name;
    uint32_t dt;      /* matrices */
    uint32_t out_dt;  /* output head */
    uint32_t ftype;
} wtype;

static const wtype wtypes[] = {
    {"f32", LLM_DT_F32, LLM_DT_F32, 0},
    {"f16", LLM_DT_F16, LLM_DT_F16, 1},
    {"bf16", LLM_DT_BF16, LLM_DT_BF16, 32},
    {"q8_0", LLM_DT_Q8_0, LLM_DT_Q8_0, 7},
    {"q4_0", LLM_DT_Q4_0, LLM_DT_Q8_0, 2},
};

#define N_SHAPES (sizeof shapes / sizeof shapes[0])
#define N_WTYPES (sizeof wtypes / sizeof wtypes[0])

static const char synopsis[] =
    "usage: llm-synth --shape NAME --type TYPE --vocab VOCAB.gguf -o OUT.gguf [--seed S]\n"
    "Writes a GGUF with random weights, normal(0, 0.02), norms 1.\n\n";

static const char shapes_help[] =
    "tiny            dim 64,   ffn 128,  2 layers,  4 heads,  2 KV heads\n"
    "tiny-256        dim 256,  ffn 768,  4 layers,  4 heads,  2 KV heads\n"
    "                (rows that fit K-quant blocks of 256)\n"
    "stories15M      dim 288,  ffn 768,  6 layers,  6 heads,  6 KV heads\n"
    "stories110M     dim 768,  ffn 2048, 12 layers, 12 heads, 12 KV heads\n"
    "tinyllama-1.1B  dim 2048, ffn 5632, 22 layers, 32 heads, 4 KV heads\n"
    "llama-3.2-1B    dim 2048, ffn 8192, 16 layers, 32 heads, 8 KV heads,\n"
    "                tied, rope base 500000, Llama 3.1 rope_freqs\n"
    "smollm2-135M    dim 576,  ffn 1536, 30 layers,  9 heads, 3 KV heads,\n"
    "                tied, rope base 100000\n"
    "qwen2.5-0.5B    dim 896,  ffn 4864, 24 layers, 14 heads, 2 KV heads,\n"
    "                qwen2: q/k/v biases, NeoX RoPE, tied, base 1000000\n"
    "tiny-llama3, tiny-qwen2: tiny's sizes with those features\n"
    "qwen3-0.6B      dim 1024, ffn 3072, 28 layers, 16 heads, 8 KV heads of 128,\n"
    "                q/k norms, tied, base 1000000\n"
    "gemma-3-1B      dim 1152, ffn 6912, 26 layers, 4 heads, 1 KV head of 256,\n"
    "                GELU, post-norms, q/k norms, 512-token window in 5 of 6 layers, tied\n"
    "phi-3.5-mini    dim 3072, ffn 8192, 32 layers, 32 heads, 32 KV heads,\n"
    "                fused qkv and gate/up";

/* ---------------------------------------------------------------- random */

typedef struct rng {
    uint64_t state;
    int has_spare;
    double spare;   /* the second value of the last Box-Muller pair */
} rng;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform(rng *r) { return (double)(splitmix64(&r->state) >> 11) * 0x1p-53; }

/* Standard normal by Box-Muller: two uniforms give two independent
 * normals; the second is kept for the next call. 1 - u keeps log's
 * argument in (0, 1]. */
static double normal(rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double radius = sqrt(-2.0 * log(1.0 - uniform(r)));
    double angle = 2.0 * M_PI * uniform(r);
    r->spare = radius * sin(angle);
    r->has_spare = 1;
    return radius * cos(angle);
}

/* ---------------------------------------------------------------- tensors */

/* The writer borrows tensor data until it is serialized, so every buffer
 * is kept here until then. */
typedef struct synth {
    gguf_writer *w;
    rng r;
    void **bufs;    /* (n_bufs) */
    size_t n_bufs;
} synth;

static void check(llm_status s, const llm_error *err) {
    if (s != LLM_OK) die("%s", err->msg);
}

static void encode_row(uint32_t dt, const float *x, void *out, int64_t n) {
    switch (dt) {
    case LLM_DT_F32: memcpy(out, x, (size_t)n * sizeof *x); break;
    case LLM_DT_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)out)[i] = llm_f32_to_f16(x[i]);
        break;
    case LLM_DT_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)out)[i] = llm_f32_to_bf16(x[i]);
        break;
    case LLM_DT_Q8_0: llm_quantize_row_q8_0(x, out, n); break;
    case LLM_DT_Q4_0: llm_quantize_row_q4_0(x, out, n); break;
    }
}

/* Adds tensor `name` of ne = [n, rows] in type dt: random weights, or all
 * ones for a norm (rows 1, F32). Sizes are checked before allocating. */
static void add_tensor(synth *s, const char *name, int64_t n, int64_t rows, uint32_t dt, int ones) {
    uint64_t row_bytes;
    if (!llm_dtype_row_size(dt, (uint64_t)n, &row_bytes))
        die("tensor '%s': a row of %lld is not a whole number of %s blocks", name, (long long)n,
            llm_type_name(dt));
    if (row_bytes > SIZE_MAX / (uint64_t)rows) die("tensor '%s' is too large", name);
    size_t nbytes = (size_t)(row_bytes * (uint64_t)rows);
    unsigned char *data = xmalloc(nbytes);
    float *x = xmalloc((size_t)n * sizeof *x);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++) x[i] = ones ? 1.0f : (float)(0.02 * normal(&s->r));
        encode_row(dt, x, data + (size_t)r * row_bytes, n);
    }
    free(x);
    s->bufs[s->n_bufs++] = data;
    llm_error err;
    int64_t ne[2] = {n, rows};
    check(gguf_writer_add_tensor(s->w, name, rows == 1 ? 1 : 2, ne, dt, data, nbytes, &err), &err);
}

/* Llama 3.1's RoPE scaling as per-pair frequency divisors (the factors
 * llama.cpp's converter writes to rope_freqs.weight): factor 32 for
 * wavelengths beyond the original 8192-token context, 1 below 8192 / 4,
 * and a smooth blend between. */
static void add_llama3_rope_freqs(synth *s, const shape *sh) {
    const double factor = 32, low = 1, high = 4, orig = 8192;
    int n = sh->dim / sh->n_head / 2;
    float *f = xmalloc((size_t)n * sizeof *f);
    for (int i = 0; i < n; i++) {
        double freq = pow(sh->rope_base, -2.0 * i / (2.0 * n)), wavelen = 2 * M_PI / freq;
        double smooth = (orig / wavelen - low) / (high - low);
        f[i] = wavelen < orig / high  ? 1.0f
               : wavelen > orig / low ? (float)factor
                                      : (float)(1 / ((1 - smooth) / factor + smooth));
    }
    s->bufs[s->n_bufs++] = f;
    llm_error err;
    int64_t ne[1] = {n};
    check(gguf_writer_add_tensor(s->w, "rope_freqs.weight", 1, ne, LLM_DT_F32, f, (size_t)n * sizeof *f, &err), &err);
}

static int head_dim(const shape *sh) { return sh->head_dim ? sh->head_dim : sh->dim / sh->n_head; }

/* Every tensor the loader looks for, ne = [inputs, outputs]: the layer
 * tensors of the architecture's table (its optional ones, the q/k/v
 * biases, with qkv_bias). Norm weights are 1, biases random. */
static void add_weights(synth *s, const shape *sh, const wtype *t, int64_t n_vocab) {
    const llm_arch *a = llm_arch_find(sh->arch, strlen(sh->arch));
    llm_hparams h = {.n_embd = sh->dim, .n_ff = sh->ff, .n_head = sh->n_head, .n_head_kv = sh->n_head_kv,
                     .head_dim = head_dim(sh)};
    uint32_t want = a->tensors | (sh->qkv_bias ? a->optional : 0);
    add_tensor(s, "token_embd.weight", sh->dim, n_vocab, sh->tied ? t->out_dt : t->dt, 0);
    if (sh->llama3_rope) add_llama3_rope_freqs(s, sh);
    for (int l = 0; l < sh->n_layer; l++)
        for (int i = 0; i < LLM_LT_COUNT; i++) {
            const llm_layer_tensor *lt = &llm_layer_tensors[i];
            if (!(want & LLM_BIT(i))) continue;
            bool vector = lt->part[0] == LLM_D_ONE;
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, lt->gguf);
            add_tensor(s, name, llm_arch_dim(a, &h, lt->ne0), llm_arch_rows(a, &h, lt), vector ? LLM_DT_F32 : t->dt,
                       vector && strstr(lt->gguf, "norm") != NULL);
        }
    add_tensor(s, "output_norm.weight", sh->dim, 1, LLM_DT_F32, 1);
    if (!sh->tied) add_tensor(s, "output.weight", sh->dim, n_vocab, t->out_dt, 0);
}

/* ---------------------------------------------------------------- vocab */

/* The vocabulary's token count, which becomes the model's n_vocab. */
static int64_t vocab_size(const gguf_file *f, const char *path) {
    uint64_t n;
    const unsigned char *first;
    llm_error err;
    check(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &n, &first, &err), &err);
    if (n == 0 || n > LLM_MAX_VOCAB) die("%s: %llu tokens", path, (unsigned long long)n);
    return (int64_t)n;
}

/* Copies every tokenizer.ggml.* key of the vocabulary file, whatever its
 * type. */
static void copy_vocab(gguf_writer *w, const gguf_file *f) {
    const char prefix[] = "tokenizer.ggml.";
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (kv->key.len < sizeof prefix - 1 || memcmp(kv->key.ptr, prefix, sizeof prefix - 1)) continue;
        llm_error err;
        check(gguf_writer_copy_kv(w, kv, &err), &err);
    }
}

/* ---------------------------------------------------------------- main */

static void add_hparams(gguf_writer *w, const shape *sh, const wtype *t, int64_t n_vocab, uint64_t seed) {
    llm_error err;
    char name[128];
    snprintf(name, sizeof name, "synthetic %s %s (random weights, seed %llu)", sh->name, t->name,
             (unsigned long long)seed);
    struct { const char *key; uint32_t v; } u32s[] = {
        {"vocab_size", (uint32_t)n_vocab},
        {"context_length", 2048},
        {"embedding_length", (uint32_t)sh->dim},
        {"block_count", (uint32_t)sh->n_layer},
        {"feed_forward_length", (uint32_t)sh->ff},
        {"rope.dimension_count", (uint32_t)head_dim(sh)},
        {"attention.head_count", (uint32_t)sh->n_head},
        {"attention.head_count_kv", (uint32_t)sh->n_head_kv},
        {"attention.key_length", (uint32_t)head_dim(sh)},
        {"attention.value_length", (uint32_t)head_dim(sh)},
        {"attention.sliding_window", (uint32_t)sh->swa},
    };
    struct { const char *key; float v; } f32s[] = {
        {"attention.layer_norm_rms_epsilon", 1e-5f}, {"rope.freq_base", sh->rope_base},
    };
    char key[96];
    check(gguf_writer_add_str(w, "general.architecture", sh->arch, &err), &err);
    check(gguf_writer_add_str(w, "general.name", name, &err), &err);
    check(gguf_writer_add_u32(w, "general.file_type", t->ftype, &err), &err);
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", sh->arch, u32s[i].key);
        check(gguf_writer_add_u32(w, key, u32s[i].v, &err), &err);
    }
    for (size_t i = 0; i < sizeof f32s / sizeof f32s[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", sh->arch, f32s[i].key);
        check(gguf_writer_add_f32(w, key, f32s[i].v, &err), &err);
    }
}

static const shape *find_shape(const char *name) {
    for (size_t i = 0; i < N_SHAPES; i++)
        if (strcmp(shapes[i].name, name) == 0) return &shapes[i];
    die("unknown shape '%s' (see --help)", name);
}

static const wtype *find_wtype(const char *name) {
    for (size_t i = 0; i < N_WTYPES; i++)
        if (strcmp(wtypes[i].name, name) == 0) return &wtypes[i];
    die("unknown type '%s' (see --help)", name);
}

int main(int argc, char **argv) {
    const char *shape_name = NULL, *type_name = NULL, *vocab = NULL, *out = NULL;
    uint64_t seed = 1;
    const opt table[] = {
        {NULL, "shape", OPT_STR, &shape_name, 0, 0, "NAME", shapes_help, NULL},
        {NULL, "type", OPT_STR, &type_name, 0, 0, "TYPE",
         "f32, f16, bf16, q8_0 or q4_0 for the weight matrices;\nnorms stay F32; with q4_0 the output head is Q8_0", NULL},
        {NULL, "vocab", OPT_STR, &vocab, 0, 0, "FILE",
         "GGUF whose tokenizer.ggml.* keys are copied; its token\ncount is the model's n_vocab (e.g. 32000 for\n"
         "ggml-vocab-llama-spm.gguf)", NULL},
        {"o", NULL, OPT_STR, &out, 0, 0, "FILE", "output path", NULL},
        {NULL, "seed", OPT_U64, &seed, 0, 0, "S", "seed of the weights (default 1)", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, NULL, table, NULL, 0, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (!shape_name || !type_name || !vocab || !out) exit(opts_error(&cmd, "--shape, --type, --vocab and -o are required"));
    const shape *sh = find_shape(shape_name);
    const wtype *t = find_wtype(type_name);

    llm_error err;
    synth s = {gguf_writer_new(&err), {seed, 0, 0.0}, NULL, 0};
    if (!s.w) die("%s", err.msg);
    s.bufs = xmalloc((size_t)(4 + LLM_LT_COUNT * sh->n_layer) * sizeof *s.bufs);
    gguf_file vf;
    check(gguf_open(&vf, vocab, &err), &err);
    int64_t n_vocab = vocab_size(&vf, vocab);
    add_hparams(s.w, sh, t, n_vocab, seed);
    copy_vocab(s.w, &vf);
    gguf_close(&vf);
    add_weights(&s, sh, t, n_vocab);
    check(gguf_writer_to_file(s.w, out, &err), &err);
    for (size_t i = 0; i < s.n_bufs; i++) free(s.bufs[i]);
    free(s.bufs);
    gguf_writer_free(s.w);
    return 0;
}
