/* Random-triplet accuracy (PaCMAP / NOMAD protocol): does the layout keep the order of
 * d(i,j) and d(i,l) for random distinct points? Distances in double from the rows. */
#include <math.h>
#include <stdlib.h>

#include "metrics.h"

double nmp_eval_distance(const float *a, const float *b, int64_t d, nmp_metric metric)
{
    double dot = 0.0, aa = 0.0, bb = 0.0, l2 = 0.0;
    for (int64_t t = 0; t < d; t++) {
        const double u = a[t], v = b[t];
        dot += u * v;
        aa += u * u;
        bb += v * v;
        l2 += (u - v) * (u - v);
    }
    if (metric == NMP_METRIC_L2)
        return l2;
    if (metric == NMP_METRIC_IP)
        return -dot;
    /* As knn_topk_cpu: a zero row has no direction, its cosine distance is 1. */
    return (aa > 0.0 && bb > 0.0) ? 1.0 - dot / sqrt(aa * bb) : 1.0;
}

/* 1 when both spaces order the pair the same way; a tie in either space is an error,
 * since the layout then failed to (or could not) tell the two apart. */
static double triplet_correct(const nmp_matrix *x, const nmp_matrix *y, nmp_metric metric, const int32_t t[3])
{
    const float *xi = x->x + (int64_t)t[0] * x->d, *yi = y->x + (int64_t)t[0] * y->d;
    double xij = nmp_eval_distance(xi, x->x + (int64_t)t[1] * x->d, x->d, metric);
    double xil = nmp_eval_distance(xi, x->x + (int64_t)t[2] * x->d, x->d, metric);
    double yij = nmp_eval_distance(yi, y->x + (int64_t)t[1] * y->d, y->d, NMP_METRIC_L2);
    double yil = nmp_eval_distance(yi, y->x + (int64_t)t[2] * y->d, y->d, NMP_METRIC_L2);
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
