/* Principal axes (see pca_common.h): a row sample, the kernels' mean / covariance /
 * projection (kernels/pca_cpu.h), and only the asked eigenvectors. */
#include "pca_common.h"

#include <stdlib.h>
#include <string.h>

#include "init_layout.h"
#include "nomad/rng.h"
#include "pca_cpu.h"
#ifdef NOMAD_CUDA
#include "pca_cuda.h"
#endif

void pca_model_free(pca_model *m)
{
#ifdef NOMAD_CUDA
    pca_cuda_destroy(m->gpu);
#endif
    free(m->mean), free(m->axes), free(m->variance);
    memset(m, 0, sizeof *m);
}

/* The top p eigenpairs of cov (d x d, destroyed) into m->axes / m->variance (divided by
 * samples - 1), largest first. Only p vectors are computed: for d = 784, p = 2 this is a
 * few hundredths of a second where a full eigendecomposition takes seconds. */
static nmp_status top_axes(const nmp_host *h, double *cov, int64_t d, int64_t samples, pca_model *m)
{
    double *w = malloc((size_t)m->p * sizeof *w), *v = malloc((size_t)(d * m->p) * sizeof *v);
    int info = 0, found = 0;
    nmp_status s = w && v ? pca_top_axes_cpu(cov, d, m->p, w, v, &info, &found) : NMP_ERR_NOMEM;
    if (s == NMP_ERR_NOMEM) h->set_error(h, "pca: out of memory for the eigensolver (d = %lld)", (long long)d);
    if (s == NMP_ERR_RUNTIME)
        h->set_error(h, "pca: eigensolver found %d of %d eigenpairs of the %lld x %lld covariance (LAPACK info %d)",
                     found, m->p, (long long)d, (long long)d, info);
    if (s == NMP_OK) {
        for (int32_t k = 0; k < m->p; k++) m->variance[k] = w[k] / (double)(samples > 1 ? samples - 1 : 1);
        init_flip_signs(v, d, m->p, m->p);
        for (int32_t k = 0; k < m->p; k++)
            for (int64_t j = 0; j < d; j++) m->axes[k * d + j] = (float)v[j * m->p + k];
    }
    free(w), free(v);
    return s;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t p = *(const int64_t *)a, q = *(const int64_t *)b;
    return (p > q) - (p < q);
}

/* Row ids of the sample (sorted for locality), or NULL when every row is used. */
static int64_t *draw_sample(uint64_t seed, uint32_t stream, int64_t n, int64_t m)
{
    if (m >= n) return NULL;
    int64_t *rows = malloc((size_t)m * sizeof *rows);
    if (!rows) return NULL;
    for (int64_t s = 0; s < m; s++) rows[s] = (int64_t)nmp_rng_below(seed, stream, (uint64_t)s, (uint64_t)n);
    qsort(rows, (size_t)m, sizeof *rows, cmp_i64);
    return rows;
}

/* m->mean and cov (d x d) of the rows ids[0..rows) (NULL: the first rows). On the GPU the
 * whole of x is uploaded once and kept in m->gpu for the projection. */
static nmp_status sample_moments(const nmp_host *h, const nmp_matrix *x, const int64_t *ids, int64_t rows,
                                 int64_t block_rows, plugin_device dev, pca_model *m, double *cov)
{
#ifdef NOMAD_CUDA
    if (dev == PLUGIN_ON_CUDA) {
        nmp_gpu_err e = {0};
        nmp_status s = pca_cuda_create(x->x, x->n, x->d, &m->gpu, &e);
        if (s == NMP_OK) s = pca_cuda_covariance(m->gpu, ids, rows, block_rows, m->mean, cov, &e);
        return plugin_gpu_status(h, s, &e);
    }
#endif
    pca_mean_cpu(x->x, x->d, ids, rows, m->mean);
    nmp_status s = pca_covariance_cpu(x->x, x->d, ids, rows, m->mean, block_rows, cov);
    if (s != NMP_OK)
        h->set_error(h, "pca: out of memory for a %lld x %lld covariance", (long long)x->d, (long long)x->d);
    return s;
}

nmp_status pca_fit(const nmp_host *h, const char *who, const nmp_matrix *x, int64_t sample, int64_t block_rows,
                   uint64_t seed, uint32_t stream, int32_t p, plugin_device dev, pca_model *m)
{
    memset(m, 0, sizeof *m);
    int64_t n = x->n, d = x->d, rows = n < sample ? n : sample;
    if (p < 1 || p > d || n < 2) {
        h->set_error(h, "pca: %d components of %lld x %lld data: needs 1 <= components <= %lld and 2 rows", p,
                     (long long)n, (long long)d, (long long)d);
        return NMP_ERR_INVALID;
    }
    m->d = d, m->p = p;
    m->mean = calloc((size_t)d, sizeof *m->mean);
    m->axes = malloc((size_t)(d * p) * sizeof *m->axes);
    m->variance = malloc((size_t)p * sizeof *m->variance);
    double *cov = malloc((size_t)(d * d) * sizeof *cov);
    int64_t *ids = draw_sample(seed, stream, n, rows);
    nmp_status s = NMP_OK;
    if (!m->mean || !m->axes || !m->variance || !cov || (!ids && rows < n)) {
        h->set_error(h, "pca: out of memory for a %lld x %lld covariance", (long long)d, (long long)d);
        s = NMP_ERR_NOMEM;
    }
    if (s == NMP_OK) s = sample_moments(h, x, ids, rows, block_rows, dev, m, cov);
    if (s == NMP_OK) {
        for (int64_t j = 0; j < d; j++) m->total_variance += cov[j * d + j] / (double)(rows - 1);
        s = top_axes(h, cov, d, rows, m);
    }
    h->progress(h, who, 0.5);
    free(cov), free(ids);
    if (s != NMP_OK) pca_model_free(m);
    return s;
}

/* The projection where the model was fitted; sets the error on failure. */
static nmp_status project_rows(const nmp_host *h, const nmp_matrix *x, const pca_model *m, int64_t block_rows, float *y)
{
#ifdef NOMAD_CUDA
    if (m->gpu) {
        nmp_gpu_err e = {0};
        return plugin_gpu_status(h, pca_cuda_project(m->gpu, m->mean, m->axes, m->p, y, &e), &e);
    }
#endif
    nmp_status s = pca_project_cpu(x->x, x->n, x->d, m->mean, m->axes, m->p, block_rows, y);
    if (s != NMP_OK)
        h->set_error(h, "pca: out of memory projecting %lld rows of %lld", (long long)block_rows, (long long)x->d);
    return s;
}

nmp_status pca_project(const nmp_host *h, const char *who, const nmp_matrix *x, const pca_model *m, int64_t block_rows,
                       float *y)
{
    nmp_status s = project_rows(h, x, m, block_rows, y);
    h->progress(h, who, 1.0);
    return s;
}
