/* llm-template: renders a conversation with a chat template (a model's,
 * a file's, or a built-in one) and prints exactly the resulting bytes.
 * Uses the public API, and cJSON to read the messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "llm.h"
#include "opts.h"
#include "toolutil.h"

const char *const tool_name = "llm-template";

static const char synopsis[] =
    "usage: llm-template (-m MODEL | --template FILE | --name NAME) --messages FILE.json\n"
    "                    [--bos TEXT] [--eos TEXT] [--no-generation-prompt] [--var KEY=JSON]...\n"
    "                    [--date YYYY-MM-DD]\n"
    "Renders a conversation with a chat template and prints exactly the bytes.\n\n";

/* A NUL-terminated copy of the file's bytes ("-": standard input). */
static char *slurp(const char *opt, const char *path) {
    size_t n;
    const char *file = strcmp(path, "-") == 0 ? "/dev/stdin" : path;
    FILE *f = fopen(file, "rb");
    if (!f) die("%s: cannot open %s: %s", opt, path, strerror(errno));
    fclose(f);
    char *s = read_file(file, &n);
    if (memchr(s, 0, n)) die("%s: %s holds a NUL byte", opt, path);
    return s;
}

/* A copy that cannot fail (xmalloc dies with a message). */
static char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* A message's content: a string, or the text parts of a list joined. */
static char *content_text(const cJSON *c, size_t i) {
    if (cJSON_IsString(c)) return xstrndup(c->valuestring, strlen(c->valuestring));
    if (!cJSON_IsArray(c)) die("--messages: message %zu: content is neither a string nor a list of parts", i);
    size_t len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) die("--messages: message %zu: a content part has no \"text\" string", i);
        len += strlen(t->valuestring);
    }
    char *s = xmalloc(len + 1);
    s[0] = 0;
    cJSON_ArrayForEach(part, c) strcat(s, cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring);
    return s;
}

static llm_chat_message *read_messages(const char *path, size_t *n, cJSON **doc) {
    char *text = slurp("--messages", path);
    *doc = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(*doc)) die("--messages: %s is not a JSON array of messages", path);
    *n = (size_t)cJSON_GetArraySize(*doc);
    llm_chat_message *m = xmalloc(*n * sizeof *m);
    for (size_t i = 0; i < *n; i++) {
        const cJSON *msg = cJSON_GetArrayItem(*doc, (int)i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        if (!cJSON_IsString(role)) die("--messages: message %zu has no \"role\" string", i);
        m[i].role = role->valuestring;
        m[i].content = content_text(cJSON_GetObjectItemCaseSensitive(msg, "content"), i);
    }
    return m;
}

/* --var KEY=JSON, added to the object vars: NULL, or why it is refused. */
static const char *add_var(const char *arg, void *dst) {
    cJSON *vars = dst;
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return "expected KEY=JSON";
    cJSON *v = cJSON_Parse(eq + 1);
    if (!v) return "the value is not JSON";
    char *key = xstrndup(arg, (size_t)(eq - arg));
    cJSON_DeleteItemFromObjectCaseSensitive(vars, key);
    cJSON_AddItemToObject(vars, key, v);
    free(key);
    return NULL;
}

/* The option an llm_chat_apply error is about, as a message prefix. */
static const char *option_of(const char *msg) {
    if (strstr(msg, "date")) return "--date: ";
    if (strstr(msg, "vars_json")) return "--var: ";
    if (strstr(msg, "built-in template")) return "--name: ";
    if (strstr(msg, "chat template")) return "-m: ";
    return "";
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *template_path = NULL, *messages_path = NULL;
    llm_chat_params p = llm_chat_default_params();
    cJSON *vars = cJSON_CreateObject();
    int no_gen = 0, list = 0;
    const opt table[] = {
        {"m", "model", OPT_STR, &model_path, 0, 0, "MODEL", "GGUF file whose tokenizer.chat_template (and BOS/EOS) to use", NULL},
        {NULL, "template", OPT_STR, &template_path, 0, 0, "FILE", "Jinja template source", NULL},
        {NULL, "name", OPT_STR, &p.template_name, 0, 0, "NAME", "a built-in template (--list-names prints them)", NULL},
        {NULL, "list-names", OPT_FLAG, &list, 0, 0, NULL, "print the built-in templates' names", NULL},
        {NULL, "messages", OPT_STR, &messages_path, 0, 0, "FILE.json",
         "[{\"role\": ..., \"content\": ...}, ...], - for stdin; content may\n"
         "be a string or a list of {\"type\": \"text\", \"text\": ...} parts", NULL},
        {NULL, "bos", OPT_STR, &p.bos_token, 0, 0, "TEXT", "the bos_token the template sees", NULL},
        {NULL, "eos", OPT_STR, &p.eos_token, 0, 0, "TEXT", "the eos_token the template sees", NULL},
        {NULL, "no-generation-prompt", OPT_FLAG, &no_gen, 0, 0, NULL, "add_generation_prompt = false", NULL},
        {NULL, "var", OPT_CALL, vars, 0, 0, "KEY=JSON", "an extra template variable, e.g. --var enable_thinking=false", add_var},
        {NULL, "date", OPT_STR, &p.date, 0, 0, "YYYY-MM-DD", "the day strftime_now reports (default: today)", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, NULL, table, NULL, 0, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (list) {
        for (const char *const *n = llm_chat_builtin_names(); *n; n++) printf("%s\n", *n);
        return 0;
    }
    if (no_gen) p.add_generation_prompt = 0;
    if (!!model_path + !!template_path + !!p.template_name != 1)
        exit(opts_error(&cmd, "give exactly one of -m, --template and --name"));
    if (!messages_path) exit(opts_error(&cmd, "--messages is required"));

    llm_error err = {0};
    llm_model *model = NULL;
    char *src = NULL;
    if (model_path && !(model = llm_model_load(model_path, NULL, &err))) die("-m: %s", err.msg);
    if (template_path) p.template_src = src = slurp("--template", template_path);
    char *vars_json = cJSON_GetArraySize(vars) ? cJSON_PrintUnformatted(vars) : NULL;
    p.vars_json = vars_json;
    size_t n_msgs, need = 0;
    cJSON *doc;
    llm_chat_message *msgs = read_messages(messages_path, &n_msgs, &doc);

    llm_status s = llm_chat_apply(model, &p, msgs, n_msgs, NULL, 0, &need, &err);
    char *out = NULL;
    if (s == LLM_ERR_BUFFER_TOO_SMALL) {
        out = xmalloc(need);
        s = llm_chat_apply(model, &p, msgs, n_msgs, out, need, &need, &err);
    }
    int rc = s == LLM_ERR_TEMPLATE; /* the template's own message, as it raised it */
    if (rc) fprintf(stderr, "%s\n", err.msg);
    else if (s != LLM_OK) die("%s%s", option_of(err.msg), err.msg);
    else if (fwrite(out, 1, need - 1, stdout) != need - 1 || fflush(stdout) != 0) die("cannot write the output");

    for (size_t i = 0; i < n_msgs; i++) free((char *)msgs[i].content);
    free(msgs);
    free(out);
    free(src);
    free(vars_json);
    cJSON_Delete(doc);
    cJSON_Delete(vars);
    llm_model_free(model);
    return rc;
}
