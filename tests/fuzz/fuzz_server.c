/* llm-server's request handling (tools/server/oai.c): the input is a
 * request body, parsed as a chat, a completion and an embeddings request.
 * A refusal must be a 4xx (or 500) whose error object is valid JSON with
 * a message; an acceptance must keep every documented limit, and the
 * response and stream chunk built from what was accepted must be valid
 * JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "oai.h"

static const oai_limits limits = {"m.gguf", 256, 512, 8, 16};

/* json must parse, and hold a string at the path key (then key2). */
static void require_json(const char *json, const char *key, const char *key2) {
    fuzz_require(json != NULL, "no JSON produced");
    cJSON *o = cJSON_Parse(json);
    fuzz_require(o != NULL, "the server produced invalid JSON");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (key2) v = cJSON_GetObjectItemCaseSensitive(v, key2);
    fuzz_require(!key || (cJSON_IsString(v) && *v->valuestring), "a required string is missing");
    cJSON_Delete(o);
}

static void check_accepted(const oai_request *r) {
    fuzz_require(r->n_stop >= 0 && r->n_stop <= OAI_MAX_STOP, "too many stop strings");
    for (int i = 0; i < r->n_stop; i++)
        fuzz_require(*r->stop[i] && strlen(r->stop[i]) <= OAI_MAX_STOP_LEN, "a stop string out of bounds");
    for (int i = 0; i < r->n_bias; i++)
        fuzz_require(r->bias[i].token >= 0 && r->bias[i].token < limits.n_vocab, "a logit_bias token out of range");
    fuzz_require(r->max_tokens >= 0 && r->max_tokens <= limits.n_ctx, "max_tokens beyond the context");
    fuzz_require(!r->include_usage || r->stream, "include_usage without stream");
    fuzz_require(r->kind == OAI_EMBEDDING || (r->temperature >= 0 && r->temperature <= 2 && r->top_p > 0 && r->top_p <= 1),
                 "sampling out of range");
    if (r->kind == OAI_CHAT)
        fuzz_require(r->n_messages >= 1 && r->n_messages <= limits.max_messages, "message count out of range");
    if (r->kind == OAI_COMPLETION) fuzz_require(r->prompt != NULL, "a completion without a prompt");
    if (r->kind == OAI_EMBEDDING) fuzz_require(r->n_inputs >= 1 && r->n_inputs <= OAI_MAX_INPUTS, "input count out of range");
    const char *text = r->prompt ? r->prompt : r->n_messages ? r->messages[0].content : "";
    oai_result res = {"id-1", limits.model_id, 1, text, strlen(text), "stop", 3, 4};
    char *json = oai_response_json(r->kind, &res);
    require_json(json, "id", NULL);
    free(json);
    sbuf sse = {0};
    fuzz_require(!oai_chunk_sse(&sse, r->kind, &res, 1, 0), "no chunk produced");
    fuzz_require(sse.len > 8 && !strncmp(sse.p, "data: ", 6) && !strcmp(sse.p + sse.len - 2, "\n\n"), "not an SSE event");
    sse.p[sse.len - 2] = 0;
    require_json(sse.p + 6, "object", NULL);
    sbuf_free(&sse);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int kind = OAI_CHAT; kind <= OAI_EMBEDDING; kind++) {
        oai_request r;
        oai_error e;
        if (oai_parse((const char *)data, size, (oai_kind)kind, &limits, &r, &e) == 0) {
            check_accepted(&r);
            oai_request_free(&r);
            continue;
        }
        fuzz_require(e.status == 400 || e.status == 404 || e.status == 500, "refused with an odd status");
        fuzz_require(e.message[0] && e.type, "refused without a message");
        char *json = oai_error_json(&e);
        require_json(json, "error", "message");
        free(json);
    }
    return 0;
}
