/* Edge weights of the affinity plugins on the CPU, per range of CSR rows: NOMAD's rank
 * weights (affinity/rank_exp), uniform 1/k (affinity/binary) and row normalisation. The CPU
 * reference of kernels/affinity.cu (parity test tests/kernels/test_affinity.c). */
#ifndef NOMAD_AFFINITY_CPU_H
#define NOMAD_AFFINITY_CPU_H

#include <stdint.h>

/* term[r - 1] = exp(temperature / r) and norm[r] = sum_{s=1..r} term[s - 1] (norm[0] = 0),
 * for r = 1..kmax, in double: the tables of affinity_rank_exp_cpu. term: kmax, norm: kmax + 1. */
/* t-SNE's conditional p_j = exp(-beta d_j) / Z over one row of k distances (squared, or any
 * distance), beta found by bisection (openTSNE's rule: double or halve until bracketed, then
 * bisect) so that the row's perplexity exp(entropy) is `perplexity` within tol nats. Writes p
 * for the last beta tried; returns 1 if it met the tolerance within max_steps. */
int affinity_perplexity_row_cpu(const float *dist, int64_t k, double perplexity, double tol, int64_t max_steps,
                                float *p);
void affinity_rank_exp_table_cpu(double temperature, int64_t kmax, double *term, double *norm);

/* For rows [begin, end) of CSR `offsets` (rows sorted by increasing distance): the edge of
 * rank r (1 = nearest) in a row of k edges weighs (float)(term[r - 1] / norm[k]). */
void affinity_rank_exp_cpu(const int64_t *offsets, int64_t begin, int64_t end, const double *term, const double *norm,
                           float *weight);

/* For rows [begin, end): every edge of a row of k edges weighs (float)(1.0 / k). */
void affinity_uniform_cpu(const int64_t *offsets, int64_t begin, int64_t end, float *weight);

/* For rows [begin, end): each row divided by its sum (summed in double in edge order); rows
 * summing to <= 0 stay as they are. */
void affinity_normalize_rows_cpu(const int64_t *offsets, int64_t begin, int64_t end, float *weight);

#endif
