/* Affinity edge weights on the CPU (see affinity_cpu.h): plain loops over a range of rows,
 * so the plugins' parallel_for bodies call them directly. */
#include "affinity_cpu.h"

#include <math.h>

void affinity_rank_exp_table_cpu(double temperature, int64_t kmax, double *term, double *norm)
{
    norm[0] = 0.0;
    for (int64_t r = 1; r <= kmax; r++) {
        term[r - 1] = exp(temperature / (double)r);
        norm[r] = norm[r - 1] + term[r - 1];
    }
}

void affinity_rank_exp_cpu(const int64_t *offsets, int64_t begin, int64_t end, const double *term, const double *norm,
                           float *weight)
{
    for (int64_t i = begin; i < end; i++) {
        int64_t first = offsets[i], k = offsets[i + 1] - first;
        for (int64_t r = 0; r < k; r++) weight[first + r] = (float)(term[r] / norm[k]);
    }
}

void affinity_uniform_cpu(const int64_t *offsets, int64_t begin, int64_t end, float *weight)
{
    for (int64_t i = begin; i < end; i++) {
        int64_t k = offsets[i + 1] - offsets[i];
        for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) weight[e] = (float)(1.0 / (double)k);
    }
}

void affinity_normalize_rows_cpu(const int64_t *offsets, int64_t begin, int64_t end, float *weight)
{
    for (int64_t i = begin; i < end; i++) {
        double sum = 0.0;
        for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) sum += weight[e];
        if (sum <= 0.0) continue;
        for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) weight[e] = (float)(weight[e] / sum);
    }
}
