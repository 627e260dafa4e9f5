/* The tensor listing of llm.h (llm_model_n_tensors, llm_model_tensor_info,
 * llm_model_tensor_row) on stories260K and its Q8_0 copy: the index is the
 * file's (names, shapes, types, aligned data inside the file), a
 * quantized tensor's rows are its weights dequantized, a llama2.c
 * checkpoint lists none, and out-of-range or NULL arguments are errors
 * naming the problem. */
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

#include "llm.h"
#include "testutil.h"

static llm_model *load(const char *name) {
    llm_error err;
    llm_model *m = llm_model_load(test_model_path(name), NULL, &err);
    if (!m) fail_msg("%s: %s", name, err.msg);
    return m;
}

static int64_t find(const llm_model *m, const char *name) {
    for (int64_t i = 0; i < llm_model_n_tensors(m); i++) {
        llm_tensor_info t;
        assert_int_equal(llm_model_tensor_info(m, i, &t, NULL), LLM_OK);
        if (t.name_len == strlen(name) && memcmp(t.name, name, t.name_len) == 0) return i;
    }
    fail_msg("no tensor %s", name);
    return -1;
}

static void test_index(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    struct stat st;
    assert_int_equal(stat(test_model_path("stories260K.gguf"), &st), 0);
    assert_int_equal(llm_model_n_tensors(m), 3 + 9 * llm_model_n_layer(m));
    llm_tensor_info t;
    assert_int_equal(llm_model_tensor_info(m, find(m, "blk.4.ffn_down.weight"), &t, NULL), LLM_OK);
    assert_int_equal(t.type, LLM_TYPE_F32);
    assert_int_equal(t.n_dims, 2);
    assert_int_equal(t.ne[0], llm_model_n_ff(m));
    assert_int_equal(t.ne[1], llm_model_n_embd(m));
    assert_int_equal(t.nbytes, 4 * 172 * 64);
    for (int64_t i = 0; i < llm_model_n_tensors(m); i++) {
        assert_int_equal(llm_model_tensor_info(m, i, &t, NULL), LLM_OK);
        assert_true(t.offset % 32 == 0 && t.offset + t.nbytes <= (uint64_t)st.st_size);
    }
    assert_int_equal(llm_model_head_dim(m), 8);
    assert_string_equal(llm_model_arch(m), "llama");
    llm_model_free(m);
}

/* The Q8_0 copy's rows are its dequantized weights: within half a step
 * (amax / 127 / 2, plus the fp16 rounding of the step) of the F32 file's. */
static void test_rows(void **state) {
    (void)state;
    llm_model *f = load("stories260K.gguf"), *q = load("stories260K-q8_0.gguf");
    int64_t tf = find(f, "blk.0.attn_q.weight"), tq = find(q, "blk.0.attn_q.weight");
    llm_tensor_info info;
    llm_model_tensor_info(q, tq, &info, NULL);
    assert_int_equal(info.type, LLM_TYPE_Q8_0);
    float a[64], b[64];
    for (int64_t r = 0; r < info.ne[1]; r++) {
        assert_int_equal(llm_model_tensor_row(f, tf, r, a, NULL), LLM_OK);
        assert_int_equal(llm_model_tensor_row(q, tq, r, b, NULL), LLM_OK);
        for (int blk = 0; blk < 2; blk++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(a[blk * 32 + i]));
            for (int i = 0; i < 32; i++) assert_true(fabsf(a[blk * 32 + i] - b[blk * 32 + i]) <= amax / 127 * 0.6f + 1e-6f);
        }
    }
    llm_model_free(f);
    llm_model_free(q);
}

static void test_errors(void **state) {
    (void)state;
    llm_model *m = load("stories260K.gguf");
    llm_tensor_info t;
    llm_error err = {0};
    float row[512];
    int64_t n = llm_model_n_tensors(m);
    assert_int_equal(llm_model_tensor_info(m, n, &t, &err), LLM_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "outside 0..47"));
    assert_int_equal(llm_model_tensor_info(m, -1, &t, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_tensor_info(NULL, 0, &t, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_tensor_info(m, 0, NULL, &err), LLM_ERR_INVALID_ARG);
    int64_t ff = find(m, "blk.0.ffn_norm.weight");
    assert_int_equal(llm_model_tensor_row(m, ff, 1, row, &err), LLM_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "blk.0.ffn_norm.weight"));
    assert_int_equal(llm_model_tensor_row(m, ff, 0, NULL, &err), LLM_ERR_INVALID_ARG);
    assert_int_equal(llm_model_tensor_row(m, ff, 0, row, &err), LLM_OK);
    assert_int_equal(llm_model_n_tensors(NULL), 0);
    assert_null(llm_model_arch(NULL));
    llm_model_free(m);
    /* a llama2.c checkpoint has no tensor index */
    llm_model_params p = llm_model_default_params();
    char tok[4096];
    snprintf(tok, sizeof tok, "%s", test_model_path("tok512.bin")); /* test_model_path's buffer is reused */
    p.tokenizer_path = tok;
    const char *path = test_model_path("stories260K.bin");
    llm_model *c = llm_model_load(path, &p, &err);
    if (!c) fail_msg("%s", err.msg);
    assert_int_equal(llm_model_n_tensors(c), 0);
    assert_int_equal(llm_model_tensor_info(c, 0, &t, &err), LLM_ERR_INVALID_ARG);
    llm_model_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
