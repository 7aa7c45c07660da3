/* Exact k nearest neighbours by blocked GEMM + per-row top-k: the CPU reference of
 * kernels/knn.cu, and the one exact kNN used by ann plugins, partitioners and eval. */
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

/* One distance under `metric`, in double, exactly as knn_topk_cpu defines it (zero rows
 * have cosine distance 1): the reference the ranks and the eval triplets use. */
double knn_distance_cpu(const float *a, const float *b, int64_t d, nmp_metric metric);

/* knn_topk_cpu plus, in the same pass over the distance tiles, the ranks of given points:
 *   probe:    nq x m base row numbers (distinct within a row; -1 = no probe there).
 *   out_rank: caller-owned nq x m; for probe p of query q, 1 + the number of base rows (the
 *             query itself skipped as above, and p) before p in the (distance, id) order, i.e.
 *             p's 1-based rank among q's neighbours; 0 where the probe is -1.
 * A probe's own distance is computed in double from the rows, the others as for the top-k
 * (float GEMM), so a row within rounding of the probe's distance may fall on either side.
 * k may be 0 (ranks only; out_idx and out_dist may then be NULL). Trustworthiness and
 * continuity (eval/) use it to rank a few points per query without sorting whole rows.
 * Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status knn_topk_rank_cpu(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                             nmp_metric metric, const int32_t *query_id, const int32_t *base_id, int32_t *out_idx,
                             float *out_dist, const int32_t *probe, int32_t m, int64_t *out_rank);

#endif
