/* The services table handed to plugins (nmp_host): logging, errors, threads, BLAS,
 * progress and collectives, one table per plugin instance so messages carry its name. */
#ifndef NOMAD_HOST_H
#define NOMAD_HOST_H

#include <stdio.h>

#include "nomad/plugin.h"
#include "proc.h" /* nmp_now, nmp_peak_rss_bytes: most users of the host want them */

/* Process-wide settings every host table shares. */
typedef struct {
    int threads;   /* >= 1 */
    int quiet;     /* no info/progress on stderr */
    int progress_tty; /* draw progress lines (stderr is a terminal) */
    uint64_t seed;
    int rank, ranks;
    struct nmp_comm *comm; /* the run's comm layer for host->allgather/allreduce (NULL: one process) */
} nmp_host_config;

void nmp_host_configure(const nmp_host_config *cfg);
/* Threads to use when the config says 0: the cores this process may run on. */
int nmp_default_threads(void);
const nmp_host_config *nmp_host_settings(void);

/* A host table for one plugin instance. `tag` (copied) prefixes its log lines; errors it
 * sets land in nmp_host_error(h). Free with nmp_host_free. */
nmp_host *nmp_host_new(const char *tag);
void nmp_host_free(nmp_host *h);
const char *nmp_host_error(const nmp_host *h);

/* The same services for core code (not through a table). */
void nmp_log(nmp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nmp_parallel_for(int64_t n, nmp_range_fn fn, void *ctx);
void nmp_progress(const char *stage, double fraction);
/* The optimiser's progress: epoch e of total, loss, elapsed seconds (ETA derived). */
void nmp_progress_epoch(int64_t epoch, int64_t epochs, double loss, double elapsed);
void nmp_gemm_abt(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc);

#endif
