/* K-means CPU reference: argmin over GEMM dot products and ordered per-cell sums. */
#include "kmeans_cpu.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* Rows per GEMM block in the reference assignment: bounds the dot-product buffer. */
#define KMEANS_REF_BLOCK_FLOATS (1 << 22)

void kmeans_row_norms_cpu(const float *x, int64_t rows, int64_t d, float *out)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * d;
        float s = 0.0f;
        for (int64_t j = 0; j < d; j++) s += row[j] * row[j];
        out[r] = s;
    }
}

void kmeans_argmin_cpu(const float *x, int64_t rows, int64_t d, const float *dots, int32_t k,
                       const float *c_norm2, int32_t *assign, float *dist2)
{
    for (int64_t r = 0; r < rows; r++) {
        float xn;
        kmeans_row_norms_cpu(x + r * d, 1, d, &xn);
        const float *dr = dots + r * k;
        int32_t best = 0;
        float best_d = c_norm2[0] - 2.0f * dr[0];
        for (int32_t c = 1; c < k; c++) {
            float v = c_norm2[c] - 2.0f * dr[c];
            if (v < best_d) best_d = v, best = c; /* strict: ties keep the smaller id */
        }
        float dd = xn + best_d;
        assign[r] = best;
        dist2[r] = dd > 0.0f ? dd : 0.0f; /* cancellation can go slightly negative */
    }
}

void kmeans_cell_sum_cpu(const float *x, int64_t d, const int32_t *member, int64_t count, int64_t j0, int64_t j1,
                         double *sum)
{
    for (int64_t i = 0; i < count; i++) {
        const float *row = x + (int64_t)member[i] * d;
        for (int64_t j = j0; j < j1; j++) sum[j - j0] += row[j];
    }
}

nmp_status kmeans_assign_cpu(const float *x, int64_t n, int64_t d, const float *centroids, int32_t k,
                             int32_t *assign, float *dist2)
{
    if (n == 0) return NMP_OK;
    int64_t block = KMEANS_REF_BLOCK_FLOATS / (k > 0 ? k : 1);
    if (block < 1) block = 1;
    if (block > n) block = n;
    float *dots = malloc((size_t)(block * k) * sizeof *dots);
    float *cn = malloc((size_t)k * sizeof *cn);
    if (!dots || !cn) {
        free(dots), free(cn);
        return NMP_ERR_NOMEM;
    }
    kmeans_row_norms_cpu(centroids, k, d, cn);
    for (int64_t b0 = 0; b0 < n; b0 += block) {
        int64_t rows = n - b0 < block ? n - b0 : block;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, k, (int)d, 1.0f, x + b0 * d, (int)d,
                    centroids, (int)d, 0.0f, dots, k);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; r++)
            kmeans_argmin_cpu(x + (b0 + r) * d, 1, d, dots + r * k, k, cn, assign + b0 + r, dist2 + b0 + r);
    }
    free(dots);
    free(cn);
    return NMP_OK;
}

void kmeans_members_cpu(const int32_t *assign, const int32_t *ids, int64_t n, int32_t k, int64_t *start,
                        int32_t *member)
{
    memset(start, 0, ((size_t)k + 1) * sizeof *start);
    for (int64_t i = 0; i < n; i++) start[assign[i] + 1]++;
    for (int32_t c = 0; c < k; c++) start[c + 1] += start[c];
    for (int64_t i = 0; i < n; i++) member[start[assign[i]]++] = ids ? ids[i] : (int32_t)i;
    for (int32_t c = k; c > 0; c--) start[c] = start[c - 1]; /* the fill advanced each start by its count */
    start[0] = 0;
}

int64_t kmeans_sums_job_init(kmeans_sums_job *job, const float *x, int64_t d, const int64_t *start,
                             const int32_t *member, int32_t cells, double *sums)
{
    *job = (kmeans_sums_job){x, d, (d + KMEANS_SUM_COLUMNS - 1) / KMEANS_SUM_COLUMNS, start, member, sums};
    return (int64_t)cells * job->blocks;
}

void kmeans_sums_range(void *vjob, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const kmeans_sums_job *j = vjob;
    for (int64_t item = begin; item < end; item++) {
        int64_t cell = item / j->blocks, j0 = (item % j->blocks) * KMEANS_SUM_COLUMNS;
        int64_t j1 = j0 + KMEANS_SUM_COLUMNS < j->d ? j0 + KMEANS_SUM_COLUMNS : j->d;
        double *out = j->sums + cell * j->d + j0;
        memset(out, 0, (size_t)(j1 - j0) * sizeof *out);
        kmeans_cell_sum_cpu(j->x, j->d, j->member + j->start[cell], j->start[cell + 1] - j->start[cell], j0, j1, out);
    }
}

nmp_status kmeans_update_cpu(const float *x, int64_t n, int64_t d, const int32_t *assign, int32_t k,
                             float *centroids, int64_t *counts)
{
    int64_t *start = malloc(((size_t)k + 1) * sizeof *start);
    int32_t *member = malloc((size_t)(n ? n : 1) * sizeof *member);
    double *sum = malloc((size_t)(d ? d : 1) * sizeof *sum);
    if (!start || !member || !sum) {
        free(start), free(member), free(sum);
        return NMP_ERR_NOMEM;
    }
    kmeans_members_cpu(assign, NULL, n, k, start, member);
    for (int32_t c = 0; c < k; c++) {
        int64_t cnt = start[c + 1] - start[c];
        counts[c] = cnt;
        if (cnt == 0) continue;
        memset(sum, 0, (size_t)d * sizeof *sum);
        kmeans_cell_sum_cpu(x, d, member + start[c], cnt, 0, d, sum);
        for (int64_t j = 0; j < d; j++) centroids[c * d + j] = (float)(sum[j] / (double)cnt);
    }
    free(start);
    free(member);
    free(sum);
    return NMP_OK;
}
