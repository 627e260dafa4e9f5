/* Sampler: a chain of stages that turns one step's logits into a token.
 *
 * Each step copies the logits into a candidate list (id, logit, weight);
 * stages then rescale the logits or drop candidates, and the chain ends
 * with a random draw from the softmax of what is left. Greedy picking is
 * a stage too: it collapses the list to the argmax, after which the draw
 * has nothing to choose. Semantics follow llama.cpp's samplers.
 *
 * Nothing is allocated per step: the candidate buffer grows to the largest
 * n_vocab seen and the penalty window to the largest last_n added. */
#include "alloc.h"
#include "error.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef enum stage_kind {
    STAGE_BIAS,
    STAGE_PENALTY,
    STAGE_PRESENCE,
    STAGE_TOP_K,
    STAGE_TOP_P,
    STAGE_MIN_P,
    STAGE_TEMP,
    STAGE_GREEDY
} stage_kind;

typedef struct stage {
    stage_kind kind;
    float f;   /* penalty, presence penalty, p or temperature */
    int32_t n; /* last_n (penalties), k (top-k) or bias entries */
    float f2;  /* frequency penalty */
    const llm_logit_bias *bias; /* (n) the caller's entries; the chain's copy once added */
} stage;

typedef struct cand {
    int32_t id;
    float logit;
    float w; /* exp(logit - max logit): the probability up to a common factor */
} cand;

/* The candidates of the current step, in no particular order except that
 * by_id means v[i].id == i for every live i (nothing reordered yet). */
typedef struct cands {
    cand *v;         /* [cap], live prefix [n] */
    size_t n, cap;
    bool by_id;
} cands;

struct llm_sampler {
    stage *stages;     /* [n_stages], applied in order */
    size_t n_stages, cap_stages;
    cands c;
    int32_t *recent;   /* [win_cap] ring of accepted tokens, next write at win_head */
    int32_t *window;   /* [win_cap] scratch: one penalty stage's distinct tokens */
    size_t win_cap, win_len, win_head;
    uint64_t seed, rng;
};

/* ------------------------------------------------------------ random */

/* splitmix64: any seed (0 included) gives a full-period, well-mixed
 * stream, and the whole state is one integer that reset can restore. */
static uint64_t next_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1): the top 53 bits as a double's mantissa. */
static double next_unit(uint64_t *state) {
    return (double)(next_u64(state) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------ candidates */

/* The order every stage agrees on: higher logit first, ties to the lower
 * id. NaN never reaches here (load maps it to -inf), so it is total. */
static bool better(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static void swap_cand(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Heap of n with the worst candidate at the root. */
static void sift_down(cand *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < n && better(&h[worst], &h[l])) worst = l;
        if (r < n && better(&h[worst], &h[r])) worst = r;
        if (worst == i) return;
        swap_cand(&h[i], &h[worst]);
        i = worst;
    }
}

/* Moves the k best candidates (in no particular order) to the front, the
 * rest behind them. A heap of k slides over the list, so choosing 40 of
 * 32000 costs about one comparison per candidate, never a full sort. */
static void select_top(cands *c, size_t k) {
    cand *v = c->v;
    for (size_t i = k / 2; i-- > 0;) sift_down(v, k, i);
    for (size_t i = k; i < c->n; i++) {
        if (better(&v[i], &v[0])) {
            swap_cand(&v[0], &v[i]);
            sift_down(v, k, 0);
        }
    }
    c->by_id = false;
}

/* Partitions v[lo..hi) (hi - lo >= 2) around the median of its first,
 * middle and last candidates: returns m with v[lo..m) better than v[m]
 * and v[m+1..hi) worse. */
static size_t partition(cand *v, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (better(&v[mid], &v[lo])) swap_cand(&v[mid], &v[lo]);
    if (better(&v[last], &v[lo])) swap_cand(&v[last], &v[lo]);
    if (better(&v[last], &v[mid])) swap_cand(&v[last], &v[mid]);
    swap_cand(&v[mid], &v[last]); /* the median is the pivot, at the end */
    size_t m = lo;
    for (size_t i = lo; i < last; i++)
        if (better(&v[i], &v[last])) swap_cand(&v[i], &v[m++]);
    swap_cand(&v[m], &v[last]);
    return m;
}

/* Fills w with exp(logit - max) and returns their sum, so the probability
 * of candidate i is w_i / sum and the best has w = 1. When the max is
 * infinite (all -inf, or some +inf) the candidates equal to it share the
 * mass, which keeps the result free of NaN. */
static double weigh(cands *c) {
    float max = c->v[0].logit;
    for (size_t i = 1; i < c->n; i++)
        if (c->v[i].logit > max) max = c->v[i].logit;
    double sum = 0;
    for (size_t i = 0; i < c->n; i++) {
        float l = c->v[i].logit;
        c->v[i].w = isinf(max) ? (l == max ? 1.0f : 0.0f) : expf(l - max);
        sum += c->v[i].w;
    }
    return sum;
}

/* Copies the logits in id order; NaN becomes -inf so that it is never
 * chosen and never poisons a sum. The buffer only grows. */
static llm_status load(cands *c, const float *logits, int32_t n_vocab, llm_error *err) {
    size_t n = (size_t)n_vocab;
    if (n > c->cap) {
        if (n > SIZE_MAX / sizeof(cand))
            return llm_fail(err, LLM_ERR_NOMEM, "n_vocab %d is too large", (int)n_vocab);
        cand *v = llm_malloc(n * sizeof *v);
        if (!v)
            return llm_fail(err, LLM_ERR_NOMEM, "cannot allocate %zu sampler candidates", n);
        free(c->v);
        c->v = v;
        c->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        c->v[i].id = (int32_t)i;
        c->v[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
        c->v[i].w = 0.0f;
    }
    c->n = n;
    c->by_id = true;
    return LLM_OK;
}

/* ------------------------------------------------------------ penalty window */

/* The accepted token of the given age (0 = the newest); age < win_len. */
static int32_t recent_token(const llm_sampler *s, size_t age) {
    return s->recent[(s->win_head + s->win_cap - 1 - age) % s->win_cap];
}

/* Makes the ring hold at least n tokens, keeping the ones already in it. */
static llm_status grow_window(llm_sampler *s, size_t n, llm_error *err) {
    if (n <= s->win_cap) return LLM_OK;
    if (n > SIZE_MAX / sizeof(int32_t))
        return llm_fail(err, LLM_ERR_NOMEM, "penalty window of %zu tokens is too large", n);
    int32_t *ring = llm_malloc(n * sizeof *ring), *window = llm_malloc(n * sizeof *window);
    if (!ring || !window) {
        free(ring);
        free(window);
        return llm_fail(err, LLM_ERR_NOMEM, "cannot allocate a penalty window of %zu tokens", n);
    }
    for (size_t i = 0; i < s->win_len; i++) /* oldest first */
        ring[i] = recent_token(s, s->win_len - 1 - i);
    free(s->recent);
    free(s->window);
    s->recent = ring;
    s->window = window;
    s->win_cap = n;
    s->win_head = s->win_len; /* win_len <= old cap < n */
    return LLM_OK;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Copies the last last_n accepted tokens into s->window, sorted
 * ascending (repeats side by side); returns their count. */
static size_t sorted_recent(llm_sampler *s, size_t last_n) {
    size_t n = last_n < s->win_len ? last_n : s->win_len;
    for (size_t age = 0; age < n; age++) s->window[age] = recent_token(s, age);
    qsort(s->window, n, sizeof *s->window, cmp_i32);
    return n;
}

/* Collects the distinct tokens among the last last_n accepted into
 * s->window, sorted ascending; returns their count. */
static size_t distinct_recent(llm_sampler *s, size_t last_n) {
    size_t n = sorted_recent(s, last_n);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || s->window[i] != s->window[u - 1]) s->window[u++] = s->window[i];
    return u;
}

/* ------------------------------------------------------------ stages */

static void penalize(cand *x, float penalty) {
    if (x->logit > 0) x->logit /= penalty;
    else x->logit *= penalty;
}

/* Repetition penalty: each distinct token of the window is pushed away
 * from being chosen once, however often it occurs. In id order (the usual
 * first stage) the tokens are indexed directly; after a reordering stage
 * each candidate is looked up in the sorted window. */
static void apply_penalty(llm_sampler *s, const stage *st) {
    if (st->f == 1.0f) return;
    size_t nw = distinct_recent(s, (size_t)st->n);
    if (nw == 0) return;
    cands *c = &s->c;
    if (c->by_id) {
        for (size_t j = 0; j < nw; j++)
            if ((size_t)s->window[j] < c->n) penalize(&c->v[s->window[j]], st->f);
    } else {
        for (size_t i = 0; i < c->n; i++)
            if (bsearch(&c->v[i].id, s->window, nw, sizeof *s->window, cmp_i32))
                penalize(&c->v[i], st->f);
    }
}

/* Occurrences of tok in the sorted w[0..n): binary search for the first,
 * then the run. */
static size_t count_sorted(const int32_t *w, size_t n, int32_t tok) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w[mid] < tok) lo = mid + 1;
        else hi = mid;
    }
    size_t c = 0;
    while (lo + c < n && w[lo + c] == tok) c++;
    return c;
}

/* Presence and frequency penalties (OpenAI's): a token seen c > 0 times
 * in the window loses presence + c * frequency. In id order each run of
 * the sorted window is applied directly; otherwise each candidate counts
 * its own occurrences. */
static void apply_presence(llm_sampler *s, const stage *st) {
    size_t nw = sorted_recent(s, (size_t)st->n);
    cands *c = &s->c;
    if (c->by_id) {
        for (size_t j = 0; j < nw;) {
            size_t run = count_sorted(s->window + j, nw - j, s->window[j]);
            if ((size_t)s->window[j] < c->n) c->v[s->window[j]].logit -= st->f + (float)run * st->f2;
            j += run;
        }
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        size_t run = count_sorted(s->window, nw, c->v[i].id);
        if (run) c->v[i].logit -= st->f + (float)run * st->f2;
    }
}

static int cmp_bias(const void *a, const void *b) {
    return cmp_i32(&((const llm_logit_bias *)a)->token, &((const llm_logit_bias *)b)->token);
}

/* Logit bias: the entries are sorted by token with repeats merged (at
 * add time), so a reordered candidate list finds its entries by search. */
static void apply_bias(cands *c, const stage *st) {
    if (c->by_id) {
        for (int32_t j = 0; j < st->n; j++)
            if (st->bias[j].token >= 0 && (size_t)st->bias[j].token < c->n) c->v[st->bias[j].token].logit += st->bias[j].bias;
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        llm_logit_bias key = {c->v[i].id, 0.0f};
        const llm_logit_bias *b = bsearch(&key, st->bias, (size_t)st->n, sizeof key, cmp_bias);
        if (b) c->v[i].logit += b->bias;
    }
}

static void apply_top_k(cands *c, int32_t k) {
    if (k <= 0 || (size_t)k >= c->n) return;
    select_top(c, (size_t)k);
    c->n = (size_t)k;
}

/* Top-p (nucleus): keeps the shortest best-first run of candidates whose
 * probability mass reaches p, at least one. Nothing is sorted: a
 * quickselect weighted by mass narrows [lo, hi) down to the last kept
 * candidate, in expected linear time. `before` is the mass of v[0..lo),
 * all better than the rest and all kept. If rounding leaves the whole
 * mass short of the goal, everything is kept. */
static void apply_top_p(cands *c, float p) {
    if (p >= 1.0f || c->n <= 1) return;
    double goal = p * weigh(c), before = 0;
    size_t lo = 0, hi = c->n;
    while (hi - lo > 1) {
        size_t m = partition(c->v, lo, hi);
        double above = before;
        for (size_t i = lo; i < m; i++) above += c->v[i].w;
        if (above >= goal) {
            hi = m;
        } else if (above + c->v[m].w >= goal) {
            lo = m;
            break;
        } else {
            before = above + c->v[m].w;
            lo = m + 1;
        }
    }
    if (lo < c->n) c->n = lo + 1;
    c->by_id = false;
}

/* Min-p: keeps the candidates whose probability is at least p times the
 * best one's, i.e. w >= p since the best has w = 1. */
static void apply_min_p(cands *c, float p) {
    if (p <= 0.0f || c->n <= 1) return;
    weigh(c);
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].w >= p) c->v[kept++] = c->v[i];
    if (kept < c->n) c->by_id = false;
    c->n = kept;
}

/* Leaves only the best candidate (ties to the lowest id). */
static void collapse(cands *c) {
    size_t best = 0;
    for (size_t i = 1; i < c->n; i++)
        if (better(&c->v[i], &c->v[best])) best = i;
    c->v[0] = c->v[best];
    c->n = 1;
    c->by_id = false;
}

/* Temperature t > 0 divides the logits; t <= 0 is the greedy limit. */
static void apply_temperature(cands *c, float t) {
    if (t <= 0.0f) {
        collapse(c);
        return;
    }
    for (size_t i = 0; i < c->n; i++) c->v[i].logit /= t;
}

/* The final pick: a draw from the softmax of the remaining candidates,
 * walking the cumulative weights. A single candidate is returned without
 * touching the generator, so greedy chains leave it alone. Rounding can
 * only leave the walk past the end, in which case the last candidate with
 * weight wins; a zero-weight candidate is never returned. */
static int32_t draw(cands *c, uint64_t *rng) {
    if (c->n == 1) return c->v[0].id;
    double r = next_unit(rng) * weigh(c);
    size_t pick = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].w <= 0.0f) continue;
        pick = i;
        if (r < c->v[i].w) break;
        r -= c->v[i].w;
    }
    return c->v[pick].id;
}

/* ------------------------------------------------------------ chain */

static llm_status check_prob(const char *what, float p, llm_error *err) {
    if (p >= 0.0f && p <= 1.0f) return LLM_OK; /* false for NaN */
    return llm_fail(err, LLM_ERR_INVALID_ARG, "%s %g must be in [0, 1]", what, (double)p);
}

/* Rejects parameters that have no meaning: NaN, infinities, negative
 * counts, probabilities outside [0, 1], non-positive penalties. */
static llm_status check_stage(const stage *st, llm_error *err) {
    switch (st->kind) {
    case STAGE_BIAS:
        if (st->n < 0 || (st->n > 0 && !st->bias))
            return llm_fail(err, LLM_ERR_INVALID_ARG, "logit bias: %d entries at %p", (int)st->n, (const void *)st->bias);
        for (int32_t j = 0; j < st->n; j++)
            if (isnan(st->bias[j].bias) || st->bias[j].bias == INFINITY)
                return llm_fail(err, LLM_ERR_INVALID_ARG, "logit bias %g of token %d must be a number below +inf",
                                (double)st->bias[j].bias, (int)st->bias[j].token);
        return LLM_OK;
    case STAGE_PRESENCE:
        if (!isfinite(st->f) || !isfinite(st->f2))
            return llm_fail(err, LLM_ERR_INVALID_ARG, "presence penalty %g and frequency penalty %g must be finite",
                            (double)st->f, (double)st->f2);
        if (st->n < 0 || st->n > LLM_MAX_PENALTY_WINDOW)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "penalty window %d must be in 0..%d", (int)st->n,
                            LLM_MAX_PENALTY_WINDOW);
        return LLM_OK;
    case STAGE_PENALTY:
        if (!isfinite(st->f) || st->f <= 0.0f)
            return llm_fail(err, LLM_ERR_INVALID_ARG,
                            "repeat penalty %g must be finite and > 0", (double)st->f);
        if (st->n < 0 || st->n > LLM_MAX_PENALTY_WINDOW)
            return llm_fail(err, LLM_ERR_INVALID_ARG, "repeat_last_n %d must be in 0..%d",
                            (int)st->n, LLM_MAX_PENALTY_WINDOW);
        return LLM_OK;
    case STAGE_TOP_K:
        if (st->n < 0)
            return llm_fail(err, LLM_ERR_INVALID_ARG,
                            "top-k %d must be >= 0 (0 = off)", (int)st->n);
        return LLM_OK;
    case STAGE_TOP_P: return check_prob("top-p", st->f, err);
    case STAGE_MIN_P: return check_prob("min-p", st->f, err);
    case STAGE_TEMP:
        if (!isfinite(st->f))
            return llm_fail(err, LLM_ERR_INVALID_ARG,
                            "temperature %g must be finite", (double)st->f);
        return LLM_OK;
    case STAGE_GREEDY: break;
    }
    return LLM_OK;
}

/* A sorted copy of a bias list with repeated tokens merged (their biases
 * summed); st->n becomes the merged count. */
static llm_status own_bias(stage *st, llm_error *err) {
    llm_logit_bias *b = llm_malloc((size_t)(st->n ? st->n : 1) * sizeof *b);
    if (!b) return llm_fail(err, LLM_ERR_NOMEM, "cannot copy %d logit bias entries", (int)st->n);
    if (st->n) memcpy(b, st->bias, (size_t)st->n * sizeof *b);
    qsort(b, (size_t)st->n, sizeof *b, cmp_bias);
    int32_t u = 0;
    for (int32_t j = 0; j < st->n; j++) {
        if (u > 0 && b[u - 1].token == b[j].token) b[u - 1].bias += b[j].bias;
        else b[u++] = b[j];
    }
    st->bias = b;
    st->n = u;
    return LLM_OK;
}

/* Validates a stage and appends it; a penalty stage widens the window, a
 * bias stage gets its own copy of the entries. */
static llm_status add_stage(llm_sampler *s, stage st, llm_error *err) {
    if (!s) return llm_fail(err, LLM_ERR_INVALID_ARG, "sampler is NULL");
    llm_status rc = check_stage(&st, err);
    if (rc != LLM_OK) return rc;
    if ((st.kind == STAGE_PENALTY || st.kind == STAGE_PRESENCE) && (rc = grow_window(s, (size_t)st.n, err)) != LLM_OK)
        return rc;
    if (s->n_stages == s->cap_stages) {
        size_t cap = s->cap_stages ? 2 * s->cap_stages : 8;
        if (cap > SIZE_MAX / sizeof(stage))
            return llm_fail(err, LLM_ERR_NOMEM, "too many sampler stages");
        stage *p = llm_realloc(s->stages, cap * sizeof *p);
        if (!p) return llm_fail(err, LLM_ERR_NOMEM, "cannot grow the sampler chain");
        s->stages = p;
        s->cap_stages = cap;
    }
    if (st.kind == STAGE_BIAS && (rc = own_bias(&st, err)) != LLM_OK) return rc;
    s->stages[s->n_stages++] = st;
    return LLM_OK;
}

/* Defaults close to llama.cpp's. The fixed seed (0xC0FFEE) makes runs
 * reproducible out of the box; pass your own for varied output. */
llm_sampler_params llm_sampler_default_params(void) {
    llm_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .logit_bias = NULL,
        .n_logit_bias = 0,
        .seed = 0xC0FFEE,
    };
    return p;
}

llm_sampler *llm_sampler_new(uint64_t seed, llm_error *err) {
    llm_sampler *s = llm_calloc(1, sizeof *s);
    if (!s) {
        llm_fail(err, LLM_ERR_NOMEM, "cannot allocate a sampler");
        return NULL;
    }
    s->seed = s->rng = seed;
    return s;
}

/* Every field is checked, even those that leave their stage out, so that
 * a bad value is reported rather than silently ignored. With temperature
 * <= 0 only the penalty and a greedy pick are chained: top-k, top-p and
 * min-p always keep the argmax, so they could not change the result. */
llm_sampler *llm_sampler_from_params(const llm_sampler_params *params, llm_error *err) {
    if (!params) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "sampler params are NULL");
        return NULL;
    }
    const llm_sampler_params *p = params;
    bool greedy = p->temperature <= 0.0f;
    const struct {
        stage st;
        bool use;
    } plan[] = {
        {{.kind = STAGE_BIAS, .f = 0.0f, .n = p->n_logit_bias, .f2 = 0.0f, .bias = p->logit_bias}, p->n_logit_bias > 0},
        {{.kind = STAGE_PENALTY, .f = p->repeat_penalty, .n = p->repeat_last_n},
         p->repeat_penalty != 1.0f && p->repeat_last_n > 0},
        {{.kind = STAGE_PRESENCE, .f = p->presence_penalty, .n = p->repeat_last_n, .f2 = p->frequency_penalty, .bias = NULL},
         (p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f) && p->repeat_last_n > 0},
        {{.kind = STAGE_TOP_K, .f = 0.0f, .n = p->top_k}, !greedy && p->top_k > 0},
        {{.kind = STAGE_TOP_P, .f = p->top_p, .n = 0}, !greedy && p->top_p < 1.0f},
        {{.kind = STAGE_MIN_P, .f = p->min_p, .n = 0}, !greedy && p->min_p > 0.0f},
        {{.kind = STAGE_TEMP, .f = p->temperature, .n = 0}, !greedy},
        {{.kind = STAGE_GREEDY, .f = 0.0f, .n = 0}, greedy},
    };
    size_t n_plan = sizeof plan / sizeof plan[0];
    for (size_t i = 0; i < n_plan; i++)
        if (check_stage(&plan[i].st, err) != LLM_OK) return NULL;
    llm_sampler *s = llm_sampler_new(p->seed, err);
    if (!s) return NULL;
    for (size_t i = 0; i < n_plan; i++) {
        if (plan[i].use && add_stage(s, plan[i].st, err) != LLM_OK) {
            llm_sampler_free(s);
            return NULL;
        }
    }
    return s;
}

void llm_sampler_free(llm_sampler *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_stages; i++)
        if (s->stages[i].kind == STAGE_BIAS) free((void *)s->stages[i].bias);
    free(s->stages);
    free(s->c.v);
    free(s->recent);
    free(s->window);
    free(s);
}

llm_status llm_sampler_add_penalty(llm_sampler *s, float penalty, int32_t last_n, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_PENALTY, .f = penalty, .n = last_n}, err);
}

llm_status llm_sampler_add_presence_frequency(llm_sampler *s, float presence, float frequency, int32_t last_n, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_PRESENCE, .f = presence, .n = last_n, .f2 = frequency, .bias = NULL}, err);
}

llm_status llm_sampler_add_logit_bias(llm_sampler *s, const llm_logit_bias *bias, int32_t n, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_BIAS, .f = 0.0f, .n = n, .f2 = 0.0f, .bias = bias}, err);
}

llm_status llm_sampler_add_top_k(llm_sampler *s, int32_t k, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_TOP_K, .f = 0.0f, .n = k}, err);
}

llm_status llm_sampler_add_top_p(llm_sampler *s, float p, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_TOP_P, .f = p, .n = 0}, err);
}

llm_status llm_sampler_add_min_p(llm_sampler *s, float p, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_MIN_P, .f = p, .n = 0}, err);
}

llm_status llm_sampler_add_temperature(llm_sampler *s, float t, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_TEMP, .f = t, .n = 0}, err);
}

llm_status llm_sampler_add_greedy(llm_sampler *s, llm_error *err) {
    return add_stage(s, (stage){.kind = STAGE_GREEDY, .f = 0.0f, .n = 0}, err);
}

static void apply_stage(llm_sampler *s, const stage *st) {
    switch (st->kind) {
    case STAGE_BIAS: apply_bias(&s->c, st); break;
    case STAGE_PENALTY: apply_penalty(s, st); break;
    case STAGE_PRESENCE: apply_presence(s, st); break;
    case STAGE_TOP_K: apply_top_k(&s->c, st->n); break;
    case STAGE_TOP_P: apply_top_p(&s->c, st->f); break;
    case STAGE_MIN_P: apply_min_p(&s->c, st->f); break;
    case STAGE_TEMP: apply_temperature(&s->c, st->f); break;
    case STAGE_GREEDY: collapse(&s->c); break;
    }
}

/* Runs the chain over one step's logits. An empty chain picks greedily;
 * any other ends in a draw (which a greedy stage has reduced to one
 * candidate). The token is not recorded: call llm_sampler_accept. */
int32_t llm_sampler_sample(llm_sampler *s, const float *logits, int32_t n_vocab,
                           llm_error *err) {
    if (!s || !logits) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "%s is NULL", s ? "logits" : "sampler");
        return LLM_TOKEN_NULL;
    }
    if (n_vocab <= 0) {
        llm_fail(err, LLM_ERR_INVALID_ARG, "n_vocab %d must be > 0", (int)n_vocab);
        return LLM_TOKEN_NULL;
    }
    if (load(&s->c, logits, n_vocab, err) != LLM_OK) return LLM_TOKEN_NULL;
    for (size_t i = 0; i < s->n_stages; i++) apply_stage(s, &s->stages[i]);
    if (s->n_stages == 0) collapse(&s->c);
    return draw(&s->c, &s->rng);
}

int32_t llm_sampler_sample_accept(llm_sampler *s, const float *logits, int32_t n_vocab, llm_error *err) {
    int32_t tok = llm_sampler_sample(s, logits, n_vocab, err);
    llm_sampler_accept(s, tok);
    return tok;
}

/* Negative ids (LLM_TOKEN_NULL) are ignored; ids beyond the vocabulary
 * are kept but never match a candidate. */
void llm_sampler_accept(llm_sampler *s, int32_t tok) {
    if (!s || tok < 0 || s->win_cap == 0) return;
    s->recent[s->win_head] = tok;
    s->win_head = (s->win_head + 1) % s->win_cap;
    if (s->win_len < s->win_cap) s->win_len++;
}

/* Forgets the accepted tokens and restarts the generator from the seed,
 * so a reset sampler repeats its draws exactly. */
void llm_sampler_reset(llm_sampler *s) {
    if (!s) return;
    s->win_len = s->win_head = 0;
    s->rng = s->seed;
}
