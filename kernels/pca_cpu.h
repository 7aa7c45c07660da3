/* PCA's heavy parts on the CPU: the sample mean, the covariance by blocked float GEMM with
 * double accumulation, and the projection onto the top components (the eigensolve of the
 * small d x d covariance stays with the caller). The CPU reference of kernels/pca.cu
 * (parity test tests/kernels/test_pca.c); the same arithmetic as plugins/init/pca. */
#ifndef NOMAD_PCA_CPU_H
#define NOMAD_PCA_CPU_H

#include <stdint.h>

#include "nomad/types.h"

/* mean (d) of the m rows rows[0..m) of x (NULL rows: rows 0..m-1), summed in double in row
 * order. One thread. */
void pca_mean_cpu(const float *x, int64_t d, const int64_t *rows, int64_t m, double *mean);

/* cov (d x d, overwritten) = sum over the same rows of (x - mean)(x - mean)^T: `block` rows
 * at a time centred in float, one float GEMM per block, blocks added in double.
 * Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status pca_covariance_cpu(const float *x, int64_t d, const int64_t *rows, int64_t m, const double *mean,
                              int64_t block, double *cov);

/* The top p eigenpairs of the symmetric cov (d x d, destroyed) by LAPACK's dsyevr (only the
 * asked ones: for d = 784, p = 2 a few hundredths of a second where all would take seconds):
 * eigenvalues largest first into w (p), their vectors into v (d x p, row j holds coordinate j
 * of each). NMP_ERR_NOMEM, or NMP_ERR_RUNTIME with LAPACK's *info and the count *found. */
nmp_status pca_top_axes_cpu(double *cov, int64_t d, int32_t p, double *w, double *v, int *info, int *found);

/* y (n x dims) = (x - mean) V for all n rows, vt = V^T (dims x d): `block` rows at a time
 * centred in float, one float GEMM per block. Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status pca_project_cpu(const float *x, int64_t n, int64_t d, const double *mean, const float *vt, int32_t dims,
                           int64_t block, float *y);

#endif
