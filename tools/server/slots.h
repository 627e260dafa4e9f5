/* Slots: -np contexts on the one model, each keeping the tokens of its
 * last conversation in its KV cache, and a bounded queue of requests
 * waiting for one. A job is one generation on one slot, advanced a token
 * at a time by the connection's thread, so a client that goes away stops
 * its generation at the next token and frees the slot. The prompt is
 * decoded on that thread; each generated token is handed to the pool's
 * stepper thread, which decodes the tokens of all generating slots
 * together (llm_decode_multi: the weights read once per step for all),
 * and the connection's thread samples the next from its slot's logits. */
#ifndef LLM_SERVER_SLOTS_H
#define LLM_SERVER_SLOTS_H

#include <llm.h>

#include "metrics.h"
#include "oai.h"

typedef struct pool pool;
typedef struct job job;

/* Nonzero once the client that is waiting for a job has gone away. */
typedef int (*gone_fn)(void *arg);

/* n_slots contexts of cp on model, and room for max_queue waiting
 * requests. NULL with err filled when a context cannot be made. */
pool *pool_new(const llm_model *model, int n_slots, const llm_ctx_params *cp, int max_queue,
               metrics *m, llm_error *err);
/* Makes running jobs finish at their next token (for shutdown). */
void pool_stop(pool *p);
void pool_free(pool *p);
int32_t pool_n_ctx(const pool *p);

/* The embedding of a text's n tokens into out (n_embd floats): decoded
 * alone on a free slot (waiting for one as job_start does), mean-pooled
 * and normalized as the slots' contexts are made to. Returns 0, or -1
 * with e filled (status 0 when the client left). */
int pool_embed(pool *p, const int32_t *toks, int32_t n, float *out, gone_fn gone, void *gone_arg,
               oai_error *e);

/* For the n tokens of a prompt: checks that they and r's max_tokens fit
 * a slot (400 if not), waits for a free slot (503 when the queue is full; NULL with status 0
 * when the client leaves while waiting), reuses the longest prefix the
 * slot's cache shares with the prompt and decodes the rest. NULL with e
 * filled on failure. The job keeps r, not toks. */
job *job_start(pool *p, const oai_request *r, const int32_t *toks, int32_t n, gone_fn gone,
               void *gone_arg, oai_error *e);
/* Samples and decodes one token. Returns 0 while the generation goes on,
 * 1 when it has finished (job_finish says why), -1 with e filled on error. */
int job_step(job *j, oai_error *e);
/* The text generated so far that may be shown: stop strings cut off, and
 * a tail that could still become one held back. */
const char *job_text(const job *j, size_t *len);
/* "stop" or "length" once finished, else NULL. */
const char *job_finish(const job *j);
void job_tokens(const job *j, int32_t *prompt, int32_t *completion);
/* Frees the slot (its cache kept for the next request) and the job. */
void job_end(job *j);

#endif
