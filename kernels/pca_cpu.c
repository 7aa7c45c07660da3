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
        for (int64_t r = 0; r < count; r++) { /* transposed: d x block */
            const float *row = pca_row(x, d, rows, first + r);
            for (int64_t j = 0; j < d; j++) buf[j * block + r] = (float)(row[j] - mean[j]);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)count, 1.0f, buf, (int)block, buf,
                    (int)block, 0.0f, part, (int)d);
        for (int64_t v = 0; v < d * d; v++) cov[v] += part[v];
    }
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
        for (int64_t r = 0; r < count; r++)
            for (int64_t j = 0; j < d; j++) buf[r * d + j] = (float)(x[(first + r) * d + j] - mean[j]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)count, dims, (int)d, 1.0f, buf, (int)d, vt, (int)d,
                    0.0f, y + first * dims, dims);
    }
    free(buf);
    return NMP_OK;
}
