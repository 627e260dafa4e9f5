/* Choosing a kernel set: which sets this build has (the meson file
 * compiles a SIMD file, and defines LLM_HAVE_<SET>_KERNELS, only for
 * targets that have the instructions) and which of them this CPU runs. */
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

/* F16C, which clang's __builtin_cpu_supports cannot name: CPUID leaf 1,
 * ECX bit 29. It uses the AVX registers, whose saving by the OS the avx2
 * and avx512 checks already cover. */
static bool cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

/* Best first, so that "auto" takes the first one the CPU can run. */
static const llm_kernels *const all_sets[] = {
#ifdef LLM_HAVE_AVX512_KERNELS
    &llm_kernels_avx512,
#endif
#ifdef LLM_HAVE_AVX2_KERNELS
    &llm_kernels_avx2,
#endif
#ifdef LLM_HAVE_NEON_KERNELS
    &llm_kernels_neon,
#endif
    &llm_kernels_scalar,
    NULL,
};

/* Whether the CPU (and the OS, which must save the wide registers on a
 * context switch: the builtins check XCR0 too) has what the named set was
 * compiled for. NEON is part of the aarch64 baseline. */
static bool cpu_runs(const char *name) {
    if (strcmp(name, "scalar") == 0) return true;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               cpu_has_f16c();
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("fma") && cpu_has_f16c();
#endif
#if defined(__aarch64__)
    if (strcmp(name, "neon") == 0) return true;
#endif
    return false;
}

/* A NULL name, "auto" or an empty $LLM_KERNELS all mean the best set. An
 * unknown or unsupported name, from the caller or the environment, gives
 * NULL: asking for a set and silently getting another would make a test
 * of that set pass without running it. */
const llm_kernels *llm_kernels_get(const char *name) {
    if (!name || strcmp(name, "auto") == 0) {
        const char *env = getenv("LLM_KERNELS");
        name = (env && *env) ? env : "auto";
    }
    bool best = strcmp(name, "auto") == 0;
    for (const llm_kernels *const *k = all_sets; *k; k++)
        if ((best || strcmp((*k)->name, name) == 0) && cpu_runs((*k)->name)) return *k;
    return NULL;
}

const llm_kernels *const *llm_kernels_all(void) {
    return all_sets;
}
