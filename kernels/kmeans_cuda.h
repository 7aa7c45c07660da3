/* K-means on the GPU: nearest-centroid assignment (cuBLAS GEMM + warp argmin) and centroid
 * update (per-cell sums in double). CPU reference: kernels/kmeans_cpu.c; parity test:
 * tests/kernels/test_kmeans.c. Without a device every entry returns NMP_ERR_UNSUPPORTED. */
#ifndef NOMAD_KMEANS_CUDA_H
#define NOMAD_KMEANS_CUDA_H

#include <stdint.h>

#include "cuda_check.h"
#include "nomad/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The rows x (n x d) stay on the device between calls, so Lloyd iterations only move the
 * k centroids and the outputs asked for. */
typedef struct kmeans_cuda kmeans_cuda;

/* Uploads x (n x d, host, read only during the call) for k centroids. *out: NULL on failure. */
nmp_status kmeans_cuda_create(const float *x, int64_t n, int64_t d, int32_t k, kmeans_cuda **out, nmp_gpu_err *err);
void kmeans_cuda_destroy(kmeans_cuda *km);

/* As kmeans_assign_cpu: nearest of the k centroids (host, k x d) for every row, ties to the
 * smaller id, dist2 = ||x||^2 - 2 x.c + ||c||^2 clamped at 0. The assignment stays on the
 * device for kmeans_cuda_update; assign and dist2 (host, n) may each be NULL. */
nmp_status kmeans_cuda_assign(kmeans_cuda *km, const float *centroids, int32_t *assign, float *dist2, nmp_gpu_err *err);

/* As kmeans_update_cpu with the last assignment: centroids (host, k x d) rows of non-empty
 * cells become their members' mean (sums in double), empty cells keep their row; counts
 * (host, k) may be NULL. */
nmp_status kmeans_cuda_update(kmeans_cuda *km, float *centroids, int64_t *counts, nmp_gpu_err *err);

/* Replaces the device's assignment by `assign` (host, n; ids in [0, k), else NMP_ERR_INVALID)
 * for the next kmeans_cuda_update, e.g. after the caller reseeded empty cells. */
nmp_status kmeans_cuda_set_assign(kmeans_cuda *km, const int32_t *assign, nmp_gpu_err *err);

/* One-shot twins of kmeans_assign_cpu / kmeans_update_cpu (upload, compute, download). */
nmp_status kmeans_assign_cuda(const float *x, int64_t n, int64_t d, const float *centroids, int32_t k, int32_t *assign,
                              float *dist2, nmp_gpu_err *err);
nmp_status kmeans_update_cuda(const float *x, int64_t n, int64_t d, const int32_t *assign, int32_t k, float *centroids,
                              int64_t *counts, nmp_gpu_err *err);

#ifdef __cplusplus
}
#endif
#endif
