/* llm-server's pieces: main.c reads the options and loads the model,
 * http.c answers HTTP (libmicrohttpd, a thread per connection) and routes
 * to the endpoints, oai.c parses and writes OpenAI's JSON, slots.c runs
 * the generations, prompt.c renders and tokenizes prompts, metrics.c
 * counts. */
#ifndef LLM_SERVER_H
#define LLM_SERVER_H

#include <llm.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "prompt.h"
#include "slots.h"

typedef struct server {
    const llm_model *model;
    pool *pool;
    metrics m;
    const char *model_id;     /* the name clients pass as "model" */
    const char *api_key;      /* NULL: no authentication */
    const char *cors_origin;  /* NULL: no CORS headers */
    prompt_template tmpl;     /* the chat template */
    int loopback;             /* bound to a loopback address: Host is checked */
    uint16_t port;            /* the bound port, for the Host check */
    size_t max_body;
    int max_messages, max_depth;
    long long created;        /* when the model was loaded, for /v1/models */
} server;

struct MHD_Daemon;

/* Listens on host:port (numeric IPv4 or IPv6; port 0 picks a free one,
 * stored in srv->port) with up to max_conn connections. NULL with a
 * message in err (of cap bytes) on failure. */
struct MHD_Daemon *http_start(server *srv, const char *host, uint16_t port, int max_conn,
                              char *err, size_t cap);

#endif
