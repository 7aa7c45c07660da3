/* Exact k nearest neighbours on the GPU: blocked distance tiles (cuBLAS GEMM in f32, or f16 /
 * bf16 inputs with f32 accumulation; a direct kernel for d <= 8) and a warp-per-row top-k.
 * CPU reference: knn_topk_cpu (kernels/knn_cpu.c); parity test: tests/kernels/test_knn_topk.c. */
#ifndef NOMAD_KNN_CUDA_H
#define NOMAD_KNN_CUDA_H

#include <stdint.h>

#include "cuda_check.h"
#include "nomad/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element type the distance GEMM reads. F16 / BF16 round the inputs (after which the norms
 * are taken, so a row's distance to itself stays 0); accumulation is f32 in every case.
 * F16 overflows past 65504: scale such data first. Ignored for d <= 8 (direct f32). */
typedef enum { KNN_CUDA_F32 = 0, KNN_CUDA_F16 = 1, KNN_CUDA_BF16 = 2 } knn_cuda_precision;

/* Largest k the warp top-k keeps (4 entries per lane). */
#define KNN_CUDA_MAX_K 128

/* knn_topk_cpu's contract on the GPU (host arrays in and out): same distances, same order
 * (distance, then smaller id), same self skipping through query_id / base_id, rows padded
 * with -1 / +INFINITY, NaN distances never kept. k <= KNN_CUDA_MAX_K, else
 * NMP_ERR_UNSUPPORTED; nq, nb < 2^31. */
nmp_status knn_topk_cuda(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                         nmp_metric metric, const int32_t *query_id, const int32_t *base_id,
                         knn_cuda_precision precision, int32_t *out_idx, float *out_dist, nmp_gpu_err *err);

#ifdef __cplusplus
}
#endif
#endif
