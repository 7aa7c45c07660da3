/* Principal axes, shared by the pca init and the ann plugins' projected search: mean and
 * covariance of a row sample (blocked float GEMM, double sums; on the CPU or the GPU), only
 * the asked top eigenvectors (LAPACK dsyevr from OpenBLAS, on the host either way), and the
 * projection of every row. */
#ifndef NOMAD_PCA_COMMON_H
#define NOMAD_PCA_COMMON_H

#include "nomad/plugin.h"
#include "plugin_device.h"

typedef struct {
    int64_t d;
    int32_t p;
    double *mean;          /* d */
    float *axes;           /* p x d: unit axes, largest variance first, signs as init_flip_signs */
    double *variance;      /* p: sample variance along each axis */
    double total_variance; /* trace of the sample covariance */
    struct pca_cuda *gpu;  /* fitted on the GPU: the rows stay there for pca_project; else NULL */
} pca_model;

/* Fits the top p axes on `sample` rows drawn with replacement from (seed, `stream`) (all rows
 * when sample >= n), `block_rows` rows per GEMM, the mean and covariance on `dev`. `who`
 * names the caller in errors and progress ("init", "ann"). Free with pca_model_free (also
 * after a failure). */
nmp_status pca_fit(const nmp_host *h, const char *who, const nmp_matrix *x, int64_t sample, int64_t block_rows,
                   uint64_t seed, uint32_t stream, int32_t p, plugin_device dev, pca_model *m);
/* y (n x m->p) = (x - mean) axes^T, where the model was fitted: `block_rows` rows per GEMM on
 * the CPU; on the GPU the rows it holds, so x must then be the matrix of the fit. */
nmp_status pca_project(const nmp_host *h, const char *who, const nmp_matrix *x, const pca_model *m,
                       int64_t block_rows, float *y);
void pca_model_free(pca_model *m);

#endif
