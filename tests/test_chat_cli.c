/* The llm example's conversation mode (examples/llm_chat.c), driven through
 * piped stdin on stories260K.gguf given a chat template (a copy of the
 * fixture with tokenizer.chat_template added, in a temporary file). With
 * --verbose-prompt llm prints, per turn, the position the tokens it fed
 * start at, those tokens, and the reply; the test renders the same
 * conversation itself with llm_chat_apply and checks that each turn fed
 * exactly the rendered tokens past the part already in the KV cache, which
 * holds at least the whole of the previous turn's prompt. argv[1] is the
 * llm program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gguf.h"
#include "gguf_write.h"
#include "json.h"
#include "llm.h"
#include "testutil.h"

static const char *llm_exe;
static char model_path[4096];
static char err_text[1 << 16]; /* llm's stderr in the last run */
static char out_text[1 << 16]; /* and its stdout */
static char out_path[] = "/tmp/libllm-chat-out-XXXXXX", template_path[] = "/tmp/libllm-chat-template-XXXXXX";

/* A template in a file, whose generation prompt opens a thinking block as
 * DeepSeek R1's does. */
static const char thinking_src[] =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}";

/* ChatML that writes BOS itself, as Llama 3's and Mistral's templates do:
 * the rendered text must then not get a second one. */
static const char template_src[] =
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/* stories260K.gguf with every key and tensor, and the template. */
static int setup(void **state) {
    (void)state;
    llm_error err;
    gguf_file f;
    if (gguf_open(&f, test_model_path("stories260K.gguf"), &err) != LLM_OK) return -1;
    gguf_writer *w = gguf_writer_new(&err);
    llm_status s = w ? LLM_OK : LLM_ERR_NOMEM;
    for (uint64_t i = 0; !s && i < f.n_kv; i++) s = gguf_writer_copy_kv(w, &f.kv[i], &err);
    if (!s) s = gguf_writer_add_str(w, "tokenizer.chat_template", template_src, &err);
    for (uint64_t i = 0; !s && i < f.n_tensors; i++) {
        const gguf_tensor *t = &f.tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        s = gguf_writer_add_tensor(w, name, t->n_dims, t->ne, t->type, t->data, t->nbytes, &err);
    }
    void *img = NULL;
    size_t size = 0;
    if (!s) s = gguf_writer_to_mem(w, &img, &size, &err);
    const char *path = s ? NULL : test_write_tmp(img, size);
    if (path) snprintf(model_path, sizeof model_path, "%s", path);
    int out_fd = mkstemp(out_path), template_fd = mkstemp(template_path);
    if (out_fd < 0 || template_fd < 0 ||
        write(template_fd, thinking_src, sizeof thinking_src - 1) != (ssize_t)sizeof thinking_src - 1)
        path = NULL;
    close(out_fd);
    close(template_fd);
    free(img);
    gguf_writer_free(w);
    gguf_close(&f);
    return path ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    test_cleanup_tmp();
    unlink(out_path);
    unlink(template_path);
    return 0;
}

/* Tokens llm fed at a position. */
typedef struct feed {
    int pos;
    int32_t ids[4096];
    size_t n;
} feed;

/* What llm said about one turn: what it fed before the reply, what it fed
 * again when the context filled up during the reply (n 0: nothing), the
 * reply. */
typedef struct turn {
    feed fed, shifted;
    char reply[4096];
} turn;

/* The ids after "...tokens:" on a --verbose-prompt line. */
static void parse_feed(const char *q, int pos, size_t n, feed *f) {
    assert_true(n <= 4096);
    f->pos = pos;
    f->n = n;
    for (size_t i = 0; i < n; i++) f->ids[i] = (int32_t)strtol(q, (char **)&q, 10);
}

/* Runs llm on input (piped, so no terminal) with args; its stderr into
 * err_text, parsed into turns (at most max), its stdout into out_text,
 * and the exit status. */
static int run(const char *args, const char *input, turn *turns, int max, int *n_turns) {
    size_t cap = sizeof err_text;
    char cmd[16384];
    assert_null(strchr(input, '\''));
    snprintf(cmd, sizeof cmd, "printf '%%s' '%s' | '%s' -m '%s' %s --temp 0 -t 1 --verbose-prompt 2>&1 >'%s'",
             input, llm_exe, model_path, args, out_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(err_text, 1, cap - 1, p);
    err_text[len] = 0;
    int status = pclose(p);
    FILE *out = fopen(out_path, "rb");
    assert_non_null(out);
    out_text[fread(out_text, 1, sizeof out_text - 1, out)] = 0;
    fclose(out);
    *n_turns = 0;
    for (char *line = err_text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        int k, pos, used;
        size_t n;
        if (sscanf(line, "llm: turn %d: fed at %d, %zu tokens:%n", &k, &pos, &n, &used) == 3) {
            assert_true(k == *n_turns + 1 && k <= max);
            turns[k - 1].shifted.n = 0;
            parse_feed(line + used, pos, n, &turns[(*n_turns)++].fed);
        } else if (sscanf(line, "llm: turn %d, reply shifted: fed at %d, %zu tokens:%n", &k, &pos, &n, &used) == 3) {
            assert_int_equal(k, *n_turns);
            parse_feed(line + used, pos, n, &turns[k - 1].shifted);
        } else if (sscanf(line, "llm: turn %d reply: %n", &k, &used) == 1 && used > 0) {
            assert_int_equal(k, *n_turns);
            llm_json *j;
            const char *end = strchr(line, '\n');
            assert_int_equal(llm_json_parse(line + used, (size_t)(end - line - used), &j, NULL), LLM_OK);
            snprintf(turns[k - 1].reply, sizeof turns[k - 1].reply, "%s", llm_json_str(j, NULL));
            llm_json_free(j);
        }
    }
    return status;
}

/* The conversation rendered and tokenized as a turn must feed it: control
 * tokens matched, BOS only when the template did not write it. */
static size_t render_ids(const llm_model *m, const llm_chat_message *msgs, size_t n, int32_t *ids, size_t cap) {
    char text[16384];
    llm_chat_params p = llm_chat_default_params();
    llm_error err;
    assert_int_equal(llm_chat_apply(m, &p, msgs, n, text, sizeof text, NULL, &err), LLM_OK);
    size_t n_ids;
    assert_int_equal(llm_tokenize(m, text, strlen(text), ids + 1, cap - 1, &n_ids, LLM_TOKENIZE_SPECIAL, &err), LLM_OK);
    if (llm_model_add_bos(m) && ids[1] != llm_token_bos(m)) {
        ids[0] = llm_token_bos(m);
        return n_ids + 1;
    }
    memmove(ids, ids + 1, n_ids * sizeof *ids);
    return n_ids;
}

/* run, which must succeed with want turns. */
static void converse(const char *args, const char *input, turn *turns, int want) {
    int n;
    int status = run(args, input, turns, want, &n);
    if (status != 0 || n != want) fail_msg("status %d, %d turns of %d in:\n%s", status, n, want, err_text);
}

static void test_three_turns(void **state) {
    (void)state;
    static turn turns[3];
    converse("-cnv -n 12 -sys 'You tell stories.'", "Hello there\nTell me about a cat\nAnd then?\n", turns, 3);
    llm_error err;
    llm_model *m = llm_model_load(model_path, NULL, &err);
    assert_non_null(m);
    const char *users[3] = {"Hello there", "Tell me about a cat", "And then?"};
    llm_chat_message msgs[7] = {{"system", "You tell stories."}};
    size_t n_msgs = 1, prev = 0;
    static int32_t ids[8192];
    for (int k = 0; k < 3; k++) {
        msgs[n_msgs++] = (llm_chat_message){"user", users[k]};
        size_t n_ids = render_ids(m, msgs, n_msgs, ids, 8192);
        const turn *t = &turns[k];
        /* the first turn starts the cache; later ones keep at least the
         * previous prompt, and feed exactly the rest */
        if (k == 0) assert_int_equal(t->fed.pos, 0);
        else assert_true((size_t)t->fed.pos >= prev);
        assert_int_equal(t->fed.n, n_ids - (size_t)t->fed.pos);
        assert_memory_equal(t->fed.ids, ids + t->fed.pos, t->fed.n * sizeof *ids);
        assert_true(strlen(t->reply) > 0);
        msgs[n_msgs++] = (llm_chat_message){"assistant", t->reply};
        prev = n_ids;
    }
    /* one BOS, written by the template */
    assert_int_equal(turns[0].fed.ids[0], llm_token_bos(m));
    assert_int_not_equal(turns[0].fed.ids[1], llm_token_bos(m));
    llm_model_free(m);
}

/* -p is the first message, and -e processes the escapes in it and in
 * -sys: "\x20" written for the spaces gives the same three turns as the
 * messages on stdin. */
static void test_first_message_from_p(void **state) {
    (void)state;
    static turn piped[3], given[3];
    converse("-cnv -n 12 -sys 'You tell stories.'", "Hello there\nTell me about a cat\nAnd then?\n", piped, 3);
    converse("-cnv -n 12 -e -sys 'You\\x20tell stories.' -p 'Hello\\x20there'", "Tell me about a cat\nAnd then?\n",
             given, 3);
    for (int k = 0; k < 3; k++) {
        assert_string_equal(given[k].reply, piped[k].reply);
        assert_int_equal(given[k].fed.pos, piped[k].fed.pos);
        assert_int_equal(given[k].fed.n, piped[k].fed.n);
        assert_memory_equal(given[k].fed.ids, piped[k].fed.ids, piped[k].fed.n * sizeof *piped[k].fed.ids);
    }
}

/* /regen writes the last reply again from the same prompt: only its last
 * token is decoded again (for its logits), and greedy sampling repeats the
 * reply; /clear starts over after the system message. */
static void test_commands(void **state) {
    (void)state;
    static turn turns[3];
    converse("-cnv -n 8 -sys 'S.'", "Hi\n/regen\n/clear\nHi\n/exit\nnever read\n", turns, 3);
    assert_int_equal(turns[1].fed.n, 1);
    assert_int_equal(turns[1].fed.pos + 1, turns[0].fed.pos + (int)turns[0].fed.n);
    assert_string_equal(turns[1].reply, turns[0].reply);
    assert_true(turns[2].fed.pos > 0 && turns[2].fed.pos < turns[0].fed.pos + (int)turns[0].fed.n);
    assert_string_equal(turns[2].reply, turns[0].reply);
    assert_non_null(strstr(err_text, "conversation cleared"));
}

/* A context of 96 tokens holds about two exchanges: later turns drop the
 * oldest, keep the system message, and the conversation goes on to the
 * end of its input with status 0. */
static void test_context_full(void **state) {
    (void)state;
    static turn turns[6];
    converse("-cnv -n 16 -c 96 -sys 'S.'", "One\nTwo\nThree\nFour\nFive\nSix\n", turns, 6);
    assert_non_null(strstr(err_text, "context full: dropped the oldest"));
    for (int k = 0; k < 6; k++) assert_true(turns[k].fed.pos + turns[k].fed.n + 1 <= 96);
}

/* The context fills up in the middle of the second reply, with the first
 * exchange still in it: that exchange is dropped and what is left, the
 * second message and the reply so far, is fed again; the reply goes on. */
static void test_shift_mid_reply(void **state) {
    (void)state;
    static turn turns[3];
    static const char *long_message =
        "Once upon a time there was a little girl who liked to play in the park with her dog and her friends "
        "every day after school and they had lots of fun together";
    char input[512];
    snprintf(input, sizeof input, "Hi\n%s\nMore\n", long_message);
    converse("-cnv -c 512 -n 200", input, turns, 3);
    const feed *f = &turns[1].shifted;
    if (!f->n) fail_msg("no shift within the second reply:\n%s", err_text);
    assert_non_null(strstr(err_text, "context full: dropped the oldest 2 messages"));
    llm_error err;
    llm_model *m = llm_model_load(model_path, NULL, &err);
    assert_non_null(m);
    llm_chat_message kept = {"user", long_message};
    static int32_t ids[8192];
    size_t n_ids = render_ids(m, &kept, 1, ids, 8192);
    assert_true(f->pos < (int)n_ids && f->n > n_ids - (size_t)f->pos && f->pos + f->n <= 512);
    assert_memory_equal(f->ids, ids + f->pos, (n_ids - (size_t)f->pos) * sizeof *ids);
    llm_model_free(m);
}

/* --chat-template FILE whose generation prompt opens a thinking block:
 * on a pipe the reply is shown between [think] and [/think]. A reply that
 * outgrows the context is cut short, and the conversation goes on. */
static void test_thinking_and_cut(void **state) {
    (void)state;
    static turn turns[2];
    char args[256];
    snprintf(args, sizeof args, "-cnv -n 400 -c 128 --chat-template '%s'", template_path);
    converse(args, "Hi\nAgain\n", turns, 2);
    assert_true(strncmp(out_text, "[think]", 7) == 0);
    assert_non_null(strstr(out_text, "[/think]\n[think]"));
    assert_non_null(strstr(err_text, "context full: the reply is cut short"));
    for (int k = 0; k < 2; k++) assert_true(turns[k].fed.pos + turns[k].fed.n <= 128);
}

/* Without a terminal on stdin, a template does not turn conversation mode
 * on; -cnv on a model without one says so. */
static void test_mode(void **state) {
    (void)state;
    converse("-n 4", "Hi\n", NULL, 0);
    assert_non_null(strstr(err_text, "generated 4 tokens"));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -cnv </dev/null 2>&1", llm_exe, test_model_path("stories260K.gguf"));
    FILE *p = popen(cmd, "r");
    size_t len = fread(err_text, 1, sizeof err_text - 1, p);
    err_text[len] = 0;
    assert_int_not_equal(pclose(p), 0);
    assert_non_null(strstr(err_text, "has no chat template"));
}

int main(int argc, char **argv) {
    llm_exe = argc > 1 ? argv[1] : "examples/llm";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_turns),
        cmocka_unit_test(test_first_message_from_p),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_context_full),
        cmocka_unit_test(test_shift_mid_reply),
        cmocka_unit_test(test_thinking_and_cut),
        cmocka_unit_test(test_mode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
