/* The llm example's display of thinking blocks (examples/think.c): the
 * same output however the reply's bytes are split into tokens, tags that
 * are not quite tags passed through, a block the prompt opened, and the
 * terminal's escape codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "think.h"

/* What the display shows of text fed in pieces of step bytes. */
static char *shown(const char *text, size_t step, int tty, int inside) {
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    think t;
    think_start(&t, out, tty, inside);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += step) think_put(&t, text + i, n - i < step ? n - i : step);
    think_end(&t);
    fclose(out);
    return buf;
}

static void expect(const char *text, int tty, int inside, const char *want) {
    for (size_t step = 1; step <= strlen(text) + 1; step++) {
        char *got = shown(text, step, tty, inside);
        if (strcmp(got, want) != 0) fail_msg("'%s' in pieces of %zu: '%s', not '%s'", text, step, got, want);
        free(got);
    }
}

static void test_blocks(void **state) {
    (void)state;
    expect("<think>hmm</think>Yes.", 0, 0, "[think]hmm[/think]Yes.\n");
    expect("plain answer", 0, 0, "plain answer\n");
    expect("a <thin b <<think>c</thin d</think>e", 0, 0, "a <thin b <[think]c</thin d[/think]e\n");
    expect("hmm</think>Yes.", 0, 1, "[think]hmm[/think]Yes.\n");
    expect("<think>cut off", 0, 0, "[think]cut off[/think]\n");
    expect("ends in <thi", 0, 0, "ends in <thi\n");
    expect("<think>a</think>", 1, 0, "\033[2ma\033[0m\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_blocks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
