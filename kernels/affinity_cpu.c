/* Affinity edge weights on the CPU (see affinity_cpu.h): plain loops over a range of rows,
 * so the plugins' parallel_for bodies call them directly. */
#include "affinity_cpu.h"

#include <math.h>
#include <stddef.h>

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

/* Entropy (nats) of p_j = exp(-beta d'_j) / Z over one row, d' = d - min d: the shift leaves p
 * unchanged and keeps exp() in range even for negative inner-product distances. With p != NULL
 * the row's probabilities are written too. */
static double row_entropy(const float *dist, int64_t k, double dmin, double beta, float *p)
{
    double z = 0.0, dz = 0.0;
    for (int64_t j = 0; j < k; j++) {
        double shifted = (double)dist[j] - dmin, e = exp(-beta * shifted);
        z += e;
        dz += shifted * e;
    }
    if (p)
        for (int64_t j = 0; j < k; j++) p[j] = (float)(exp(-beta * ((double)dist[j] - dmin)) / z);
    return log(z) + beta * dz / z;
}

/* Bisection on beta (openTSNE's rule: double / halve until bracketed, then bisect). Writes the
 * row's probabilities for the last beta tried; returns 1 if it met the tolerance. */
int affinity_perplexity_row_cpu(const float *dist, int64_t k, double perplexity, double tol, int64_t max_steps, float *p)
{
    double dmin = INFINITY, mean = 0.0;
    for (int64_t j = 0; j < k; j++) dmin = fmin(dmin, (double)dist[j]);
    for (int64_t j = 0; j < k; j++) mean += ((double)dist[j] - dmin) / (double)k;
    /* Start at the scale of the row's distances so the search takes few steps at any scale. */
    double beta = mean > 0.0 ? 1.0 / mean : 1.0, lo = 0.0, hi = INFINITY, target = log(perplexity);
    for (int64_t step = 0; step < max_steps; step++) {
        double entropy = row_entropy(dist, k, dmin, beta, NULL);
        if (fabs(entropy - target) <= tol) {
            row_entropy(dist, k, dmin, beta, p);
            return 1;
        }
        if (step + 1 == max_steps) break; /* keep the beta whose entropy was measured */
        if (entropy > target) { /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2.0 : 0.5 * (beta + hi);
        } else {
            hi = beta;
            beta = 0.5 * (beta + lo);
        }
    }
    row_entropy(dist, k, dmin, beta, p);
    return 0;
}
