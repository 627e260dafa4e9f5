/* Shared helpers for the test suites: where the fixtures are, and reading
 * a whole file. Fixtures live outside the repository; LLM_TEST_MODELS
 * names their directory (default: ../shared/models beside the source tree)
 * and the golden outputs are in its sibling "golden". */
#ifndef LLM_TESTUTIL_H
#define LLM_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* "$LLM_TEST_MODELS/rel" in a static buffer (valid until the next call). */
const char *test_model_path(const char *rel);
/* The model at rel under the fixture directory, loaded with default
 * parameters, or NULL with the error printed (the test should fail). */
struct llm_model *test_load_model(const char *rel);
/* "$LLM_TEST_MODELS/../golden/rel" in a static buffer. */
const char *test_golden_path(const char *rel);
/* Reads a whole file into a malloc'd, NUL-terminated buffer; NULL on error
 * (the test should fail). *size receives its length when size is not NULL. */
char *test_read_file(const char *path, size_t *size);
/* Writes size bytes to a new temporary file and returns its path (static
 * buffer); the file is removed by test_cleanup_tmp. */
const char *test_write_tmp(const void *data, size_t size);
void test_cleanup_tmp(void);
/* True when LLM_TEST_QUICK=1: heavy loops shrink to a representative
 * part (./build.sh valgrind sets it, where everything runs ~50x slower). */
bool test_quick(void);

#endif
