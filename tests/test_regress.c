/* Regression tests for the bugs the fuzz harnesses found (tests/fuzz,
 * docs/ROBUSTNESS.md lists them): each input, reduced, must now be
 * refused cleanly. Run under the sanitizers, a relapse is a report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "llm.h"
#include "spm_model.h"
#include "testutil.h"

/* fuzz_convert: an empty tokenizer.model. An empty file maps to no data
 * (NULL, size 0), and the protobuf cursor was set up as NULL + 0, which C
 * leaves undefined (UBSan: "applying zero offset to null pointer"). */
static void test_spm_empty(void **state) {
    (void)state;
    spm_model m;
    llm_error err = {0};
    assert_int_equal(spm_model_parse(&m, NULL, 0, &err), LLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no pieces"));
    const char *path = test_write_tmp("", 0);
    assert_non_null(path);
    assert_int_equal(spm_model_open(&m, path, &err), LLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
}

static int teardown(void **state) {
    (void)state;
    test_cleanup_tmp();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_empty),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
