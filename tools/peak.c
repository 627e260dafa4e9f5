/* The compute peak of a kernel set: how many operations per second the
 * CPU's cores give with the instruction at the heart of the set's
 * products, so that a prompt's speed can be stated as a fraction of it
 * (llm-bench: "pp reached X% of the int8 peak").
 *
 * Honest means: the loop is register-only (no loads or stores, which the
 * real kernels need, so the figure is an upper bound they cannot pass),
 * it keeps ACC independent accumulators, more than the instruction's
 * latency times its issue rate on current cores (4 cycles x 2 per cycle
 * for 256-bit halves, so 8 and more hide the latency; 12 leave room and
 * still fit the 16 ymm / 32 zmm registers with the two sources), it runs
 * on the same number of threads as the benchmark, each thread the same
 * count of instructions, timed from the first thread's start to the last
 * one's end, and the best of ten runs counts (a run can only be slowed
 * by other work, never sped up). The sums are returned and checked, so no
 * compiler may drop the loop.
 *
 * One definition per instruction set, compiled only for x86-64 with GCC or
 * clang (target attributes: the file stays baseline code) and run only
 * when the CPU has the instructions, as lib/compute/kernels.c checks:
 *   avx512: vpdpbusd zmm (64 u8 x s8 multiply-adds), vdpbf16ps zmm (32
 *           bf16 pair multiply-adds, only with AVX512-BF16, which the set's
 *           F16/BF16 products need), vfmadd231ps zmm (16);
 *   avx2:   vpmaddubsw + vpmaddwd + vpaddd ymm (32 multiply-adds for the
 *           three, the set's integer step), vfmadd231ps ymm (8).
 * Other sets (scalar, neon) have no probe yet and report 0. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "peak.h"
#include "toolutil.h"

#define ACC 12
#define ITERS 2000000 /* per thread and run: 24M instructions, ~10 ms */

typedef double (*probe_fn)(int64_t iters); /* returns a checksum */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The ACC accumulators of one probe: each step applies STEP to all of
 * them, with sources a and b held in registers. */
#define PROBE_BODY(VEC, ZERO, STEP, SUM)                                   \
    VEC acc[ACC];                                                          \
    for (int i = 0; i < ACC; i++) acc[i] = ZERO;                           \
    for (int64_t k = 0; k < iters; k++) {                                  \
        for (int i = 0; i < ACC; i++) acc[i] = STEP(acc[i]);               \
    }                                                                      \
    double s = 0;                                                          \
    for (int i = 0; i < ACC; i++) s += SUM(acc[i]);                        \
    return s;

__attribute__((target("avx512f,avx512vnni"))) static double probe_vnni512(int64_t iters) {
    const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
#define STEP(x) _mm512_dpbusd_epi32(x, a, b)
    PROBE_BODY(__m512i, _mm512_setzero_si512(), STEP, (double)_mm512_reduce_add_epi32)
#undef STEP
}

__attribute__((target("avx512f,avx512bf16"))) static double probe_bf16_512(int64_t iters) {
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = a; /* 1.0 */
#define STEP(x) _mm512_dpbf16_ps(x, a, b)
    PROBE_BODY(__m512, _mm512_setzero_ps(), STEP, (double)_mm512_reduce_add_ps)
#undef STEP
}

__attribute__((target("avx512f"))) static double probe_fma512(int64_t iters) {
    const __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(1.0f);
#define STEP(x) _mm512_fmadd_ps(a, b, x)
    PROBE_BODY(__m512, _mm512_setzero_ps(), STEP, (double)_mm512_reduce_add_ps)
#undef STEP
}

__attribute__((target("avx2"))) static double sum8_ps(__m256 v) {
    float x[8];
    memcpy(x, &v, sizeof x);
    double s = 0;
    for (int i = 0; i < 8; i++) s += x[i];
    return s;
}

/* The lanes' sum only keeps the loop's results alive: floats will do. */
__attribute__((target("avx2"))) static double sum8_epi32(__m256i v) { return sum8_ps(_mm256_cvtepi32_ps(v)); }

/* maddubs and madd of constant sources would be hoisted out of the loop:
 * an empty asm makes each of four sources unknown at every step, so the
 * three instructions run each time; four chains, three rounds per
 * iteration (12 steps, as ACC), since only vpaddd (1 cycle) carries the
 * chain and the sources and sums need 10 of the 16 registers. */
__attribute__((target("avx2"))) static double probe_int8_avx2(int64_t iters) {
    const __m256i b = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
    __m256i a[4], acc[4];
    for (int i = 0; i < 4; i++) a[i] = _mm256_set1_epi8(1), acc[i] = _mm256_setzero_si256();
    for (int64_t k = 0; k < iters * (ACC / 4); k++)
        for (int i = 0; i < 4; i++) {
            __asm__("" : "+x"(a[i]));
            acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(a[i], b), ones));
        }
    double s = 0;
    for (int i = 0; i < 4; i++) s += sum8_epi32(acc[i]);
    return s;
}

__attribute__((target("avx2,fma"))) static double probe_fma256(int64_t iters) {
    const __m256 a = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(1.0f);
#define STEP(x) _mm256_fmadd_ps(a, b, x)
    PROBE_BODY(__m256, _mm256_setzero_ps(), STEP, sum8_ps)
#undef STEP
}

/* The set's probes and their operations per instruction step (a
 * multiply-add counts two), those this CPU cannot run left NULL. */
static void probes_of(const char *set, probe_fn fn[3], double ops[3]) {
    __builtin_cpu_init();
    if (strcmp(set, "avx512") == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni")) {
        fn[0] = probe_vnni512, ops[0] = 128;
        if (__builtin_cpu_supports("avx512bf16")) fn[1] = probe_bf16_512, ops[1] = 64;
        fn[2] = probe_fma512, ops[2] = 32;
    } else if (strcmp(set, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fn[0] = probe_int8_avx2, ops[0] = 64;
        fn[2] = probe_fma256, ops[2] = 16;
    }
}
#else
static void probes_of(const char *set, probe_fn fn[3], double ops[3]) {
    (void)set, (void)fn, (void)ops;
}
#endif

typedef struct probe_job {
    probe_fn fn;
    double sum;
} probe_job;

static void *probe_run(void *arg) {
    probe_job *j = arg;
    j->sum = j->fn(ITERS);
    return NULL;
}

/* Instruction steps per second of fn on `threads` threads, best of ten;
 * dies if a sum is not the one ITERS steps of 1 x 1 products give
 * (value: what one step adds over all lanes of one accumulator). */
static double steps_per_sec(probe_fn fn, int threads, double value) {
    probe_job *job = xmalloc((size_t)threads * sizeof *job);
    pthread_t *tid = xmalloc((size_t)threads * sizeof *tid);
    double best = 0;
    for (int run = 0; run < 10; run++) {
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            job[i] = (probe_job){fn, 0};
            if (i > 0 && pthread_create(&tid[i], NULL, probe_run, &job[i]) != 0)
                die("cannot start a compute probe thread");
        }
        probe_run(&job[0]);
        for (int i = 1; i < threads; i++) pthread_join(tid[i], NULL);
        double rate = (double)threads * ITERS * ACC / (now() - t0);
        for (int i = 0; i < threads; i++)
            if (job[i].sum != value * ITERS * ACC) die("the compute probe summed wrong");
        if (rate > best) best = rate;
    }
    free(tid);
    free(job);
    return best;
}

peak_ops peak_probe(const char *set, int threads) {
    probe_fn fn[3] = {NULL, NULL, NULL};
    double ops[3] = {0, 0, 0}, out[3] = {0, 0, 0};
    probes_of(set ? set : "", fn, ops);
    /* what one step adds over one accumulator's lanes: ops / 2 products of 1 x 1 */
    for (int i = 0; i < 3; i++)
        if (fn[i]) out[i] = ops[i] * steps_per_sec(fn[i], threads, ops[i] / 2);
    return (peak_ops){out[0], out[1], out[2]};
}
