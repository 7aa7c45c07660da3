/* K-means on the CPU: nearest-centroid assignment from blocked dot products, and per-cell
 * sums for the centroid update. The CPU reference of the CUDA twin (kernels/kmeans.cu). */
#ifndef NOMAD_KMEANS_CPU_H
#define NOMAD_KMEANS_CPU_H

#include <stdint.h>

#include "nomad/types.h"

/* Squared Euclidean norms of `rows` rows (rows x d) into out (caller-owned, rows). */
void kmeans_row_norms_cpu(const float *x, int64_t rows, int64_t d, float *out);

/* Nearest of k centroids for `rows` rows given dots[r * k + c] = x_r . c_c:
 *   dist2 = ||x_r||^2 - 2 dots + c_norm2[c], clamped at 0; ties go to the smaller centroid id.
 * x (rows x d) supplies ||x_r||^2. assign, dist2: caller-owned, rows. One thread. */
void kmeans_argmin_cpu(const float *x, int64_t rows, int64_t d, const float *dots, int32_t k,
                       const float *c_norm2, int32_t *assign, float *dist2);

/* Members of each cell by a stable counting sort: the positions p with assign[p] == c (ids[p]
 * for them when ids is not NULL), in position order, are member[start[c] .. start[c + 1]).
 * start (k + 1) and member (n) are the caller's; assign must lie in [0, k). */
void kmeans_members_cpu(const int32_t *assign, const int32_t *ids, int64_t n, int32_t k, int64_t *start,
                        int32_t *member);

/* The cell sums as parallel work: item = (cell, block of KMEANS_SUM_COLUMNS columns), each
 * sum taken in member order, so the sums (cells x d doubles) never depend on the split. Set
 * the job up with kmeans_sums_job_init (it returns the item count), then run
 * kmeans_sums_range over [0, items) with any parallel-for (its signature is nmp_range_fn). */
#define KMEANS_SUM_COLUMNS 64
typedef struct {
    const float *x;
    int64_t d, blocks;
    const int64_t *start;
    const int32_t *member;
    double *sums;
} kmeans_sums_job;
int64_t kmeans_sums_job_init(kmeans_sums_job *job, const float *x, int64_t d, const int64_t *start,
                             const int32_t *member, int32_t cells, double *sums);
void kmeans_sums_range(void *job, int64_t begin, int64_t end, int worker);

/* Adds columns [j0, j1) of the rows x[member[0..count)] into sum (j1 - j0 doubles, caller
 * zeroes), in member order, so the total never depends on how work is split. One thread. */
void kmeans_cell_sum_cpu(const float *x, int64_t d, const int32_t *member, int64_t count, int64_t j0, int64_t j1,
                         double *sum);

/* Reference assignment of all n rows to the nearest of k centroids (blocked CBLAS GEMM,
 * OpenMP over rows). assign, dist2: caller-owned, n. Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status kmeans_assign_cpu(const float *x, int64_t n, int64_t d, const float *centroids, int32_t k,
                             int32_t *assign, float *dist2);

/* Reference update: centroids[c] = mean of the rows assigned to c (row left as it was when the
 * cell is empty); counts (caller-owned, k) receives the cell sizes. NMP_OK or NMP_ERR_NOMEM. */
nmp_status kmeans_update_cpu(const float *x, int64_t n, int64_t d, const int32_t *assign, int32_t k,
                             float *centroids, int64_t *counts);

#endif
