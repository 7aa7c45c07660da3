/* PCA mean, covariance and projection on the CPU (see pca_cpu.h): CBLAS GEMMs over row
 * blocks, as plugins/init/pca does them. */
#include "pca_cpu.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

static inline const float *pca_row(const float *x, int64_t d, const int64_t *rows, int64_t s)
{
    return x + (rows ? rows[s] : s) * d;
}

void pca_mean_cpu(const float *x, int64_t d, const int64_t *rows, int64_t m, double *mean)
{
    for (int64_t j = 0; j < d; j++) mean[j] = 0.0;
    for (int64_t s = 0; s < m; s++) {
        const float *row = pca_row(x, d, rows, s);
        for (int64_t j = 0; j < d; j++) mean[j] += row[j];
    }
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)(m > 0 ? m : 1);
}

/* buf (count x d, row-major) = rows first .. first + count (of the sample rows, or of x when
 * NULL), less the mean. Row-major so that it reads and writes in order: the transposed copy it
 * replaced wrote one cache line per value and took as long as the GEMM. */
static void centre_rows(const float *x, int64_t d, const int64_t *rows, int64_t first, int64_t count,
                        const double *mean, float *buf)
{
    for (int64_t r = 0; r < count; r++) {
        const float *row = pca_row(x, d, rows, first + r);
        float *out = buf + r * d;
        for (int64_t j = 0; j < d; j++) out[j] = (float)(row[j] - mean[j]);
    }
}

nmp_status pca_covariance_cpu(const float *x, int64_t d, const int64_t *rows, int64_t m, const double *mean,
                              int64_t block, double *cov)
{
    if (block > m) block = m;
    if (block < 1) block = 1;
    float *buf = malloc((size_t)(d * block) * sizeof *buf), *part = malloc((size_t)(d * d) * sizeof *part);
    if (!buf || !part) {
        free(buf), free(part);
        return NMP_ERR_NOMEM;
    }
    memset(cov, 0, (size_t)(d * d) * sizeof *cov);
    for (int64_t first = 0; first < m; first += block) {
        int64_t count = m - first < block ? m - first : block;
        centre_rows(x, d, rows, first, count, mean, buf);
        /* one triangle (half the GEMM's work), mirrored at the end */
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)count, 1.0f, buf, (int)d, 0.0f, part, (int)d);
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = a; b < d; b++) cov[a * d + b] += part[a * d + b];
    }
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = 0; b < a; b++) cov[a * d + b] = cov[b * d + a];
    free(buf), free(part);
    return NMP_OK;
}

nmp_status pca_project_cpu(const float *x, int64_t n, int64_t d, const double *mean, const float *vt, int32_t dims,
                           int64_t block, float *y)
{
    if (block > n) block = n;
    if (block < 1) block = 1;
    float *buf = malloc((size_t)(d * block) * sizeof *buf);
    if (!buf) return NMP_ERR_NOMEM;
    for (int64_t first = 0; first < n; first += block) {
        int64_t count = n - first < block ? n - first : block;
        centre_rows(x, d, NULL, first, count, mean, buf);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)count, dims, (int)d, 1.0f, buf, (int)d, vt, (int)d,
                    0.0f, y + first * dims, dims);
    }
    free(buf);
    return NMP_OK;
}

/* LAPACK, from OpenBLAS: eigenpairs il..iu (ascending order, 1-based) of a symmetric matrix. */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
                    const double *vl, const double *vu, const int *il, const int *iu, const double *abstol, int *m,
                    double *w, double *z, const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info);

nmp_status pca_top_axes_cpu(double *cov, int64_t d, int32_t p, double *w_out, double *v, int *info_out, int *found_out)
{
    int n = (int)d, il = n - p + 1, iu = n, found = 0, info = 0, lwork = -1, liwork = -1, iw_query = 0;
    double vl = 0.0, vu = 0.0, abstol = 0.0, w_query = 0.0;
    double *w = malloc((size_t)d * sizeof *w), *z = malloc((size_t)(d * p) * sizeof *z);
    int *isuppz = malloc((size_t)(2 * p) * sizeof *isuppz);
    if (w && z && isuppz)
        dsyevr_("V", "I", "L", &n, cov, &n, &vl, &vu, &il, &iu, &abstol, &found, w, z, &n, isuppz, &w_query, &lwork,
                &iw_query, &liwork, &info);
    lwork = (int)w_query, liwork = iw_query;
    double *work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work);
    int *iwork = malloc((size_t)(liwork > 1 ? liwork : 1) * sizeof *iwork);
    nmp_status s = NMP_OK;
    if (!w || !z || !isuppz || !work || !iwork) {
        s = NMP_ERR_NOMEM;
    } else {
        dsyevr_("V", "I", "L", &n, cov, &n, &vl, &vu, &il, &iu, &abstol, &found, w, z, &n, isuppz, work, &lwork, iwork,
                &liwork, &info);
        if (info != 0 || found != p) s = NMP_ERR_RUNTIME;
    }
    if (s == NMP_OK) /* dsyevr returns ascending eigenvalues, vectors as columns of z (d each) */
        for (int32_t k = 0; k < p; k++) {
            int src = p - 1 - k;
            w_out[k] = w[src];
            for (int64_t j = 0; j < d; j++) v[j * p + k] = z[(int64_t)src * d + j];
        }
    if (info_out) *info_out = info;
    if (found_out) *found_out = found;
    free(w), free(z), free(isuppz), free(work), free(iwork);
    return s;
}
