/* Quality metrics of a layout against its input (the NOMAD paper's protocol): NP@k,
 * random-triplet accuracy, kNN label accuracy, trustworthiness and continuity. */
#ifndef NOMAD_EVAL_METRICS_H
#define NOMAD_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "nomad/types.h"

/* What to measure (config section `eval`). */
typedef struct {
    int32_t k;         /* neighbours for NP@k, label accuracy, trust and continuity (10) */
    int64_t queries;   /* query points sampled without replacement; >= n: all points (5000) */
    int64_t triplets;  /* random triplets of distinct points (5000) */
    uint64_t seed;     /* picks queries and triplets (stream NMP_STREAM_EVAL) */
    nmp_metric metric; /* input-space distance; the layout is always Euclidean */
} nmp_eval_opts;

/* A mean over per-query (or per-triplet) values, with ci95 = 1.96 * s / sqrt(m), s the
 * sample standard deviation (m - 1 in the denominator; 0 when m < 2). */
typedef struct {
    double value, ci95;
} nmp_estimate;

typedef struct {
    nmp_estimate np;      /* NP@k: mean |input kNN ∩ layout kNN| / k */
    nmp_estimate triplet; /* random-triplet accuracy; ties in either space count as wrong */
    nmp_estimate knn_acc; /* majority label of the k layout neighbours == own label */
    nmp_estimate trust;   /* trustworthiness at k (Venna & Kaski; normalised as scikit-learn) */
    nmp_estimate cont;    /* continuity at k */
    int has_labels;       /* knn_acc is valid (labels were given) */
    int64_t queries_used; /* min(queries, n) */
    double seconds;       /* wall time of nmp_eval_run */
} nmp_eval_result;

/* k = 10, queries = 5000, triplets = 5000, seed = 42, metric L2. */
nmp_eval_opts nmp_eval_opts_default(void);

/* Measures layout y (n x dims) against input x (n x d), both borrowed. Neighbours are exact
 * (kernels/knn_cpu.h), self excluded, against all n points, for the sampled queries only.
 *
 * Trustworthiness of query i: T_i = 1 - 2 / (k (2n - 3k - 1)) * sum_{j in U_i} (r(i,j) - k),
 * U_i = layout neighbours of i that are not input neighbours, r(i,j) = rank of j among
 * i's input-space neighbours (1 = nearest). trust = mean of T_i over the queries, i.e.
 * scikit-learn's 2 / (n k (2n - 3k - 1)) normalisation with the sum over all n points
 * estimated by n / queries times the sum over the sample; with queries = n it equals
 * sklearn.manifold.trustworthiness (Euclidean input). Continuity swaps the two spaces.
 * Needs 1 <= k < n / 2 and n >= 3. labels (n) may be NULL: knn_acc is then 0, has_labels 0.
 * Returns NMP_OK, NMP_ERR_INVALID (message in err) or NMP_ERR_NOMEM. */
nmp_status nmp_eval_run(const nmp_matrix *x, const nmp_matrix *y, const int32_t *labels, const nmp_eval_opts *o,
                        nmp_eval_result *r, char *err, size_t errlen);

/* ---- building blocks, exposed for tests and for tools that repeat the protocol ---- */

/* The query sample of nmp_eval_run: min(count, n) distinct ids of 0..n-1, ascending, from a
 * partial Fisher-Yates shuffle driven by (seed, NMP_STREAM_EVAL). *out is malloc'd (caller
 * frees). Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status nmp_eval_sample_queries(int64_t n, int64_t count, uint64_t seed, int32_t **out, int64_t *out_count);

/* Triplet number t of nmp_eval_run: three distinct points (i, j, l) of 0..n-1 (n >= 3). */
void nmp_eval_triplet(int64_t n, uint64_t seed, int64_t t, int32_t out[3]);

/* Accuracy of `count` triplets (i, j, l) drawn as above: 1 where d(i,j) < d(i,l) in both
 * spaces or > in both, 0 otherwise (equal distances in either space included). n >= 3.
 * Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status nmp_eval_triplets(const nmp_matrix *x, const nmp_matrix *y, nmp_metric metric, int64_t count,
                             uint64_t seed, nmp_estimate *out);

/* The neighbour metrics of nmp_eval_run (np, knn_acc, trust, cont, has_labels) for the
 * given query ids (nq, each in 0..n-1), k < n / 2. Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status nmp_eval_neighbors(const nmp_matrix *x, const nmp_matrix *y, const int32_t *labels,
                              const int32_t *queries, int64_t nq, int32_t k, nmp_metric metric, nmp_eval_result *r);

/* Mean and ci95 of `m` values. */
nmp_estimate nmp_estimate_of(const double *values, int64_t m);

#endif
