/* What llm-server counts, for GET /metrics in Prometheus's text format:
 * requests by status, tokens (prompt, reused from a slot's cache,
 * generated, and decoded together with other slots'), queue depth and busy slots, and request latency as a
 * histogram. Counters are atomics, updated from any connection's thread. */
#ifndef LLM_SERVER_METRICS_H
#define LLM_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "sbuf.h"

#define METRICS_N_STATUS 13
#define METRICS_N_BUCKETS 12

typedef struct metrics {
    atomic_ullong requests[METRICS_N_STATUS]; /* by the statuses of status_codes in metrics.c */
    atomic_ullong prompt_tokens, cached_tokens, completion_tokens;
    atomic_ullong shared_tokens; /* decoded in passes with other slots' tokens (llm_decode_multi) */
    atomic_int queue_depth, slots_busy;
    int slots_total;
    atomic_ullong latency_bucket[METRICS_N_BUCKETS]; /* cumulative: <= each bound */
    atomic_ullong latency_count, latency_sum_us;
} metrics;

/* Counts one finished request: its status and how long it took. */
void metrics_request(metrics *m, int status, double seconds);
/* Appends the exposition text to out; returns 0, or -1 without memory. */
int metrics_text(metrics *m, sbuf *out);

#endif
