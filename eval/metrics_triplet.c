/* Random-triplet accuracy (PaCMAP / NOMAD protocol): does the layout keep the order of
 * d(i,j) and d(i,l) for random distinct points? Distances in double from the rows. */
#include <math.h>
#include <stdlib.h>

#include "knn_cpu.h"
#include "metrics.h"

/* 1 when both spaces order the pair the same way; a tie in either space is an error,
 * since the layout then failed to (or could not) tell the two apart. */
static double triplet_correct(const nmp_matrix *x, const nmp_matrix *y, nmp_metric metric, const int32_t t[3])
{
    const float *xi = x->x + (int64_t)t[0] * x->d, *yi = y->x + (int64_t)t[0] * y->d;
    double xij = knn_distance_cpu(xi, x->x + (int64_t)t[1] * x->d, x->d, metric);
    double xil = knn_distance_cpu(xi, x->x + (int64_t)t[2] * x->d, x->d, metric);
    double yij = knn_distance_cpu(yi, y->x + (int64_t)t[1] * y->d, y->d, NMP_METRIC_L2);
    double yil = knn_distance_cpu(yi, y->x + (int64_t)t[2] * y->d, y->d, NMP_METRIC_L2);
    if (xij == xil || yij == yil)
        return 0.0;
    return (xij < xil) == (yij < yil) ? 1.0 : 0.0;
}

nmp_status nmp_eval_triplets(const nmp_matrix *x, const nmp_matrix *y, nmp_metric metric, int64_t count,
                             uint64_t seed, nmp_estimate *out)
{
    *out = (nmp_estimate){NAN, NAN};
    if (count <= 0 || x->n < 3)
        return NMP_OK;
    double *correct = malloc((size_t)count * sizeof *correct);
    if (!correct)
        return NMP_ERR_NOMEM;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < count; t++) {
        int32_t ids[3];
        nmp_eval_triplet(x->n, seed, t, ids);
        correct[t] = triplet_correct(x, y, metric, ids);
    }
    *out = nmp_estimate_of(correct, count);
    free(correct);
    return NMP_OK;
}
