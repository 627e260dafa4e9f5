/* The OpenAI side of llm-server: request bodies parsed and validated into
 * plain structs, and the JSON of responses, stream chunks and errors.
 * Nothing here touches a model or a socket, so the fuzz harness
 * (tests/fuzz/fuzz_server.c) can drive the parser with any bytes. */
#ifndef LLM_SERVER_OAI_H
#define LLM_SERVER_OAI_H

#include <stddef.h>
#include <stdint.h>

#include <llm.h>

#include "sbuf.h"

#define OAI_MAX_STOP 4        /* stop strings, as OpenAI allows */
#define OAI_MAX_STOP_LEN 256  /* bytes in one stop string */
#define OAI_MAX_BIAS 1024     /* logit_bias entries */
#define OAI_MAX_INPUTS 256    /* embedding inputs in one request */

typedef enum oai_kind { OAI_CHAT, OAI_COMPLETION, OAI_EMBEDDING } oai_kind;

/* What a request may ask for: the served model's name and sizes, and the
 * server's limits on messages and nesting. */
typedef struct oai_limits {
    const char *model_id;
    int32_t n_ctx;    /* tokens one slot holds: max_tokens may not exceed it */
    int32_t n_vocab;  /* logit_bias keys must be token ids below it */
    int max_messages;
    int max_depth;    /* nesting of arrays and objects in the body */
} oai_limits;

typedef struct oai_message {
    char *role;    /* "system", "user", "assistant", ... */
    char *content; /* the text parts joined */
} oai_message;


typedef struct oai_request {
    oai_kind kind;
    int stream, include_usage;
    int32_t max_tokens; /* 0 = until the end of turn or the context is full */
    float temperature, top_p, presence_penalty, frequency_penalty;
    int has_seed;
    uint64_t seed;
    int n_stop;
    char *stop[OAI_MAX_STOP];
    int n_bias;
    llm_logit_bias *bias;
    int n_messages;       /* chat */
    oai_message *messages;
    char *prompt;         /* completion */
    int n_inputs;         /* embeddings */
    char **inputs;
    int base64;           /* embeddings: encoding_format "base64" */
} oai_request;

/* An error as OpenAI reports it: the HTTP status, and the body's type,
 * param (NULL for none), code (NULL for none) and message. */
typedef struct oai_error {
    int status;
    const char *type;
    const char *param;
    const char *code;
    char message[320];
} oai_error;

/* Fills e and returns -1, so that validators can end with one statement. */
int oai_fail(oai_error *e, int status, const char *param, const char *code,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Parses and validates a request body of the given kind against lim. On
 * success returns 0 with *req filled (release it with oai_request_free);
 * otherwise returns -1 with e naming the problem (400, 404 for an unknown
 * model, 500 when memory runs out) and *req empty. */
int oai_parse(const char *body, size_t len, oai_kind kind, const oai_limits *lim,
              oai_request *req, oai_error *e);
void oai_request_free(oai_request *req);

/* {"error":{...}} for e; NULL without memory. */
char *oai_error_json(const oai_error *e);

/* What the responses say about one finished (or streaming) generation. */
typedef struct oai_result {
    const char *id;       /* "chatcmpl-..." or "cmpl-..." */
    const char *model;
    long long created;
    const char *text;     /* the whole text, or a stream chunk's delta */
    size_t text_len;
    const char *finish;   /* "stop", "length" or NULL while streaming */
    int32_t prompt_tokens, completion_tokens;
} oai_result;

/* The non-streaming response object of a chat or completion request. */
char *oai_response_json(oai_kind kind, const oai_result *r);
/* Appends one SSE event "data: {chunk}\n\n" to out: a delta (chat: with
 * the assistant role when role is set), a finishing chunk, or (usage set)
 * the usage chunk with no choices. Returns 0, or -1 without memory. */
int oai_chunk_sse(sbuf *out, oai_kind kind, const oai_result *r, int role, int usage);
/* The embeddings response: n vectors of dim floats, as numbers or base64
 * of little-endian float32. */
char *oai_embeddings_json(const char *model, const float *vecs, int n, int dim,
                          int base64, int32_t prompt_tokens);
/* GET /v1/models, and GET /v1/models/ID */
char *oai_models_json(const char *model_id, long long created);
char *oai_model_json(const char *model_id, long long created);

#endif
