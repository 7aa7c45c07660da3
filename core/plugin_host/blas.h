/* The BLAS kernel: OpenBLAS picks its GEMM kernel from CPUID when it loads and falls back to a
 * pre-AVX2 one on CPUs it does not know; nomad restarts itself with a better one and says which ran. */
#ifndef NOMAD_BLAS_H
#define NOMAD_BLAS_H

#include <stddef.h>

/* Environment: NOMAD_BLAS_CORE=keep leaves OpenBLAS's choice alone (no restart); NOMAD_BLAS_REEXEC
 * (set by nomad, the kernel OpenBLAS first chose) marks a restarted process so it never restarts twice. */
#define NMP_BLAS_KEEP_ENV "NOMAD_BLAS_CORE"
#define NMP_BLAS_REEXEC_ENV "NOMAD_BLAS_REEXEC"

typedef struct {
    char library[16];  /* "OpenBLAS" */
    char version[32];  /* "0.3.21" */
    char kernel[32];   /* the kernel in use, openblas_get_corename() */
    int threads;       /* openblas_get_num_threads() now */
    char fallback[32]; /* the pre-AVX2 kernel OpenBLAS chose on an AVX2+FMA CPU; "" when it chose well */
    char fixed_by[64]; /* "OPENBLAS_CORETYPE=Haswell (re-exec)" when nomad replaced the fallback; else "" */
    char kept[128];    /* why a fallback is still in use ("NOMAD_BLAS_CORE=keep", ...); else "" */
    char better[32];   /* the kernel nomad would pick on this CPU; "" without AVX2+FMA */
} nmp_blas_info;

/* First thing in main(), before any work, output or MPI_Init: when OpenBLAS chose a pre-AVX2
 * kernel on a CPU with AVX2+FMA, sets OPENBLAS_CORETYPE and execs /proc/self/exe with the same
 * argv (it returns only when that is not needed, not wanted or failed, with a warning). In a
 * restarted process, records what happened for nmp_blas_get. `argv` as main's, NULL-terminated. */
void nmp_blas_ensure_fast(char **argv);

/* What is in use and what happened at start-up (all strings owned by `info`). */
void nmp_blas_get(nmp_blas_info *info);

/* "OpenBLAS 0.3.21 Haswell" plus ", restarted from Prescott" or ", slow: ..." (nomad --version). */
void nmp_blas_summary(char *buf, size_t cap);

/* One line on stderr for the run log: info, or a warning when a slow fallback kernel is in use. */
void nmp_blas_log(void);

#endif
