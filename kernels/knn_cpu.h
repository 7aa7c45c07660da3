/* Exact k nearest neighbours by blocked GEMM + per-row top-k: the CPU reference of
 * kernels/knn_topk.cu, and the one exact kNN used by ann plugins, partitioners and eval. */
#ifndef NOMAD_KNN_CPU_H
#define NOMAD_KNN_CPU_H

#include <stdint.h>

#include "nomad/types.h"

/* For each query row (nq x d) finds the k nearest base rows (nb x d) under `metric`.
 *   distance: L2 -> squared Euclidean; IP -> negative dot product; COSINE -> 1 - cosine.
 *   query_id: optional (nq) ids in the same numbering as base_id; a base row whose id equals
 *             the query's id is skipped (no self edges). NULL: nothing is skipped.
 *   base_id:  optional (nb) ids written to out_idx; NULL: the base row number.
 * Results per query sorted by increasing distance (ties by smaller id); when fewer than k
 * candidates exist the row is padded with index -1 and distance +INFINITY.
 * out_idx, out_dist: caller-owned, nq x k. Threads: OpenMP inside; BLAS for the GEMM.
 * Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status knn_topk_cpu(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                        nmp_metric metric, const int32_t *query_id, const int32_t *base_id, int32_t *out_idx,
                        float *out_dist);

#endif
