/* GGUF reader and writer: header facts of the real fixtures, writer round
 * trips of every metadata type and several tensor types and alignments,
 * the typed getters' errors, and which versions are accepted. Corrupt
 * files are test_hostile.c's business. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dtype.h"
#include "gguf.h"
#include "gguf_write.h"
#include "fixture.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static void open_fixture(gguf_file *f, const char *rel) {
    llm_error e = {0};
    llm_status s = gguf_open(f, test_model_path(rel), &e);
    if (s) print_error("%s: %s\n", rel, e.msg);
    assert_int_equal(s, LLM_OK);
}

static uint32_t u32_of(const gguf_file *f, const char *key) {
    uint32_t v = 0;
    llm_error e = {0};
    if (gguf_get_u32(f, key, &v, &e)) fail_msg("%s", e.msg);
    return v;
}

static void assert_str_kv(const gguf_file *f, const char *key, const char *want) {
    gguf_str s;
    llm_error e = {0};
    if (gguf_get_str(f, key, &s, &e)) fail_msg("%s", e.msg);
    if (!gguf_str_eq(s, want)) fail_msg("%s = '%.*s', expected '%s'", key, (int)s.len, s.ptr, want);
}

/* Asserts a tensor's dimensions, shape (unused dims 1), type and size. */
static const gguf_tensor *assert_tensor(const gguf_file *f, const char *name, uint32_t n_dims,
                                        int64_t ne0, int64_t ne1, uint32_t type) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) fail_msg("missing tensor %s", name);
    assert_int_equal(t->n_dims, n_dims);
    assert_int_equal(t->ne[0], ne0);
    assert_int_equal(t->ne[1], ne1);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->ne[3], 1);
    if (t->type != type) fail_msg("%s: type %s, expected %s", name, llm_type_name(t->type), llm_type_name(type));
    uint64_t row;
    assert_true(llm_dtype_row_size(type, (uint64_t)ne0, &row));
    assert_int_equal(t->nbytes, row * (uint64_t)ne1);
    assert_int_equal(t->offset % f->alignment, 0);
    return t;
}

/* The string array under key: its length, and element i equals want[i]
 * for the first n_want elements. Walks every element to its end. */
static void assert_str_arr(const gguf_file *f, const char *key, uint64_t n, const char *const *want,
                           size_t n_want) {
    uint64_t got;
    const unsigned char *p;
    llm_error e = {0};
    if (gguf_get_arr(f, key, GGUF_STRING, &got, &p, &e)) fail_msg("%s", e.msg);
    assert_int_equal(got, n);
    for (uint64_t i = 0; i < got; i++) {
        gguf_str s = gguf_next_str(&p);
        if (i < n_want && !gguf_str_eq(s, want[i]))
            fail_msg("%s[%llu] = '%.*s', expected '%s'", key, (unsigned long long)i, (int)s.len, s.ptr, want[i]);
    }
}

static uint64_t arr_len(const gguf_file *f, const char *key, uint32_t elem_type) {
    uint64_t n = 0;
    const unsigned char *p;
    llm_error e = {0};
    if (gguf_get_arr(f, key, elem_type, &n, &p, &e)) fail_msg("%s", e.msg);
    return n;
}

static uint64_t rd_le(const unsigned char *p, uint32_t size) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < size; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ------------------------------------------------------------ fixtures */

static void test_stories260k(void **state) {
    (void)state;
    gguf_file f;
    open_fixture(&f, "stories260K.gguf");
    assert_int_equal(f.version, 3);
    assert_int_equal(f.n_kv, 19);
    assert_int_equal(f.n_tensors, 48);
    assert_int_equal(f.alignment, 32);
    assert_int_equal(f.data_offset, 14176);
    assert_str_kv(&f, "general.architecture", "llama");
    assert_str_kv(&f, "tokenizer.ggml.model", "llama");
    assert_int_equal(u32_of(&f, "llama.embedding_length"), 64);
    assert_int_equal(u32_of(&f, "llama.feed_forward_length"), 172);
    assert_int_equal(u32_of(&f, "llama.block_count"), 5);
    assert_int_equal(u32_of(&f, "llama.attention.head_count"), 8);
    assert_int_equal(u32_of(&f, "llama.attention.head_count_kv"), 4);
    assert_int_equal(u32_of(&f, "llama.context_length"), 2048);
    assert_int_equal(u32_of(&f, "llama.rope.dimension_count"), 8);
    assert_int_equal(u32_of(&f, "tokenizer.ggml.bos_token_id"), 1);
    assert_int_equal(u32_of(&f, "tokenizer.ggml.padding_token_id"), UINT32_MAX);
    float eps;
    assert_int_equal(gguf_get_f32(&f, "llama.attention.layer_norm_rms_epsilon", &eps, NULL), LLM_OK);
    assert_true(eps == 1e-5f);

    const char *first[] = {"<unk>", "<s>", "</s>", "<0x00>", "<0x01>"};
    assert_str_arr(&f, "tokenizer.ggml.tokens", 512, first, 5);
    assert_int_equal(arr_len(&f, "tokenizer.ggml.scores", GGUF_F32), 512);
    assert_int_equal(arr_len(&f, "tokenizer.ggml.token_type", GGUF_I32), 512);
    const gguf_kv *types = gguf_find_kv(&f, "tokenizer.ggml.token_type");
    assert_int_equal(gguf_rd_u32(types->val), 2);       /* <unk>: UNKNOWN */
    assert_int_equal(gguf_rd_u32(types->val + 4), 3);   /* <s>: CONTROL */
    assert_int_equal(gguf_rd_u32(types->val + 12), 6);  /* <0x00>: BYTE */

    const gguf_tensor *emb = assert_tensor(&f, "token_embd.weight", 2, 64, 512, LLM_DT_F32);
    assert_tensor(&f, "output_norm.weight", 1, 64, 1, LLM_DT_F32);
    assert_tensor(&f, "output.weight", 2, 64, 512, LLM_DT_F32);
    for (int l = 0; l < 5; l++) {
        struct { const char *name; uint32_t n_dims; int64_t ne0, ne1; } w[] = {
            {"attn_norm", 1, 64, 1}, {"attn_q", 2, 64, 64},    {"attn_k", 2, 64, 32},
            {"attn_v", 2, 64, 32},   {"attn_output", 2, 64, 64}, {"ffn_norm", 1, 64, 1},
            {"ffn_gate", 2, 64, 172}, {"ffn_down", 2, 172, 64}, {"ffn_up", 2, 64, 172},
        };
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, w[i].name);
            assert_tensor(&f, name, w[i].n_dims, w[i].ne0, w[i].ne1, LLM_DT_F32);
        }
    }
    /* The same weights as the llama2.c checkpoint, whose embedding follows
     * its 28-byte header. */
    size_t bin_size;
    char *bin = test_read_file(test_model_path("stories260K.bin"), &bin_size);
    assert_non_null(bin);
    assert_true(bin_size > 28 + emb->nbytes);
    assert_memory_equal(bin + 28, emb->data, emb->nbytes);
    free(bin);
    gguf_close(&f);
}

static void test_quantized_stories(void **state) {
    (void)state;
    gguf_file f;
    open_fixture(&f, "stories260K-q8_0.gguf");
    assert_int_equal(u32_of(&f, "general.file_type"), 7);
    assert_tensor(&f, "token_embd.weight", 2, 64, 512, LLM_DT_Q8_0);
    assert_tensor(&f, "blk.0.attn_q.weight", 2, 64, 64, LLM_DT_Q8_0);
    assert_tensor(&f, "blk.0.ffn_down.weight", 2, 172, 64, LLM_DT_F32); /* 172: no whole blocks */
    gguf_close(&f);
    open_fixture(&f, "stories260K-q4_0.gguf");
    assert_tensor(&f, "token_embd.weight", 2, 64, 512, LLM_DT_Q4_0);
    assert_tensor(&f, "output.weight", 2, 64, 512, LLM_DT_Q8_0);
    assert_tensor(&f, "blk.4.attn_v.weight", 2, 64, 32, LLM_DT_Q4_0);
    gguf_close(&f);
}

static void test_tiny_random_f16(void **state) {
    (void)state;
    gguf_file f;
    open_fixture(&f, "llama-2-tiny-random.gguf");
    assert_int_equal(f.version, 3);
    assert_int_equal(f.n_kv, 18);
    assert_int_equal(f.n_tensors, 12);
    assert_str_kv(&f, "general.architecture", "llama");
    assert_str_kv(&f, "general.name", "LLaMA v2");
    assert_int_equal(u32_of(&f, "llama.embedding_length"), 8);
    assert_int_equal(u32_of(&f, "llama.feed_forward_length"), 32);
    assert_int_equal(u32_of(&f, "llama.attention.head_count"), 2);
    assert_int_equal(u32_of(&f, "llama.context_length"), 4096);
    assert_int_equal(u32_of(&f, "general.file_type"), 1);
    const char *first[] = {"<unk>", "<s>", "</s>"};
    assert_str_arr(&f, "tokenizer.ggml.tokens", 32000, first, 3);
    const gguf_tensor *emb = assert_tensor(&f, "token_embd.weight", 2, 8, 32000, LLM_DT_F16);
    assert_tensor(&f, "output.weight", 2, 8, 32000, LLM_DT_F16);
    assert_tensor(&f, "blk.0.ffn_down.weight", 2, 32, 8, LLM_DT_F16);
    assert_tensor(&f, "blk.0.attn_norm.weight", 1, 8, 1, LLM_DT_F32);
    const uint16_t *h = emb->data;
    for (int64_t i = 0; i < 8 * 32000; i++) assert_true(isfinite(llm_f16_to_f32(h[i])));
    gguf_close(&f);
}

static void test_vocab_files(void **state) {
    (void)state;
    struct { const char *file, *arch, *model; uint64_t n; } v[] = {
        {"vocab/ggml-vocab-llama-spm.gguf", "llama", "llama", 32000},
        {"vocab/ggml-vocab-phi-3.gguf", "phi3", "llama", 32064},
        {"vocab/ggml-vocab-gpt-2.gguf", "gpt2", "gpt2", 50257},
        {"vocab/ggml-vocab-falcon.gguf", "falcon", "gpt2", 65024},
        {"vocab/ggml-vocab-deepseek-coder.gguf", "llama", "gpt2", 32256},
        {"vocab/ggml-vocab-deepseek-llm.gguf", "llama", "gpt2", 102400},
        {"vocab/ggml-vocab-mpt.gguf", "mpt", "gpt2", 50432},
        {"vocab/ggml-vocab-refact.gguf", "refact", "gpt2", 49216},
        {"vocab/ggml-vocab-starcoder.gguf", "starcoder2", "gpt2", 49152},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        gguf_file f;
        open_fixture(&f, v[i].file);
        assert_int_equal(f.version, 3);
        assert_int_equal(f.n_tensors, 0);
        assert_int_equal(f.data_offset, f.size); /* no data section */
        assert_str_kv(&f, "general.architecture", v[i].arch);
        assert_str_kv(&f, "tokenizer.ggml.model", v[i].model);
        assert_str_arr(&f, "tokenizer.ggml.tokens", v[i].n, NULL, 0);
        assert_int_equal(arr_len(&f, "tokenizer.ggml.token_type", GGUF_I32), v[i].n);
        if (strcmp(v[i].model, "gpt2") == 0) assert_true(arr_len(&f, "tokenizer.ggml.merges", GGUF_STRING) > 30000);
        else assert_int_equal(arr_len(&f, "tokenizer.ggml.scores", GGUF_F32), v[i].n);
        gguf_close(&f);
    }
    gguf_file f;
    open_fixture(&f, "vocab/ggml-vocab-llama-spm.gguf");
    bool add_bos = false, add_eos = true;
    assert_int_equal(gguf_get_bool(&f, "tokenizer.ggml.add_bos_token", &add_bos, NULL), LLM_OK);
    assert_int_equal(gguf_get_bool(&f, "tokenizer.ggml.add_eos_token", &add_eos, NULL), LLM_OK);
    assert_true(add_bos);
    assert_false(add_eos);
    const char *first[] = {"<unk>", "<s>", "</s>", "<0x00>"};
    assert_str_arr(&f, "tokenizer.ggml.tokens", 32000, first, 4);
    gguf_close(&f);
}

static void test_quant_conformance(void **state) {
    (void)state;
    gguf_file f;
    open_fixture(&f, "quant-conformance.gguf");
    assert_int_equal(f.n_kv, 2);
    assert_int_equal(f.n_tensors, 10);
    assert_str_kv(&f, "general.architecture", "conformance");
    struct { const char *name; uint32_t type; uint64_t nbytes; } q[] = {
        {"q4_0", LLM_DT_Q4_0, 16 * 64 * 18}, {"q8_0", LLM_DT_Q8_0, 16 * 64 * 34},
        {"q4_k", LLM_DT_Q4_K, 16 * 8 * 144}, {"q5_k", LLM_DT_Q5_K, 16 * 8 * 176},
        {"q6_k", LLM_DT_Q6_K, 16 * 8 * 210},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        const gguf_tensor *t = assert_tensor(&f, q[i].name, 2, 2048, 16, q[i].type);
        assert_int_equal(t->nbytes, q[i].nbytes);
        char name[32];
        snprintf(name, sizeof name, "%s.f32", q[i].name);
        assert_tensor(&f, name, 2, 2048, 16, LLM_DT_F32);
    }
    gguf_close(&f);
}

/* ------------------------------------------------------------ writer */

static const uint8_t a_u8[] = {0, 1, 255};
static const int8_t a_i8[] = {-128, 0, 127};
static const uint16_t a_u16[] = {0, 0xbeef, 65535};
static const int16_t a_i16[] = {-32768, -1, 32767};
static const uint32_t a_u32[] = {0, 0xdeadbeef, UINT32_MAX, 7};
static const int32_t a_i32[] = {INT32_MIN, -1, INT32_MAX};
static const uint64_t a_u64[] = {UINT64_MAX, 1ull << 40};
static const int64_t a_i64[] = {INT64_MIN, -5, INT64_MAX};
static const float a_f32[] = {1.5f, -0.0f, 3.25e-7f, INFINITY};
static const double a_f64[] = {0.1, -1e300};
static const bool a_bool[] = {true, false, true};
static const char *const a_str[] = {"one", "", "\xe2\x96\x81three", "four four"};

static const struct {
    const char *key;
    uint32_t type;
    const void *v;
    uint64_t n;
} arrays[] = {
    {"a.u8", GGUF_U8, a_u8, 3},     {"a.i8", GGUF_I8, a_i8, 3},     {"a.u16", GGUF_U16, a_u16, 3},
    {"a.i16", GGUF_I16, a_i16, 3},  {"a.u32", GGUF_U32, a_u32, 4},  {"a.i32", GGUF_I32, a_i32, 3},
    {"a.u64", GGUF_U64, a_u64, 2},  {"a.i64", GGUF_I64, a_i64, 3},  {"a.f32", GGUF_F32, a_f32, 4},
    {"a.f64", GGUF_F64, a_f64, 2},  {"a.bool", GGUF_BOOL, a_bool, 3}, {"a.empty", GGUF_U32, NULL, 0},
};

static const uint32_t elem_size[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4, [GGUF_I32] = 4,
    [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8, [GGUF_F64] = 8,
};

static void add_all_metadata(gguf_writer *w) {
    llm_error e = {0};
    llm_status s = gguf_writer_add_u8(w, "t.u8", 200, &e);
    s = s ? s : gguf_writer_add_i8(w, "t.i8", -100, &e);
    s = s ? s : gguf_writer_add_u16(w, "t.u16", 60000, &e);
    s = s ? s : gguf_writer_add_i16(w, "t.i16", -30000, &e);
    s = s ? s : gguf_writer_add_u32(w, "t.u32", 4000000000u, &e);
    s = s ? s : gguf_writer_add_i32(w, "t.i32", -2000000000, &e);
    s = s ? s : gguf_writer_add_u64(w, "t.u64", (1ull << 40) + 5, &e);
    s = s ? s : gguf_writer_add_i64(w, "t.i64", -(1ll << 40), &e);
    s = s ? s : gguf_writer_add_f32(w, "t.f32", 3.5f, &e);
    s = s ? s : gguf_writer_add_f64(w, "t.f64", 0.1, &e);
    s = s ? s : gguf_writer_add_bool(w, "t.true", true, &e);
    s = s ? s : gguf_writer_add_bool(w, "t.false", false, &e);
    s = s ? s : gguf_writer_add_str(w, "t.str", "h\xc3\xa9llo w\xc3\xb6rld", &e);
    s = s ? s : gguf_writer_add_str(w, "t.empty", "", &e);
    s = s ? s : gguf_writer_add_u32(w, "", 9, &e); /* an empty key is legal */
    for (size_t i = 0; !s && i < sizeof arrays / sizeof arrays[0]; i++)
        s = gguf_writer_add_arr(w, arrays[i].key, arrays[i].type, arrays[i].v, arrays[i].n, &e);
    s = s ? s : gguf_writer_add_str_arr(w, "a.str", a_str, 4, &e);
    if (s) fail_msg("%s", e.msg);
}

/* Parses a writer's image (in a buffer of exactly its size) into f. */
static unsigned char *parse_writer(const gguf_writer *w, gguf_file *f, size_t *size) {
    void *img = NULL;
    size_t n = 0;
    llm_error e = {0};
    if (gguf_writer_to_mem(w, &img, &n, &e)) fail_msg("to_mem: %s", e.msg);
    if (gguf_parse(f, img, n, &e)) fail_msg("parse: %s", e.msg);
    if (size) *size = n;
    return img;
}

static const gguf_kv *kv_of(const gguf_file *f, const char *key, uint32_t type) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) fail_msg("missing key %s", key);
    assert_int_equal(kv->type, type);
    return kv;
}

static void test_writer_metadata(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new(NULL);
    assert_non_null(w);
    add_all_metadata(w);
    gguf_file f;
    unsigned char *img = parse_writer(w, &f, NULL);
    assert_int_equal(f.version, 3);
    assert_int_equal(f.n_tensors, 0);
    assert_int_equal(f.n_kv, 15 + sizeof arrays / sizeof arrays[0] + 1);
    assert_null(gguf_find_kv(&f, "general.alignment")); /* default: not written */

    assert_int_equal(kv_of(&f, "t.u8", GGUF_U8)->val[0], 200);
    assert_int_equal((int8_t)kv_of(&f, "t.i8", GGUF_I8)->val[0], -100);
    assert_int_equal(rd_le(kv_of(&f, "t.u16", GGUF_U16)->val, 2), 60000);
    assert_int_equal((int16_t)rd_le(kv_of(&f, "t.i16", GGUF_I16)->val, 2), -30000);
    assert_int_equal(rd_le(kv_of(&f, "t.u32", GGUF_U32)->val, 4), 4000000000u);
    assert_int_equal((int32_t)rd_le(kv_of(&f, "t.i32", GGUF_I32)->val, 4), -2000000000);
    assert_int_equal(rd_le(kv_of(&f, "t.u64", GGUF_U64)->val, 8), (1ull << 40) + 5);
    assert_true((int64_t)rd_le(kv_of(&f, "t.i64", GGUF_I64)->val, 8) == -(1ll << 40));
    assert_true(gguf_rd_f32(kv_of(&f, "t.f32", GGUF_F32)->val) == 3.5f);
    uint64_t bits = rd_le(kv_of(&f, "t.f64", GGUF_F64)->val, 8);
    double d;
    memcpy(&d, &bits, 8);
    assert_true(d == 0.1);
    assert_int_equal(kv_of(&f, "t.true", GGUF_BOOL)->val[0], 1);
    assert_int_equal(kv_of(&f, "t.false", GGUF_BOOL)->val[0], 0);
    kv_of(&f, "t.str", GGUF_STRING);
    assert_str_kv(&f, "t.str", "h\xc3\xa9llo w\xc3\xb6rld");
    assert_str_kv(&f, "t.empty", "");
    assert_int_equal(rd_le(kv_of(&f, "", GGUF_U32)->val, 4), 9);

    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        const gguf_kv *kv = kv_of(&f, arrays[i].key, GGUF_ARRAY);
        assert_int_equal(kv->arr_type, arrays[i].type);
        assert_int_equal(kv->arr_n, arrays[i].n);
        uint32_t es = elem_size[arrays[i].type];
        for (uint64_t j = 0; j < arrays[i].n; j++) {
            uint64_t host = 0;
            memcpy(&host, (const unsigned char *)arrays[i].v + j * es, es); /* little-endian host */
            assert_int_equal(rd_le(kv->val + j * es, es), host);
        }
    }
    assert_str_arr(&f, "a.str", 4, a_str, 4);
    gguf_close(&f);
    free(img);
    gguf_writer_free(w);
}

static void test_getters(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new(NULL);
    add_all_metadata(w);
    gguf_file f;
    unsigned char *img = parse_writer(w, &f, NULL);
    uint32_t u;
    float x;
    bool b;
    gguf_str s;
    uint64_t n;
    const unsigned char *first;

    assert_int_equal(gguf_get_u32(&f, "t.u8", &u, NULL), LLM_OK);
    assert_int_equal(u, 200);
    assert_int_equal(gguf_get_u32(&f, "t.u16", &u, NULL), LLM_OK);
    assert_int_equal(u, 60000);
    assert_int_equal(gguf_get_u32(&f, "t.u32", &u, NULL), LLM_OK);
    assert_int_equal(u, 4000000000u);
    assert_fails(gguf_get_u32(&f, "t.u64", &u, err), LLM_ERR_FORMAT, "'t.u64' is out of range");
    assert_fails(gguf_get_u32(&f, "t.i8", &u, err), LLM_ERR_FORMAT, "'t.i8' is out of range");
    assert_fails(gguf_get_u32(&f, "t.i32", &u, err), LLM_ERR_FORMAT, "out of range");
    assert_fails(gguf_get_u32(&f, "t.i64", &u, err), LLM_ERR_FORMAT, "out of range");
    assert_fails(gguf_get_u32(&f, "t.str", &u, err), LLM_ERR_FORMAT, "'t.str' is string, expected an integer");
    assert_fails(gguf_get_u32(&f, "t.f32", &u, err), LLM_ERR_FORMAT, "is f32, expected an integer");
    assert_fails(gguf_get_u32(&f, "t.true", &u, err), LLM_ERR_FORMAT, "is bool");
    assert_fails(gguf_get_u32(&f, "a.u32", &u, err), LLM_ERR_FORMAT, "is array");
    assert_fails(gguf_get_u32(&f, "no.such.key", &u, err), LLM_ERR_FORMAT, "missing metadata key 'no.such.key'");

    assert_int_equal(gguf_get_f32(&f, "t.f32", &x, NULL), LLM_OK);
    assert_true(x == 3.5f);
    assert_int_equal(gguf_get_f32(&f, "t.f64", &x, NULL), LLM_OK);
    assert_true(x == 0.1f);
    assert_fails(gguf_get_f32(&f, "t.u32", &x, err), LLM_ERR_FORMAT, "'t.u32' is u32, expected a float");

    assert_int_equal(gguf_get_bool(&f, "t.true", &b, NULL), LLM_OK);
    assert_true(b);
    assert_int_equal(gguf_get_bool(&f, "t.false", &b, NULL), LLM_OK);
    assert_false(b);
    assert_fails(gguf_get_bool(&f, "t.u8", &b, err), LLM_ERR_FORMAT, "'t.u8' is u8, expected a bool");

    assert_int_equal(gguf_get_str(&f, "t.empty", &s, NULL), LLM_OK);
    assert_int_equal(s.len, 0);
    assert_fails(gguf_get_str(&f, "t.u32", &s, err), LLM_ERR_FORMAT, "expected a string");
    assert_fails(gguf_get_str(&f, "a.str", &s, err), LLM_ERR_FORMAT, "is array, expected a string");

    assert_int_equal(gguf_get_arr(&f, "a.i16", GGUF_I16, &n, &first, NULL), LLM_OK);
    assert_int_equal(n, 3);
    assert_true((int16_t)rd_le(first, 2) == -32768);
    assert_int_equal(gguf_get_arr(&f, "a.empty", GGUF_U32, &n, &first, NULL), LLM_OK);
    assert_int_equal(n, 0);
    assert_fails(gguf_get_arr(&f, "a.i16", GGUF_U16, &n, &first, err), LLM_ERR_FORMAT,
                 "'a.i16' is not an array of u16");
    assert_fails(gguf_get_arr(&f, "t.u8", GGUF_U8, &n, &first, err), LLM_ERR_FORMAT, "not an array of u8");
    assert_fails(gguf_get_arr(&f, "nope", GGUF_U8, &n, &first, err), LLM_ERR_FORMAT, "missing metadata key 'nope'");
    assert_null(gguf_find_kv(&f, "t.u8 "));
    assert_null(gguf_find_tensor(&f, "t.u8"));
    gguf_close(&f);
    free(img);
    gguf_writer_free(w);
}

/* Tensors of several types and ranks, including odd sizes that need
 * padding, an empty tensor and types whose elements need 2, 4 or 8-byte
 * alignment. Data is a byte pattern unique to each tensor. */
static const struct {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
} tensors[] = {
    {"w.f32", 2, {5, 3}, LLM_DT_F32},        {"w.f16", 1, {7}, LLM_DT_F16},
    {"w.q8_0", 2, {64, 2}, LLM_DT_Q8_0},     {"w.i8", 1, {3}, 24 /* I8 */},
    {"w.q4_k", 2, {256, 1}, LLM_DT_Q4_K},    {"w.f64", 1, {3}, 28 /* F64 */},
    {"w.3d", 3, {2, 3, 4}, LLM_DT_F32},      {"w.4d", 4, {1, 2, 1, 3}, LLM_DT_BF16},
    {"w.empty", 2, {0, 4}, LLM_DT_F32},      {"w.q4_0", 1, {32}, LLM_DT_Q4_0},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

static uint64_t tensor_bytes(size_t i) {
    uint64_t row, rows = 1;
    assert_true(llm_dtype_row_size(tensors[i].type, (uint64_t)tensors[i].ne[0], &row));
    for (uint32_t d = 1; d < tensors[i].n_dims; d++) rows *= (uint64_t)tensors[i].ne[d];
    return row * rows;
}

/* A writer holding every tensor above; data[i] must outlive it. */
static gguf_writer *tensor_writer(uint32_t alignment, unsigned char *data[N_TENSORS]) {
    llm_error e = {0};
    gguf_writer *w = gguf_writer_new(&e);
    assert_non_null(w);
    if (gguf_writer_set_alignment(w, alignment, &e) || gguf_writer_add_str(w, "general.architecture", "test", &e))
        fail_msg("%s", e.msg);
    for (size_t i = 0; i < N_TENSORS; i++) {
        uint64_t n = tensor_bytes(i);
        data[i] = n ? malloc(n) : NULL;
        for (uint64_t k = 0; k < n; k++) data[i][k] = (unsigned char)(k * 7 + i * 31 + 1);
        if (gguf_writer_add_tensor(w, tensors[i].name, tensors[i].n_dims, tensors[i].ne, tensors[i].type,
                                   data[i], n, &e))
            fail_msg("%s", e.msg);
    }
    return w;
}

static void check_tensor_roundtrip(uint32_t alignment) {
    unsigned char *data[N_TENSORS];
    gguf_writer *w = tensor_writer(alignment, data);
    gguf_file f;
    size_t size;
    unsigned char *img = parse_writer(w, &f, &size);
    assert_int_equal(f.alignment, alignment);
    assert_int_equal(f.n_tensors, N_TENSORS);
    assert_int_equal(f.data_offset % alignment, 0);
    assert_int_equal(size % alignment, 0);
    const gguf_kv *kv = gguf_find_kv(&f, "general.alignment");
    if (alignment == GGUF_DEFAULT_ALIGNMENT) {
        assert_null(kv);
        assert_int_equal(f.n_kv, 1);
    } else {
        assert_non_null(kv);
        assert_int_equal(kv->type, GGUF_U32);
        assert_int_equal(gguf_rd_u32(kv->val), alignment);
    }
    for (size_t i = 0; i < N_TENSORS; i++) {
        const gguf_tensor *t = &f.tensors[i]; /* file order is insertion order */
        assert_true(gguf_str_eq(t->name, tensors[i].name));
        assert_int_equal(t->n_dims, tensors[i].n_dims);
        for (uint32_t d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], d < tensors[i].n_dims ? tensors[i].ne[d] : 1);
        assert_int_equal(t->type, tensors[i].type);
        assert_int_equal(t->nbytes, tensor_bytes(i));
        assert_int_equal(t->offset % alignment, 0);
        if (t->nbytes) assert_memory_equal(t->data, data[i], t->nbytes);
        if (i > 0) assert_true(t->offset >= f.tensors[i - 1].offset + f.tensors[i - 1].nbytes);
        free(data[i]);
    }
    gguf_close(&f);
    free(img);
    gguf_writer_free(w);
}

static void test_writer_tensors_align32(void **state) {
    (void)state;
    check_tensor_roundtrip(32);
}

static void test_writer_tensors_align64(void **state) {
    (void)state;
    check_tensor_roundtrip(64);
}

static void test_writer_tensors_align1(void **state) {
    (void)state;
    check_tensor_roundtrip(1);
}

static void test_writer_tensors_align4096(void **state) {
    (void)state;
    check_tensor_roundtrip(4096);
}

/* Entries of a directory other than . and .., counted; *only holds when
 * the single entry is named `name`. */
static int dir_entries(const char *dir, const char *name, bool *only) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    *only = true;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        n++;
        if (strcmp(e->d_name, name) != 0) *only = false;
    }
    closedir(d);
    return n;
}

static void test_writer_file(void **state) {
    (void)state;
    char dir[] = "/tmp/libllm-gguf-write-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], sub[256], bad[256];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(bad, sizeof bad, "%s/missing/model.gguf", dir);

    unsigned char *data[N_TENSORS];
    gguf_writer *w = tensor_writer(64, data);
    void *img;
    size_t size, got_size;
    assert_int_equal(gguf_writer_to_mem(w, &img, &size, NULL), LLM_OK);
    llm_error e = {0};
    if (gguf_writer_to_file(w, path, &e)) fail_msg("%s", e.msg);
    char *got = test_read_file(path, &got_size);
    assert_int_equal(got_size, size);
    assert_memory_equal(got, img, size);
    free(got);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    bool only;
    assert_int_equal(dir_entries(dir, "model.gguf", &only), 1);
    assert_true(only);
    gguf_file f;
    assert_int_equal(gguf_open(&f, path, NULL), LLM_OK);
    assert_int_equal(f.n_tensors, N_TENSORS);
    gguf_close(&f);

    /* Replacing an existing file. */
    gguf_writer *w2 = gguf_writer_new(NULL);
    assert_int_equal(gguf_writer_add_u8(w2, "only", 1, NULL), LLM_OK);
    assert_int_equal(gguf_writer_to_file(w2, path, NULL), LLM_OK);
    assert_int_equal(gguf_open(&f, path, NULL), LLM_OK);
    assert_int_equal(f.n_kv, 1);
    assert_int_equal(f.n_tensors, 0);
    gguf_close(&f);

    /* Failures leave nothing behind: a missing directory, and a final
     * name that is a directory (refused: output goes only to a regular file). */
    assert_fails(gguf_writer_to_file(w, bad, err), LLM_ERR_IO, "missing/model.gguf");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_fails(gguf_writer_to_file(w, sub, err), LLM_ERR_INVALID_ARG, "output goes only to a new or regular file");
    assert_int_equal(dir_entries(dir, "model.gguf", &only), 2);
    assert_fails(gguf_writer_to_file(w, NULL, err), LLM_ERR_INVALID_ARG, "NULL");

    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    for (size_t i = 0; i < N_TENSORS; i++) free(data[i]);
    free(img);
    gguf_writer_free(w);
    gguf_writer_free(w2);
}

static void test_writer_errors(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new(NULL);
    float buf[64] = {0};
    int64_t ne[4] = {4, 2, 1, 1};
    assert_int_equal(gguf_writer_add_u32(w, "k", 1, NULL), LLM_OK);
    assert_fails(gguf_writer_add_u32(w, "k", 2, err), LLM_ERR_INVALID_ARG, "duplicate metadata key 'k'");
    assert_fails(gguf_writer_add_str(w, "k", "x", err), LLM_ERR_INVALID_ARG, "duplicate metadata key 'k'");
    assert_fails(gguf_writer_add_u32(w, "general.alignment", 64, err), LLM_ERR_INVALID_ARG,
                 "gguf_writer_set_alignment");
    assert_fails(gguf_writer_set_alignment(w, 48, err), LLM_ERR_INVALID_ARG, "alignment 48 is not a power of two");
    assert_fails(gguf_writer_set_alignment(w, 0, err), LLM_ERR_INVALID_ARG, "not a power of two");
    assert_fails(gguf_writer_add_arr(w, "a", GGUF_STRING, buf, 1, err), LLM_ERR_INVALID_ARG, "not a scalar type");
    assert_fails(gguf_writer_add_arr(w, "a", GGUF_ARRAY, buf, 1, err), LLM_ERR_INVALID_ARG, "not a scalar type");
    assert_fails(gguf_writer_add_arr(w, "a", 13, buf, 1, err), LLM_ERR_INVALID_ARG, "element type 13");
    assert_fails(gguf_writer_add_arr(w, "a", GGUF_U8, NULL, 1, err), LLM_ERR_INVALID_ARG, "NULL array");
    const char *strs[] = {"x", NULL};
    assert_fails(gguf_writer_add_str_arr(w, "s", strs, 2, err), LLM_ERR_INVALID_ARG, "NULL string");
    assert_fails(gguf_writer_add_str(w, "s", NULL, err), LLM_ERR_INVALID_ARG, "NULL string");
    assert_fails(gguf_writer_add_u8(w, NULL, 1, err), LLM_ERR_INVALID_ARG, "NULL");
    assert_fails(gguf_writer_add_u8(NULL, "x", 1, err), LLM_ERR_INVALID_ARG, "NULL");

    assert_int_equal(gguf_writer_add_tensor(w, "t", 2, ne, LLM_DT_F32, buf, 32, NULL), LLM_OK);
    assert_fails(gguf_writer_add_tensor(w, "t", 2, ne, LLM_DT_F32, buf, 32, err), LLM_ERR_INVALID_ARG,
                 "duplicate tensor 't'");
    assert_fails(gguf_writer_add_tensor(w, "u", 0, ne, LLM_DT_F32, buf, 4, err), LLM_ERR_INVALID_ARG,
                 "0 dimensions");
    assert_fails(gguf_writer_add_tensor(w, "u", 5, ne, LLM_DT_F32, buf, 32, err), LLM_ERR_INVALID_ARG,
                 "5 dimensions");
    assert_fails(gguf_writer_add_tensor(w, "u", 2, ne, 4, buf, 32, err), LLM_ERR_INVALID_ARG, "unknown type 4");
    assert_fails(gguf_writer_add_tensor(w, "u", 2, ne, LLM_DT_F32, buf, 31, err), LLM_ERR_INVALID_ARG,
                 "31 bytes given, its shape and F32 need 32");
    assert_fails(gguf_writer_add_tensor(w, "u", 2, ne, LLM_DT_F32, NULL, 32, err), LLM_ERR_INVALID_ARG,
                 "NULL data");
    int64_t q[2] = {33, 1}, neg[2] = {4, -1}, big[2] = {INT64_MAX, 2};
    assert_fails(gguf_writer_add_tensor(w, "u", 2, q, LLM_DT_Q8_0, buf, 34, err), LLM_ERR_INVALID_ARG,
                 "row of 33 is not a whole number of Q8_0 blocks");
    assert_fails(gguf_writer_add_tensor(w, "u", 2, neg, LLM_DT_F32, buf, 16, err), LLM_ERR_INVALID_ARG,
                 "negative");
    assert_fails(gguf_writer_add_tensor(w, "u", 2, big, LLM_DT_F32, buf, 16, err), LLM_ERR_INVALID_ARG,
                 "shape overflows");
    assert_fails(gguf_writer_add_tensor(w, NULL, 2, ne, LLM_DT_F32, buf, 32, err), LLM_ERR_INVALID_ARG, "NULL");
    assert_fails(gguf_writer_to_mem(w, NULL, NULL, err), LLM_ERR_INVALID_ARG, "NULL");

    /* Failed additions left no trace: the file holds exactly k and t. */
    gguf_file f;
    unsigned char *img = parse_writer(w, &f, NULL);
    assert_int_equal(f.n_kv, 1);
    assert_int_equal(f.n_tensors, 1);
    gguf_close(&f);
    free(img);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
}

/* Parses the metadata image with its version field set to v; a version
 * that is accepted must be reported as read. */
static llm_status parse_version(uint32_t v, llm_error *err) {
    gguf_writer *w = gguf_writer_new(NULL);
    add_all_metadata(w);
    void *img;
    size_t size;
    assert_int_equal(gguf_writer_to_mem(w, &img, &size, NULL), LLM_OK);
    gguf_writer_free(w);
    unsigned char *p = img;
    for (int i = 0; i < 4; i++) p[4 + i] = (unsigned char)(v >> (8 * i));
    gguf_file f;
    llm_status s = gguf_parse(&f, img, size, err);
    if (!s) {
        assert_int_equal(f.version, v);
        assert_str_kv(&f, "t.str", "h\xc3\xa9llo w\xc3\xb6rld");
        gguf_close(&f);
    }
    free(img);
    return s;
}

static void test_versions(void **state) {
    (void)state;
    assert_int_equal(parse_version(3, NULL), LLM_OK);
    assert_int_equal(parse_version(2, NULL), LLM_OK); /* same layout as v3 */
    assert_fails(parse_version(1, err), LLM_ERR_UNSUPPORTED, "GGUF version 1 is not supported");
    assert_fails(parse_version(4, err), LLM_ERR_UNSUPPORTED, "GGUF version 4 is not supported");
    assert_fails(parse_version(0, err), LLM_ERR_UNSUPPORTED, "version 0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_quantized_stories),
        cmocka_unit_test(test_tiny_random_f16),
        cmocka_unit_test(test_vocab_files),
        cmocka_unit_test(test_quant_conformance),
        cmocka_unit_test(test_writer_metadata),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_writer_tensors_align32),
        cmocka_unit_test(test_writer_tensors_align64),
        cmocka_unit_test(test_writer_tensors_align1),
        cmocka_unit_test(test_writer_tensors_align4096),
        cmocka_unit_test(test_writer_file),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
