/* Knows and fixes the BLAS kernel: OpenBLAS (DYNAMIC_ARCH) reads OPENBLAS_CORETYPE only when it
 * loads, so replacing a pre-AVX2 fallback kernel (4x slower SGEMM) takes a re-exec of nomad. */
#include "blas.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "host.h"

#define CORETYPE_ENV "OPENBLAS_CORETYPE"

/* What start-up found; filled once by nmp_blas_ensure_fast, before any thread of ours exists. */
static char g_fallback[32], g_coretype[32], g_fixed_by[64], g_kept[128];

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Kernels OpenBLAS has for CPUs without AVX2+FMA, including the generic ones it falls back to
 * (Prescott, Nehalem, Sandybridge) when it does not recognise a newer CPU. */
static int kernel_is_pre_avx2(const char *core)
{
    static const char *const old[] = {
        "Unknown",   "Katmai", "Coppermine", "Northwood",   "Prescott",  "Banias",     "Atom",
        "Core2",     "Penryn", "Dunnington", "Nehalem",     "Athlon",    "Opteron",    "Opteron_SSE3",
        "Barcelona", "Nano",   "Bobcat",     "Sandybridge", "Bulldozer", "Piledriver", "Steamroller"};
    for (size_t i = 0; core && i < sizeof old / sizeof *old; i++)
        if (strcasecmp(core, old[i]) == 0) return 1;
    return 0;
}

/* The OpenBLAS 0.3.21 kernel this CPU runs best, or NULL without AVX2+FMA. libgcc's checks include
 * the OS's XSAVE support, and SkylakeX needs every AVX-512 subset it uses (else SIGILL). */
static const char *best_kernel(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    return __builtin_cpu_is("amd") ? "Zen" : "Haswell";
#else
    return NULL;
#endif
}

/* Why the fallback must stay, or NULL to restart. Under valgrind /proc/self/exe is the tool, not
 * nomad, so exec'ing it would fail after the point of no return (valgrind preloads vgpreload_*.so). */
static const char *keep_reason(void)
{
    const char *v = getenv(NMP_BLAS_KEEP_ENV), *preload = getenv("LD_PRELOAD");
    if (v && strcmp(v, "keep") == 0) return NMP_BLAS_KEEP_ENV "=keep";
    if (preload && strstr(preload, "/vgpreload_")) return "nomad runs under valgrind";
    if (!strstr(openblas_get_config(), "DYNAMIC_ARCH"))
        return "this OpenBLAS has one kernel (built without DYNAMIC_ARCH)";
    return NULL;
}

static void check_keep_value(void)
{
    const char *v = getenv(NMP_BLAS_KEEP_ENV);
    if (v && v[0] && strcmp(v, "keep") != 0 && strcmp(v, "auto") != 0)
        nmp_log(NMP_LOG_WARN, "%s=%s: expected keep or auto (to force a kernel, set %s); using auto", NMP_BLAS_KEEP_ENV,
                v, CORETYPE_ENV);
}

/* In the process image that the restart started: did OPENBLAS_CORETYPE take? */
static void after_restart(const char *first_choice)
{
    const char *set = getenv(CORETYPE_ENV);
    copy(g_fallback, sizeof g_fallback, first_choice);
    copy(g_coretype, sizeof g_coretype, set);
    if (set && !kernel_is_pre_avx2(openblas_get_corename()))
        snprintf(g_fixed_by, sizeof g_fixed_by, "%s=%s (re-exec)", CORETYPE_ENV, g_coretype);
    else
        snprintf(g_kept, sizeof g_kept, "the restart with %s=%s did not change the kernel", CORETYPE_ENV,
                 set ? set : "");
}

/* execv returns only on failure: then the environment is put back so that child processes
 * (sweep runs) do not inherit a marker for a restart that never happened. */
static void restart(const char *kernel, const char *first_choice, char **argv)
{
    const char *prev = getenv(CORETYPE_ENV);
    char *before = prev ? strdup(prev) : NULL; /* setenv may free the string prev points to */
    if (setenv(CORETYPE_ENV, kernel, 1) == 0 && setenv(NMP_BLAS_REEXEC_ENV, first_choice, 1) == 0)
        execv("/proc/self/exe", argv);
    int e = errno;
    if (before)
        setenv(CORETYPE_ENV, before, 1);
    else
        unsetenv(CORETYPE_ENV);
    unsetenv(NMP_BLAS_REEXEC_ENV);
    free(before);
    snprintf(g_kept, sizeof g_kept, "the restart with %s=%s failed: %s", CORETYPE_ENV, kernel, strerror(e));
    nmp_log(NMP_LOG_WARN, "blas: %s; GEMM stages will be slow", g_kept);
}

void nmp_blas_ensure_fast(char **argv)
{
    const char *marker = getenv(NMP_BLAS_REEXEC_ENV);
    if (marker && marker[0]) {
        after_restart(marker);
        return;
    }
    check_keep_value();
    const char *core = openblas_get_corename(), *best = best_kernel();
    if (!best || !kernel_is_pre_avx2(core)) return;
    copy(g_fallback, sizeof g_fallback, core);
    const char *why = keep_reason();
    if (why)
        copy(g_kept, sizeof g_kept, why);
    else
        restart(best, core, argv);
}

void nmp_blas_get(nmp_blas_info *info)
{
    memset(info, 0, sizeof *info);
    const char *config = openblas_get_config();
    if (sscanf(config ? config : "", "%15s %31s", info->library, info->version) != 2)
        copy(info->library, sizeof info->library, "OpenBLAS");
    copy(info->kernel, sizeof info->kernel, openblas_get_corename());
    info->threads = openblas_get_num_threads();
    copy(info->fallback, sizeof info->fallback, g_fallback);
    copy(info->fixed_by, sizeof info->fixed_by, g_fixed_by);
    copy(info->kept, sizeof info->kept, g_kept);
    copy(info->better, sizeof info->better, best_kernel());
}

void nmp_blas_summary(char *buf, size_t cap)
{
    nmp_blas_info b;
    nmp_blas_get(&b);
    int n = snprintf(buf, cap, "%s %s %s", b.library, b.version, b.kernel);
    if (n < 0 || (size_t)n >= cap) return;
    if (b.fixed_by[0])
        snprintf(buf + n, cap - (size_t)n, ", restarted from %s", b.fallback);
    else if (b.fallback[0])
        snprintf(buf + n, cap - (size_t)n, ", slow: pre-AVX2 kernel kept (%s)", b.kept);
}

void nmp_blas_log(void)
{
    nmp_blas_info b;
    nmp_blas_get(&b);
    char what[128], threads[32];
    snprintf(what, sizeof what, "%s %s, kernel %s", b.library, b.version, b.kernel);
    snprintf(threads, sizeof threads, "%d thread%s", b.threads, b.threads == 1 ? "" : "s");
    if (b.fixed_by[0])
        nmp_log(NMP_LOG_INFO, "blas: %s (OpenBLAS chose %s on a CPU with AVX2; restarted with %s=%s), %s", what,
                b.fallback, CORETYPE_ENV, g_coretype, threads);
    else if (b.fallback[0])
        nmp_log(NMP_LOG_WARN,
                "blas: %s, %s: a pre-AVX2 kernel on a CPU with AVX2, kept because %s; GEMM stages will be slow "
                "(k-means, kNN, PCA, eval: about 4x; %s=%s fixes it)",
                what, threads, b.kept, CORETYPE_ENV, b.better);
    else
        nmp_log(NMP_LOG_INFO, "blas: %s, %s", what, threads);
}
