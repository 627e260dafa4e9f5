/* Every architecture libllm runs against llama.cpp: for each model of
 * ../shared/golden/arch (whatever *.gguf is there), every prompt
 * position's logits within tolerance.txt's bound with the same argmax,
 * and the same 32 greedy tokens, through the public API; token by token
 * on every kernel set this CPU runs, and with the prompt as one batch on
 * two threads. */
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "arch_util.h"
#include "gguf.h"
#include "gguf_write.h"
#include "kernels.h"
#include "llm.h"
#include "llm_convert.h"
#include "testutil.h"

static llm_model *load(const char *name) {
    llm_error err;
    llm_model *m = llm_model_load(arch_fixture_model(name), NULL, &err);
    if (!m) fail_msg("%s: %s", name, err.msg);
    return m;
}

/* run(name, fixture) for each fixture of the directory. */
static void each_fixture(void (*run)(const char *name, const arch_fixture *f)) {
    int n;
    char **names = arch_fixture_names(&n);
    for (int i = 0; i < n; i++) {
        arch_fixture f;
        arch_fixture_load(&f, names[i]);
        run(names[i], &f);
        arch_fixture_free(&f);
    }
    arch_names_free(names, n);
}

/* One token per llm_decode, so llm_logits gives every position's row; on
 * every kernel set (a quick run, under valgrind: the scalar one, the
 * reference). */
static void check_kernels(const char *name, const arch_fixture *f) {
    llm_model *m = load(name);
    for (const llm_kernels *const *k = llm_kernels_all(); *k; k++) {
        if (!llm_kernels_get((*k)->name) || (test_quick() && strcmp((*k)->name, "scalar"))) continue;
        llm_ctx_params cp = llm_ctx_default_params();
        cp.kernels = (*k)->name;
        double d = arch_check(m, f, &cp);
        fprintf(stderr, "%-18s %-7s max |logit - llama.cpp| %.3g (bound %g)\n", name, (*k)->name, d, f->tol);
    }
    llm_model_free(m);
}

static void test_token_by_token(void **state) {
    (void)state;
    each_fixture(check_kernels);
}

/* The prompt in one llm_decode (the batched products, two threads): the
 * last position's logits within the bound, then the greedy tokens. */
static void check_batched(const char *name, const arch_fixture *f) {
    llm_model *m = load(name);
    llm_error err;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_threads = 2;
    llm_ctx *ctx = llm_ctx_new(m, &cp, &err);
    if (!ctx || llm_decode(ctx, f->prompt, f->n_prompt, &err)) fail_msg("%s: %s", name, err.msg);
    const float *got = llm_logits(ctx), *want = f->logits + (size_t)(f->n_prompt - 1) * f->n_vocab;
    double d = 0.0;
    for (int v = 0; v < f->n_vocab; v++) d = fmax(d, fabs((double)got[v] - want[v]));
    if (!(d <= f->tol)) fail_msg("%s: batched prompt: last logits differ by %g (bound %g)", name, d, f->tol);
    for (int g = 0; g < f->n_greedy; g++) {
        int32_t tok = arch_argmax(llm_logits(ctx), f->n_vocab);
        if (tok != f->greedy[g])
            fail_msg("%s: after a batched prompt, greedy token %d is %d, llama.cpp's %d", name, g, tok, f->greedy[g]);
        if (llm_decode(ctx, &tok, 1, &err)) fail_msg("%s: %s", name, err.msg);
    }
    llm_ctx_free(ctx);
    llm_model_free(m);
}

static void test_batched(void **state) {
    (void)state;
    each_fixture(check_batched);
}

/* Far past the sliding window and across key blocks of 128: 300 tokens
 * of the Gemmas (window 16) as one batch and one at a time agree on the
 * last logits to float rounding (1e-3; measured ~1e-5), so the window is
 * applied alike in the batched and the single-token paths. */
static void test_long_window(void **state) {
    (void)state;
    static const char *const names[] = {"gemma2", "gemma3"};
    enum { N = 300 };
    for (size_t i = 0; i < 2; i++) {
        arch_fixture f;
        arch_fixture_load(&f, names[i]);
        int32_t ids[N];
        for (int t = 0; t < N; t++) ids[t] = f.prompt[(t * 7) % f.n_prompt];
        llm_model *m = load(names[i]);
        llm_error err;
        llm_ctx *a = llm_ctx_new(m, NULL, &err), *b = llm_ctx_new(m, NULL, &err);
        assert_true(a && b);
        if (llm_decode(a, ids, N, &err)) fail_msg("%s", err.msg);
        for (int t = 0; t < N; t++)
            if (llm_decode(b, &ids[t], 1, &err)) fail_msg("%s", err.msg);
        const float *la = llm_logits(a), *lb = llm_logits(b);
        double d = 0.0;
        for (int v = 0; v < f.n_vocab; v++) d = fmax(d, fabs((double)la[v] - lb[v]));
        if (!(d <= 1e-3)) fail_msg("%s: %d tokens batched vs one at a time: logits differ by %g", names[i], N, d);
        llm_ctx_free(a);
        llm_ctx_free(b);
        llm_model_free(m);
        arch_fixture_free(&f);
    }
}

/* ---------------------------------------------------------------- LongRoPE */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A fixture with one change, written by write_variant. */
typedef struct variant {
    const char *key;       /* an f32 key set to value (added, or replacing the fixture's); NULL: none */
    float value;
    float short_f, long_f; /* LongRoPE factors, 8 (n_rot / 2) of each, original context 256; short 0: none */
    const char *drop;      /* a tensor or key left out; NULL: none */
} variant;

static void write_variant(const char *name, const char *path, const variant *v) {
    gguf_file g;
    llm_error err;
    if (gguf_open(&g, arch_fixture_model(name), &err)) fail_msg("%s", err.msg);
    gguf_writer *w = gguf_writer_new(&err);
    assert_non_null(w);
    for (uint64_t i = 0; i < g.n_kv; i++) {
        gguf_str k = g.kv[i].key;
        if ((v->key && gguf_str_eq(k, v->key)) || (v->drop && gguf_str_eq(k, v->drop))) continue;
        assert_int_equal(gguf_writer_copy_kv(w, &g.kv[i], &err), LLM_OK);
    }
    if (v->key) assert_int_equal(gguf_writer_add_f32(w, v->key, v->value, &err), LLM_OK);
    float s_f[8], l_f[8];
    for (int i = 0; i < 8; i++) s_f[i] = v->short_f, l_f[i] = v->long_f;
    int64_t ne[2] = {8, 1};
    if (v->short_f > 0) {
        char key[96];
        snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", name);
        assert_int_equal(gguf_writer_add_u32(w, key, 256, &err), LLM_OK);
        assert_int_equal(gguf_writer_add_tensor(w, "rope_factors_short.weight", 1, ne, LLM_DT_F32, s_f, sizeof s_f, &err),
                         LLM_OK);
        assert_int_equal(gguf_writer_add_tensor(w, "rope_factors_long.weight", 1, ne, LLM_DT_F32, l_f, sizeof l_f, &err),
                         LLM_OK);
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        if (v->drop && gguf_str_eq(t->name, v->drop)) continue;
        char tname[96];
        snprintf(tname, sizeof tname, "%.*s", (int)t->name.len, t->name.ptr);
        int64_t tne[2] = {t->ne[0], t->ne[1]};
        assert_int_equal(gguf_writer_add_tensor(w, tname, t->n_dims, tne, t->type, t->data, t->nbytes, &err), LLM_OK);
    }
    if (gguf_writer_to_file(w, path, &err)) fail_msg("%s", err.msg);
    gguf_writer_free(w);
    gguf_close(&g);
}

/* The logits after each of the fixture's prompt tokens (n_prompt rows). */
static float *prompt_logits(const char *path, const arch_fixture *f, int n_ctx) {
    llm_error err;
    llm_model *m = llm_model_load(path, NULL, &err);
    if (!m) fail_msg("%s: %s", path, err.msg);
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = n_ctx;
    llm_ctx *c = llm_ctx_new(m, &cp, &err);
    assert_non_null(c);
    float *out = malloc(sizeof(float) * (size_t)f->n_prompt * (size_t)f->n_vocab);
    assert_non_null(out);
    for (int i = 0; i < f->n_prompt; i++) {
        if (llm_decode(c, &f->prompt[i], 1, &err)) fail_msg("%s", err.msg);
        memcpy(out + (size_t)i * f->n_vocab, llm_logits(c), sizeof(float) * (size_t)f->n_vocab);
    }
    llm_ctx_free(c);
    llm_model_free(m);
    return out;
}

/* Phi-3.5's LongRoPE: the short factors divide the frequencies in a
 * context up to the original length, the long ones beyond it. With short
 * factors 4 and long factors 1 the first must equal linear scaling by 4
 * (a division by 4 is the multiplication by 1/4, bit for bit), the second
 * the fixture itself; an attention factor a scales q and k by a. */
static void test_longrope(void **state) {
    (void)state;
    arch_fixture f;
    arch_fixture_load(&f, "phi3");
    char dir[64], lr[128], lin[128], af[128];
    snprintf(dir, sizeof dir, "/tmp/libllm-rope-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(lr, sizeof lr, "%s/longrope.gguf", dir);
    snprintf(lin, sizeof lin, "%s/linear.gguf", dir);
    snprintf(af, sizeof af, "%s/attn-factor.gguf", dir);
    write_variant("phi3", lr, &(variant){.short_f = 4.0f, .long_f = 1.0f});
    write_variant("phi3", lin, &(variant){.key = "phi3.rope.scaling.factor", .value = 4.0f});
    write_variant("phi3", af, &(variant){.key = "phi3.rope.scaling.attn_factor", .value = 2.0f});
    size_t bytes = sizeof(float) * (size_t)f.n_prompt * (size_t)f.n_vocab;
    float *a = prompt_logits(lr, &f, 256), *b = prompt_logits(lin, &f, 256);
    assert_memory_equal(a, b, bytes);
    free(a), free(b);
    a = prompt_logits(lr, &f, 512), b = prompt_logits(arch_fixture_model("phi3"), &f, 512);
    assert_memory_equal(a, b, bytes);
    free(b);
    b = prompt_logits(af, &f, 512);
    double d = 0.0;
    for (size_t i = 0; i < bytes / sizeof(float); i++) d = fmax(d, fabs((double)a[i] - b[i]));
    assert_true(d > 0.1); /* scores 4x sharper */
    free(a), free(b);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    arch_fixture_free(&f);
}

/* Each family's own parts, taken away or made nonsense, give an error
 * naming them, not a model that runs wrong. */
static void test_hostile(void **state) {
    (void)state;
    static const struct { const char *name; variant v; const char *want; } cases[] = {
        {"phi3", {.drop = "blk.1.attn_qkv.weight"}, "missing tensor 'blk.1.attn_qkv.weight'"},
        {"qwen3", {.drop = "blk.2.attn_k_norm.weight"}, "missing tensor 'blk.2.attn_k_norm.weight'"},
        {"gemma3", {.drop = "blk.0.post_ffw_norm.weight"}, "missing tensor 'blk.0.post_ffw_norm.weight'"},
        {"olmo2", {.drop = "output.weight"}, "missing tensor 'output.weight'"},
        {"gemma2", {.key = "gemma2.attn_logit_softcapping", .value = -5.0f}, "gemma2.attn_logit_softcapping"},
        {"granite", {.key = "granite.logit_scale", .value = 0.0f}, "granite.logit_scale"},
        {"phi3", {.short_f = 1.0f, .long_f = 0.0f}, "rope_factors_long.weight"},
    };
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/libllm-hostile-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_variant(cases[i].name, path, &cases[i].v);
        llm_error err;
        llm_model *m = llm_model_load(path, NULL, &err);
        if (m) fail_msg("%s, case %zu: loads", cases[i].name, i);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("%s, case %zu: '%s' does not name '%s'", cases[i].name, i, err.msg, cases[i].want);
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- from Hugging Face */

/* Each fixture written out the way a Hugging Face repository holds such a
 * model (config.json, model.safetensors in HF's names and layouts, the
 * SentencePiece tokenizer of stories260K-hf), converted with
 * llm_convert_hf, and run against the fixture's logits: so the converter's
 * names, keys, q/k row order, Gemma's norms and Llama 3's RoPE factors
 * are checked by what llama.cpp computes, not by a second reading of the
 * same table. */

static char tmp_dir[64];


/* The HF name of a GGUF tensor of architecture arch; NULL to leave it out
 * (llama.cpp's converter derives rope_freqs.weight from config.json). */
static const char *hf_name(const char *arch, const char *gguf, char *buf, size_t cap) {
    bool sandwich = strncmp(arch, "gemma", 5) == 0 || strcmp(arch, "olmo2") == 0;
    static const char *const global[][2] = {
        {"token_embd.weight", "model.embed_tokens.weight"}, {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"}, {"rope_freqs.weight", NULL},
    };
    const char *const layer[][2] = {
        {"attn_norm", "input_layernorm"}, {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"},
        {"attn_v", "self_attn.v_proj"}, {"attn_qkv", "self_attn.qkv_proj"}, {"attn_output", "self_attn.o_proj"},
        {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
        {"post_attention_norm", "post_attention_layernorm"}, {"post_ffw_norm", "post_feedforward_layernorm"},
        {"ffn_gate", "mlp.gate_proj"}, {"ffn_down", "mlp.down_proj"},
        {"ffn_up", strcmp(arch, "phi3") == 0 ? "mlp.gate_up_proj" : "mlp.up_proj"},
        {"ffn_norm", sandwich ? "pre_feedforward_layernorm" : "post_attention_layernorm"},
    };
    for (size_t i = 0; i < sizeof global / sizeof global[0]; i++)
        if (strcmp(gguf, global[i][0]) == 0) return global[i][1];
    int l, pos = 0;
    if (sscanf(gguf, "blk.%d.%n", &l, &pos) != 1 || !pos) fail_msg("%s: unexpected tensor %s", arch, gguf);
    const char *rest = gguf + pos, *dot = strrchr(rest, '.');
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
        if (strlen(layer[i][0]) == (size_t)(dot - rest) && strncmp(rest, layer[i][0], (size_t)(dot - rest)) == 0) {
            snprintf(buf, cap, "model.layers.%d.%s%s", l, layer[i][1], dot);
            return buf;
        }
    fail_msg("%s: no HF name for %s", arch, gguf);
    return NULL;
}

static const char *tensor_hf_name(const char *arch, const gguf_tensor *t, char *buf, size_t cap) {
    char gname[96];
    snprintf(gname, sizeof gname, "%.*s", (int)t->name.len, t->name.ptr);
    return hf_name(arch, gname, buf, cap);
}

/* The fixture's tensors as model.safetensors, F32: HF's q/k rows per head
 * in rotate-half order where the GGUF has them interleaved (norm-RoPE
 * families), Gemma's norms as w - 1 (HF multiplies by 1 + w). */
static void write_safetensors(const char *path, const gguf_file *g, const char *arch, const char *prefix) {
    bool interleaved = !strcmp(arch, "llama") || !strcmp(arch, "smollm3") || !strcmp(arch, "granite");
    bool gemma = strncmp(arch, "gemma", 5) == 0;
    uint32_t heads = 0, kv_heads = 0;
    char key[96];
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    assert_int_equal(gguf_get_u32(g, key, &heads, NULL), LLM_OK);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    assert_int_equal(gguf_get_u32(g, key, &kv_heads, NULL), LLM_OK);
    size_t hcap = 1 << 16, hl = 0, total = 0;
    char *header = malloc(hcap), buf[96];
    assert_non_null(header);
    hl += (size_t)snprintf(header, hcap, "{");
    int n = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        const char *hf = tensor_hf_name(arch, t, buf, sizeof buf);
        if (!hf) continue;
        hl += (size_t)snprintf(header + hl, hcap - hl, "%s\"%s%s\": {\"dtype\": \"F32\", \"shape\": [", n ? ", " : "",
                               prefix, hf);
        if (t->n_dims == 2) hl += (size_t)snprintf(header + hl, hcap - hl, "%lld, ", (long long)t->ne[1]);
        hl += (size_t)snprintf(header + hl, hcap - hl, "%lld], \"data_offsets\": [%zu, %zu]}", (long long)t->ne[0],
                               total, total + (size_t)t->nbytes);
        total += (size_t)t->nbytes;
        n++;
        assert_true(hl < hcap - 256);
    }
    if (*prefix) /* a multimodal checkpoint's vision tower, which conversion leaves out */
        hl += (size_t)snprintf(header + hl, hcap - hl,
                               ", \"vision_tower.patch_embed.weight\": {\"dtype\": \"F32\", \"shape\": [4], "
                               "\"data_offsets\": [%zu, %zu]}", total, total + 16);
    hl += (size_t)snprintf(header + hl, hcap - hl, "}");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t len = hl;
    assert_int_equal(fwrite(&len, 8, 1, f), 1);
    assert_int_equal(fwrite(header, 1, hl, f), hl);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        const char *hf = tensor_hf_name(arch, t, buf, sizeof buf);
        if (!hf) continue;
        const float *src = t->data;
        int64_t cols = t->ne[0], rows = t->n_dims == 2 ? t->ne[1] : 1;
        float *out = malloc((size_t)t->nbytes);
        assert_non_null(out);
        bool q = strstr(hf, "q_proj.weight") != NULL, k = strstr(hf, "k_proj.weight") != NULL;
        int64_t hd = q ? rows / heads : k ? rows / kv_heads : 0;
        for (int64_t r = 0; r < rows; r++) {
            /* GGUF row 2i + j of a head is HF row j * hd/2 + i */
            int64_t to = interleaved && hd ? r / hd * hd + (r % hd % 2) * (hd / 2) + r % hd / 2 : r;
            for (int64_t c = 0; c < cols; c++)
                out[to * cols + c] = src[r * cols + c] - (gemma && strstr(hf, "norm.weight") ? 1.0f : 0.0f);
        }
        assert_int_equal(fwrite(out, 1, (size_t)t->nbytes, f), (size_t)t->nbytes);
        free(out);
    }
    static const float vision[4];
    if (*prefix) assert_int_equal(fwrite(vision, 1, sizeof vision, f), sizeof vision);
    fclose(f);
    free(header);
}

/* GGUF metadata value of ARCH.key as a JSON number ("null" if absent). */
static void json_num(char *buf, size_t cap, const gguf_file *g, const char *arch, const char *key) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    const gguf_kv *kv = gguf_find_kv(g, full);
    uint32_t u;
    float f;
    if (!kv) snprintf(buf, cap, "null");
    else if (gguf_get_u32(g, full, &u, NULL) == LLM_OK) snprintf(buf, cap, "%u", u);
    else if (gguf_get_f32(g, full, &f, NULL) == LLM_OK) snprintf(buf, cap, "%.9g", (double)f);
    else fail_msg("%s: %s is neither u32 nor f32", arch, full);
}

/* config.json as the model's HF repository would have it. */
static void write_config(const char *path, const gguf_file *g, const char *arch, const char *name, bool multimodal) {
    static const char *const keys[][2] = {
        {"hidden_size", "embedding_length"}, {"intermediate_size", "feed_forward_length"},
        {"num_hidden_layers", "block_count"}, {"num_attention_heads", "attention.head_count"},
        {"num_key_value_heads", "attention.head_count_kv"}, {"max_position_embeddings", "context_length"},
        {"rms_norm_eps", "attention.layer_norm_rms_epsilon"}, {"rope_theta", "rope.freq_base"},
        {"head_dim", "attention.key_length"}, {"sliding_window", "attention.sliding_window"},
        {"attn_logit_softcapping", "attn_logit_softcapping"}, {"final_logit_softcapping", "final_logit_softcapping"},
        {"embedding_multiplier", "embedding_scale"}, {"residual_multiplier", "residual_scale"},
        {"attention_multiplier", "attention.scale"}, {"logits_scaling", "logit_scale"},
    };
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    bool gemma = strncmp(arch, "gemma", 5) == 0;
    const char *tied = gguf_find_tensor(g, "output.weight") ? "false" : "true";
    if (multimodal) fprintf(f, "{\"model_type\": \"gemma3\", \"tie_word_embeddings\": %s, \"text_config\": ", tied);
    fprintf(f, "{\"model_type\": \"%s\", \"vocab_size\": 512, \"tie_word_embeddings\": %s, \"%s\": \"%s\"",
            strcmp(arch, "gemma3") == 0 ? "gemma3_text" : arch, tied, gemma ? "hidden_activation" : "hidden_act",
            gemma ? "gelu_pytorch_tanh" : "silu");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char v[64];
        json_num(v, sizeof v, g, arch, keys[i][1]);
        if (strcmp(v, "null")) fprintf(f, ", \"%s\": %s", keys[i][0], v);
    }
    char factor[64];
    json_num(factor, sizeof factor, g, arch, "rope.scaling.factor");
    if (strcmp(factor, "null")) fprintf(f, ", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": %s}", factor);
    if (strcmp(name, "llama-tied-rope3") == 0) /* README: the factors of llama3 8, 1, 4, 64 */
        fprintf(f, ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
                   " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}");
    fprintf(f, multimodal ? "}}\n" : "}\n");
    fclose(f);
}

static void copy_file(const char *from, const char *to) {
    size_t size = 0;
    char *data = test_read_file(from, &size);
    if (!data) fail_msg("cannot read %s", from);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    free(data);
}

/* The fixture as a Hugging Face directory (multimodal: Gemma 3's layout
 * with the text model in text_config and under language_model.),
 * converted and checked. */
static void convert_and_check(const char *name, const arch_fixture *fx, bool multimodal) {
    gguf_file g;
    llm_error err;
    if (gguf_open(&g, arch_fixture_model(name), &err)) fail_msg("%s: %s", name, err.msg);
    gguf_str a;
    assert_int_equal(gguf_get_str(&g, "general.architecture", &a, &err), LLM_OK);
    char arch[32], dir[128], path[256], out[160];
    snprintf(arch, sizeof arch, "%.*s", (int)a.len, a.ptr);
    snprintf(dir, sizeof dir, "%s/%s%s", tmp_dir, name, multimodal ? "-mm" : "");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_config(path, &g, arch, name, multimodal);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_safetensors(path, &g, arch, multimodal ? "language_model." : "");
    gguf_close(&g);
    static const char *const tok_files[] = {"tokenizer.model", "tokenizer_config.json"};
    for (int t = 0; t < 2; t++) {
        char from[256];
        snprintf(from, sizeof from, "stories260K-hf/%s", tok_files[t]);
        snprintf(path, sizeof path, "%s/%s", dir, tok_files[t]);
        copy_file(test_model_path(from), path);
    }
    snprintf(out, sizeof out, "%s.gguf", dir);
    if (llm_convert_hf(dir, out, NULL, &err)) fail_msg("%s: llm_convert_hf: %s", name, err.msg);
    llm_model *m = llm_model_load(out, NULL, &err);
    if (!m) fail_msg("%s: converted: %s", name, err.msg);
    double d = arch_check(m, fx, NULL);
    fprintf(stderr, "%-18s from HF%s: max |logit - llama.cpp| %.3g\n", name, multimodal ? " (multimodal)" : "", d);
    llm_model_free(m);
}

static void check_from_hf(const char *name, const arch_fixture *fx) {
    convert_and_check(name, fx, false);
    if (strcmp(name, "gemma3") == 0) convert_and_check(name, fx, true);
}

static void test_from_hf(void **state) {
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/libllm-arch-XXXXXX");
    assert_non_null(mkdtemp(tmp_dir));
    each_fixture(check_from_hf);
    nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_by_token),
        cmocka_unit_test(test_batched),
        cmocka_unit_test(test_long_window),
        cmocka_unit_test(test_longrope),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_from_hf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
