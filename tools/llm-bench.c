/* llm-bench: measures a model's speed on the public API only, the way
 * llama.cpp's llama-bench does, so the figures can be set side by side:
 *
 *  pp  prompt processing: one llm_decode of p random token ids into an
 *      emptied context, in tokens per second;
 *  tg  text generation: n single-token decodes from an emptied context,
 *      each fed the greedy choice of the previous step, in tokens/second;
 *  tgS with --seqs S: the same n steps for S contexts decoded together
 *      by llm_decode_multi, in tokens per second summed over the S, run
 *      right after tg in each repetition (interleaved), with its ratio
 *      to tg.
 *
 * -d N runs both after N tokens already in the cache (llama-bench -d): the
 * context is filled once, untimed, and each run truncates back to N, so
 * the figures say how attention over a long cache slows the products.
 *
 * Each is repeated (-r) and reported as mean and standard deviation. All
 * runs share one context, as a program would keep it; an untimed pp run
 * comes first so that the mapped weights are in memory and the cache's
 * pages touched. Beside the speeds: the file size, the load time, the peak RSS
 * of the run, and a memory read-bandwidth probe with the same thread count,
 * which tells how close generation comes to the machine's limit (a decode
 * step must stream every weight once: model bytes x tg t/s / bandwidth).
 * The probe runs before and after the tests and the larger figure counts:
 * on shared machines the bandwidth can change from minute to minute.
 * Beside it, the compute peak of the context's kernel set (tools/peak.c)
 * at the same thread count, and the fraction of it that pp reaches
 * (2 operations per weight of the products per token; attention not
 * counted, so the fraction is a lower bound of the work done).
 *
 * --tok-bench FILE measures the tokenizer instead: encode speed in MB/s.
 * --abort-after MS measures how soon an aborted prompt returns: a thread
 * asks the context's abort callback to stop MS ms into the pp decode, and
 * the time from that request to llm_decode's return is reported. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <llm.h>
#include "opts.h"
#include "peak.h"
#include "toolutil.h"

const char *const tool_name = "llm-bench";

typedef struct options {
    const char *model;
    const char *tok_file;  /* --tok-bench */
    int32_t threads;
    int32_t n_prompt;      /* -p */
    int32_t n_gen;         /* -n */
    int32_t reps;          /* -r */
    int32_t depth;         /* -d: tokens in the cache before each test */
    int32_t abort_ms;      /* --abort-after, 0 = off */
    int kv_f16;            /* --kv-f16 */
    int32_t seqs;          /* --seqs: sequences decoded together in tgS, 1 = no tgS */
    int json;
} options;

typedef struct stats {
    double mean, std;
} stats;

static const char synopsis[] =
    "usage: llm-bench -m MODEL [-t THREADS] [-p N] [-n N] [-d N] [-r REPS] [--seqs S] [--json]\n"
    "       llm-bench -m MODEL --tok-bench FILE [-r REPS] [--json]\n"
    "       llm-bench -m MODEL --abort-after MS [-t THREADS] [-p N] [-r REPS]\n"
    "Measures prompt processing (pp) and generation (tg) speed, as llama-bench does.\n\n";

/* Mean and sample standard deviation (0 for a single value). */
static stats summarize(const double *x, int n) {
    stats s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += x[i] / n;
    for (int i = 0; n > 1 && i < n; i++) s.std += (x[i] - s.mean) * (x[i] - s.mean) / (n - 1);
    s.std = sqrt(s.std);
    return s;
}

/* ---------------------------------------------------------------- decode */

/* The bytes of new_ctx's KV cache: a key and a value row per layer and
 * position, n_head_kv x head_dim elements each. */
static uint64_t kv_bytes(const llm_model *m, const options *o) {
    uint64_t n_ctx = (uint64_t)o->depth + (uint64_t)o->n_prompt + (uint64_t)o->n_gen;
    uint64_t row = (uint64_t)llm_model_n_head_kv(m) * (uint64_t)llm_model_head_dim(m) * (o->kv_f16 ? 2 : 4);
    return n_ctx * (uint64_t)llm_model_n_layer(m) * 2 * row;
}

static llm_ctx *new_ctx(const llm_model *m, const options *o) {
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = o->depth + o->n_prompt + o->n_gen;
    cp.n_threads = o->threads;
    cp.n_threads_blas = o->threads;
    cp.kv_type = o->kv_f16 ? LLM_TYPE_F16 : LLM_TYPE_F32;
    llm_error err;
    llm_ctx *ctx = llm_ctx_new(m, &cp, &err);
    if (!ctx) die("%s", err.msg);
    return ctx;
}

static void decode(llm_ctx *ctx, const int32_t *toks, int32_t n) {
    llm_error err;
    if (llm_decode(ctx, toks, n, &err) != LLM_OK) die("%s", err.msg);
}

/* Tokens per second of one batch of n_prompt ids into a context holding
 * the depth tokens of fill_depth. */
static double run_pp(llm_ctx *ctx, const options *o, const int32_t *toks) {
    llm_ctx_truncate(ctx, o->depth, NULL);
    double t0 = now();
    decode(ctx, toks, o->n_prompt);
    return o->n_prompt / (now() - t0);
}

/* Tokens per second of n_gen single-token steps after the depth tokens,
 * starting from BOS (or id 0) and feeding back the greedy choice. */
static double run_tg(llm_ctx *ctx, const llm_model *m, const options *o, llm_sampler *greedy) {
    llm_ctx_truncate(ctx, o->depth, NULL);
    int32_t tok = llm_token_bos(m) != LLM_TOKEN_NULL ? llm_token_bos(m) : 0;
    llm_error err;
    double t0 = now();
    for (int32_t i = 0; i < o->n_gen; i++) {
        decode(ctx, &tok, 1);
        tok = llm_sampler_sample(greedy, llm_logits(ctx), llm_model_n_vocab(m), &err);
        if (tok < 0) die("%s", err.msg);
    }
    return o->n_gen / (now() - t0);
}

/* Aggregate tokens per second of n_gen steps of llm_decode_multi over
 * the S contexts cs (each after the depth tokens, from BOS, feeding back
 * its greedy choice): S tokens a step. */
static double run_tg_multi(llm_ctx **cs, const llm_model *m, const options *o, llm_sampler *greedy) {
    int32_t *toks = xmalloc((size_t)o->seqs * sizeof *toks);
    for (int32_t j = 0; j < o->seqs; j++) {
        llm_ctx_truncate(cs[j], o->depth, NULL);
        toks[j] = llm_token_bos(m) != LLM_TOKEN_NULL ? llm_token_bos(m) : 0;
    }
    llm_error err;
    double t0 = now();
    for (int32_t i = 0; i < o->n_gen; i++) {
        if (llm_decode_multi(cs, toks, o->seqs, &err) != LLM_OK) die("%s", err.msg);
        for (int32_t j = 0; j < o->seqs; j++)
            if ((toks[j] = llm_sampler_sample(greedy, llm_logits(cs[j]), llm_model_n_vocab(m), &err)) < 0)
                die("%s", err.msg);
    }
    double tps = (double)o->seqs * o->n_gen / (now() - t0);
    free(toks);
    return tps;
}

/* Random ids in [0, n_vocab) from a fixed xorshift seed, so every run
 * decodes the same prompt. */
static int32_t *random_tokens(int32_t n, int32_t n_vocab) {
    int32_t *t = xmalloc((size_t)n * sizeof *t);
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int32_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t[i] = (int32_t)(x % (uint64_t)n_vocab);
    }
    return t;
}

/* Puts depth random tokens into the emptied cache (llm_decode splits them
 * into batches), untimed: every run then truncates back to them. */
static void fill_depth(llm_ctx *ctx, const llm_model *m, const options *o) {
    if (!o->depth) return;
    int32_t *toks = random_tokens(o->depth, llm_model_n_vocab(m));
    llm_ctx_truncate(ctx, 0, NULL);
    decode(ctx, toks, o->depth);
    free(toks);
}

/* ---------------------------------------------------------------- bandwidth */

typedef struct probe_slice {
    const uint64_t *p;
    size_t n;          /* words */
    uint64_t sum;
} probe_slice;

/* Sums a slice of 64-bit words; four independent sums let the loads
 * overlap and the compiler vectorize. The sum is kept so the reads cannot
 * be optimized away. */
static void *probe_read(void *arg) {
    probe_slice *s = arg;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= s->n; i += 4) {
        a += s->p[i];
        b += s->p[i + 1];
        c += s->p[i + 2];
        d += s->p[i + 3];
    }
    for (; i < s->n; i++) a += s->p[i];
    s->sum = a + b + c + d;
    return NULL;
}

/* The larger of 1 GiB and four times the last-level cache, so that the
 * probe measures memory, not cache. */
static size_t probe_size(void) {
    size_t size = (size_t)1 << 30;
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0) llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (llc > 0 && (size_t)llc <= SIZE_MAX / 4 && (size_t)llc * 4 > size) size = (size_t)llc * 4;
    return size;
}

/* Memory read bandwidth in GB/s: n threads each read an equal slice of a
 * buffer much larger than the cache; the best of five runs counts. */
static double probe_bandwidth(int threads) {
    size_t bytes = probe_size(), words = bytes / sizeof(uint64_t);
    uint64_t *buf = xmalloc(bytes);
    memset(buf, 1, bytes); /* touch every page before timing */
    probe_slice *sl = xmalloc((size_t)threads * sizeof *sl);
    pthread_t *tid = xmalloc((size_t)threads * sizeof *tid);
    double best = 0;
    uint64_t total = 0;
    for (int run = 0; run < 5; run++) {
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            size_t lo = words * (size_t)i / (size_t)threads, hi = words * (size_t)(i + 1) / (size_t)threads;
            sl[i] = (probe_slice){buf + lo, hi - lo, 0};
            if (i > 0 && pthread_create(&tid[i], NULL, probe_read, &sl[i]) != 0)
                die("cannot start a bandwidth probe thread");
        }
        probe_read(&sl[0]);
        for (int i = 1; i < threads; i++) pthread_join(tid[i], NULL);
        double dt = now() - t0;
        for (int i = 0; i < threads; i++) total += sl[i].sum;
        if (bytes / dt / 1e9 > best) best = bytes / dt / 1e9;
    }
    if (total != (uint64_t)5 * words * 0x0101010101010101ull) die("bandwidth probe read wrong data");
    free(tid);
    free(sl);
    free(buf);
    return best;
}

/* The probe in a child process, so that its buffer stays out of this
 * process's peak RSS: the bandwidth just before the tests run. */
static double probe_in_child(int threads) {
    int fd[2];
    double bw = 0;
    if (pipe(fd) != 0) die("cannot make a pipe for the bandwidth probe");
    pid_t pid = fork();
    if (pid < 0) die("cannot fork the bandwidth probe");
    if (pid == 0) {
        close(fd[0]);
        bw = probe_bandwidth(threads);
        _exit(write(fd[1], &bw, sizeof bw) == (ssize_t)sizeof bw ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &bw, sizeof bw);
    close(fd[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof bw)
        die("the bandwidth probe failed");
    return bw;
}

/* ---------------------------------------------------------------- peak */

/* The weights that every token multiplies: the tensors of two and more
 * dimensions except the token embedding, which is a lookup, unless there
 * is no output.weight (the head then reuses it). *type gets the type
 * holding most of them. */
static double product_weights(const llm_model *m, uint32_t *type) {
    double total = 0, embd = 0, by_type[64] = {0};
    bool has_output = false;
    for (int64_t i = 0; i < llm_model_n_tensors(m); i++) {
        llm_tensor_info ti;
        if (llm_model_tensor_info(m, i, &ti, NULL) != LLM_OK || ti.n_dims < 2) continue;
        double elems = (double)ti.ne[0] * ti.ne[1] * ti.ne[2] * ti.ne[3];
        bool is_embd = ti.name_len >= 10 && memcmp(ti.name, "token_embd", 10) == 0;
        has_output |= ti.name_len == 13 && memcmp(ti.name, "output.weight", 13) == 0;
        if (is_embd) embd = elems;
        else total += elems;
        if (!is_embd && ti.type < 64) by_type[ti.type] += elems;
    }
    *type = 0;
    for (uint32_t t = 1; t < 64; t++)
        if (by_type[t] > by_type[*type]) *type = t;
    return has_output ? total : total + embd;
}

/* The peak that weights of this GGUF type meet: F32's FMA, F16's and
 * BF16's BF16 products where the set has them (else FMA), the quantized
 * types' int8 products; its name in *kind. */
static double peak_for(const peak_ops *pk, uint32_t type, const char **kind) {
    enum { GGUF_F32 = 0, GGUF_F16 = 1, GGUF_BF16 = 30 };
    if (type == GGUF_F32 || ((type == GGUF_F16 || type == GGUF_BF16) && pk->bf16 == 0)) {
        *kind = "f32";
        return pk->f32;
    }
    *kind = type == GGUF_F16 || type == GGUF_BF16 ? "bf16" : "int8";
    return type == GGUF_F16 || type == GGUF_BF16 ? pk->bf16 : pk->int8;
}

/* ---------------------------------------------------------------- output */

/* s as a JSON string literal. */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static uint64_t file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) die("cannot stat %s: %s", path, strerror(errno));
    return (uint64_t)st.st_size;
}

/* Peak resident set of the process so far, in bytes (mapped weights that
 * were read count too). */
static uint64_t peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024;
}

static char *model_desc(const llm_model *m) {
    size_t need = 0;
    llm_model_desc(m, NULL, 0, &need);
    char *buf = xmalloc(need ? need : 1);
    if (llm_model_desc(m, buf, need ? need : 1, NULL) != LLM_OK) buf[0] = 0;
    return buf;
}

typedef struct result {
    uint64_t size_bytes;
    stats pp, tg;            /* tokens per second */
    stats tg_multi;          /* tokens per second summed over --seqs sequences */
    double bw_before, bw_after; /* GB/s, probed before and after the tests */
    double bandwidth_gbs;    /* the larger of the two */
    double tg_fraction;      /* of the bandwidth that tg streams weights at */
    uint64_t peak_rss_bytes;
    double load_ms;
    char *desc;
    const char *kernels;     /* the context's kernel set */
    peak_ops peak;           /* its compute peak, operations/s */
    const char *peak_kind;   /* the peak the main weight type meets */
    double pp_fraction;      /* of that peak that pp reaches, 0 if none */
    uint64_t kv_bytes;       /* one context's KV cache */
} result;

static void print_json(const options *o, const result *r) {
    printf("{\"model\": ");
    json_str(o->model);
    printf(", \"desc\": ");
    json_str(r->desc);
    printf(", \"size_bytes\": %llu, \"threads\": %d, \"reps\": %d, \"depth\": %d, \"pp_tokens\": %d, \"tg_tokens\": %d, "
           "\"pp_tps_mean\": %.3f, \"pp_tps_std\": %.3f, \"tg_tps_mean\": %.3f, \"tg_tps_std\": %.3f, "
           "\"bandwidth_gbs\": %.3f, \"bandwidth_before_gbs\": %.3f, \"bandwidth_after_gbs\": %.3f, "
           "\"tg_bandwidth_fraction\": %.4f, \"peak_rss_bytes\": %llu, \"load_ms\": %.3f, \"kernels\": ",
           (unsigned long long)r->size_bytes, o->threads, o->reps, o->depth, o->n_prompt, o->n_gen, r->pp.mean,
           r->pp.std, r->tg.mean, r->tg.std, r->bandwidth_gbs, r->bw_before, r->bw_after, r->tg_fraction,
           (unsigned long long)r->peak_rss_bytes, r->load_ms);
    json_str(r->kernels);
    printf(", \"peak_int8_gops\": %.1f, \"peak_bf16_gflops\": %.1f, \"peak_f32_gflops\": %.1f, \"pp_peak_kind\": ",
           r->peak.int8 / 1e9, r->peak.bf16 / 1e9, r->peak.f32 / 1e9);
    json_str(r->peak_kind);
    printf(", \"pp_peak_fraction\": %.4f, \"kv_bytes\": %llu", r->pp_fraction, (unsigned long long)r->kv_bytes);
    if (o->seqs > 1)
        printf(", \"seqs\": %d, \"tg_seqs_tps_mean\": %.3f, \"tg_seqs_tps_std\": %.3f, \"tg_seqs_ratio\": %.3f", o->seqs,
               r->tg_multi.mean, r->tg_multi.std, r->tg_multi.mean / r->tg.mean);
    printf("}\n");
}

static void print_table(const options *o, const result *r) {
    printf("model      %s\n           %s\n", o->model, r->desc);
    printf("size       %.2f MiB (%llu bytes), loaded in %.1f ms\n", r->size_bytes / 1048576.0,
           (unsigned long long)r->size_bytes, r->load_ms);
    printf("threads    %d, %d repetitions, peak RSS %.1f MiB\n\n", o->threads, o->reps,
           r->peak_rss_bytes / 1048576.0);
    printf("| test      |                  t/s |\n|-----------|----------------------|\n");
    if (o->depth) printf("(each test after %d tokens in the cache)\n", o->depth);
    printf("| pp%-7d | %9.2f ± %8.2f |\n", o->n_prompt, r->pp.mean, r->pp.std);
    printf("| tg%-7d | %9.2f ± %8.2f |\n", o->n_gen, r->tg.mean, r->tg.std);
    if (o->seqs > 1)
        printf("| tg%d x%-3d | %9.2f ± %8.2f | summed over %d sequences decoded together: %.2fx tg\n", o->n_gen, o->seqs,
               r->tg_multi.mean, r->tg_multi.std, o->seqs, r->tg_multi.mean / r->tg.mean);
    printf("\n");
    printf("memory read bandwidth %.2f GB/s (%d threads; %.2f before the tests, %.2f after);\n"
           "tg streams the weights at %.1f%% of it\n",
           r->bandwidth_gbs, o->threads, r->bw_before, r->bw_after, 100.0 * r->tg_fraction);
    printf("compute peak of the %s kernels (%d threads, register-only loops): int8 %.0f GOPS, bf16 %.0f GFLOPS,\n"
           "f32 %.0f GFLOPS; pp reaches %.1f%% of the %s peak (2 x product weights x t/s)\n",
           r->kernels, o->threads, r->peak.int8 / 1e9, r->peak.bf16 / 1e9, r->peak.f32 / 1e9,
           100.0 * r->pp_fraction, r->peak_kind);
}

/* ---------------------------------------------------------------- modes */

static void bench_model(const llm_model *m, const options *o, double load_ms) {
    double bw_before = probe_in_child(o->threads);
    int32_t *prompt = random_tokens(o->n_prompt, llm_model_n_vocab(m));
    llm_error err;
    llm_sampler *greedy = llm_sampler_new(0, &err);
    if (!greedy) die("%s", err.msg);
    /* One context for every run, as a program would keep it; a first
     * untimed prompt maps the weights and touches the cache's pages. */
    llm_ctx *ctx = new_ctx(m, o);
    const char *kernels = llm_ctx_kernels(ctx);
    peak_ops peak = peak_probe(kernels, o->threads);
    fill_depth(ctx, m, o);
    run_pp(ctx, o, prompt);
    /* --seqs: the first of the S contexts is ctx itself */
    llm_ctx **cs = xmalloc((size_t)o->seqs * sizeof *cs);
    cs[0] = ctx;
    for (int32_t j = 1; j < o->seqs; j++) {
        cs[j] = new_ctx(m, o);
        fill_depth(cs[j], m, o);
    }
    double *pp = xmalloc((size_t)o->reps * sizeof *pp), *tg = xmalloc((size_t)o->reps * sizeof *tg);
    double *tgm = xmalloc((size_t)o->reps * sizeof *tgm);
    for (int i = 0; i < o->reps; i++) {
        pp[i] = run_pp(ctx, o, prompt);
        tg[i] = run_tg(ctx, m, o, greedy);
        if (o->seqs > 1) tgm[i] = run_tg_multi(cs, m, o, greedy);
    }
    for (int32_t j = 1; j < o->seqs; j++) llm_ctx_free(cs[j]);
    free(cs);
    result r = {file_size(o->model), summarize(pp, o->reps), summarize(tg, o->reps),
                o->seqs > 1 ? summarize(tgm, o->reps) : (stats){0, 0}, bw_before, 0, 0, 0,
                peak_rss(), load_ms, model_desc(m), kernels, peak, "", 0, 0};
    uint32_t wtype;
    double weights = product_weights(m, &wtype), top = peak_for(&peak, wtype, &r.peak_kind);
    r.pp_fraction = top > 0 ? 2 * weights * r.pp.mean / top : 0;
    r.kv_bytes = kv_bytes(m, o);
    r.bw_after = probe_bandwidth(o->threads); /* after peak_rss: its buffer is not the model's */
    r.bandwidth_gbs = r.bw_before > r.bw_after ? r.bw_before : r.bw_after;
    r.tg_fraction = (double)r.size_bytes * r.tg.mean / (r.bandwidth_gbs * 1e9);
    if (o->json) print_json(o, &r);
    else print_table(o, &r);
    llm_ctx_free(ctx); /* after the output: r.kernels is the context's */
    free(r.desc);
    free(pp);
    free(tg);
    free(tgm);
    llm_sampler_free(greedy);
    free(prompt);
}

/* ---------------------------------------------------------------- abort */

typedef struct abort_req {
    atomic_bool stop;
    double asked;   /* now() when stop was set */
    int32_t ms;
} abort_req;

static bool abort_cb(void *ud) { return atomic_load(&((abort_req *)ud)->stop); }

static void *request_stop(void *arg) {
    abort_req *r = arg;
    struct timespec ts = {r->ms / 1000, (long)(r->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    r->asked = now();
    atomic_store(&r->stop, true);
    return NULL;
}

/* Per repetition: an emptied context, a pp decode, a stop request from
 * another thread abort_ms into it; the latency is the decode's return
 * minus the request. */
static void bench_abort(const llm_model *m, const options *o) {
    int32_t *prompt = random_tokens(o->n_prompt, llm_model_n_vocab(m));
    llm_ctx *ctx = new_ctx(m, o);
    run_pp(ctx, o, prompt); /* maps the weights */
    double *lat = xmalloc((size_t)o->reps * sizeof *lat), worst = 0;
    for (int i = 0; i < o->reps; i++) {
        abort_req r = {.ms = o->abort_ms};
        atomic_init(&r.stop, false);
        llm_ctx_truncate(ctx, 0, NULL);
        llm_ctx_set_abort(ctx, abort_cb, &r);
        pthread_t th;
        if (pthread_create(&th, NULL, request_stop, &r) != 0) die("cannot start a thread");
        llm_error err;
        llm_status st = llm_decode(ctx, prompt, o->n_prompt, &err);
        double back = now();
        pthread_join(th, NULL);
        llm_ctx_set_abort(ctx, NULL, NULL);
        if (st != LLM_ERR_ABORTED) die("the decode was not aborted (%s): make --abort-after shorter", llm_strerror(st));
        lat[i] = (back - r.asked) * 1e3;
        if (lat[i] > worst) worst = lat[i];
    }
    stats st = summarize(lat, o->reps);
    if (o->json)
        printf("{\"abort_after_ms\": %d, \"n_prompt\": %d, \"threads\": %d, \"latency_ms\": %.3f, "
               "\"latency_ms_std\": %.3f, \"latency_ms_max\": %.3f}\n",
               o->abort_ms, o->n_prompt, o->threads, st.mean, st.std, worst);
    else
        printf("abort %d ms into a %d-token prompt, %d threads: returned %.2f ± %.2f ms after the request (max %.2f)\n",
               o->abort_ms, o->n_prompt, o->threads, st.mean, st.std, worst);
    free(lat);
    llm_ctx_free(ctx);
    free(prompt);
}

/* Encodes text into ids, growing the buffer when the first guess is short;
 * returns the token count. */
static size_t tokenize(const llm_model *m, const char *text, size_t len, int32_t **ids, size_t *cap) {
    llm_error err;
    size_t n;
    llm_status s = llm_tokenize(m, text, len, *ids, *cap, &n, 0, &err);
    if (s == LLM_ERR_BUFFER_TOO_SMALL) {
        free(*ids);
        *ids = xmalloc(n * sizeof **ids);
        *cap = n;
        s = llm_tokenize(m, text, len, *ids, *cap, &n, 0, &err);
    }
    if (s != LLM_OK) die("%s", err.msg);
    return n;
}

/* Tokenizer encode speed over a whole file, without BOS. An untimed first
 * run sizes the id buffer. */
static void bench_tokenizer(const llm_model *m, const options *o) {
    size_t len, cap = 1024;
    char *text = read_file(o->tok_file, &len);
    int32_t *ids = xmalloc(cap * sizeof *ids);
    size_t n = tokenize(m, text, len, &ids, &cap);
    double *mbs = xmalloc((size_t)o->reps * sizeof *mbs);
    for (int i = 0; i < o->reps; i++) {
        double t0 = now();
        tokenize(m, text, len, &ids, &cap);
        mbs[i] = len / 1e6 / (now() - t0);
    }
    stats s = summarize(mbs, o->reps);
    if (o->json) {
        printf("{\"model\": ");
        json_str(o->model);
        printf(", \"file\": ");
        json_str(o->tok_file);
        printf(", \"bytes\": %zu, \"tokens\": %zu, \"reps\": %d, \"tok_mbs_mean\": %.3f, \"tok_mbs_std\": %.3f}\n",
               len, n, o->reps, s.mean, s.std);
    } else {
        printf("tokenize %s: %zu bytes -> %zu tokens, %.2f ± %.2f MB/s (%d repetitions)\n", o->tok_file, len, n,
               s.mean, s.std, o->reps);
    }
    free(mbs);
    free(ids);
    free(text);
}

/* ---------------------------------------------------------------- main */

static void parse_args(int argc, char **argv, options *o) {
    *o = (options){NULL, NULL, opts_n_cores(), 512, 128, 3, 0, 0, 0, 1, 0};
    const opt table[] = {
        {"m", "model", OPT_STR, &o->model, 0, 0, "PATH", "model file (.gguf, or llama2.c .bin)", NULL},
        {"t", "threads", OPT_INT, &o->threads, 1, 256, "N", "worker threads (default: the number of cores)", NULL},
        {"p", "n-prompt", OPT_INT, &o->n_prompt, 1, 1 << 20, "N", "pp: tokens decoded in one batch (default 512)", NULL},
        {"n", "n-gen", OPT_INT, &o->n_gen, 1, 1 << 20, "N", "tg: tokens generated one by one (default 128)", NULL},
        {"r", "repetitions", OPT_INT, &o->reps, 1, 1000, "N", "runs of each test (default 3)", NULL},
        {"d", "n-depth", OPT_INT, &o->depth, 0, 1 << 20, "N", "run each test after N tokens in the cache (default 0)",
         NULL},
        {NULL, "json", OPT_FLAG, &o->json, 0, 0, NULL, "print one JSON object instead of a table", NULL},
        {NULL, "tok-bench", OPT_STR, &o->tok_file, 0, 0, "FILE", "only measure tokenizing FILE, in MB/s", NULL},
        {NULL, "abort-after", OPT_INT, &o->abort_ms, 1, 1000000, "MS",
         "only measure the abort latency: the time from a stop\nrequest MS ms into a pp decode to its return", NULL},
        {NULL, "kv-f16", OPT_FLAG, &o->kv_f16, 0, 0, NULL, "an F16 KV cache (default F32)", NULL},
        {NULL, "seqs", OPT_INT, &o->seqs, 1, 64, "S",
         "also measure tg of S sequences decoded together\n(llm_decode_multi), tokens per second summed", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, NULL, table, NULL, 0, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (!o->model) exit(opts_error(&cmd, "no model given: use -m MODEL"));
}

int main(int argc, char **argv) {
    options o;
    parse_args(argc, argv, &o);
    llm_error err;
    double t0 = now();
    llm_model *m = llm_model_load(o.model, NULL, &err);
    double load_ms = (now() - t0) * 1e3;
    if (!m) die("%s", err.msg);
    if (o.tok_file) bench_tokenizer(m, &o);
    else if (o.abort_ms) bench_abort(m, &o);
    else bench_model(m, &o, load_ms);
    llm_model_free(m);
    return 0;
}
