/* Hostile input, round two (issue 17): special files on every input
 * path, files whose declared work exceeds their real size, degenerate
 * numbers, and outputs that must never be what they should not be. Each
 * test failed on the code before its fix; a hang is caught by alarm(),
 * whose default action ends the suite. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gguf.h"
#include "hostile_gen.h"
#include "llm.h"
#include "llm_convert.h"
#include "model.h"
#include "testutil.h"
#include "../tools/tempclean.h"

/* Seconds any single call may take before the suite is killed as hung;
 * generous for sanitizer and valgrind builds. */
#define HANG_SECONDS 120

static char dir[64];

/* A fresh empty directory in /tmp (dir), removed by the teardown. */
static const char *make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/libllm-hostile-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_dir(void) {
    if (!dir[0]) return;
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    dir[0] = 0;
}

/* dir/name in a static buffer of its own per slot (0..3). */
static const char *in_dir(int slot, const char *name) {
    static char buf[4][4096];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* --------------------------------------------------- amplification */

/* A fixture of n_layer layers whose blk.N.* tensors (N > 0) point at the
 * bytes of blk.0's, cut after the last byte anything else needs: a file
 * a small fraction of the model it declares. */
static unsigned char *aliased_model(int32_t n_layer, size_t *size) {
    fixture_spec spec = fixture_default();
    spec.n_layer = n_layer;
    llm_error e = {0};
    unsigned char *img = fixture_build(&spec, size, &e);
    if (!img) fail_msg("%s", e.msg);
    gguf_file f;
    if (gguf_parse(&f, img, *size, &e)) fail_msg("%s", e.msg);
    uint64_t end = 0;
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const gguf_tensor *t = &f.tensors[i];
        char name[96], twin[96];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        const char *rest = strchr(name + 4, '.');
        if (strncmp(name, "blk.", 4) == 0 && strncmp(name, "blk.0.", 6) != 0) {
            snprintf(twin, sizeof twin, "blk.0%s", rest);
            size_t at = (size_t)((const unsigned char *)t->name.ptr - img) + t->name.len + 4 + 8 * t->n_dims + 4;
            put_u64(img + at, gguf_find_tensor(&f, twin)->offset);
        } else if (t->offset + t->nbytes > end) {
            end = t->offset + t->nbytes;
        }
    }
    *size = (size_t)(f.data_offset + end);
    gguf_close(&f);
    return img;
}

/* 1024 layers (64 under LLM_TEST_QUICK) declared by a file holding the
 * bytes of one: the loader and the quantizer refuse it, rather than run a
 * model (or write a file) 1024 times the input's size. */
static void test_aliased_layers(void **state) {
    (void)state;
    int32_t n_layer = test_quick() ? 64 : 1024;
    size_t size;
    unsigned char *img = aliased_model(n_layer, &size);
    make_dir();
    FILE *fp = fopen(in_dir(0, "aliased.gguf"), "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(img, 1, size, fp), size);
    fclose(fp);
    free(img);
    llm_error e = {0};
    llm_model *m = llm_model_load(in_dir(0, "aliased.gguf"), NULL, &e);
    llm_model_free(m);
    if (m) fail_msg("a %zu-byte file declaring %d layers loads", size, n_layer);
    expect_error("llm_model_load", e.code, &e, LLM_ERR_FORMAT, "share data bytes");
    llm_quantize_params p = llm_quantize_default_params();
    assert_fails(llm_quantize_file(in_dir(0, "aliased.gguf"), in_dir(1, "out.gguf"), &p, err), LLM_ERR_FORMAT,
                 "share data bytes");
    assert_int_equal(access(in_dir(1, "out.gguf"), F_OK), -1);
}

/* ----------------------------------------------------- special files */

/* Links every file of the fixture directory src into dir. */
static void link_all(const char *src, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char from[4096];
        snprintf(from, sizeof from, "%s/%s", test_model_path(src), names[i]);
        assert_int_equal(symlink(from, in_dir(0, names[i])), 0);
    }
}

/* name in dir replaced by a FIFO nobody writes to. */
static void make_fifo(const char *name) {
    unlink(in_dir(0, name));
    assert_int_equal(mkfifo(in_dir(0, name), 0600), 0);
}

/* A FIFO on any path the library reads is refused at once: opening one
 * blocks until a writer appears, which would hang the caller forever. */
static void test_fifo_inputs(void **state) {
    (void)state;
    alarm(HANG_SECONDS);
    make_dir();
    make_fifo("model.gguf");
    llm_error e = {0};
    assert_null(llm_model_load(in_dir(0, "model.gguf"), NULL, &e));
    expect_error("model FIFO", e.code, &e, LLM_ERR_IO, "not a regular file");
    llm_quantize_params qp = llm_quantize_default_params();
    assert_fails(llm_quantize_file(in_dir(0, "model.gguf"), in_dir(1, "q.gguf"), &qp, err), LLM_ERR_IO,
                 "not a regular file");
    /* tokenizer.bin looked up beside a llama2.c checkpoint */
    assert_int_equal(symlink(test_model_path("stories260K.bin"), in_dir(0, "model.bin")), 0);
    make_fifo("tokenizer.bin");
    assert_null(llm_model_load(in_dir(0, "model.bin"), NULL, &e));
    expect_error("tokenizer.bin FIFO", e.code, &e, LLM_ERR_IO, "not a regular file");
    assert_fails(llm_convert_llama2c(in_dir(0, "model.bin"), in_dir(1, "tokenizer.bin"), in_dir(2, "o.gguf"), NULL,
                                     err), LLM_ERR_IO, "not a regular file");
    assert_fails(llm_convert_llama2c(in_dir(0, "model.gguf"), test_model_path("tok512.bin"), in_dir(2, "o.gguf"),
                                     NULL, err), LLM_ERR_IO, "not a regular file");
    remove_dir();
    /* each file of a Hugging Face directory, the optional ones included */
    static const char *const files[] = {"config.json", "generation_config.json", "model.safetensors",
                                        "tokenizer.model", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        make_dir();
        link_all("stories260K-hf", files, sizeof files / sizeof files[0]);
        make_fifo(files[i]);
        llm_status s = llm_convert_hf(dir, in_dir(1, "o.gguf"), NULL, &e);
        if (s != LLM_ERR_IO || !strstr(e.msg, "not a regular file") || !strstr(e.msg, files[i]))
            fail_msg("%s as a FIFO: status %d '%s'", files[i], s, e.msg);
        remove_dir();
    }
    static const char *const bpe[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    make_dir();
    link_all("tiny-gpt2vocab-hf", bpe, 4);
    make_fifo("tokenizer.json");
    assert_fails(llm_convert_hf(dir, in_dir(1, "o.gguf"), NULL, err), LLM_ERR_IO, "tokenizer.json: not a regular file");
    alarm(0);
}

/* ------------------------------------------------ degenerate numbers */

static void load_fails(const char *path, const char *msg) {
    llm_error e = {0};
    llm_model *m = llm_model_load(path, NULL, &e);
    llm_model_free(m);
    if (m) fail_msg("%s: loaded, expected '%s'", path, msg);
    expect_error("llm_model_load", e.code, &e, LLM_ERR_FORMAT, msg);
}

/* stories260K.gguf with the F32 value of key set to v, written to a
 * temporary file. */
static const char *gguf_with_f32(const char *key, float v) {
    size_t n;
    unsigned char *img = (unsigned char *)test_read_file(test_model_path("stories260K.gguf"), &n);
    assert_non_null(img);
    gguf_file f;
    llm_error e = {0};
    if (gguf_parse(&f, img, n, &e)) fail_msg("%s", e.msg);
    const gguf_kv *kv = gguf_find_kv(&f, key);
    assert_non_null(kv);
    memcpy(img + (kv->val - f.base), &v, 4);
    gguf_close(&f);
    const char *path = test_write_tmp(img, n);
    free(img);
    return path;
}

/* RoPE bases and RMS epsilons that are not finite, or that make the
 * angles overflow (a base below 1), and RoPE divisors near 0 are refused
 * with the key named: each gave a model whose every logit was NaN. */
static void test_degenerate_hparams(void **state) {
    (void)state;
    fixture_spec spec = fixture_default();
    spec.rope_base = INFINITY;
    load_fails(fixture_write_tmp(&spec), "llama.rope.freq_base is inf, not a number from 1 to 1e+12");
    spec.rope_base = 1e-30f;
    load_fails(fixture_write_tmp(&spec), "llama.rope.freq_base is 1e-30");
    spec = fixture_default();
    float factors[4] = {1, 1, 1e-38f, 1};
    spec.rope_freqs = factors;
    spec.n_rope_freqs = 4;
    load_fails(fixture_write_tmp(&spec), "tensor 'rope_freqs.weight': factor 2 is 1e-38");
    load_fails(gguf_with_f32("llama.attention.layer_norm_rms_epsilon", INFINITY),
               "llama.attention.layer_norm_rms_epsilon is inf");
    load_fails(gguf_with_f32("llama.attention.layer_norm_rms_epsilon", NAN),
               "llama.attention.layer_norm_rms_epsilon is nan");
    load_fails(gguf_with_f32("llama.attention.layer_norm_rms_epsilon", 0), "llama.attention.layer_norm_rms_epsilon is 0");
}

/* dir holding stories260K-hf with `from` in file (one of its JSON files)
 * replaced by `to`. */
static void hf_dir_with(const char *file, const char *from, const char *to) {
    static const char *const files[] = {"config.json", "generation_config.json", "model.safetensors",
                                        "tokenizer.model", "tokenizer_config.json"};
    remove_dir();
    make_dir();
    link_all("stories260K-hf", files, sizeof files / sizeof files[0]);
    char src[4096];
    snprintf(src, sizeof src, "%s/%s", test_model_path("stories260K-hf"), file);
    char *text = test_read_file(src, NULL), *at = text ? strstr(text, from) : NULL;
    assert_non_null(at);
    unlink(in_dir(0, file));
    FILE *fp = fopen(in_dir(0, file), "w");
    assert_non_null(fp);
    fprintf(fp, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    fclose(fp);
    free(text);
}

static void hf_dir_with_config(const char *from, const char *to) {
    hf_dir_with("config.json", from, to);
}

/* The converter refuses what the loader would: 1e400 (inf to strtod),
 * 1e39 (inf as a float) and 0 are named, before anything is written. */
static void test_degenerate_config(void **state) {
    (void)state;
    const struct { const char *from, *to, *msg; } cases[] = {
        {"\"rope_theta\": 10000.0", "\"rope_theta\": 1e400", "config.json: rope_theta is inf"},
        {"\"rope_theta\": 10000.0", "\"rope_theta\": 1e39", "config.json: rope_theta is 1e+39"},
        {"\"rope_theta\": 10000.0", "\"rope_theta\": 0.5", "config.json: rope_theta is 0.5"},
        {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": -1e400", "config.json: rms_norm_eps is -inf"},
        {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 0", "config.json: rms_norm_eps is 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hf_dir_with_config(cases[i].from, cases[i].to);
        assert_fails(llm_convert_hf(dir, in_dir(1, "o.gguf"), NULL, err), LLM_ERR_FORMAT, cases[i].msg);
        assert_int_equal(access(in_dir(1, "o.gguf"), F_OK), -1);
    }
}

/* ------------------------------------------------------------ llama2.c */

/* stories260K.bin with its layer count set to n_layer and extra zero
 * bytes appended, as dir/model.bin, loaded and converted with tok512.bin:
 * the loader and the converter must agree. */
static void check_l2c_refused(int32_t n_layer, size_t extra, const char *msg) {
    size_t n;
    unsigned char *bin = (unsigned char *)test_read_file(test_model_path("stories260K.bin"), &n);
    assert_non_null(bin);
    bin = realloc(bin, n + extra);
    assert_non_null(bin);
    memset(bin + n, 0, extra);
    memcpy(bin + 8, &n_layer, 4);
    remove_dir();
    make_dir();
    FILE *fp = fopen(in_dir(0, "model.bin"), "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bin, 1, n + extra, fp), n + extra);
    fclose(fp);
    free(bin);
    llm_model_params p = llm_model_default_params();
    p.tokenizer_path = test_model_path("tok512.bin");
    llm_error e = {0};
    llm_model *m = llm_model_load(in_dir(0, "model.bin"), &p, &e);
    llm_model_free(m);
    if (m) fail_msg("%d layers, %zu extra bytes: loads", n_layer, extra);
    expect_error("llm_model_load", e.code, &e, LLM_ERR_FORMAT, msg);
    assert_fails(llm_convert_llama2c(in_dir(0, "model.bin"), test_model_path("tok512.bin"), in_dir(1, "o.gguf"),
                                     NULL, err), LLM_ERR_FORMAT, msg);
}

/* Bytes after the last tensor: appended, or left by a header that
 * understates the layer count (which loaded and gave garbage text). */
static void test_llama2c_trailing(void **state) {
    (void)state;
    check_l2c_refused(5, 64, "64 bytes after the last tensor");
    check_l2c_refused(5, 3, "3 bytes after the last tensor");
    check_l2c_refused(4, 0, "bytes after the last tensor: not a llama2.c v0 checkpoint");
}

/* ---------------------------------------------------- special tokens */

/* A model holding only the vocabulary of hostile_vocab (tokenizing needs
 * nothing else). */
static llm_model *vocab_model(const char *const *special, const uint8_t *control, int32_t n) {
    llm_error e = {0};
    size_t size;
    void *img = hostile_vocab(special, control, n, &size, &e);
    if (!img) fail_msg("%s", e.msg);
    gguf_file f;
    llm_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    if (gguf_parse(&f, img, size, &e) || llm_vocab_from_gguf(&m->vocab, &f, &e)) fail_msg("%s", e.msg);
    gguf_close(&f);
    free(img);
    return m;
}

static void free_vocab_model(llm_model *m) {
    llm_vocab_free(&m->vocab);
    free(m);
}

static size_t tokenize(const llm_model *m, const char *text, size_t len, int32_t *out, size_t cap, uint32_t flags) {
    size_t n;
    llm_error e = {0};
    if (llm_tokenize(m, text, len, out, cap, &n, flags, &e)) fail_msg("%s", e.msg);
    return n;
}

/* The tokens llama.cpp's tokenizer_st_partition gives, computed as it
 * does: each special token in matching order splits every plain run
 * around its leftmost non-overlapping occurrences; then each run left is
 * tokenized alone (no special piece can occur in it any more). */
static size_t reference(const llm_model *m, const char *text, size_t len, uint32_t flags, int32_t *out) {
    const llm_vocab *v = &m->vocab;
    size_t cap = 2 * len + 2, n = 1, n_out = 0;
    size_t *off = malloc(cap * sizeof *off), *run = malloc(cap * sizeof *run);
    int32_t *tok = malloc(cap * sizeof *tok);
    assert_true(off && run && tok);
    off[0] = 0, run[0] = len, tok[0] = -1;
    for (int32_t r = 0; r < v->n_special; r++) {
        int32_t id = v->special[r];
        if (v->types[id] != LLM_TOKTYPE_USER_DEFINED && !(flags & LLM_TOKENIZE_SPECIAL)) continue;
        size_t plen;
        const char *piece = llm_vocab_piece(v, id, &plen);
        for (size_t i = 0; i < n; i++) {
            const char *hit = tok[i] < 0 ? memmem(text + off[i], run[i], piece, plen) : NULL;
            if (!hit) continue;
            size_t at = (size_t)(hit - text), end = off[i] + run[i];
            memmove(off + i + 2, off + i, (n - i) * sizeof *off); /* [i] before, [i+1] the token, [i+2] after */
            memmove(run + i + 2, run + i, (n - i) * sizeof *run);
            memmove(tok + i + 2, tok + i, (n - i) * sizeof *tok);
            n += 2;
            run[i] = at - off[i];
            off[i + 1] = at, run[i + 1] = plen, tok[i + 1] = id;
            off[i + 2] = at + plen, run[i + 2] = end - at - plen, tok[i + 2] = -1;
            i++; /* the run after it is searched next */
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (tok[i] >= 0) out[n_out++] = tok[i];
        else if (run[i]) n_out += tokenize(m, text + off[i], run[i], out + n_out, len + 1, flags);
    }
    free(off);
    free(run);
    free(tok);
    return n_out;
}

/* Pieces over "ab" that are prefixes, suffixes and overlaps of one
 * another, some of them control tokens, on random texts of a and b: the
 * one-pass matching must give exactly the tokens of the sequential
 * splitting, with and without LLM_TOKENIZE_SPECIAL. */
static void check_same_as_sequential(void) {
    static const char *const special[] = {"a", "aa", "ab", "ba", "aab", "aba", "bab", "abab", "bb", "baa",
                                          "aabb", "ab", "bbb", "aaaa", "b"};
    static const uint8_t control[] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0};
    llm_model *m = vocab_model(special, control, sizeof special / sizeof *special);
    uint64_t seed = 7;
    char text[64];
    int32_t got[130], want[130];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = 1 + iter % 63;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            text[i] = (char)("aab"[(seed >> 33) % 3] + (seed >> 40) % 5 / 4); /* a, b, sometimes c */
        }
        for (uint32_t flags = 0; flags <= LLM_TOKENIZE_SPECIAL; flags += LLM_TOKENIZE_SPECIAL) {
            size_t n = tokenize(m, text, len, got, 130, flags), k = reference(m, text, len, flags, want);
            if (n != k || memcmp(got, want, n * sizeof *got))
                fail_msg("'%.*s' (flags %u): %zu tokens, the sequential splitting gives %zu", (int)len, text, flags, n,
                         k);
        }
    }
    free_vocab_model(m);
}

/* 200,000 user-defined tokens sharing their first bytes on 64 KB of text
 * holding them: one scan of the text per token took 13-20 s; matching
 * must be roughly linear in the text (tools/hostile-bench measures it).
 * The bound, 2 s, is 30 times the cost under ASan (0.06 s). */
static void test_special_tokens_linear(void **state) {
    (void)state;
    check_same_as_sequential();
    int32_t n = test_quick() ? 20000 : 200000;
    size_t len = test_quick() ? 16384 : 65536;
    char **pieces = hostile_tok_pieces(n);
    assert_non_null(pieces);
    llm_model *m = vocab_model((const char *const *)pieces, NULL, n);
    hostile_free_pieces(pieces, n);
    char *text = hostile_tok_text(len, n, 42);
    int32_t *ids = malloc(len * sizeof *ids);
    assert_true(text && ids);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t k = tokenize(m, text, len, ids, len, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (dt > 2.0) fail_msg("%zu bytes, %d special tokens: %.2f s", len, n, dt);
    size_t specials = 0;
    for (size_t i = 0; i < k; i++) specials += ids[i] >= 3 + 256 + 27;
    assert_true(specials > len / 40); /* about one in 4 words is one */
    free(text);
    free(ids);
    free_vocab_model(m);
}

/* ------------------------------------------------------------ messages */

/* A long path must not push the reason out of a message: it keeps its
 * start and its end, where the reason is. */
static void test_long_path_messages(void **state) {
    (void)state;
    make_dir();
    char sub[512], path[1024];
    snprintf(sub, sizeof sub, "%s/%0250d", dir, 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/%0200d.gguf", sub, 1);
    llm_error e = {0};
    assert_null(llm_model_load(path, NULL, &e));
    expect_error("missing file", e.code, &e, LLM_ERR_IO, "cannot open: No such file or directory");
    assert_int_equal(strncmp(e.msg, dir, strlen(dir)), 0);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("GGUF\x63\0\0\0", 1, 8, fp); /* version 99 */
    fclose(fp);
    assert_null(llm_model_load(path, NULL, &e));
    expect_error("bad version", e.code, &e, LLM_ERR_UNSUPPORTED, "GGUF version 99 is not supported (2 and 3 are)");
    assert_non_null(strstr(e.msg, ".gguf: GGUF version"));
}

/* --------------------------------------------------------------- outputs */

/* A name of NAME_MAX bytes is a valid output: the temporary file's name
 * must not pass NAME_MAX with its suffix. */
static void test_long_output_name(void **state) {
    (void)state;
    make_dir();
    char name[256];
    snprintf(name, sizeof name, "%0250d.gguf", 7);
    llm_quantize_params p = llm_quantize_default_params();
    llm_error e = {0};
    if (llm_quantize_file(test_model_path("stories260K.gguf"), in_dir(1, name), &p, &e)) fail_msg("%s", e.msg);
    struct stat st;
    assert_int_equal(stat(in_dir(1, name), &st), 0);
    assert_true(S_ISREG(st.st_mode) && st.st_size > 0);
}

/* Output only to a new or regular file: a FIFO, a directory and a
 * symbolic link (which the rename would replace, not its target) are
 * refused by the quantizer and the converter and left as they were. */
static void test_output_kinds(void **state) {
    (void)state;
    make_dir();
    assert_int_equal(mkfifo(in_dir(0, "fifo.gguf"), 0600), 0);
    assert_int_equal(mkdir(in_dir(0, "dir.gguf"), 0700), 0);
    assert_int_equal(symlink(in_dir(1, "target.gguf"), in_dir(0, "link.gguf")), 0);
    const char *outs[] = {"fifo.gguf", "dir.gguf", "link.gguf"};
    const char *msgs[] = {"output goes only to a new or regular file", "output goes only to a new or regular file",
                          "is a symbolic link: refusing to replace it"};
    llm_quantize_params p = llm_quantize_default_params();
    char bin[4096];
    snprintf(bin, sizeof bin, "%s", test_model_path("stories260K.bin"));
    for (int i = 0; i < 3; i++) {
        assert_fails(llm_quantize_file(test_model_path("stories260K.gguf"), in_dir(0, outs[i]), &p, err),
                     LLM_ERR_INVALID_ARG, msgs[i]);
        assert_fails(llm_convert_llama2c(bin, test_model_path("tok512.bin"), in_dir(0, outs[i]), NULL, err),
                     LLM_ERR_INVALID_ARG, msgs[i]);
    }
    struct stat st;
    assert_true(lstat(in_dir(0, "fifo.gguf"), &st) == 0 && S_ISFIFO(st.st_mode));
    assert_true(lstat(in_dir(0, "dir.gguf"), &st) == 0 && S_ISDIR(st.st_mode));
    assert_true(lstat(in_dir(0, "link.gguf"), &st) == 0 && S_ISLNK(st.st_mode));
    assert_int_equal(access(in_dir(1, "target.gguf"), F_OK), -1);
}

/* Saved states follow the same rules: a FIFO or a symbolic link is
 * refused and left as it was, a name of NAME_MAX bytes works. */
static void test_state_outputs(void **state) {
    (void)state;
    make_dir();
    llm_error e = {0};
    llm_model *m = llm_model_load(test_model_path("stories260K.gguf"), NULL, &e);
    llm_ctx *c = m ? llm_ctx_new(m, NULL, &e) : NULL;
    if (!c) fail_msg("%s", e.msg);
    assert_int_equal(mkfifo(in_dir(0, "fifo.state"), 0600), 0);
    assert_int_equal(symlink(in_dir(1, "target.state"), in_dir(0, "link.state")), 0);
    assert_fails(llm_state_save_file(c, in_dir(0, "fifo.state"), err), LLM_ERR_INVALID_ARG,
                 "output goes only to a new or regular file");
    assert_fails(llm_state_save_file(c, in_dir(0, "link.state"), err), LLM_ERR_INVALID_ARG, "is a symbolic link");
    struct stat st;
    assert_true(lstat(in_dir(0, "fifo.state"), &st) == 0 && S_ISFIFO(st.st_mode));
    assert_true(lstat(in_dir(0, "link.state"), &st) == 0 && S_ISLNK(st.st_mode));
    char name[256];
    snprintf(name, sizeof name, "%0249d.state", 3);
    if (llm_state_save_file(c, in_dir(1, name), &e)) fail_msg("%s", e.msg);
    assert_int_equal(stat(in_dir(1, name), &st), 0);
    llm_ctx_free(c);
    llm_model_free(m);
}

/* Files in dir other than those named in keep (n of them). */
static int stray_files(const char *const *keep, size_t n) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int stray = 0;
    for (struct dirent *de; (de = readdir(d));) {
        bool known = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
        for (size_t i = 0; i < n; i++) known |= !strcmp(de->d_name, keep[i]);
        stray += !known;
    }
    closedir(d);
    return stray;
}

/* The temp hook of the tools, then the signal a user would send while
 * the temporary file exists. */
static void hook_then_signal(void *ud, const char *tmp_path) {
    tempclean_hook(ud, tmp_path);
    if (tmp_path) raise(*(int *)ud);
}

/* llm-quantize and llm-convert stopped by SIGINT or SIGTERM while the
 * output is being written leave no OUT.XXXXXX behind: their handler
 * (tools/tempclean.c) removes the file the library names, and the
 * process still ends by the signal. */
static void test_interrupted_output(void **state) {
    (void)state;
    make_dir();
    int sigs[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            tempclean_install();
            llm_error e;
            if (i == 0) {
                llm_quantize_params p = llm_quantize_default_params();
                p.temp = hook_then_signal;
                p.temp_ud = &sigs[i];
                llm_quantize_file(test_model_path("stories260K.gguf"), in_dir(1, "out.gguf"), &p, &e);
            } else {
                llm_convert_params p = llm_convert_default_params();
                p.temp = hook_then_signal;
                p.temp_ud = &sigs[i];
                char bin[4096];
                snprintf(bin, sizeof bin, "%s", test_model_path("stories260K.bin"));
                llm_convert_llama2c(bin, test_model_path("tok512.bin"), in_dir(1, "out.gguf"), &p, &e);
            }
            _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != sigs[i])
            fail_msg("%s: status %#x, not ended by the signal", i ? "convert" : "quantize", status);
        if (stray_files(NULL, 0)) fail_msg("%s: a partial output is left behind", i ? "convert" : "quantize");
    }
}

/* --------------------------------------------------- converter limits */

/* A tokenizer.json with more merges than the loader takes: the converter
 * used to write the file, which its own loader then refused; now it reads
 * its vocabulary back with the loader before converting any tensor. Heavy
 * (4M merges, ~0.5 GB), so skipped under LLM_TEST_QUICK. */
static void test_converter_limits(void **state) {
    (void)state;
    if (test_quick()) skip();
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer_config.json"};
    make_dir();
    link_all("tiny-gpt2vocab-hf", files, 3);
    char src[4096];
    snprintf(src, sizeof src, "%s/tokenizer.json", test_model_path("tiny-gpt2vocab-hf"));
    char *text = test_read_file(src, NULL), *at = text ? strstr(text, "\"merges\": [") : NULL;
    assert_non_null(at);
    at += strlen("\"merges\": [");
    FILE *fp = fopen(in_dir(0, "tokenizer.json"), "w");
    assert_non_null(fp);
    fwrite(text, 1, (size_t)(at - text), fp);
    for (int i = 0; i <= LLM_MAX_VOCAB; i++) fputs("\"a b\",", fp);
    fputs(at, fp);
    fclose(fp);
    free(text);
    assert_fails(llm_convert_hf(dir, in_dir(1, "o.gguf"), NULL, err), LLM_ERR_LIMIT,
                 "tokenizer.json: 4244305 BPE merges exceed the limit 4194304");
    assert_int_equal(access(in_dir(1, "o.gguf"), F_OK), -1);
}

/* ---------------------------------------------------------------- JSON */

/* JSON that cJSON and Python's json read differently is refused: a key
 * twice in an object (Python keeps the last, cJSON found the first),
 * \u0000 and raw control characters in strings (cJSON cut the string at
 * a NUL: "<s>\u0000x" was taken as "<s>"). */
static void test_json_like_python(void **state) {
    (void)state;
    const struct { const char *file, *from, *to, *msg; } cases[] = {
        {"config.json", "\"rope_theta\": 10000.0", "\"rope_theta\": 10000.0, \"rope_theta\": 500000.0",
         "config.json: key \"rope_theta\" appears twice in one object"},
        {"config.json", "\"hidden_act\": \"silu\"", "\"hidden_act\": \"silu\", \"hidden_act\": \"gelu\"",
         "key \"hidden_act\" appears twice"},
        {"tokenizer_config.json", "\"<s>\"", "\"<s>\\u0000x\"", "tokenizer_config.json: \\u0000 in a string at byte"},
        {"tokenizer_config.json", "\"<s>\"", "\"<s>\x01\"", "raw control character 0x01 in a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hf_dir_with(cases[i].file, cases[i].from, cases[i].to);
        assert_fails(llm_convert_hf(dir, in_dir(1, "o.gguf"), NULL, err), LLM_ERR_FORMAT, cases[i].msg);
    }
    hf_dir_with("tokenizer_config.json", "\"<s>\"", "\"\\\\u0000\""); /* an escaped backslash, then u0000 */
    assert_fails(llm_convert_hf(dir, in_dir(1, "o.gguf"), NULL, err), LLM_ERR_FORMAT,
                 "bos_token '\\u0000' is not in the vocabulary");
}

/* ------------------------------------------------------- long pieces */

static const char *llm_exe = "examples/llm"; /* from argv[1] */

/* The llm example echoes a prompt that is one 1000-byte user-defined
 * piece whole: it dropped every piece longer than its 512-byte buffer. */
static void test_long_piece_printed(void **state) {
    (void)state;
    static char piece[1001];
    memset(piece, 'Q', 1000);
    fixture_spec spec = fixture_default();
    spec.user_piece = piece;
    make_dir();
    char model[4096], cmd[16384];
    snprintf(model, sizeof model, "%s", fixture_write_tmp(&spec));
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p '%s' -n 1 --seed 1 > '%s' 2>/dev/null", llm_exe, model, piece,
             in_dir(0, "out"));
    assert_int_equal(system(cmd), 0);
    char *out = test_read_file(in_dir(0, "out"), NULL);
    assert_non_null(out);
    if (strncmp(out, piece, 1000) != 0) fail_msg("the prompt's piece is not printed: '%.40s...'", out);
    free(out);
}

static int teardown(void **state) {
    (void)state;
    remove_dir();
    test_cleanup_tmp();
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) llm_exe = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_aliased_layers, teardown),
        cmocka_unit_test_teardown(test_fifo_inputs, teardown),
        cmocka_unit_test_teardown(test_degenerate_hparams, teardown),
        cmocka_unit_test_teardown(test_degenerate_config, teardown),
        cmocka_unit_test_teardown(test_llama2c_trailing, teardown),
        cmocka_unit_test_teardown(test_special_tokens_linear, teardown),
        cmocka_unit_test_teardown(test_converter_limits, teardown),
        cmocka_unit_test_teardown(test_json_like_python, teardown),
        cmocka_unit_test_teardown(test_long_piece_printed, teardown),
        cmocka_unit_test_teardown(test_long_path_messages, teardown),
        cmocka_unit_test_teardown(test_long_output_name, teardown),
        cmocka_unit_test_teardown(test_output_kinds, teardown),
        cmocka_unit_test_teardown(test_state_outputs, teardown),
        cmocka_unit_test_teardown(test_interrupted_output, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
