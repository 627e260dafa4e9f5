#include "metrics.h"

/* The statuses the server answers with; anything else counts as the last. */
static const int status_codes[METRICS_N_STATUS] = {200, 204, 400, 401, 403, 404,
                                                   405, 413, 415, 500, 501, 503, 0};
/* Upper bounds of the latency buckets, in seconds (the last is +Inf). */
static const double bounds[METRICS_N_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5, 1, 2.5, 5, 10};

void metrics_request(metrics *m, int status, double seconds) {
    int i = 0;
    while (i < METRICS_N_STATUS - 1 && status_codes[i] != status) i++;
    atomic_fetch_add(&m->requests[i], 1);
    for (int b = 0; b < METRICS_N_BUCKETS; b++)
        if (b == METRICS_N_BUCKETS - 1 || seconds <= bounds[b]) atomic_fetch_add(&m->latency_bucket[b], 1);
    atomic_fetch_add(&m->latency_count, 1);
    atomic_fetch_add(&m->latency_sum_us, (unsigned long long)(seconds * 1e6));
}

/* One counter or gauge with its HELP and TYPE lines. */
static int one(sbuf *out, const char *name, const char *type, const char *help, unsigned long long v) {
    return sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

int metrics_text(metrics *m, sbuf *out) {
    int rc = sbuf_str(out, "# HELP llm_requests_total HTTP requests answered, by status (other: any status not listed).\n"
                           "# TYPE llm_requests_total counter\n");
    for (int i = 0; i < METRICS_N_STATUS; i++) {
        unsigned long long n = atomic_load(&m->requests[i]);
        rc |= status_codes[i] ? sbuf_printf(out, "llm_requests_total{code=\"%d\"} %llu\n", status_codes[i], n)
                              : sbuf_printf(out, "llm_requests_total{code=\"other\"} %llu\n", n);
    }
    rc |= one(out, "llm_prompt_tokens_total", "counter", "Prompt tokens of all requests.", atomic_load(&m->prompt_tokens));
    rc |= one(out, "llm_prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's cache instead of computed.",
              atomic_load(&m->cached_tokens));
    rc |= one(out, "llm_completion_tokens_total", "counter", "Tokens generated.", atomic_load(&m->completion_tokens));
    rc |= one(out, "llm_shared_pass_tokens_total", "counter", "Generated tokens decoded in one pass with other slots'.",
              atomic_load(&m->shared_tokens));
    rc |= one(out, "llm_queue_depth", "gauge", "Requests waiting for a slot.", (unsigned long long)atomic_load(&m->queue_depth));
    rc |= one(out, "llm_slots_busy", "gauge", "Slots generating.", (unsigned long long)atomic_load(&m->slots_busy));
    rc |= one(out, "llm_slots_total", "gauge", "Slots (-np).", (unsigned long long)m->slots_total);
    rc |= sbuf_str(out, "# HELP llm_request_duration_seconds Time from a request's arrival to its last byte.\n"
                        "# TYPE llm_request_duration_seconds histogram\n");
    for (int b = 0; b < METRICS_N_BUCKETS - 1; b++)
        rc |= sbuf_printf(out, "llm_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[b],
                          atomic_load(&m->latency_bucket[b]));
    rc |= sbuf_printf(out, "llm_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                           "llm_request_duration_seconds_sum %.6f\nllm_request_duration_seconds_count %llu\n",
                      atomic_load(&m->latency_bucket[METRICS_N_BUCKETS - 1]),
                      atomic_load(&m->latency_sum_us) / 1e6, atomic_load(&m->latency_count));
    return rc ? -1 : 0;
}
