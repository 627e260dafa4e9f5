/* llm-convert and llm-quantize, through lib/convert.h and lib/quantize.h:
 *  - stories260K from llama2.c (tokenizer.bin and SentencePiece .model)
 *    and from Hugging Face (F32) gives stories260K.gguf's tensors and
 *    tokenizer metadata, value for value, and every golden case;
 *  - the sharded BF16 checkpoint gives the F32 weights rounded to BF16
 *    and logits within a stated distance of the F32 model's;
 *  - a GPT-2 tokenizer.json carries the vocabulary, merges and
 *    pre-tokenizer of llama.cpp's own gpt-2 vocabulary file;
 *  - quantizing stories260K.gguf reproduces llama.cpp's Q8_0 and Q4_0
 *    files tensor for tensor, byte for byte;
 *  - malformed checkpoints, built here in a temporary directory, fail with
 *    a message naming the file and the field, and no failed run leaves a
 *    file under the output name or replaces an input. */
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "llm_convert.h"
#include "dtype.h"
#include "fixture.h"
#include "gguf.h"
#include "golden_util.h"
#include "llm.h"
#include "quantize.h"
#include "safetensors.h"
#include "spm_model.h"
#include "testutil.h"
#include "vocab.h"

/* The temporary directory of the run, made by the group setup. */
static char tmp_dir[64];

/* tmp_dir/name in buf. */
static const char *tmp(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/libllm-convert-XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

/* No file but the expected ones in dir: a failed run left no temporary. */
static void expect_files(const char *dir, int n) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int count = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) count++;
    closedir(d);
    assert_int_equal(count, n);
}

static void check_ok(llm_status s, const llm_error *err) {
    if (s) fprintf(stderr, "%s\n", err->msg);
    assert_int_equal(s, LLM_OK);
}

/* ---------------------------------------------------------------- comparing GGUF */

static uint32_t vsize(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    default: return 8;
    }
}

/* Same type and value (strings and arrays element by element). */
static bool kv_equal(const gguf_kv *a, const gguf_kv *b) {
    if (a->type != b->type) return false;
    const unsigned char *pa = a->val, *pb = b->val;
    if (a->type == GGUF_STRING) {
        gguf_str x = gguf_next_str(&pa), y = gguf_next_str(&pb);
        return x.len == y.len && memcmp(x.ptr, y.ptr, (size_t)x.len) == 0;
    }
    if (a->type != GGUF_ARRAY) return memcmp(pa, pb, vsize(a->type)) == 0;
    if (a->arr_type != b->arr_type || a->arr_n != b->arr_n) return false;
    if (a->arr_type != GGUF_STRING) return memcmp(pa, pb, (size_t)a->arr_n * vsize(a->arr_type)) == 0;
    for (uint64_t i = 0; i < a->arr_n; i++) {
        gguf_str x = gguf_next_str(&pa), y = gguf_next_str(&pb);
        if (x.len != y.len || memcmp(x.ptr, y.ptr, (size_t)x.len)) return false;
    }
    return true;
}

static const gguf_kv *find_kv_str(const gguf_file *f, gguf_str key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key.len == key.len && memcmp(f->kv[i].key.ptr, key.ptr, (size_t)key.len) == 0)
            return &f->kv[i];
    return NULL;
}

static bool has_prefix(gguf_str s, const char *p) {
    return s.len >= strlen(p) && memcmp(s.ptr, p, strlen(p)) == 0;
}

/* tokenizer.ggml.* of mine equal ref's: every key of ref is in mine with
 * the same value, except ids ref marks "none" (0xFFFFFFFF), which mine may
 * leave out; mine may add only the add_* flags, which must then mean what
 * the loader assumes without them. */
static void expect_same_tokenizer(const char *mine, const char *ref) {
    gguf_file a, b;
    llm_error err;
    check_ok(gguf_open(&a, mine, &err), &err);
    check_ok(gguf_open(&b, ref, &err), &err);
    for (uint64_t i = 0; i < b.n_kv; i++) {
        const gguf_kv *r = &b.kv[i];
        if (!has_prefix(r->key, "tokenizer.ggml.")) continue;
        const gguf_kv *m = find_kv_str(&a, r->key);
        bool none = r->type == GGUF_U32 && gguf_rd_u32(r->val) == UINT32_MAX;
        if (!m && none) continue;
        if (!m || !kv_equal(m, r)) fprintf(stderr, "%.*s differs\n", (int)r->key.len, r->key.ptr);
        assert_non_null(m);
        assert_true(kv_equal(m, r));
    }
    for (uint64_t i = 0; i < a.n_kv; i++) {
        const gguf_kv *m = &a.kv[i];
        if (!has_prefix(m->key, "tokenizer.ggml.") || find_kv_str(&b, m->key)) continue;
        assert_true(gguf_str_eq(m->key, "tokenizer.ggml.add_bos_token") ||
                    gguf_str_eq(m->key, "tokenizer.ggml.add_eos_token") ||
                    gguf_str_eq(m->key, "tokenizer.ggml.add_space_prefix"));
    }
    llm_vocab va, vb;
    check_ok(llm_vocab_from_gguf(&va, &a, &err), &err);
    check_ok(llm_vocab_from_gguf(&vb, &b, &err), &err);
    assert_int_equal(va.add_bos, vb.add_bos);
    assert_int_equal(va.add_space_prefix, vb.add_space_prefix);
    llm_vocab_free(&va);
    llm_vocab_free(&vb);
    gguf_close(&a);
    gguf_close(&b);
}

static float *tensor_values(const gguf_tensor *t) {
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    uint64_t row;
    assert_true(llm_dtype_row_size(t->type, (uint64_t)t->ne[0], &row));
    for (int64_t r = 0; r < n / t->ne[0]; r++)
        llm_dtype(t->type)->to_f32((const unsigned char *)t->data + (uint64_t)r * row, x + r * t->ne[0], t->ne[0]);
    return x;
}

/* The same tensors, shapes and values. With round_bf16, mine holds BF16
 * matrices and their values must be ref's rounded to BF16. */
static void expect_same_tensors(const char *mine, const char *ref, bool round_bf16) {
    gguf_file a, b;
    llm_error err;
    check_ok(gguf_open(&a, mine, &err), &err);
    check_ok(gguf_open(&b, ref, &err), &err);
    assert_int_equal(a.n_tensors, b.n_tensors);
    for (uint64_t i = 0; i < b.n_tensors; i++) {
        const gguf_tensor *r = &b.tensors[i];
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)r->name.len, r->name.ptr);
        const gguf_tensor *m = gguf_find_tensor(&a, name);
        assert_non_null(m);
        assert_memory_equal(m->ne, r->ne, sizeof m->ne);
        assert_int_equal(m->type, round_bf16 && r->n_dims == 2 ? LLM_DT_BF16 : r->type);
        float *x = tensor_values(m), *y = tensor_values(r);
        int64_t n = r->ne[0] * r->ne[1];
        for (int64_t j = 0; j < n; j++) {
            float want = round_bf16 ? llm_bf16_to_f32(llm_f32_to_bf16(y[j])) : y[j];
            if (memcmp(&x[j], &want, 4)) fprintf(stderr, "%s[%lld]: %g, expected %g\n", name, (long long)j, x[j], want);
            assert_memory_equal(&x[j], &want, 4);
        }
        free(x);
        free(y);
    }
    gguf_close(&a);
    gguf_close(&b);
}

static void expect_golden(const char *path) {
    llm_error err;
    llm_model *m = llm_model_load(path, NULL, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    llm_ctx_params cp = llm_ctx_default_params();
    golden_run_cases(m, &cp);
    llm_model_free(m);
}

/* Counts the reports, to see that progress covers every tensor once. */
typedef struct tally {
    uint64_t calls, last_index, count, total;
} tally;

static void count_report(void *ud, const llm_tensor_report *r) {
    tally *t = ud;
    t->calls++;
    assert_int_equal(r->index, t->last_index + 1);
    t->last_index = r->index;
    t->count = r->count;
    t->total = r->total;
}

/* ---------------------------------------------------------------- llama2.c and HF */

static void convert_llama2c(const char *tok, const char *out) {
    char model[4096], tokp[4096];
    snprintf(model, sizeof model, "%s", test_model_path("stories260K.bin"));
    snprintf(tokp, sizeof tokp, "%s", test_model_path(tok));
    tally t = {0};
    llm_convert_params p = llm_convert_default_params();
    p.report = count_report;
    p.report_ud = &t;
    llm_error err;
    check_ok(llm_convert_llama2c(model, tokp, out, &p, &err), &err);
    assert_int_equal(t.calls, 48);
    assert_int_equal(t.count, 48);
}

static void test_llama2c_tokenizer_bin(void **state) {
    (void)state;
    char out[256];
    tmp(out, sizeof out, "l2c-bin.gguf");
    convert_llama2c("tok512.bin", out);
    expect_same_tensors(out, test_model_path("stories260K.gguf"), false);
    expect_same_tokenizer(out, test_model_path("stories260K.gguf"));
    expect_golden(out);
}

static void test_llama2c_tokenizer_model(void **state) {
    (void)state;
    char out[256];
    tmp(out, sizeof out, "l2c-model.gguf");
    convert_llama2c("tok512.model", out);
    expect_same_tensors(out, test_model_path("stories260K.gguf"), false);
    expect_same_tokenizer(out, test_model_path("stories260K.gguf"));
    expect_golden(out);
}

static void convert_hf(const char *dir, const char *out, uint32_t type) {
    char path[4096];
    snprintf(path, sizeof path, "%s", test_model_path(dir));
    llm_convert_params p = llm_convert_default_params();
    p.type = type;
    llm_error err;
    check_ok(llm_convert_hf(path, out, &p, &err), &err);
}

/* Equal tensors also prove the q/k rows were put back in GGUF's order. */
static void test_hf_f32(void **state) {
    (void)state;
    char out[256];
    tmp(out, sizeof out, "hf.gguf");
    convert_hf("stories260K-hf", out, LLM_CONVERT_KEEP);
    expect_same_tensors(out, test_model_path("stories260K.gguf"), false);
    expect_same_tokenizer(out, test_model_path("stories260K.gguf"));
    expect_golden(out);
}

/* Logits of a converted model against stories260K.gguf's, position by
 * position over the golden story. BF16 keeps 8 bits of mantissa, so each
 * weight moves by up to 2^-9 of itself; measured with the BF16 shards:
 * largest difference 0.14 (logits are of magnitude ~10), the same top
 * token at 256 of 257 positions (F16: 0.011, all 257). The bounds leave
 * room for other kernel sets' rounding: |difference| <= 0.3 everywhere,
 * the same top token at >= 95% of the positions. */
static void expect_close_logits(const char *path, const char *ref) {
    llm_error err;
    llm_model *a = llm_model_load(path, NULL, &err), *b = llm_model_load(ref, NULL, &err);
    assert_non_null(a);
    assert_non_null(b);
    llm_ctx *ca = llm_ctx_new(a, NULL, &err), *cb = llm_ctx_new(b, NULL, &err);
    assert_non_null(ca);
    assert_non_null(cb);
    golden g;
    golden_load(&g, test_quick() ? "beach-128" : "noprompt-256"); /* quick: under valgrind */
    int n_vocab = llm_model_n_vocab(b), same_top = 0;
    float worst = 0.0f;
    for (int i = -1; i < g.n_ids; i++) {
        int32_t tok = i < 0 ? llm_token_bos(b) : g.ids[i];
        assert_int_equal(llm_decode(ca, &tok, 1, &err), LLM_OK);
        assert_int_equal(llm_decode(cb, &tok, 1, &err), LLM_OK);
        const float *x = llm_logits(ca), *y = llm_logits(cb);
        int ta = 0, tb = 0;
        for (int v = 0; v < n_vocab; v++) {
            float d = fabsf(x[v] - y[v]);
            if (d > worst) worst = d;
            if (x[v] > x[ta]) ta = v;
            if (y[v] > y[tb]) tb = v;
        }
        same_top += ta == tb;
    }
    if (worst > 0.3f || same_top * 100 < 95 * (g.n_ids + 1))
        fprintf(stderr, "%s: largest logit difference %.4f, same top token at %d of %d positions\n", path,
                (double)worst, same_top, g.n_ids + 1);
    assert_true(worst <= 0.3f);
    assert_true(same_top * 100 >= 95 * (g.n_ids + 1));
    golden_free(&g);
    llm_ctx_free(ca);
    llm_ctx_free(cb);
    llm_model_free(a);
    llm_model_free(b);
}

/* Two shards, layer 2 split between them, BF16. */
static void test_hf_sharded_bf16(void **state) {
    (void)state;
    char out[256], out32[256];
    tmp(out, sizeof out, "sharded.gguf");
    tmp(out32, sizeof out32, "sharded-f32.gguf");
    convert_hf("stories260K-hf-sharded", out, LLM_CONVERT_KEEP);
    expect_same_tensors(out, test_model_path("stories260K.gguf"), true);
    expect_close_logits(out, test_model_path("stories260K.gguf"));
    /* widened to F32, the same values in F32 tensors */
    convert_hf("stories260K-hf-sharded", out32, LLM_DT_F32);
    gguf_file f;
    llm_error err;
    check_ok(gguf_open(&f, out32, &err), &err);
    assert_int_equal(gguf_find_tensor(&f, "blk.2.ffn_gate.weight")->type, LLM_DT_F32);
    gguf_close(&f);
    expect_close_logits(out32, test_model_path("stories260K.gguf"));
}

/* The F32 checkpoint narrowed to F16 on the way: it still generates. */
static void test_hf_to_f16(void **state) {
    (void)state;
    char out[256];
    tmp(out, sizeof out, "hf-f16.gguf");
    convert_hf("stories260K-hf", out, LLM_DT_F16);
    gguf_file f;
    llm_error err;
    check_ok(gguf_open(&f, out, &err), &err);
    assert_int_equal(gguf_find_tensor(&f, "blk.0.attn_q.weight")->type, LLM_DT_F16);
    assert_int_equal(gguf_find_tensor(&f, "blk.0.attn_norm.weight")->type, LLM_DT_F32);
    uint32_t ftype;
    check_ok(gguf_get_u32(&f, "general.file_type", &ftype, &err), &err);
    assert_int_equal(ftype, 1);
    gguf_close(&f);
    expect_close_logits(out, test_model_path("stories260K.gguf"));
}

/* GPT-2's byte-level BPE: tokens, types, merges, pre-tokenizer and
 * special ids as llama.cpp's own gpt-2 vocabulary file has them; tied
 * embeddings give no output tensor; the model loads and tokenizes. */
static void test_hf_gpt2_vocab(void **state) {
    (void)state;
    char out[256];
    tmp(out, sizeof out, "gpt2.gguf");
    convert_hf("tiny-gpt2vocab-hf", out, LLM_CONVERT_KEEP);
    gguf_file a, b;
    llm_error err;
    check_ok(gguf_open(&a, out, &err), &err);
    check_ok(gguf_open(&b, test_model_path("vocab/ggml-vocab-gpt-2.gguf"), &err), &err);
    const char *keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                          "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
                          "tokenizer.ggml.eos_token_id"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const gguf_kv *x = gguf_find_kv(&a, keys[i]), *y = gguf_find_kv(&b, keys[i]);
        assert_non_null(x);
        assert_non_null(y);
        if (!kv_equal(x, y)) fprintf(stderr, "%s differs\n", keys[i]);
        assert_true(kv_equal(x, y));
    }
    assert_null(gguf_find_tensor(&a, "output.weight"));
    assert_int_equal(gguf_find_tensor(&a, "token_embd.weight")->type, LLM_DT_BF16);
    gguf_close(&a);
    gguf_close(&b);
    llm_model *m = llm_model_load(out, NULL, &err);
    if (!m) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(m);
    int32_t ids[8];
    size_t n;
    check_ok(llm_tokenize(m, "Hello world", 11, ids, 8, &n, 0, &err), &err);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 15496); /* "Hello", " world" in GPT-2's vocabulary */
    assert_int_equal(ids[1], 995);
    llm_ctx *ctx = llm_ctx_new(m, NULL, &err);
    assert_non_null(ctx);
    check_ok(llm_decode(ctx, ids, 2, &err), &err);
    llm_ctx_free(ctx);
    llm_model_free(m);
    /* tied: token_embd is the output head, which Q4_0 quantizing keeps Q8_0 */
    char q4[256];
    tmp(q4, sizeof q4, "gpt2-q4_0.gguf");
    llm_quantize_params qp = {.type = LLM_DT_Q4_0};
    check_ok(llm_quantize_file(out, q4, &qp, &err), &err);
    check_ok(gguf_open(&a, q4, &err), &err);
    assert_int_equal(gguf_find_tensor(&a, "token_embd.weight")->type, LLM_DT_Q8_0);
    assert_int_equal(gguf_find_tensor(&a, "blk.0.attn_q.weight")->type, LLM_DT_Q4_0);
    gguf_close(&a);
    unlink(q4);
}

/* ---------------------------------------------------------------- quantize */

/* Quantizes stories260K.gguf as the fixture was made (FFN kept F32) and
 * compares every tensor of the fixture with ours: type, shape, bytes. */
static void expect_quantized_like(const char *fixture, uint32_t type) {
    char out[256];
    tmp(out, sizeof out, "quantized.gguf");
    llm_quant_rule keep_ffn = {"ffn_", LLM_DT_F32};
    llm_quantize_params p = {.type = type, .rules = &keep_ffn, .n_rules = 1};
    llm_error err;
    check_ok(llm_quantize_file(test_model_path("stories260K.gguf"), out, &p, &err), &err);
    gguf_file a, b;
    check_ok(gguf_open(&a, out, &err), &err);
    check_ok(gguf_open(&b, test_model_path(fixture), &err), &err);
    assert_int_equal(a.n_tensors, b.n_tensors);
    for (uint64_t i = 0; i < b.n_tensors; i++) {
        const gguf_tensor *r = &b.tensors[i];
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)r->name.len, r->name.ptr);
        const gguf_tensor *m = gguf_find_tensor(&a, name);
        assert_non_null(m);
        if (m->type != r->type) fprintf(stderr, "%s: %s, fixture %s\n", name, llm_type_name(m->type),
                                        llm_type_name(r->type));
        assert_int_equal(m->type, r->type);
        assert_memory_equal(m->ne, r->ne, sizeof m->ne);
        assert_int_equal(m->nbytes, r->nbytes);
        assert_memory_equal(m->data, r->data, (size_t)r->nbytes);
    }
    const char *same[] = {"general.file_type", "general.quantization_version", "tokenizer.ggml.tokens",
                          "llama.feed_forward_length"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        assert_true(kv_equal(gguf_find_kv(&a, same[i]), gguf_find_kv(&b, same[i])));
    gguf_close(&a);
    gguf_close(&b);
    assert_int_equal(unlink(out), 0);
}

static void test_quantize_q8_0(void **state) {
    (void)state;
    expect_quantized_like("stories260K-q8_0.gguf", LLM_DT_Q8_0);
}

static void test_quantize_q4_0(void **state) {
    (void)state;
    expect_quantized_like("stories260K-q4_0.gguf", LLM_DT_Q4_0);
}

/* What each tensor got and why, by name. */
typedef struct seen {
    char name[64];
    uint32_t to;
    char note[160];
} seen;

typedef struct seen_list {
    seen items[64];
    int n;
} seen_list;

static void record(void *ud, const llm_tensor_report *r) {
    seen_list *l = ud;
    assert_true(l->n < 64);
    seen *s = &l->items[l->n++];
    snprintf(s->name, sizeof s->name, "%s", r->name);
    s->to = r->to;
    snprintf(s->note, sizeof s->note, "%s", r->note ? r->note : "");
}

static const seen *seen_find(const seen_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
    fail_msg("no report for %s", name);
    return NULL;
}

/* Without rules: 172-long rows cannot be Q4_0 and fall back to F16 with a
 * note naming the row length; the output head gets Q8_0; norms F32. The
 * file loads and generates. */
static void test_quantize_fallback(void **state) {
    (void)state;
    char out[256];
    tmp(out, sizeof out, "q4-default.gguf");
    seen_list l = {0};
    llm_quantize_params p = {.type = LLM_DT_Q4_0, .report = record, .report_ud = &l};
    llm_error err;
    check_ok(llm_quantize_file(test_model_path("stories260K.gguf"), out, &p, &err), &err);
    assert_int_equal(l.n, 48);
    const seen *down = seen_find(&l, "blk.3.ffn_down.weight");
    assert_int_equal(down->to, LLM_DT_F16);
    assert_non_null(strstr(down->note, "172"));
    assert_int_equal(seen_find(&l, "blk.3.ffn_gate.weight")->to, LLM_DT_Q4_0);
    assert_int_equal(seen_find(&l, "output.weight")->to, LLM_DT_Q8_0);
    assert_int_equal(seen_find(&l, "blk.0.attn_norm.weight")->to, LLM_DT_F32);
    assert_int_equal(seen_find(&l, "token_embd.weight")->to, LLM_DT_Q4_0);
    assert_string_equal(seen_find(&l, "token_embd.weight")->note, "");
    llm_model *m = llm_model_load(out, NULL, &err);
    assert_non_null(m);
    llm_ctx *ctx = llm_ctx_new(m, NULL, &err);
    int32_t bos = llm_token_bos(m);
    check_ok(llm_decode(ctx, &bos, 1, &err), &err);
    llm_ctx_free(ctx);
    llm_model_free(m);
    /* and back up to F16 from Q4_0: blocks decode to floats */
    char f16[256];
    tmp(f16, sizeof f16, "from-q4.gguf");
    llm_quantize_params back = {.type = LLM_DT_F16};
    check_ok(llm_quantize_file(out, f16, &back, &err), &err);
    gguf_file a, b;
    check_ok(gguf_open(&a, f16, &err), &err);
    check_ok(gguf_open(&b, out, &err), &err);
    float *x = tensor_values(gguf_find_tensor(&a, "token_embd.weight"));
    float *y = tensor_values(gguf_find_tensor(&b, "token_embd.weight"));
    for (int i = 0; i < 64 * 512; i++) assert_true(fabsf(x[i] - y[i]) <= 1e-3f * fabsf(y[i]) + 1e-7f);
    free(x);
    free(y);
    gguf_close(&a);
    gguf_close(&b);
    unlink(out);
    unlink(f16);
}

/* The input is never the output, by name or through a link; the input is
 * untouched afterwards. */
static void test_quantize_refuses_input(void **state) {
    (void)state;
    char in[256], link_path[256];
    tmp(in, sizeof in, "input.gguf");
    tmp(link_path, sizeof link_path, "link.gguf");
    size_t size;
    char *orig = test_read_file(test_model_path("stories260K.gguf"), &size);
    assert_non_null(orig);
    write_file(in, orig, size);
    assert_int_equal(symlink(in, link_path), 0);
    llm_quantize_params p = {.type = LLM_DT_Q8_0};
    assert_fails(llm_quantize_file(in, in, &p, err), LLM_ERR_INVALID_ARG, "is the input");
    assert_fails(llm_quantize_file(in, link_path, &p, err), LLM_ERR_INVALID_ARG, "is a symbolic link");
    assert_fails(llm_quantize_file(link_path, in, &p, err), LLM_ERR_INVALID_ARG, "is the input");
    size_t after_size;
    char *after = test_read_file(in, &after_size);
    assert_int_equal(after_size, size);
    assert_memory_equal(after, orig, size);
    free(after);
    free(orig);
    unlink(link_path);
    unlink(in);
}

/* ---------------------------------------------------------------- hostile checkpoints */

/* A tiny Llama as a Hugging Face directory, written here: dim 16, ffn 32,
 * one layer, 2 heads, 1 KV head, a byte-level BPE vocabulary of 8 tokens.
 * The fields below plant one defect each. */
typedef struct hf_spec {
    const char *config;       /* config.json text, replacing the good one */
    const char *tokenizer;    /* tokenizer.json text, replacing the good one */
    const char *omit;         /* tensor left out */
    const char *extra;        /* tensor added ([4], F32) */
    const char *retype;       /* tensor whose dtype is written as dtype */
    const char *dtype;
    const char *past_end;     /* tensor whose data_offsets end past the data */
    const char *short_span;   /* tensor whose data_offsets span 4 bytes too few */
    bool header_too_long;     /* header length beyond the file */
    bool sharded;             /* two shards and an index */
    bool f16;                 /* F16 tensors instead of F32 */
    const char *index_entry;  /* with sharded: an extra weight_map entry, raw JSON */
} hf_spec;

static const char good_config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 16,"
    " \"intermediate_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
    " \"num_key_value_heads\": 1, \"vocab_size\": 8, \"max_position_embeddings\": 64,"
    " \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, \"hidden_act\": \"silu\","
    " \"tie_word_embeddings\": false, \"bos_token_id\": 7, \"eos_token_id\": 7}";

static const char good_tokenizer[] =
    "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 7, \"content\": \"<|end|>\", \"special\": true}],"
    " \"normalizer\": null,"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
    " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"\\u0120\": 3, \"ab\": 4,"
    " \"\\u0120a\": 5, \"abc\": 6, \"<|end|>\": 7}, \"merges\": [\"a b\", [\"\\u0120\", \"a\"], \"ab c\"]}}";

typedef struct st_def {
    char name[64];
    uint64_t shape[2];
    int n_dims;
} st_def;

/* The tiny model's tensors in HF names and shapes (rows first). */
static int tiny_tensors(st_def *d) {
    int n = 0;
    struct { const char *name; uint64_t r, c; } t[] = {
        {"model.embed_tokens.weight", 8, 16}, {"model.norm.weight", 16, 0}, {"lm_head.weight", 8, 16},
        {"model.layers.0.input_layernorm.weight", 16, 0}, {"model.layers.0.self_attn.q_proj.weight", 16, 16},
        {"model.layers.0.self_attn.k_proj.weight", 8, 16}, {"model.layers.0.self_attn.v_proj.weight", 8, 16},
        {"model.layers.0.self_attn.o_proj.weight", 16, 16},
        {"model.layers.0.post_attention_layernorm.weight", 16, 0},
        {"model.layers.0.mlp.gate_proj.weight", 32, 16}, {"model.layers.0.mlp.up_proj.weight", 32, 16},
        {"model.layers.0.mlp.down_proj.weight", 16, 32},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++, n++) {
        snprintf(d[n].name, sizeof d[n].name, "%s", t[i].name);
        d[n].shape[0] = t[i].r;
        d[n].shape[1] = t[i].c;
        d[n].n_dims = t[i].c ? 2 : 1;
    }
    return n;
}

static bool is(const char *field, const char *name) { return field && strcmp(field, name) == 0; }

/* Writes defs[from..to) as a safetensors file with the spec's defects. */
static void write_safetensors(const char *path, const st_def *defs, int from, int to, const hf_spec *s) {
    char header[8192];
    size_t hl = 0;
    uint64_t off = 0;
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "{\"__metadata__\": {\"format\": \"pt\"}");
    for (int i = from; i < to; i++) {
        const st_def *d = &defs[i];
        if (is(s->omit, d->name)) continue;
        const char *dtype = is(s->retype, d->name) ? s->dtype : s->f16 ? "F16" : "F32";
        uint64_t es = strcmp(dtype, "I64") == 0 ? 8 : strcmp(dtype, "F16") == 0 ? 2 : 4;
        uint64_t bytes = es * d->shape[0] * (d->n_dims == 2 ? d->shape[1] : 1);
        uint64_t end = off + bytes - (is(s->short_span, d->name) ? 4 : 0);
        if (is(s->past_end, d->name)) end += 1 << 20;
        hl += (size_t)snprintf(header + hl, sizeof header - hl, ", \"%s\": {\"dtype\": \"%s\", \"shape\": [%llu",
                               d->name, dtype, (unsigned long long)d->shape[0]);
        if (d->n_dims == 2) hl += (size_t)snprintf(header + hl, sizeof header - hl, ", %llu", (unsigned long long)d->shape[1]);
        hl += (size_t)snprintf(header + hl, sizeof header - hl, "], \"data_offsets\": [%llu, %llu]}",
                               (unsigned long long)off, (unsigned long long)end);
        off += bytes;
    }
    if (s->extra && from == 0) {
        hl += (size_t)snprintf(header + hl, sizeof header - hl,
                               ", \"%s\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [%llu, %llu]}",
                               s->extra, (unsigned long long)off, (unsigned long long)off + 16);
        off += 16;
    }
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
    while (hl % 8) header[hl++] = ' ';
    assert_true(hl < sizeof header);
    size_t size = 8 + hl + (size_t)off;
    unsigned char *file = malloc(size);
    assert_non_null(file);
    uint64_t lenfield = s->header_too_long ? (uint64_t)size : (uint64_t)hl;
    for (int i = 0; i < 8; i++) file[i] = (unsigned char)(lenfield >> (8 * i));
    memcpy(file + 8, header, hl);
    uint64_t es = s->f16 ? 2 : 4;
    for (uint64_t i = 0; i < off / es; i++) { /* smooth values: norms and weights alike */
        float v = 0.5f + 0.25f * sinf((float)i * 0.37f);
        uint16_t h = llm_f32_to_f16(v);
        memcpy(file + 8 + hl + es * i, s->f16 ? (const void *)&h : (const void *)&v, es);
    }
    write_file(path, file, size);
    free(file);
}

/* Writes the tiny model into dir (made empty first). */
static void write_hf(const char *dir, const hf_spec *s) {
    char path[512];
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, s->config ? s->config : good_config);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_text(path, s->tokenizer ? s->tokenizer : good_tokenizer);
    st_def defs[16];
    int n = tiny_tensors(defs);
    if (!s->sharded) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        write_safetensors(path, defs, 0, n, s);
        return;
    }
    const char *shard[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, shard[k]);
        write_safetensors(path, defs, k ? n / 2 : 0, k ? n : n / 2, s);
    }
    char index[8192];
    size_t il = (size_t)snprintf(index, sizeof index, "{\"metadata\": {}, \"weight_map\": {");
    for (int i = 0; i < n; i++)
        if (!is(s->omit, defs[i].name))
            il += (size_t)snprintf(index + il, sizeof index - il, "%s\"%s\": \"%s\"", i ? ", " : "", defs[i].name,
                                   shard[i >= n / 2]);
    snprintf(index + il, sizeof index - il, "%s%s}}", s->index_entry ? ", " : "", s->index_entry ? s->index_entry : "");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_text(path, index);
}

/* Converting the tiny model with spec's defect fails with want, a message
 * holding file and field, and leaves nothing at out, where an old file
 * stays as it was. */
static void expect_bad(const hf_spec *spec, llm_status want, const char *file, const char *field) {
    char dir[256], out_dir[256], out[320];
    tmp(dir, sizeof dir, "bad-hf");
    tmp(out_dir, sizeof out_dir, "bad-out");
    write_hf(dir, spec);
    nftw(out_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    assert_int_equal(mkdir(out_dir, 0755), 0);
    snprintf(out, sizeof out, "%s/model.gguf", out_dir);
    llm_error err = {0};
    llm_status s = llm_convert_hf(dir, out, NULL, &err);
    if (s != want || !strstr(err.msg, file) || !strstr(err.msg, field))
        fprintf(stderr, "expected %s with '%s' and '%s', got %s: %s\n", llm_strerror(want), file, field,
                llm_strerror(s), err.msg);
    assert_int_equal(s, want);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, field));
    expect_files(out_dir, 0);
    write_text(out, "old");
    assert_int_equal(llm_convert_hf(dir, out, NULL, &err), want);
    size_t n;
    char *old = test_read_file(out, &n);
    assert_string_equal(old, "old");
    free(old);
    expect_files(out_dir, 1);
}

/* The tiny model is good as written, in one shard or two, F32 or F16: so
 * each defect below is what the failures are about. */
static void test_tiny_hf_converts(void **state) {
    (void)state;
    char dir[256], out[256];
    tmp(dir, sizeof dir, "tiny-hf");
    tmp(out, sizeof out, "tiny.gguf");
    hf_spec good[] = {{.sharded = false}, {.sharded = true}, {.f16 = true}};
    for (int k = 0; k < 3; k++) {
        const hf_spec *spec = &good[k];
        write_hf(dir, spec);
        llm_error err;
        check_ok(llm_convert_hf(dir, out, NULL, &err), &err);
        llm_model *m = llm_model_load(out, NULL, &err);
        if (!m) fprintf(stderr, "%s\n", err.msg);
        assert_non_null(m);
        assert_int_equal(llm_model_n_vocab(m), 8);
        assert_int_equal(llm_token_bos(m), 7);
        llm_model_free(m);
        gguf_file f;
        check_ok(gguf_open(&f, out, &err), &err);
        uint64_t n;
        const unsigned char *first;
        check_ok(gguf_get_arr(&f, "tokenizer.ggml.merges", GGUF_STRING, &n, &first, &err), &err);
        assert_int_equal(n, 3);
        assert_true(gguf_str_eq(gguf_next_str(&first), "a b"));
        assert_true(gguf_str_eq(gguf_next_str(&first), "\xc4\xa0 a"));
        assert_int_equal(gguf_find_tensor(&f, "blk.0.attn_k.weight")->type, spec->f16 ? LLM_DT_F16 : LLM_DT_F32);
        gguf_close(&f);
    }
    /* linear RoPE scaling is carried into llama.rope.scaling.* */
    char cfg[sizeof good_config + 192];
    snprintf(cfg, sizeof cfg, "%.*s, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}}",
             (int)strlen(good_config) - 1, good_config);
    hf_spec scaled = {.config = cfg};
    write_hf(dir, &scaled);
    llm_error err;
    check_ok(llm_convert_hf(dir, out, NULL, &err), &err);
    gguf_file g;
    check_ok(gguf_open(&g, out, &err), &err);
    gguf_str type;
    float factor;
    check_ok(gguf_get_str(&g, "llama.rope.scaling.type", &type, &err), &err);
    assert_true(gguf_str_eq(type, "linear"));
    check_ok(gguf_get_f32(&g, "llama.rope.scaling.factor", &factor, &err), &err);
    assert_true(factor == 4.0f);
    gguf_close(&g);
    llm_model *m = llm_model_load(out, NULL, &err);
    assert_non_null(m);
    llm_model_free(m);
    /* LongRoPE (Phi-3.5): the factor lists as rope_factors_short/long, the
     * original context, the attention factor sqrt(1 + ln(64/16) / ln(16)) */
    snprintf(cfg, sizeof cfg, "%.*s, \"original_max_position_embeddings\": 16, \"rope_scaling\": {\"type\":"
             " \"longrope\", \"short_factor\": [1, 1.5, 2, 4], \"long_factor\": [2, 3, 4, 8]}}",
             (int)strlen(good_config) - 1, good_config);
    write_hf(dir, &scaled);
    check_ok(llm_convert_hf(dir, out, NULL, &err), &err);
    check_ok(gguf_open(&g, out, &err), &err);
    uint32_t orig;
    check_ok(gguf_get_u32(&g, "llama.rope.scaling.original_context_length", &orig, &err), &err);
    assert_int_equal(orig, 16);
    check_ok(gguf_get_f32(&g, "llama.rope.scaling.attn_factor", &factor, &err), &err);
    assert_true(fabsf(factor - 1.2247449f) < 1e-6f);
    const gguf_tensor *lf = gguf_find_tensor(&g, "rope_factors_long.weight");
    assert_non_null(lf);
    assert_true(lf->ne[0] == 4 && ((const float *)lf->data)[3] == 8.0f);
    assert_non_null(gguf_find_tensor(&g, "rope_factors_short.weight"));
    gguf_close(&g);
    m = llm_model_load(out, NULL, &err);
    assert_non_null(m);
    llm_model_free(m);
    /* partial_rotary_factor (Phi-4-mini): RoPE on half of each head of 8 */
    snprintf(cfg, sizeof cfg, "%.*s, \"partial_rotary_factor\": 0.5}", (int)strlen(good_config) - 1, good_config);
    write_hf(dir, &scaled);
    check_ok(llm_convert_hf(dir, out, NULL, &err), &err);
    check_ok(gguf_open(&g, out, &err), &err);
    check_ok(gguf_get_u32(&g, "llama.rope.dimension_count", &orig, &err), &err);
    assert_int_equal(orig, 4);
    gguf_close(&g);
    /* the output may not replace an input */
    hf_spec spec = {0};
    write_hf(dir, &spec);
    char st[320];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    assert_fails(llm_convert_hf(dir, st, NULL, err), LLM_ERR_INVALID_ARG, "is the input");
    st_file f;
    check_ok(st_open(&f, st, &err), &err);
    st_close(&f);
}

/* good_tokenizer with another normalizer and pre_tokenizer (JSON text). */
static void tokenizer_with(char *buf, size_t cap, const char *normalizer, const char *pre) {
    const char *a = strstr(good_tokenizer, " \"normalizer\""), *b = strstr(good_tokenizer, " \"model\"");
    assert_true(a && b);
    snprintf(buf, cap, "%.*s \"normalizer\": %s, \"pre_tokenizer\": %s,%s", (int)(a - good_tokenizer), good_tokenizer,
             normalizer, pre, b);
}

#define SPLIT(re) "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"" re \
    "\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false," \
    " \"use_regex\": false}]}"

/* The pre-tokenizers of tokenizer.json as the names llama.cpp writes,
 * and the normalizers the byte-level families carry (none, an empty
 * Sequence, Qwen's NFC, kept as tokenizer.ggml.normalizer); others are
 * refused by name. */
static void test_pre_tokenizers(void **state) {
    (void)state;
    static const struct { const char *normalizer, *pre, *want, *nfc; } cases[] = {
        {"null", "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}", "gpt-2", NULL},
        {"{\"type\": \"Sequence\", \"normalizers\": []}",
         SPLIT("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
               "[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"), "llama-bpe", NULL},
        {"{\"type\": \"NFC\"}",
         SPLIT("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
               "[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"), "qwen2", "nfc"},
        {"null", "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true},"
                 " {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}]}", "smollm", NULL},
        {"null", /* DeepSeek V3's three Splits, as its tokenizer.json spells them */
         "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{"
         "N}{1,3}\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"Split\", \"pattern\": {\"Re"
         "gex\": \"[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+\"}, \"behavi"
         "or\": \"Isolated\", \"invert\": false}, {\"type\": \"Split\", \"pattern\": {\"Regex\": \"[!\\\"#$%&'"
         "()*+,\\\\-./:;<=>?@\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}\\\\p"
         "{M}]+| ?[\\\\p{P}\\\\p{S}]+[\\r\\n]*|\\\\s*[\\r\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isol"
         "ated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\":"
         " true, \"use_regex\": false}]}",
         "deepseek-v3", NULL},
    };
    char dir[256], out[256], tok[2048];
    tmp(dir, sizeof dir, "pre-hf");
    tmp(out, sizeof out, "pre.gguf");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tokenizer_with(tok, sizeof tok, cases[i].normalizer, cases[i].pre);
        hf_spec spec = {.tokenizer = tok};
        write_hf(dir, &spec);
        llm_error err;
        check_ok(llm_convert_hf(dir, out, NULL, &err), &err);
        gguf_file f;
        gguf_str pre, norm;
        check_ok(gguf_open(&f, out, &err), &err);
        check_ok(gguf_get_str(&f, "tokenizer.ggml.pre", &pre, &err), &err);
        if (!gguf_str_eq(pre, cases[i].want))
            fail_msg("case %zu: tokenizer.ggml.pre '%.*s', want '%s'", i, (int)pre.len, pre.ptr, cases[i].want);
        if (cases[i].nfc) {
            check_ok(gguf_get_str(&f, "tokenizer.ggml.normalizer", &norm, &err), &err);
            assert_true(gguf_str_eq(norm, cases[i].nfc));
        } else {
            assert_null(gguf_find_kv(&f, "tokenizer.ggml.normalizer"));
        }
        gguf_close(&f);
    }
    tokenizer_with(tok, sizeof tok, "{\"type\": \"NFKC\"}", "{\"type\": \"ByteLevel\"}");
    hf_spec nfkc = {.tokenizer = tok};
    expect_bad(&nfkc, LLM_ERR_UNSUPPORTED, "tokenizer.json", "normalizer 'NFKC'");
    tokenizer_with(tok, sizeof tok, "null", SPLIT("\\\\p{N}+"));
    hf_spec split = {.tokenizer = tok};
    expect_bad(&split, LLM_ERR_UNSUPPORTED, "tokenizer.json", "pre_tokenizer");
}

/* SentencePiece-style BPE in tokenizer.json (byte_fallback; Gemma,
 * Mistral): a "llama" vocabulary whose scores follow the merge order, the
 * dummy prefix from the Prepend normalizer, <0xNN> pieces as bytes. */
static void test_spm_tokenizer_json(void **state) {
    (void)state;
    static const char tok[] =
        "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
        " {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
        " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"},"
        " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}]}, \"pre_tokenizer\": null,"
        " \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0,"
        " \"<0x41>\": 1, \"</s>\": 2, \"\\u2581\": 3, \"a\": 4, \"b\": 5, \"ab\": 6, \"\\u2581a\": 7},"
        " \"merges\": [\"a b\", \"\\u2581 a\"]}}";
    char dir[256], out[256];
    tmp(dir, sizeof dir, "spm-hf");
    tmp(out, sizeof out, "spm.gguf");
    hf_spec spec = {.tokenizer = tok};
    write_hf(dir, &spec);
    llm_error err;
    check_ok(llm_convert_hf(dir, out, NULL, &err), &err);
    gguf_file f;
    check_ok(gguf_open(&f, out, &err), &err);
    gguf_str model;
    check_ok(gguf_get_str(&f, "tokenizer.ggml.model", &model, &err), &err);
    assert_true(gguf_str_eq(model, "llama"));
    assert_null(gguf_find_kv(&f, "tokenizer.ggml.merges"));
    gguf_close(&f);
    llm_model *m = llm_model_load(out, NULL, &err);
    if (!m) fail_msg("%s", err.msg);
    int32_t ids[16];
    size_t n;
    /* "ab A" -> "▁ab▁A": of the pairs "▁a" (merge rank 1) and "ab" (rank
     * 0) "ab" merges first, as the BPE model would (equal scores would
     * take the leftmost, "▁a"); "A" is its byte piece */
    check_ok(llm_tokenize(m, "ab A", 4, ids, 16, &n, 0, &err), &err);
    int32_t want[] = {3, 6, 3, 1};
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(llm_token_unk(m), 0);
    llm_model_free(m);
}

static void test_bad_json(void **state) {
    (void)state;
    hf_spec a = {.config = "{\"model_type\": \"llama\", \"hidden_size\": 16,, }"};
    expect_bad(&a, LLM_ERR_FORMAT, "config.json", "not valid JSON (error at byte");
    hf_spec b = {.config = "{\"model_type\": \"llama\"}"};
    expect_bad(&b, LLM_ERR_FORMAT, "config.json", "hidden_size is missing");
    hf_spec c = {.tokenizer = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}} trailing"};
    expect_bad(&c, LLM_ERR_FORMAT, "tokenizer.json", "unexpected data at byte");
    hf_spec d = {.tokenizer = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 9}, \"merges\": []},"
                              " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}"};
    expect_bad(&d, LLM_ERR_FORMAT, "tokenizer.json", "id 9");
    hf_spec e = {.tokenizer = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}"};
    expect_bad(&e, LLM_ERR_UNSUPPORTED, "tokenizer.json", "model.type");
    char cfg[sizeof good_config + 64];
    snprintf(cfg, sizeof cfg, "%.*s, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 8.0}}",
             (int)strlen(good_config) - 1, good_config);
    hf_spec f = {.config = cfg};
    expect_bad(&f, LLM_ERR_UNSUPPORTED, "config.json", "rope_scaling type 'yarn'");
}

static void test_bad_safetensors_header(void **state) {
    (void)state;
    hf_spec a = {.header_too_long = true};
    expect_bad(&a, LLM_ERR_FORMAT, "model.safetensors", "header length");
    hf_spec b = {.past_end = "model.norm.weight"};
    expect_bad(&b, LLM_ERR_FORMAT, "model.safetensors", "'model.norm.weight': data_offsets");
    hf_spec c = {.short_span = "model.layers.0.mlp.up_proj.weight"};
    expect_bad(&c, LLM_ERR_FORMAT, "model.safetensors", "up_proj.weight': data_offsets span");
    hf_spec d = {.retype = "model.norm.weight", .dtype = "F33"};
    expect_bad(&d, LLM_ERR_FORMAT, "model.safetensors", "unknown dtype 'F33'");
    hf_spec e = {.retype = "model.norm.weight", .dtype = "I64"};
    expect_bad(&e, LLM_ERR_UNSUPPORTED, "model.safetensors", "dtype I64");
}

static void test_bad_tensors(void **state) {
    (void)state;
    hf_spec a = {.omit = "model.layers.0.self_attn.k_proj.weight"};
    expect_bad(&a, LLM_ERR_FORMAT, "model.safetensors", "missing tensor 'model.layers.0.self_attn.k_proj.weight'");
    char cfg[sizeof good_config + 8];
    snprintf(cfg, sizeof cfg, "%s", good_config);
    memcpy(strstr(cfg, "\"intermediate_size\": 32"), "\"intermediate_size\": 48", 23);
    hf_spec b = {.config = cfg};
    expect_bad(&b, LLM_ERR_FORMAT, "model.safetensors", "gate_proj.weight' has shape [32, 16], config.json implies [48, 16]");
    hf_spec c = {.extra = "model.layers.0.self_attn.o_proj.bias"};
    expect_bad(&c, LLM_ERR_FORMAT, "model.safetensors", "unexpected tensor 'model.layers.0.self_attn.o_proj.bias'");
    hf_spec d = {.sharded = true, .omit = "lm_head.weight"};
    expect_bad(&d, LLM_ERR_FORMAT, "model.safetensors.index.json", "missing tensor 'lm_head.weight'");
    hf_spec e = {.sharded = true, .index_entry = "\"x.weight\": \"../model-00001-of-00002.safetensors\""};
    expect_bad(&e, LLM_ERR_FORMAT, "model.safetensors.index.json", "weight_map['x.weight']");
    hf_spec f = {.sharded = true, .index_entry = "\"x.weight\": \"model-00001-of-00002.safetensors\""};
    expect_bad(&f, LLM_ERR_FORMAT, "model.safetensors.index.json", "'x.weight' in model-00001-of-00002.safetensors");
}

/* Every prefix of a valid image is refused cleanly (no crash, no
 * out-of-bounds read under the sanitizers); the whole image parses. */
static void test_truncated_inputs(void **state) {
    (void)state;
    size_t size;
    char *spm = test_read_file(test_model_path("tok512.model"), &size);
    assert_non_null(spm);
    spm_model sm;
    llm_error err;
    check_ok(spm_model_parse(&sm, spm, size, &err), &err);
    assert_int_equal(sm.n, 512);
    assert_string_equal(sm.pieces[1], "<s>");
    assert_int_equal(sm.types[0], LLM_TOKTYPE_UNKNOWN);
    assert_int_equal(sm.bos_id, 1);
    assert_true(sm.add_dummy_prefix);
    spm_model_free(&sm);
    for (size_t n = 0; n < size; n++) {
        unsigned char *copy = malloc(n ? n : 1); /* exact size, so reading past it is caught */
        memcpy(copy, spm, n);
        if (spm_model_parse(&sm, copy, n, &err) == LLM_OK) spm_model_free(&sm);
        free(copy);
    }
    free(spm);

    char dir[256], path[320];
    tmp(dir, sizeof dir, "trunc-hf");
    hf_spec spec = {0};
    write_hf(dir, &spec);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char *st = test_read_file(path, &size);
    assert_non_null(st);
    for (size_t n = 0; n < size; n++) {
        unsigned char *copy = malloc(n ? n : 1);
        memcpy(copy, st, n);
        st_file f;
        assert_int_not_equal(st_parse(&f, copy, n, &err), LLM_OK);
        free(copy);
    }
    st_file f;
    check_ok(st_parse(&f, st, size, &err), &err);
    assert_int_equal(f.n_tensors, 12);
    st_close(&f);
    free(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama2c_tokenizer_bin),
        cmocka_unit_test(test_llama2c_tokenizer_model),
        cmocka_unit_test(test_hf_f32),
        cmocka_unit_test(test_hf_sharded_bf16),
        cmocka_unit_test(test_hf_to_f16),
        cmocka_unit_test(test_hf_gpt2_vocab),
        cmocka_unit_test(test_quantize_q8_0),
        cmocka_unit_test(test_quantize_q4_0),
        cmocka_unit_test(test_quantize_fallback),
        cmocka_unit_test(test_quantize_refuses_input),
        cmocka_unit_test(test_tiny_hf_converts),
        cmocka_unit_test(test_pre_tokenizers),
        cmocka_unit_test(test_spm_tokenizer_json),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_safetensors_header),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_truncated_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
