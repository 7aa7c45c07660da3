/* PCA's heavy parts on the GPU: sample mean (double), covariance by cuBLAS GEMM over row
 * blocks accumulated in double, projection by GEMM. The d x d eigensolve stays on the host.
 * CPU reference: kernels/pca_cpu.c; parity test: tests/kernels/test_pca.c. */
#ifndef NOMAD_PCA_CUDA_H
#define NOMAD_PCA_CUDA_H

#include <stdint.h>

#include "cuda_check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The rows x (n x d) uploaded once for the covariance and the projection. */
typedef struct pca_cuda pca_cuda;

nmp_status pca_cuda_create(const float *x, int64_t n, int64_t d, pca_cuda **out, nmp_gpu_err *err);
void pca_cuda_destroy(pca_cuda *p);

/* As pca_mean_cpu then pca_covariance_cpu over the m rows rows[0..m) (host; NULL: the
 * first m rows), `block` rows per GEMM: mean (d) and cov (d x d) to the host. */
nmp_status pca_cuda_covariance(pca_cuda *p, const int64_t *rows, int64_t m, int64_t block, double *mean, double *cov,
                               nmp_gpu_err *err);

/* As pca_project_cpu over all n rows: y (host, n x dims) = (x - mean) V, vt = V^T (dims x d). */
nmp_status pca_cuda_project(pca_cuda *p, const double *mean, const float *vt, int32_t dims, float *y, nmp_gpu_err *err);

#ifdef __cplusplus
}
#endif
#endif
