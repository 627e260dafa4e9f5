/* Writes the seed corpora of the fuzz harnesses: small valid inputs made
 * here (GGUF files through lib/gguf_write, fixture models through
 * tests/fixture.c, llama2.c checkpoints and tokenizers byte by byte),
 * truncated copies of them, and hand-made edge cases. No fixture file is
 * copied. Run once after changing it, then commit tests/fuzz/corpus:
 *
 *   build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"
#include "fixture.h"
#include "gguf.h"
#include "gguf_write.h"
#include "hf_tiny.h"
#include "ollama_store.h"

static const char *root;

static void die(const char *what, const char *msg) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, msg);
    exit(1);
}

static void write_seed(const char *dir, const char *name, const void *data, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die(path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) die(path, "cannot write");
}

/* The seed, and copies cut at 1/4, 1/2 and 3/4 of its length. */
static void write_cuts(const char *dir, const char *name, const void *data, size_t size) {
    write_seed(dir, name, data, size);
    for (int q = 1; q < 4; q++) {
        char cut[256];
        snprintf(cut, sizeof cut, "%s.cut%d", name, q);
        write_seed(dir, cut, data, size * (size_t)q / 4);
    }
}

/* ---------------------------------------------------------------- GGUF */

static void check(llm_status s, const llm_error *err) {
    if (s) die("gguf writer", err->msg);
}

/* Weight i of a tensor: small, varied, deterministic. */
static float weight(int i) { return (float)((i * 7919) % 13 - 6) * 0.05f; }

/* The smallest model the loader accepts: dim 4, one layer, one head,
 * an 8-piece vocabulary without byte pieces, every weight in `type`
 * (F32, F16 or BF16; norms F32). */
static void *tiny_model(uint32_t type, size_t *size) {
    static const char *const tokens[8] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                          ("\xe2\x96\x81" "a"), "ab"};
    static const float scores[8] = {0, 0, 0, -1, -2, -3, -4, -5};
    static const int32_t types[8] = {2, 3, 3, 1, 1, 1, 1, 1};
    static unsigned char data[12][8 * 4 * 4];
    enum { DIM = 4, FF = 4, VOCAB = 8 };
    llm_error e = {0};
    gguf_writer *w = gguf_writer_new(&e);
    if (!w) die("gguf writer", e.msg);
    check(gguf_writer_add_str(w, "general.architecture", "llama", &e), &e);
    const char *keys[] = {"llama.context_length", "llama.embedding_length", "llama.feed_forward_length",
                          "llama.block_count", "llama.attention.head_count"};
    const uint32_t vals[] = {16, DIM, FF, 1, 1};
    for (int i = 0; i < 5; i++) check(gguf_writer_add_u32(w, keys[i], vals[i], &e), &e);
    check(gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", &e), &e);
    check(gguf_writer_add_str_arr(w, "tokenizer.ggml.tokens", tokens, VOCAB, &e), &e);
    check(gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, VOCAB, &e), &e);
    check(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, VOCAB, &e), &e);
    check(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1, &e), &e);
    check(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2, &e), &e);
    const struct { const char *name; int64_t ne1; } t[] = {
        {"token_embd.weight", VOCAB}, {"output_norm.weight", 0},
        {"blk.0.attn_norm.weight", 0}, {"blk.0.attn_q.weight", DIM}, {"blk.0.attn_k.weight", DIM},
        {"blk.0.attn_v.weight", DIM}, {"blk.0.attn_output.weight", DIM}, {"blk.0.ffn_norm.weight", 0},
        {"blk.0.ffn_gate.weight", FF}, {"blk.0.ffn_down.weight", DIM}, {"blk.0.ffn_up.weight", FF},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        bool norm = t[i].ne1 == 0;
        uint32_t ty = norm ? LLM_DT_F32 : type;
        int64_t ne[2] = {DIM, t[i].ne1}, n = DIM * (norm ? 1 : t[i].ne1);
        for (int64_t k = 0; k < n; k++) {
            float x = norm ? 1.0f : weight((int)(k + 31 * (int64_t)i));
            uint16_t h = ty == LLM_DT_F16 ? llm_f32_to_f16(x) : llm_f32_to_bf16(x);
            if (ty == LLM_DT_F32) memcpy(data[i] + 4 * k, &x, 4);
            else memcpy(data[i] + 2 * k, &h, 2);
        }
        uint64_t nbytes = (uint64_t)n * (ty == LLM_DT_F32 ? 4 : 2);
        check(gguf_writer_add_tensor(w, t[i].name, norm ? 1 : 2, ne, ty, data[i], nbytes, &e), &e);
    }
    void *img;
    check(gguf_writer_to_mem(w, &img, size, &e), &e);
    gguf_writer_free(w);
    return img;
}

/* A container (no model) with a value of every metadata type, arrays of
 * each scalar type and of strings, a non-default alignment, and tensors
 * of assorted types, including ones the forward pass cannot use. */
static void *all_types(uint32_t alignment, size_t *size) {
    static const uint8_t u8s[3] = {1, 2, 255};
    static const double f64s[2] = {1.5, -0.0};
    static const int64_t i64s[2] = {-1, 1ll << 40};
    static const bool bools[3] = {true, false, true};
    static const char *const strs[3] = {"", "\xe2\x96\x81x", "<0x41>"};
    static unsigned char buf[2048];
    llm_error e = {0};
    gguf_writer *w = gguf_writer_new(&e);
    if (!w) die("gguf writer", e.msg);
    check(gguf_writer_set_alignment(w, alignment, &e), &e);
    check(gguf_writer_add_u8(w, "t.u8", 200, &e), &e);
    check(gguf_writer_add_i8(w, "t.i8", -100, &e), &e);
    check(gguf_writer_add_u16(w, "t.u16", 65535, &e), &e);
    check(gguf_writer_add_i16(w, "t.i16", -2, &e), &e);
    check(gguf_writer_add_u32(w, "t.u32", 4000000000u, &e), &e);
    check(gguf_writer_add_i32(w, "t.i32", -7, &e), &e);
    check(gguf_writer_add_u64(w, "t.u64", 1ull << 33, &e), &e);
    check(gguf_writer_add_i64(w, "t.i64", -(1ll << 40), &e), &e);
    check(gguf_writer_add_f32(w, "t.f32", 0.5f, &e), &e);
    check(gguf_writer_add_f64(w, "t.f64", 1e300, &e), &e);
    check(gguf_writer_add_bool(w, "t.bool", true, &e), &e);
    check(gguf_writer_add_str(w, "t.str", "hello", &e), &e);
    check(gguf_writer_add_arr(w, "t.arr_u8", GGUF_U8, u8s, 3, &e), &e);
    check(gguf_writer_add_arr(w, "t.arr_f64", GGUF_F64, f64s, 2, &e), &e);
    check(gguf_writer_add_arr(w, "t.arr_i64", GGUF_I64, i64s, 2, &e), &e);
    check(gguf_writer_add_arr(w, "t.arr_bool", GGUF_BOOL, bools, 3, &e), &e);
    check(gguf_writer_add_arr(w, "t.arr_empty", GGUF_I32, NULL, 0, &e), &e);
    check(gguf_writer_add_str_arr(w, "t.arr_str", strs, 3, &e), &e);
    const struct { const char *name; uint32_t n_dims; int64_t ne[4]; uint32_t type; } t[] = {
        {"f32", 1, {4}, LLM_DT_F32},         {"f16", 2, {2, 3}, LLM_DT_F16},
        {"bf16", 3, {2, 1, 2}, LLM_DT_BF16}, {"q8_0", 2, {32, 2}, LLM_DT_Q8_0},
        {"q4_0", 1, {64}, LLM_DT_Q4_0},      {"q4_k", 1, {256}, LLM_DT_Q4_K},
        {"q6_k", 4, {256, 1, 1, 1}, LLM_DT_Q6_K}, {"empty", 2, {0, 5}, LLM_DT_F32},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint64_t row, n = 1;
        for (uint32_t d = 1; d < t[i].n_dims; d++) n *= (uint64_t)t[i].ne[d];
        if (!llm_dtype_row_size(t[i].type, (uint64_t)t[i].ne[0], &row) || row * n > sizeof buf)
            die("all_types", t[i].name);
        check(gguf_writer_add_tensor(w, t[i].name, t[i].n_dims, t[i].ne, t[i].type, buf, row * n, &e), &e);
    }
    void *img;
    check(gguf_writer_to_mem(w, &img, size, &e), &e);
    gguf_writer_free(w);
    return img;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A 24-byte header: magic, version, tensor and metadata counts. */
static void header_seed(const char *name, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    unsigned char h[24];
    memcpy(h, "GGUF", 4);
    put_u32(h + 4, version);
    put_u64(h + 8, n_tensors);
    put_u64(h + 16, n_kv);
    write_seed("gguf", name, h, sizeof h);
}

static void fixture_seed(const char *name, fixture_spec spec) {
    size_t size;
    llm_error e = {0};
    void *img = fixture_build(&spec, &size, &e);
    if (!img) die(name, e.msg);
    write_seed("gguf", name, img, size);
    free(img);
}

static void gguf_seeds(void) {
    const struct { const char *name; uint32_t type; } tiny[] = {
        {"tiny-f32.gguf", LLM_DT_F32}, {"tiny-f16.gguf", LLM_DT_F16}, {"tiny-bf16.gguf", LLM_DT_BF16}};
    for (size_t i = 0; i < 3; i++) {
        size_t size;
        void *img = tiny_model(tiny[i].type, &size);
        if (i == 0) write_cuts("gguf", tiny[i].name, img, size);
        else write_seed("gguf", tiny[i].name, img, size);
        free(img);
    }
    size_t size;
    void *img = all_types(64, &size);
    write_cuts("gguf", "all-types-align64.gguf", img, size);
    free(img);
    img = all_types(1, &size);
    write_seed("gguf", "all-types-align1.gguf", img, size);
    free(img);
    /* Fixture models: the 307-piece vocabulary with byte fallback, grouped
     * query attention, tied and untied classifiers, quantized weights
     * (random blocks, so scales may be inf or NaN). */
    fixture_spec s = fixture_default();
    s.dim = 8, s.ffn = 8, s.n_layer = 1, s.n_head = 2, s.n_head_kv = 1, s.n_ctx = 8, s.tied = true;
    fixture_seed("fixture-f32-gqa.gguf", s);
    s.wtype = LLM_DT_F16;
    s.tied = false;
    fixture_seed("fixture-f16-untied.gguf", s);
    s.dim = 32, s.ffn = 32, s.n_head = 4, s.n_head_kv = 2, s.tied = true;
    s.wtype = LLM_DT_Q8_0;
    fixture_seed("fixture-q8_0.gguf", s);
    s.wtype = LLM_DT_Q4_0;
    fixture_seed("fixture-q4_0.gguf", s);
    header_seed("empty-v3.gguf", 3, 0, 0);
    header_seed("empty-v2.gguf", 2, 0, 0);
    header_seed("tensors-2p40.gguf", 3, 1ull << 40, 0);
    header_seed("kv-2p60.gguf", 3, 0, 1ull << 60);
    write_seed("gguf", "magic-only.gguf", "GGUF", 4);
}

/* ------------------------------------------------------------ llama2.c */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) die("make_seeds", "out of memory");
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_i32(buf *b, int32_t v) { put(b, &v, 4); }
static void put_f32(buf *b, float v) { put(b, &v, 4); }

/* tokenizer.bin: max_token_length, then (score, length, bytes) per piece.
 * llama2.c stores SentencePiece's U+2581 as a plain space. */
static void l2c_tokenizer(buf *b, bool bytes) {
    static const char *const pieces[8] = {"<unk>", "<s>", "</s>", " ", "a", "b", " a", "ab"};
    put_i32(b, 6);
    for (int i = 0; i < 8; i++) {
        put_f32(b, -(float)i);
        put_i32(b, (int32_t)strlen(pieces[i]));
        put(b, pieces[i], strlen(pieces[i]));
    }
    for (int i = 0; bytes && i < 256; i++) {
        char p[8];
        snprintf(p, sizeof p, "<0x%02X>", i);
        put_f32(b, 0.0f);
        put_i32(b, 6);
        put(b, p, 6);
    }
}

/* A checkpoint of dim 4, FFN 4, one layer, n_heads heads (n_kv of them
 * for keys and values), n_vocab embedding rows, seq_len 4, and a separate
 * classifier when cls. */
static void l2c_checkpoint(buf *b, int32_t n_vocab, int32_t n_heads, int32_t n_kv, bool cls) {
    const int32_t dim = 4, ff = 4, seq = 4, hd = dim / n_heads, kv = n_kv * hd;
    int32_t hdr[7] = {dim, ff, 1, n_heads, n_kv, cls ? -n_vocab : n_vocab, seq};
    for (int i = 0; i < 7; i++) put_i32(b, hdr[i]);
    /* emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis, wcls */
    int64_t counts[] = {(int64_t)n_vocab * dim, dim, dim * dim, dim * kv, dim * kv, dim * dim, dim,
                        dim * ff, ff * dim, dim * ff, dim, seq * hd, cls ? (int64_t)n_vocab * dim : 0};
    int k = 0;
    for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++)
        for (int64_t i = 0; i < counts[t]; i++) put_f32(b, weight(k++));
}

/* One fuzz input: [u32 tokenizer length][tokenizer][checkpoint]. */
static void l2c_seed(const char *name, bool bytes, int32_t n_heads, int32_t n_kv, bool cls) {
    buf tok = {0}, ck = {0}, all = {0};
    l2c_tokenizer(&tok, bytes);
    l2c_checkpoint(&ck, bytes ? 8 + 256 : 8, n_heads, n_kv, cls);
    put_i32(&all, (int32_t)tok.n);
    put(&all, tok.p, tok.n);
    put(&all, ck.p, ck.n);
    write_cuts("llama2c", name, all.p, all.n);
    free(tok.p);
    free(ck.p);
    free(all.p);
}

static void llama2c_seeds(void) {
    l2c_seed("tiny.bin", false, 1, 1, false);
    l2c_seed("tiny-gqa-cls.bin", false, 2, 1, true);
    l2c_seed("bytes.bin", true, 2, 2, false);
    write_seed("llama2c", "empty.bin", "\0\0\0\0", 4);
}

/* ----------------------------------------------------------- tokenizer */

static void text_seed(const char *name, unsigned char ctl, const char *text, size_t len) {
    unsigned char in[512];
    in[0] = ctl;
    memcpy(in + 1, text, len);
    write_seed("tokenizer", name, in, len + 1);
}

#define TEXT(name, ctl, s) text_seed(name, ctl, s, sizeof(s) - 1)

/* Control byte (see fuzz_tokenizer.c): bits 0-1 vocabulary (stories,
 * Llama 2, GPT-2, DeepSeek LLM), 2 BOS, 3 special, 4 token ids, 5-7 the
 * detokenizer's buffer size. */
static void tokenizer_seeds(void) {
    static const char story[] = "Once upon a time, there was a little girl named Lily. She said: \"Hi!\"\n";
    text_seed("story-stories", 0xE0, story, sizeof story - 1);
    text_seed("story-llama-bos", 0xE5, story, sizeof story - 1);
    text_seed("story-gpt2", 0xE2, story, sizeof story - 1);
    text_seed("story-deepseek-bos", 0xE7, story, sizeof story - 1);
    TEXT("special-off", 0xE1, "<s>Hello</s> <unk> world");
    TEXT("special-on", 0xED, "<s>Hello</s> <unk> world<s>");
    TEXT("special-gpt2", 0xEA, "<|endoftext|>Hello<|endoftext|> world");
    TEXT("utf8", 0x21, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82");
    TEXT("utf8-gpt2", 0x42, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82");
    TEXT("utf8-small-buf", 0x00, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82\xf0\x9f\x99\x82");
    TEXT("invalid-utf8", 0x01, "\xff\xfe a \xc3 b \xe2\x82 \xf0\x9f\x98 \x80\x80 \xc0\xaf");
    TEXT("invalid-utf8-bpe", 0x03, "\xff\xfe a \xc3 b \xe2\x82 \xf0\x9f\x98 \x80\x80 \xc0\xaf");
    TEXT("sp-space", 0x00, "\xe2\x96\x81" "a \xe2\x96\x81\xe2\x96\x81 b");
    TEXT("spaces", 0x01, "   a  b   \n\t\r  ");
    TEXT("spaces-bpe", 0x02, "   a  b   \n\n\t\r  ");
    TEXT("nul", 0x00, "a\0b\0\0c");
    TEXT("empty", 0x04, "");
    TEXT("digits-bpe", 0x03, "3.14159 2024-01-01 0x1F 1,000,000 can't I'm");
    const unsigned char ids[] = {0x10, 1, 0, 0x2c, 0x01, 3, 0, 0x03, 0x01, 0xff, 0xff, 2, 0};
    write_seed("tokenizer", "ids-stories", ids, sizeof ids);
    const unsigned char ids_llama[] = {0x31, 1, 0, 0x7d, 0x65, 0xe8, 0x04, 0x03, 0x00, 0x83, 0x00, 0xa0, 0x00};
    write_seed("tokenizer", "ids-llama-bytes", ids_llama, sizeof ids_llama);
    const unsigned char ids_gpt2[] = {0xF2, 0x50, 0xc3, 0xa6, 0x00, 0xb1, 0x01, 0x0d, 0x00, 0x00, 0x00};
    write_seed("tokenizer", "ids-gpt2", ids_gpt2, sizeof ids_gpt2);
}

/* ----------------------------------------------- converter inputs */

/* The tiny Hugging Face directory's files: for fuzz_convert with the
 * file's number in front, and the .model and .safetensors alone for
 * fuzz_spm and fuzz_safetensors. */
static void hf_seeds(void) {
    for (int f = 0; f < HF_N_FILES; f++) {
        size_t size;
        unsigned char *p = hf_tiny_file(f, &size);
        unsigned char *in = malloc(size + 1);
        if (!in) die("make_seeds", "out of memory");
        in[0] = (unsigned char)f;
        memcpy(in + 1, p, size);
        write_seed("convert", hf_file_names[f], in, size + 1);
        if (f == HF_TOKENIZER_MODEL) write_cuts("spm", "tiny.model", p, size);
        if (f == HF_SAFETENSORS) write_cuts("safetensors", "tiny.safetensors", p, size);
        free(in);
        free(p);
    }
    write_seed("spm", "empty.model", "", 0);
    /* regression: an empty file maps to NULL (docs/ROBUSTNESS.md, bug 1) */
    const unsigned char empty_model = HF_TOKENIZER_MODEL;
    write_seed("convert", "empty-tokenizer.model", &empty_model, 1);
    write_seed("safetensors", "empty-header.safetensors", "\x02\0\0\0\0\0\0\0{}", 10);
    write_seed("safetensors", "header-2p60.safetensors", "\0\0\0\0\0\0\0\x10{}", 10);
}

/* ----------------------------------------------------------------- cli */

#define ARGS(name, s) write_seed("cli", name, s, sizeof(s) - 1)

static void cli_seeds(void) {
    ARGS("model", "-m\0model.gguf");
    ARGS("generate", "-m\0m.bin\0-z\0tok.bin\0-p\0Once upon\0-n\0" "16\0-c\0" "64\0-t\0" "2\0-v");
    ARGS("sampling", "--temp\0" "0.7\0--top-k\0" "40\0--top-p\0" "0.9\0--min-p\0" "0.05\0"
                     "--repeat-penalty\0" "1.1\0--repeat-last-n\0" "64\0--seed\0" "42\0-m\0x");
    ARGS("greedy", "--model=m\0--temp=0\0--n-predict=8");
    ARGS("help", "-h");
    ARGS("unknown", "--bogus\0-m\0m");
    ARGS("missing-value", "-m\0m\0-n");
    ARGS("out-of-range", "-m\0m\0-t\0" "300");
    ARGS("extra", "-m\0a\0extra");
    ARGS("nan", "--temp\0nan\0-m\0a");
    ARGS("negative-seed", "--seed\0-1\0-m\0a");
    ARGS("clustered", "-vm\0a\0-n8\0-c2");
    ARGS("conversation", "-m\0ollama:llama3.2:1b\0-cnv\0-sys\0Be brief.\0--chat-template\0chatml\0-e\0"
                         "-f\0prompt.txt\0--special\0--verbose-prompt\0-no-cnv");
    ARGS("both-prompts", "-m\0m\0-p\0x\0-f\0y");
}

/* ----------------------------------------------------------------- ollama */

/* A manifest, a NUL, then the params layer (see fuzz_ollama.c). */
#define MANIFEST(name, s) write_seed("ollama", name, s, sizeof(s) - 1)

static void ollama_seeds(void) {
    MANIFEST("full", "{\"schemaVersion\":2,\"layers\":[" LAYER("model", HEX_MODEL) "," LAYER("params", HEX_PARAMS)
                     "," LAYER("system", HEX_SYSTEM) "," LAYER("template", HEX_TEMPLATE) "]}\0"
                     "{\"temperature\":0.7,\"top_k\":20,\"num_ctx\":4096,\"stop\":[\"<|eot_id|>\",\"User:\"],"
                     "\"seed\":-1}");
    MANIFEST("no-model", "{\"layers\":[" LAYER("params", HEX_PARAMS) "]}\0{}");
    MANIFEST("stop-string", "{\"layers\":[" LAYER("model", HEX_MODEL) "," LAYER("params", HEX_PARAMS) "]}\0"
                            "{\"stop\":\"###\",\"num_predict\":-2}");
}

int main(int argc, char **argv) {
    root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    if (mkdir(root, 0755) != 0 && errno != EEXIST) die(root, strerror(errno));
    gguf_seeds();
    llama2c_seeds();
    tokenizer_seeds();
    hf_seeds();
    cli_seeds();
    ollama_seeds();
    return 0;
}
