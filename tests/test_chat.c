/* Chat templates: every golden case of ../shared/golden/chat byte for byte
 * (26 real templates x 12 conversations), then the engine's Jinja
 * semantics, limits, errors and the API's argument handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "alloc.h"
#include "fixture.h"
#include "llm.h"
#include "testutil.h"

/* Renders src over msgs into a malloc'd string; NULL on failure with *st
 * and err set. */
static char *render(const llm_chat_params *p, const llm_chat_message *msgs, size_t n, llm_status *st,
                    llm_error *err) {
    size_t need = 0;
    char small[8];
    *st = llm_chat_apply(NULL, p, msgs, n, small, sizeof small, &need, err);
    if (*st == LLM_OK) return strdup(small);
    if (*st != LLM_ERR_BUFFER_TOO_SMALL) return NULL;
    char *buf = malloc(need);
    *st = llm_chat_apply(NULL, p, msgs, n, buf, need, &need, err);
    if (*st) { free(buf); return NULL; }
    return buf;
}

static char *render_src(const char *src, const char *vars, llm_status *st, llm_error *err) {
    llm_chat_params p = llm_chat_default_params();
    p.template_src = src;
    p.vars_json = vars;
    p.date = "2025-01-05";
    static const llm_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    return render(&p, msgs, 2, st, err);
}

/* ------------------------------------------------------------ golden */

/* A golden file, or NULL (quietly) when it does not exist. */
static char *read_text(const char *rel, size_t *n) {
    const char *path = test_golden_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fclose(f);
    return test_read_file(path, n);
}

/* One golden case: 1 when the rendering (or the raised message) matches. */
static int golden_case(const char *fam, const cJSON *tmpl, const char *src, const cJSON *conv, int gen) {
    const char *id = cJSON_GetObjectItem(conv, "id")->valuestring;
    char rel[256], rel_err[256];
    snprintf(rel, sizeof rel, "chat/expected/%s/%s.%s.txt", fam, id, gen ? "gen" : "nogen");
    snprintf(rel_err, sizeof rel_err, "chat/expected/%s/%s.%s.error.txt", fam, id, gen ? "gen" : "nogen");
    size_t want_n = 0, err_n = 0;
    char *want = read_text(rel, &want_n), *want_err = want ? NULL : read_text(rel_err, &err_n);
    if (!want && !want_err) return -1; /* no such case */
    const cJSON *ms = cJSON_GetObjectItem(conv, "messages");
    size_t n = (size_t)cJSON_GetArraySize(ms);
    llm_chat_message *msgs = calloc(n + 1, sizeof *msgs);
    for (size_t i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(ms, (int)i);
        msgs[i].role = cJSON_GetObjectItem(m, "role")->valuestring;
        msgs[i].content = cJSON_GetObjectItem(m, "content")->valuestring;
    }
    llm_chat_params p = llm_chat_default_params();
    p.template_src = src;
    const cJSON *bos = cJSON_GetObjectItem(tmpl, "bos_token"), *eos = cJSON_GetObjectItem(tmpl, "eos_token");
    p.bos_token = cJSON_IsString(bos) ? bos->valuestring : NULL;
    p.eos_token = cJSON_IsString(eos) ? eos->valuestring : NULL;
    p.add_generation_prompt = gen;
    char *vars = cJSON_PrintUnformatted(cJSON_GetObjectItem(tmpl, "context"));
    p.vars_json = vars;
    p.date = "2025-01-05";
    llm_error e = {0};
    llm_status st;
    char *got = render(&p, msgs, n, &st, &e);
    int ok;
    if (want) {
        ok = got && strlen(got) == want_n && memcmp(got, want, want_n) == 0;
        if (!ok && got) {
            size_t k = 0;
            while (k < want_n && got[k] == want[k]) k++;
            print_message("%s/%s.%s: differs at byte %zu\n  got:  %.60s\n  want: %.60s\n", fam, id,
                          gen ? "gen" : "nogen", k, got + k, want + k);
        } else if (!ok) print_message("%s/%s: failed: %s\n", fam, id, e.msg);
    } else {
        ok = !got && st == LLM_ERR_TEMPLATE && strlen(e.msg) == err_n && memcmp(e.msg, want_err, err_n) == 0;
        if (!ok) print_message("%s/%s: expected raise '%s', got status %d '%s'\n", fam, id, want_err, st,
                               got ? got : e.msg);
    }
    free(got);
    free(vars);
    free(msgs);
    free(want);
    free(want_err);
    return ok;
}

static void test_golden(void **state) {
    (void)state;
    char *tj = read_text("chat/templates.json", NULL), *cj = read_text("chat/conversations.json", NULL);
    if (!tj || !cj) {
        free(tj);
        free(cj);
        skip();
    }
    cJSON *tmpls = cJSON_GetObjectItem(cJSON_Parse(tj), "families"), *convs = cJSON_Parse(cj);
    int pass = 0, total = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tmpls) {
        char rel[256];
        snprintf(rel, sizeof rel, "chat/%s", cJSON_GetObjectItem(t, "file")->valuestring);
        char *src = read_text(rel, NULL);
        assert_non_null(src);
        const cJSON *conv;
        cJSON_ArrayForEach(conv, convs) {
            for (int gen = 1; gen >= 0; gen--) {
                int r = golden_case(t->string, t, src, conv, gen);
                if (r < 0) continue;
                total++;
                pass += r;
            }
        }
        free(src);
    }
    print_message("chat golden: %d of %d cases pass\n", pass, total);
    cJSON_Delete(tmpls ? cJSON_GetObjectItem(cJSON_Parse(tj), "families") : NULL);
    cJSON_Delete(convs);
    free(tj);
    free(cj);
    assert_int_equal(total, 364);
    assert_int_equal(pass, total);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
