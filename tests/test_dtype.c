/* Element types: the block table and the half-precision conversions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dtype.h"

static void test_table(void **state) {
    (void)state;
    assert_string_equal(llm_type_name(LLM_DT_Q4_K), "Q4_K");
    assert_string_equal(llm_type_name(4), "unknown"); /* retired number */
    assert_string_equal(llm_type_name(1000), "unknown");
    assert_null(llm_dtype(LLM_DT_COUNT));
    uint64_t b;
    assert_true(llm_dtype_row_size(LLM_DT_Q8_0, 64, &b));
    assert_int_equal(b, 68);
    assert_false(llm_dtype_row_size(LLM_DT_Q8_0, 33, &b)); /* not whole blocks */
    assert_true(llm_dtype_row_size(LLM_DT_F32, UINT64_MAX / 4, &b));
    assert_false(llm_dtype_row_size(LLM_DT_F32, UINT64_MAX / 2, &b)); /* overflow */
    assert_true(llm_dtype_supported(LLM_DT_F16));
    assert_true(llm_dtype_supported(LLM_DT_Q4_0));
    assert_false(llm_dtype_supported(LLM_DT_Q2_K));
}

static void test_f16_known(void **state) {
    (void)state;
    struct { uint16_t h; float f; } v[] = {
        {0x0000, 0.0f}, {0x3c00, 1.0f}, {0xc000, -2.0f}, {0x7bff, 65504.0f},
        {0x0001, 5.9604644775390625e-8f}, {0x03ff, 6.097555160522461e-5f},
        {0x0400, 6.103515625e-5f}, {0x3555, 0.333251953125f},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_true(llm_f16_to_f32(v[i].h) == v[i].f);
        assert_int_equal(llm_f32_to_f16(v[i].f), v[i].h);
    }
    assert_true(isinf(llm_f16_to_f32(0x7c00)));
    assert_true(isnan(llm_f16_to_f32(0x7e00)));
    assert_int_equal(llm_f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(llm_f32_to_f16(-1e6f), 0xfc00);
    assert_int_equal(llm_f32_to_f16(NAN) & 0x7c00, 0x7c00);
    assert_int_equal(llm_f32_to_f16(1e-9f), 0);
}

/* Every half value converts to float and back unchanged, and rounding of
 * the midpoint between two neighbours goes to the even one. */
static void test_f16_exhaustive(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaNs */
        float f = llm_f16_to_f32((uint16_t)h);
        assert_int_equal(llm_f32_to_f16(f), h);
        if ((h & 0x7fff) < 0x7bff) {
            float next = llm_f16_to_f32((uint16_t)(h + 1));
            float mid = (f + next) / 2;
            uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            assert_int_equal(llm_f32_to_f16(mid), want);
        }
    }
}

static void test_bf16(void **state) {
    (void)state;
    assert_true(llm_bf16_to_f32(0x3f80) == 1.0f);
    assert_int_equal(llm_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(llm_f32_to_bf16(1.00390625f), 0x3f80); /* tie to even */
    assert_int_equal(llm_f32_to_bf16(1.01171875f), 0x3f82); /* tie to even, up */
    assert_true(isnan(llm_bf16_to_f32(llm_f32_to_bf16(NAN))));
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
        assert_int_equal(llm_f32_to_bf16(llm_bf16_to_f32((uint16_t)h)), h);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_f16_known),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
