#include "slots.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opts.h"
#include "toolutil.h"

typedef struct slot {
    llm_ctx *ctx;
    int32_t *cache; /* the tokens in the KV cache, n_cache of them */
    int32_t n_cache;
    int busy;
    /* a generated token handed to the stepper (under the pool's mutex) */
    int handed;     /* tok waits for, or is in, a pass; 0 again once decoded */
    int32_t tok;
    llm_status st;  /* the pass's result for it, and err's message */
    llm_error err;
} slot;

/* A request waiting for a slot, in line (on its thread's stack). */
typedef struct waiter {
    struct waiter *next;
} waiter;

struct pool {
    const llm_model *model;
    slot *slots;
    waiter *queue;   /* first in line first */
    int n_slots, max_queue, waiting;
    atomic_int stopping;
    int32_t n_ctx;
    metrics *m;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    /* the stepper: one thread that decodes the tokens the generating jobs
     * hand in, all of them in one llm_decode_multi pass */
    pthread_t stepper;
    int stepper_on, stepper_quit;
    int n_handed;    /* slots handed in, waiting for a pass */
    int n_gen;       /* jobs generating (prompt decoded, not finished) */
    pthread_cond_t handed, decoded;
    llm_ctx **pass_ctx; /* (n_slots) a pass's contexts and tokens */
    int32_t *pass_tok;
    slot **pass_slot;
};

struct job {
    pool *p;
    slot *s;
    llm_sampler *smp;
    llm_detok *detok;
    const oai_request *r;
    gone_fn gone;    /* asked between the layers of the prompt's decode */
    void *gone_arg;
    int32_t n_prompt, n_gen, max_gen;
    sbuf text;
    size_t held;     /* bytes of text's tail that may begin a stop string */
    const char *finish;
    int generating;  /* counted in the pool's n_gen */
};

static void *stepper_main(void *arg);

pool *pool_new(const llm_model *model, int n_slots, const llm_ctx_params *cp, int max_queue,
               metrics *m, llm_error *err) {
    pool *p = calloc(1, sizeof *p);
    slot *s = calloc((size_t)n_slots, sizeof *s);
    if (!p || !s) {
        free(p), free(s);
        if (err) *err = (llm_error){LLM_ERR_NOMEM, "out of memory for the slots"};
        return NULL;
    }
    *p = (pool){.model = model, .slots = s, .n_slots = n_slots, .max_queue = max_queue, .m = m};
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->freed, NULL);
    pthread_cond_init(&p->handed, NULL);
    pthread_cond_init(&p->decoded, NULL);
    p->pass_ctx = malloc((size_t)n_slots * sizeof *p->pass_ctx);
    p->pass_tok = malloc((size_t)n_slots * sizeof *p->pass_tok);
    p->pass_slot = malloc((size_t)n_slots * sizeof *p->pass_slot);
    for (int i = 0; i < n_slots; i++) {
        s[i].ctx = llm_ctx_new(model, cp, err);
        p->n_ctx = s[i].ctx ? llm_ctx_n_ctx(s[i].ctx) : 0;
        s[i].cache = s[i].ctx ? malloc((size_t)p->n_ctx * sizeof *s[i].cache) : NULL;
        if (!s[i].cache) {
            if (s[i].ctx && err) *err = (llm_error){LLM_ERR_NOMEM, "out of memory for a slot's cache"};
            pool_free(p);
            return NULL;
        }
    }
    if (!p->pass_ctx || !p->pass_tok || !p->pass_slot || pthread_create(&p->stepper, NULL, stepper_main, p)) {
        if (err) *err = (llm_error){LLM_ERR_NOMEM, "cannot start the stepper thread"};
        pool_free(p);
        return NULL;
    }
    p->stepper_on = 1;
    m->slots_total = n_slots;
    return p;
}

void pool_stop(pool *p) { atomic_store(&p->stopping, 1); }

void pool_free(pool *p) {
    if (!p) return;
    if (p->stepper_on) {
        pthread_mutex_lock(&p->mu);
        p->stepper_quit = 1;
        pthread_cond_broadcast(&p->handed);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->stepper, NULL);
    }
    for (int i = 0; i < p->n_slots; i++) {
        llm_ctx_free(p->slots[i].ctx);
        free(p->slots[i].cache);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->freed);
    pthread_cond_destroy(&p->handed);
    pthread_cond_destroy(&p->decoded);
    free(p->pass_ctx);
    free(p->pass_tok);
    free(p->pass_slot);
    free(p->slots);
    free(p);
}

int32_t pool_n_ctx(const pool *p) { return p->n_ctx; }

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    return k;
}

/* The free slot whose cache shares the longest prefix with the prompt,
 * or NULL when all are busy. Called with the mutex held. */
static slot *best_free(pool *p, const int32_t *toks, int32_t n) {
    slot *best = NULL;
    int32_t best_k = -1;
    for (int i = 0; i < p->n_slots; i++) {
        slot *s = &p->slots[i];
        int32_t k = s->busy ? -1 : common_prefix(s->cache, s->n_cache, toks, n);
        if (!s->busy && k > best_k) best = s, best_k = k;
    }
    return best;
}

/* Takes the best free slot. When none is free, or others are already
 * waiting, the request joins the end of the queue and takes the best free
 * slot when it is first in line, waking a tenth of a second at a time to
 * ask whether its client is still there. */
static slot *acquire(pool *p, const int32_t *toks, int32_t n, gone_fn gone, void *arg, oai_error *e) {
    pthread_mutex_lock(&p->mu);
    slot *s = p->queue ? NULL : best_free(p, toks, n);
    if (s) goto out;
    if (p->waiting >= p->max_queue) {
        pthread_mutex_unlock(&p->mu);
        oai_fail(e, 503, NULL, "server_busy", "all %d slots are busy and %d requests are waiting; retry later",
                 p->n_slots, p->waiting);
        return NULL;
    }
    waiter me = {0}, **at = &p->queue;
    while (*at) at = &(*at)->next;
    *at = &me;
    atomic_store(&p->m->queue_depth, ++p->waiting);
    while (!s && !atomic_load(&p->stopping)) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 100000000;
        if (t.tv_nsec >= 1000000000) t.tv_sec++, t.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&p->freed, &p->mu, &t);
        s = p->queue == &me ? best_free(p, toks, n) : NULL;
        if (!s && gone && gone(arg)) break;
    }
    for (at = &p->queue; *at != &me; at = &(*at)->next) {}
    *at = me.next;
    atomic_store(&p->m->queue_depth, --p->waiting);
    pthread_cond_broadcast(&p->freed); /* the next in line may take a slot now */
out:
    if (s) s->busy = 1, atomic_fetch_add(&p->m->slots_busy, 1);
    pthread_mutex_unlock(&p->mu);
    if (!s) e->status = 0; /* nobody to answer */
    return s;
}

static void release(pool *p, slot *s) {
    pthread_mutex_lock(&p->mu);
    s->busy = 0;
    atomic_fetch_sub(&p->m->slots_busy, 1);
    pthread_cond_broadcast(&p->freed); /* the first in line takes it */
    pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- stepper */

/* How long a pass waits for generating jobs that have not handed in
 * their token yet (their clients still reading the last one), so that
 * they join it rather than the next. */
#define GATHER_NS 2000000

/* Decodes the handed tokens of n slots: one llm_decode_multi over those
 * with room (a full slot is decoded alone, for its LLM_ERR_CONTEXT_FULL
 * and message); when that is refused (reference kernels, an observer),
 * each on its own. Runs without the mutex: the slots' jobs wait for it. */
static void decode_pass(pool *p, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        slot *s = p->pass_slot[i];
        if (llm_ctx_pos(s->ctx) >= llm_ctx_n_ctx(s->ctx)) {
            s->st = llm_decode(s->ctx, &s->tok, 1, &s->err); /* LLM_ERR_CONTEXT_FULL, with its message */
            continue;
        }
        p->pass_slot[m] = s;
        p->pass_ctx[m] = s->ctx;
        p->pass_tok[m++] = s->tok;
    }
    if (!m) return;
    llm_error err;
    llm_status st = llm_decode_multi(p->pass_ctx, p->pass_tok, m, &err);
    if (st == LLM_OK && m > 1) atomic_fetch_add(&p->m->shared_tokens, (unsigned long long)m);
    for (int i = 0; i < m; i++) {
        slot *s = p->pass_slot[i];
        s->st = st == LLM_OK ? LLM_OK : llm_decode(s->ctx, &s->tok, 1, &s->err);
    }
}

/* Waits for handed tokens, gathers the generating jobs' tokens for up to
 * GATHER_NS more, decodes them together and wakes their jobs, until
 * pool_free. */
static void *stepper_main(void *arg) {
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stepper_quit && !p->n_handed) pthread_cond_wait(&p->handed, &p->mu);
        if (p->stepper_quit) break;
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += GATHER_NS;
        if (t.tv_nsec >= 1000000000) t.tv_sec++, t.tv_nsec -= 1000000000;
        while (p->n_handed < p->n_gen && !p->stepper_quit)
            if (pthread_cond_timedwait(&p->handed, &p->mu, &t)) break;
        int n = 0;
        for (int i = 0; i < p->n_slots; i++)
            if (p->slots[i].handed == 1) p->slots[i].handed = 2, p->pass_slot[n++] = &p->slots[i];
        p->n_handed -= n;
        pthread_mutex_unlock(&p->mu);
        decode_pass(p, n);
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < n; i++) p->pass_slot[i]->handed = 0;
        pthread_cond_broadcast(&p->decoded);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Hands tok of slot s to the stepper and waits for its pass: the status
 * of decoding it, err filled on failure. */
static llm_status step_decode(pool *p, slot *s, int32_t tok, llm_error *err) {
    pthread_mutex_lock(&p->mu);
    s->tok = tok;
    s->handed = 1;
    p->n_handed++;
    pthread_cond_signal(&p->handed);
    while (s->handed) pthread_cond_wait(&p->decoded, &p->mu);
    llm_status st = s->st;
    if (st != LLM_OK) *err = s->err;
    pthread_mutex_unlock(&p->mu);
    return st;
}

/* Counts j among the generating jobs (on), or no more (off): the stepper
 * waits for the tokens of those counted. */
static void set_generating(job *j, int on) {
    if (j->generating == on || !j->s) return;
    pthread_mutex_lock(&j->p->mu);
    j->p->n_gen += on ? 1 : -1;
    j->generating = on;
    pthread_cond_signal(&j->p->handed); /* a pass waiting for j goes on without it */
    pthread_mutex_unlock(&j->p->mu);
}

/* The sampler chain the request asks for; OpenAI's defaults (temperature
 * 1, top_p 1) leave every token possible. The presence and frequency
 * penalties look at all the tokens generated (the prompt is not
 * recorded), as OpenAI's do. */
static llm_sampler *sampler_for(const oai_request *r, int32_t n_ctx, oai_error *e) {
    llm_sampler_params sp = llm_sampler_default_params();
    sp.temperature = r->temperature;
    sp.top_p = r->top_p;
    sp.top_k = 0;
    sp.min_p = 0;
    sp.presence_penalty = r->presence_penalty;
    sp.frequency_penalty = r->frequency_penalty;
    sp.repeat_last_n = n_ctx;
    sp.logit_bias = r->bias;
    sp.n_logit_bias = r->n_bias;
    sp.seed = r->has_seed ? r->seed : opts_random_seed();
    llm_error err;
    llm_sampler *s = llm_sampler_from_params(&sp, &err);
    if (!s) oai_fail(e, 500, NULL, NULL, "cannot make the sampler: %s", err.msg);
    return s;
}

static bool prefill_abort(void *arg) {
    job *j = arg;
    return j->gone && j->gone(j->gone_arg);
}

/* Decodes the prompt's tokens the slot does not hold yet. At least the
 * last one is decoded again even when all are cached, for its logits. */
static int prefill(job *j, const int32_t *toks, oai_error *e) {
    slot *s = j->s;
    int32_t k = common_prefix(s->cache, s->n_cache, toks, j->n_prompt);
    if (k == j->n_prompt) k--;
    llm_error err;
    llm_status st = llm_ctx_truncate(s->ctx, k, &err);
    s->n_cache = k;
    llm_ctx_set_abort(s->ctx, prefill_abort, j);
    if (st == LLM_OK) st = llm_decode(s->ctx, toks + k, j->n_prompt - k, &err);
    llm_ctx_set_abort(s->ctx, NULL, NULL);
    if (st == LLM_ERR_ABORTED) return e->status = 0, -1; /* nobody to answer */
    if (st != LLM_OK) {
        llm_ctx_truncate(s->ctx, 0, NULL);
        s->n_cache = 0;
        return oai_fail(e, 500, NULL, NULL, "cannot process the prompt: %s", err.msg);
    }
    memcpy(s->cache + k, toks + k, (size_t)(j->n_prompt - k) * sizeof *toks);
    s->n_cache = j->n_prompt;
    atomic_fetch_add(&j->p->m->prompt_tokens, (unsigned long long)j->n_prompt);
    atomic_fetch_add(&j->p->m->cached_tokens, (unsigned long long)k);
    return 0;
}

/* Pushes tok through the detokenizer and appends the bytes it completes
 * (of any length: detok_piece) to out, or drops them when out is NULL.
 * Returns 0, or -1. */
static int detok_append(llm_detok *d, int32_t tok, sbuf *out) {
    char buf[1024], *big;
    size_t len;
    const char *got = detok_piece(d, tok, buf, sizeof buf, &len, &big);
    int rc = !got || (out && sbuf_add(out, got, len)) ? -1 : 0;
    free(big);
    return rc;
}

/* Feeds the prompt to the detokenizer (its output dropped) so that the
 * generated text continues the prompt as `llm` prints it: no leading
 * space is dropped from the first generated piece. */
static int detok_prompt(job *j, const int32_t *toks, oai_error *e) {
    for (int32_t i = 0; i < j->n_prompt; i++)
        if (detok_append(j->detok, toks[i], NULL))
            return oai_fail(e, 500, NULL, NULL, "cannot detokenize prompt token %d", toks[i]);
    return 0;
}

/* Checks that the prompt and max_tokens fit one slot's context, as OpenAI
 * words the error. */
static int check_fit(const pool *p, const oai_request *r, int32_t n_prompt, oai_error *e) {
    if (n_prompt < p->n_ctx && (int64_t)n_prompt + r->max_tokens <= p->n_ctx) return 0;
    return oai_fail(e, 400, r->kind == OAI_CHAT ? "messages" : "prompt", "context_length_exceeded",
                    "This model's maximum context length is %d tokens. However, you requested %lld tokens "
                    "(%d in the prompt, %d for the completion).",
                    p->n_ctx, (long long)n_prompt + r->max_tokens, n_prompt, r->max_tokens);
}

int pool_embed(pool *p, const int32_t *toks, int32_t n, float *out, gone_fn gone, void *gone_arg,
               oai_error *e) {
    if (n > p->n_ctx)
        return oai_fail(e, 400, "input", "context_length_exceeded",
                        "an input has %d tokens; this model's context holds %d", n, p->n_ctx);
    int8_t *no_logits = calloc((size_t)n, 1); /* the hidden states only */
    if (!no_logits) return oai_fail(e, 500, NULL, NULL, "out of memory");
    slot *s = acquire(p, toks, n, gone, gone_arg, e);
    if (!s) return free(no_logits), -1;
    llm_error err;
    llm_status st = llm_ctx_truncate(s->ctx, 0, &err);
    if (st == LLM_OK) st = llm_decode_ex(s->ctx, toks, n, no_logits, &err);
    const float *v = st == LLM_OK ? llm_get_embeddings(s->ctx) : NULL;
    if (v) {
        memcpy(out, v, (size_t)llm_model_n_embd(p->model) * sizeof *out);
        memcpy(s->cache, toks, (size_t)n * sizeof *toks);
    }
    if (!v) llm_ctx_truncate(s->ctx, 0, NULL);
    s->n_cache = v ? n : 0;
    release(p, s);
    free(no_logits);
    atomic_fetch_add(&p->m->prompt_tokens, (unsigned long long)n);
    return v ? 0 : oai_fail(e, 500, NULL, NULL, "cannot embed the input: %s", st == LLM_OK ? "no embedding" : err.msg);
}

job *job_start(pool *p, const oai_request *r, const int32_t *toks, int32_t n, gone_fn gone,
               void *gone_arg, oai_error *e) {
    if (check_fit(p, r, n, e)) return NULL;
    job *j = calloc(1, sizeof *j);
    if (j) {
        *j = (job){.p = p, .r = r, .n_prompt = n, .max_gen = r->max_tokens ? r->max_tokens : p->n_ctx - n,
                   .gone = gone, .gone_arg = gone_arg};
        j->detok = llm_detok_new(p->model, NULL);
    }
    if (!j || !j->detok) {
        oai_fail(e, 500, NULL, NULL, "out of memory for the request");
        goto fail;
    }
    if (!(j->smp = sampler_for(r, p->n_ctx, e))) goto fail;
    if (!(j->s = acquire(p, toks, n, gone, gone_arg, e))) goto fail;
    if (prefill(j, toks, e) || detok_prompt(j, toks, e)) goto fail;
    set_generating(j, 1);
    return j;
fail:
    job_end(j);
    return NULL;
}

/* Cuts the text at the first stop string that has appeared in it (looking
 * only where the newest bytes could complete one), then measures the tail
 * that could still grow into one. */
static void check_stops(job *j, size_t old_len) {
    const oai_request *r = j->r;
    size_t cut = SIZE_MAX;
    for (int i = 0; i < r->n_stop; i++) {
        size_t sl = strlen(r->stop[i]);
        size_t from = old_len >= sl ? old_len - sl + 1 : 0;
        char *hit = j->text.len >= sl ? memmem(j->text.p + from, j->text.len - from, r->stop[i], sl) : NULL;
        if (hit && (size_t)(hit - j->text.p) < cut) cut = (size_t)(hit - j->text.p);
    }
    if (cut != SIZE_MAX) {
        j->text.len = cut;
        j->text.p[cut] = 0;
        j->finish = "stop";
    }
    j->held = 0;
    for (int i = 0; i < r->n_stop && !j->finish; i++) {
        size_t sl = strlen(r->stop[i]);
        for (size_t k = sl - 1 < j->text.len ? sl - 1 : j->text.len; k > j->held; k--)
            if (!memcmp(j->text.p + j->text.len - k, r->stop[i], k)) {
                j->held = k;
                break;
            }
    }
}

/* Ends the generation: the detokenizer's held-back bytes join the text. */
static int finish(job *j, const char *why, oai_error *e) {
    char buf[1024];
    size_t len = 0;
    set_generating(j, 0);
    if (!j->finish) {
        j->finish = why;
        if (llm_detok_flush(j->detok, buf, sizeof buf, &len) == LLM_OK && sbuf_add(&j->text, buf, len))
            return oai_fail(e, 500, NULL, NULL, "out of memory for the generated text");
    }
    j->held = 0;
    return 1;
}

int job_step(job *j, oai_error *e) {
    if (j->finish) return 1;
    if (atomic_load(&j->p->stopping)) return finish(j, "length", e);
    llm_error err;
    int32_t n_vocab = llm_model_n_vocab(j->p->model);
    int32_t tok = llm_sampler_sample_accept(j->smp, llm_logits(j->s->ctx), n_vocab, &err);
    if (tok < 0) return oai_fail(e, 500, NULL, NULL, "sampling failed: %s", err.msg);
    if (llm_token_is_eog(j->p->model, tok)) return finish(j, "stop", e);
    size_t old = j->text.len;
    if (detok_append(j->detok, tok, &j->text))
        return oai_fail(e, 500, NULL, NULL, "cannot append token %d to the text", tok);
    j->n_gen++;
    atomic_fetch_add(&j->p->m->completion_tokens, 1);
    check_stops(j, old);
    if (j->finish) return finish(j, "stop", e);
    if (j->n_gen >= j->max_gen) return finish(j, "length", e);
    slot *s = j->s;
    llm_status st = step_decode(j->p, s, tok, &err);
    if (st == LLM_ERR_CONTEXT_FULL) return finish(j, "length", e);
    if (st != LLM_OK) return oai_fail(e, 500, NULL, NULL, "decoding failed: %s", err.msg);
    s->cache[s->n_cache++] = tok;
    return 0;
}

const char *job_text(const job *j, size_t *len) {
    *len = j->text.len - j->held;
    return j->text.p ? j->text.p : "";
}

const char *job_finish(const job *j) { return j->finish; }

void job_tokens(const job *j, int32_t *prompt, int32_t *completion) {
    *prompt = j->n_prompt;
    *completion = j->n_gen;
}

void job_end(job *j) {
    if (!j) return;
    set_generating(j, 0);
    if (j->s) release(j->p, j->s);
    llm_sampler_free(j->smp);
    llm_detok_free(j->detok);
    sbuf_free(&j->text);
    free(j);
}
