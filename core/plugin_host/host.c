/* Implementation of the host services: worker threads (pool.c), OpenBLAS GEMM, stderr logging and
 * progress, and the collectives (through the run's comm layer, or copies in one process). */
#include "host.h"

#include <cblas.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm.h"
#include "pool.h"
#include "proc.h"

typedef struct {
    char tag[128];
    char error[2048];
} host_data;

static nmp_host_config g_cfg = {.threads = 1, .quiet = 0, .progress_tty = 0, .seed = 42, .rank = 0, .ranks = 1};

void nmp_host_configure(const nmp_host_config *cfg)
{
    g_cfg = *cfg;
    if (g_cfg.threads < 1) g_cfg.threads = 1;
    omp_set_num_threads(g_cfg.threads);
    openblas_set_num_threads(g_cfg.threads);
}

int nmp_default_threads(void) { return omp_get_num_procs() > 0 ? omp_get_num_procs() : 1; }

const nmp_host_config *nmp_host_settings(void) { return &g_cfg; }

static void vlog(const char *tag, nmp_log_level level, const char *fmt, va_list ap)
{
    if (level < NMP_LOG_WARN && g_cfg.quiet) return;
    if (level == NMP_LOG_DEBUG && !getenv("NOMAD_DEBUG")) return;
    static const char *names[] = {"debug", "info", "warning", "error"};
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    if (g_cfg.progress_tty) fputs("\r\033[K", stderr);
    if (level == NMP_LOG_INFO)
        fprintf(stderr, "nomad: %s%s%s\n", tag ? tag : "", tag ? ": " : "", line);
    else
        fprintf(stderr, "nomad: %s: %s%s%s\n", names[level], tag ? tag : "", tag ? ": " : "", line);
}

void nmp_log(nmp_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(NULL, level, fmt, ap);
    va_end(ap);
}

static void host_log(const nmp_host *h, nmp_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(((host_data *)h->host_data)->tag, level, fmt, ap);
    va_end(ap);
}

static void host_set_error(const nmp_host *h, const char *fmt, ...)
{
    host_data *d = h->host_data;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
}

void nmp_parallel_for(int64_t n, nmp_range_fn fn, void *ctx)
{
    nmp_pool_run(g_cfg.threads, n, fn, ctx);
}

static void host_parallel_for(const nmp_host *h, int64_t n, nmp_range_fn fn, void *ctx)
{
    (void)h;
    nmp_parallel_for(n, fn, ctx);
}

void nmp_progress(const char *stage, double fraction)
{
    if (!g_cfg.progress_tty || g_cfg.quiet || g_cfg.rank != 0) return;
    static double last;
    double t = nmp_now();
    if (fraction < 1.0 && t - last < 0.2) return; /* at most 5 redraws a second */
    last = t;
    fprintf(stderr, "\r\033[Knomad: %s %5.1f%%", stage, 100.0 * (fraction > 1 ? 1 : fraction));
    if (fraction >= 1.0) fputc('\n', stderr);
    fflush(stderr);
}

void nmp_progress_epoch(int64_t epoch, int64_t epochs, double loss, double elapsed)
{
    if (g_cfg.quiet || g_cfg.rank != 0) return;
    double eta = epoch > 0 ? elapsed * (double)(epochs - epoch) / (double)epoch : 0;
    if (g_cfg.progress_tty) {
        fprintf(stderr, "\r\033[Knomad: optimize epoch %lld/%lld loss %.4f %.1fs ETA %.1fs", (long long)epoch,
                (long long)epochs, loss, elapsed, eta);
        if (epoch == epochs) fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    /* Without a terminal: ten lines over the fit, so logs show convergence and speed. */
    int64_t every = epochs >= 10 ? epochs / 10 : 1;
    if (epoch % every == 0 || epoch == epochs)
        fprintf(stderr, "nomad: optimize epoch %lld/%lld loss %.4f %.1fs ETA %.1fs\n", (long long)epoch,
                (long long)epochs, loss, elapsed, eta);
}

static void host_progress(const nmp_host *h, const char *stage, double fraction)
{
    (void)h;
    nmp_progress(stage, fraction);
}

/* Graphs are read at random rows through the fit: large ones go on huge pages (proc.h). */
static void *host_alloc(size_t bytes) { return nmp_alloc_huge(bytes, 0); }
static void host_free(void *p) { free(p); }

void nmp_gemm_abt(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

static void host_gemm_abt(const nmp_host *h, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    (void)h;
    nmp_gemm_abt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static nmp_status host_allgather(const nmp_host *h, const void *send, void *recv, size_t bytes)
{
    if (g_cfg.comm) {
        nmp_err err = {0};
        nmp_status s = nmp_comm_allgather(g_cfg.comm, send, recv, bytes, &err);
        if (s != NMP_OK) host_set_error(h, "%s", err.msg);
        return s;
    }
    memmove(recv, send, bytes);
    return NMP_OK;
}

static nmp_status host_allreduce(const nmp_host *h, const void *send, void *recv, size_t count, nmp_dtype type)
{
    if (type != NMP_DTYPE_F32 && type != NMP_DTYPE_F64 && type != NMP_DTYPE_I64) {
        host_set_error(h, "allreduce: unknown element type %d", (int)type);
        return NMP_ERR_INVALID;
    }
    if (g_cfg.comm) {
        nmp_err err = {0};
        nmp_status s = nmp_comm_allreduce_sum(g_cfg.comm, send, recv, count, type, &err);
        if (s != NMP_OK) host_set_error(h, "%s", err.msg);
        return s;
    }
    if (send != recv) memmove(recv, send, count * (type == NMP_DTYPE_F32 ? 4 : 8));
    return NMP_OK;
}

nmp_host *nmp_host_new(const char *tag)
{
    nmp_host *h = calloc(1, sizeof *h);
    host_data *d = calloc(1, sizeof *d);
    if (!h || !d) {
        free(h);
        free(d);
        return NULL;
    }
    snprintf(d->tag, sizeof d->tag, "%s", tag ? tag : "");
    *h = (nmp_host){
        .struct_size = sizeof(nmp_host),
        .abi_major = NMP_ABI_MAJOR,
        .abi_minor = NMP_ABI_MINOR,
        .threads = g_cfg.threads,
        .rank = g_cfg.rank,
        .ranks = g_cfg.ranks,
        .seed = g_cfg.seed,
        .log = host_log,
        .set_error = host_set_error,
        .parallel_for = host_parallel_for,
        .progress = host_progress,
        .alloc = host_alloc,
        .free = host_free,
        .gemm_abt = host_gemm_abt,
        .allgather = host_allgather,
        .host_data = d,
        .allreduce = host_allreduce,
    };
    return h;
}

void nmp_host_free(nmp_host *h)
{
    if (!h) return;
    free(h->host_data);
    free(h);
}

const char *nmp_host_error(const nmp_host *h) { return ((host_data *)h->host_data)->error; }
