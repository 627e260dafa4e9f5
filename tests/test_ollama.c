/* llm_ollama_resolve on a store built in a temporary directory
 * (ollama_store.h): a manifest, the fixture model stories260K.gguf linked
 * in as the model blob, and params, system and template layers. Names resolve with
 * Ollama's defaults, the params and system layers come back as values,
 * and hostile names and manifests are refused with messages. The llm
 * example (argv[1]) opens ollama:NAME with the params as defaults under
 * its command line. */
#include <limits.h>
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

#include "fixture.h"
#include "llm.h"
#include "ollama_store.h"
#include "testutil.h"

static const char *store;     /* the temporary store */
static const char *llm_exe;   /* examples/llm, from argv[1] */

/* The store's helpers, which must not fail here. */
static void put(const char *rel, const char *data, size_t len) {
    assert_int_equal(ollama_store_put(rel, data, len), 0);
}

static void put_manifest(const char *name, const char *json) {
    assert_int_equal(ollama_store_put_manifest(name, json), 0);
}

static int setup(void **state) {
    (void)state;
    return (store = ollama_store_new()) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ollama_store_free();
    return 0;
}

static void test_resolves(void **state) {
    (void)state;
    llm_ollama_model om;
    llm_error err = {0};
    assert_int_equal(llm_ollama_resolve("tiny", store, &om, &err), LLM_OK);
    assert_non_null(strstr(om.model_path, "/blobs/sha256-" HEX_MODEL));
    assert_string_equal(om.system, "You are a tiny storyteller.");
    assert_true(om.temperature == 0.25f && om.top_p == 0.5f && om.min_p == 0.125f && om.repeat_penalty == 1.5f);
    assert_int_equal(om.top_k, 7);
    assert_int_equal(om.repeat_last_n, 32);
    assert_int_equal(om.num_ctx, 96);
    assert_int_equal(om.num_predict, 5);
    assert_int_equal(om.seed, 4242);
    assert_int_equal(om.n_stop, 2);
    assert_string_equal(om.stop[0], "<|eot|>");
    assert_string_equal(om.stop[1], "User:");
    assert_int_equal(om.has_template, 1);
    assert_non_null(strstr(om.params_json, "\"mirostat\": 0"));
    llm_model *m = llm_model_load(om.model_path, NULL, &err);
    assert_non_null(m);
    assert_int_equal(llm_model_n_vocab(m), 512);
    llm_model_free(m);
    llm_ollama_model_free(&om);
    assert_null(om.model_path);
}

/* The same manifest under every spelling of its name; the store from
 * $OLLAMA_MODELS when none is given. */
static void test_names(void **state) {
    (void)state;
    static const char *const names[] = {"tiny:latest", "library/tiny", "registry.ollama.ai/library/tiny:latest",
                                        "example.com/someone/tiny:q8"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        llm_ollama_model om;
        llm_error err = {0};
        assert_int_equal(llm_ollama_resolve(names[i], store, &om, &err), LLM_OK);
        assert_non_null(strstr(om.model_path, HEX_MODEL));
        llm_ollama_model_free(&om);
    }
    llm_ollama_model om;
    setenv("OLLAMA_MODELS", store, 1);
    assert_int_equal(llm_ollama_resolve("tiny", NULL, &om, NULL), LLM_OK);
    llm_ollama_model_free(&om);
    unsetenv("OLLAMA_MODELS");
    setenv("HOME", store, 1); /* ~/.ollama/models does not exist there */
    assert_fails(llm_ollama_resolve("tiny", NULL, &om, err), LLM_ERR_IO, ".ollama/models");
    assert_null(om.model_path);
}

/* Names that would leave the store, or hold what Ollama never writes. */
static void test_bad_names(void **state) {
    (void)state;
    static const char *const bad[] = {"", "..", "../tiny", "library/../../tiny", "tiny:../../x", "x/y/z/tiny",
                                      ".tiny", "-tiny", "ti ny", "tiny:", "/tiny", "tiny/", "a//tiny",
                                      "tiny:la/test", "tiny:1:2", "t\xc3\xa9", "tiny\\x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        llm_ollama_model om;
        llm_error err = {0};
        assert_int_equal(llm_ollama_resolve(bad[i], store, &om, &err), LLM_ERR_INVALID_ARG);
        assert_non_null(strstr(err.msg, "ollama name"));
    }
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    llm_ollama_model om;
    assert_fails(llm_ollama_resolve(longname, store, &om, err), LLM_ERR_INVALID_ARG, "1 to 128 characters");
    assert_fails(llm_ollama_resolve("absent", store, &om, err), LLM_ERR_IO, "no ollama model 'absent'");
    assert_fails(llm_ollama_resolve(NULL, store, &om, err), LLM_ERR_INVALID_ARG, "name is NULL");
    assert_fails(llm_ollama_resolve("tiny", store, NULL, err), LLM_ERR_INVALID_ARG, "out is NULL");
    llm_ollama_model_free(NULL);
}

/* One hostile manifest (or params layer) and what it must give. */
typedef struct bad_case {
    const char *manifest, *params;
    llm_status want;
    const char *msg;
} bad_case;

static void test_bad_manifests(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"{\"layers\":[" LAYER("template", HEX_TEMPLATE) "," LAYER("params", HEX_PARAMS) "]}", NULL,
         LLM_ERR_UNSUPPORTED, "no application/vnd.ollama.image.model layer"},
        {"{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.tensor\",\"digest\":\"sha256:" HEX_TEXT "\"}]}",
         NULL, LLM_ERR_UNSUPPORTED, "per-tensor and cloud models"},
        {"{\"layers\":[]}", NULL, LLM_ERR_UNSUPPORTED, "no application/vnd.ollama.image.model"},
        {"{\"layers\":[" LAYER("model", HEX_MODEL) "," LAYER("adapter", HEX_TEXT) "]}", NULL, LLM_ERR_UNSUPPORTED,
         "layers[1] is a LoRA adapter"},
        {"{\"layers\":[" LAYER("model", HEX_MODEL) ",]}", NULL, LLM_ERR_FORMAT, "ollama manifest"},
        {"not json", NULL, LLM_ERR_FORMAT, "ollama manifest"},
        {"[1, 2]", NULL, LLM_ERR_FORMAT, "is not a JSON object"},
        {"{\"layers\":{}}", NULL, LLM_ERR_FORMAT, "no \"layers\" array"},
        {"{\"layers\":[7]}", NULL, LLM_ERR_FORMAT, "layers[0] is not an object"},
        {"{\"layers\":[{\"mediaType\":5}]}", NULL, LLM_ERR_FORMAT, "layers[0] has no mediaType"},
        {"{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:../../x\"}]}",
         NULL, LLM_ERR_FORMAT, "64 hex digits"},
        {"{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":7}]}", NULL,
         LLM_ERR_FORMAT, "64 hex digits"},
        {"{\"layers\":[" LAYER("model", HEX_TEXT) "]}", NULL, LLM_ERR_UNSUPPORTED, "is not a GGUF file"},
        {"{\"layers\":[" LAYER("model", "6666666666666666666666666666666666666666666666666666666666666666") "]}",
         NULL, LLM_ERR_IO, "cannot be read"},
        {NULL, "{\"temperature\": \"hot\"}", LLM_ERR_FORMAT, "\"temperature\" is not a number"},
        {NULL, "{\"num_ctx\": 1.5}", LLM_ERR_FORMAT, "\"num_ctx\" is not an integer"},
        {NULL, "{\"num_ctx\": 99999999999}", LLM_ERR_FORMAT, "\"num_ctx\" is not an integer"},
        {NULL, "{\"stop\": 5}", LLM_ERR_FORMAT, "\"stop\" is neither a string nor an array"},
        {NULL, "{\"stop\": [\"a\", null]}", LLM_ERR_FORMAT, "\"stop\"[1] is not a string"},
        {NULL, "{\"stop\": \"a\\u0000b\"}", LLM_ERR_FORMAT, "NUL byte"},
        {NULL, "[]", LLM_ERR_FORMAT, "params layer is not an object"},
        {NULL, "{\"top_k\": 1", LLM_ERR_FORMAT, "ollama params layer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        put_manifest("bad", c->manifest ? c->manifest
                                        : "{\"layers\":[" LAYER("model", HEX_MODEL) "," LAYER("params", HEX_TEXT) "]}");
        if (c->params) put("blobs/sha256-" HEX_TEXT, c->params, 0);
        llm_ollama_model om;
        llm_error err = {0};
        llm_status s = llm_ollama_resolve("bad", store, &om, &err);
        if (s != c->want || !strstr(err.msg, c->msg)) fail_msg("case %zu: status %d, '%s'", i, s, err.msg);
        assert_null(om.model_path);
    }
    put("blobs/sha256-" HEX_TEXT, "some text that is not GGUF", 0);
}

/* Oversized manifests and layers, a manifest that is a directory, FIFOs. */
static void test_limits(void **state) {
    (void)state;
    size_t n = LLM_OLLAMA_MAX_LAYER + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    put("manifests/registry.ollama.ai/library/big/latest", big, n);
    llm_ollama_model om;
    assert_fails(llm_ollama_resolve("big", store, &om, err), LLM_ERR_LIMIT, "more than the 1048576 allowed");
    put_manifest("bigparams", "{\"layers\":[" LAYER("model", HEX_MODEL) "," LAYER("params", HEX_TEXT) "]}");
    put("blobs/sha256-" HEX_TEXT, big, n);
    assert_fails(llm_ollama_resolve("bigparams", store, &om, err), LLM_ERR_LIMIT, "more than the");
    put("blobs/sha256-" HEX_TEXT, "some text that is not GGUF", 0);
    free(big);
    put("manifests/registry.ollama.ai/library/dir/latest/x", "", 1);
    assert_fails(llm_ollama_resolve("dir", store, &om, err), LLM_ERR_FORMAT, "not a regular file");
    /* FIFOs, which nothing writes to, are refused without waiting */
    char fifo[PATH_MAX * 2];
    snprintf(fifo, sizeof fifo, "%s/manifests/registry.ollama.ai/library/fifo", store);
    mkdir(fifo, 0755);
    strcat(fifo, "/latest");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_fails(llm_ollama_resolve("fifo", store, &om, err), LLM_ERR_FORMAT, "not a regular file");
    snprintf(fifo, sizeof fifo, "%s/blobs/sha256-%s", store, "7777777777777777777777777777777777777777777777777777777777777777");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    put_manifest("fifoblob", "{\"layers\":[" LAYER("model", "7777777777777777777777777777777777777777777777777777777777777777") "]}");
    assert_fails(llm_ollama_resolve("fifoblob", store, &om, err), LLM_ERR_UNSUPPORTED, "is not a GGUF file");
}

/* Runs llm with OLLAMA_MODELS at the store; its stderr into buf. */
static int run_llm(const char *args, char *buf, size_t cap) {
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "printf 'Hi\\n' | OLLAMA_MODELS='%s' '%s' %s -t 1 2>&1 >/dev/null", store, llm_exe, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(buf, 1, cap - 1, p);
    buf[len] = 0;
    return pclose(p);
}

/* The example takes the params layer as defaults (seed 4242, 5 tokens)
 * and names the blob it opened; its command line wins over the layer. */
static void test_llm_example(void **state) {
    (void)state;
    char out[8192];
    assert_int_equal(run_llm("-m ollama:tiny -no-cnv", out, sizeof out), 0);
    assert_non_null(strstr(out, "llm: model "));
    assert_non_null(strstr(out, "/blobs/sha256-" HEX_MODEL "\n"));
    assert_non_null(strstr(out, "generated 5 tokens"));
    assert_non_null(strstr(out, "seed 4242\n"));
    assert_non_null(strstr(out, "Go template"));
    assert_int_equal(run_llm("-m ollama:tiny -no-cnv --seed 9 -n 3", out, sizeof out), 0);
    assert_non_null(strstr(out, "generated 3 tokens"));
    assert_non_null(strstr(out, "seed 9\n"));
    assert_int_not_equal(run_llm("-m ollama:../tiny", out, sizeof out), 0);
    assert_non_null(strstr(out, "ollama name '../tiny'"));
}

/* In a conversation the system layer is the system message, and a stop
 * string of the params layer (here " ") ends the reply before it. */
static void test_llm_conversation(void **state) {
    (void)state;
    put("blobs/sha256-" HEX_TEXT, "{\"stop\": [\"<|eot|>\", \" \"], \"num_predict\": 40, \"temperature\": 0}", 0);
    put_manifest("stops", "{\"layers\":[" LAYER("model", HEX_MODEL) "," LAYER("params", HEX_TEXT) "," LAYER("system", HEX_SYSTEM) "]}");
    char out[16384];
    assert_int_equal(run_llm("-m ollama:stops -cnv --chat-template chatml --verbose-prompt", out, sizeof out), 0);
    put("blobs/sha256-" HEX_TEXT, "some text that is not GGUF", 0);
    const char *reply = strstr(out, "llm: turn 1 reply: \"");
    assert_non_null(reply);
    reply += strlen("llm: turn 1 reply: \"");
    const char *end = strchr(reply, '\n'); /* the reply as a JSON string, up to its closing quote */
    assert_true(end && end - reply > 1 && end[-1] == '"');
    assert_null(memchr(reply, ' ', (size_t)(end - reply)));
    /* the ids fed: the system layer's text and "Hi", rendered as chatml */
    llm_error err;
    llm_model *m = llm_model_load(test_model_path("stories260K.gguf"), NULL, &err);
    assert_non_null(m);
    llm_chat_message msgs[2] = {{"system", "You are a tiny storyteller."}, {"user", "Hi"}};
    llm_chat_params p = llm_chat_default_params();
    p.template_name = "chatml";
    char text[1024], want[8192] = "";
    assert_int_equal(llm_chat_apply(m, &p, msgs, 2, text, sizeof text, NULL, &err), LLM_OK);
    int32_t ids[512];
    size_t n;
    assert_int_equal(llm_tokenize(m, text, strlen(text), ids, 512, &n, LLM_TOKENIZE_SPECIAL | LLM_TOKENIZE_ADD_BOS, &err),
                     LLM_OK);
    int k = snprintf(want, sizeof want, "llm: turn 1: fed at 0, %zu tokens:", n);
    for (size_t i = 0; i < n; i++) k += snprintf(want + k, sizeof want - (size_t)k, " %d", (int)ids[i]);
    snprintf(want + k, sizeof want - (size_t)k, "\n");
    if (!strstr(out, want)) fail_msg("fed other ids than\n%s in\n%s", want, out);
    llm_model_free(m);
}

int main(int argc, char **argv) {
    llm_exe = argc > 1 ? argv[1] : "examples/llm";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolves),      cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_names),     cmocka_unit_test(test_bad_manifests),
        cmocka_unit_test(test_limits),        cmocka_unit_test(test_llm_example),
        cmocka_unit_test(test_llm_conversation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
