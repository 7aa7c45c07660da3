/* Neighbour-based metrics of a layout for a sample of queries: NP@k, kNN label accuracy,
 * trustworthiness and continuity, from exact kNN and ranks (kernels/knn_cpu.h). */
#include <stdlib.h>
#include <string.h>

#include "knn_cpu.h"
#include "metrics.h"

/* Exact neighbours and cross ranks of the queries, nq x k each. */
typedef struct {
    int32_t *in_idx, *ly_idx; /* kNN in input space / in the layout */
    int64_t *in_rank_of_ly;   /* input-space rank of each layout neighbour */
    int64_t *ly_rank_of_in;   /* layout rank of each input neighbour */
    float *dist;              /* scratch for the kernels' distances */
} eval_knn;

static void eval_knn_free(eval_knn *e)
{
    free(e->in_idx);
    free(e->ly_idx);
    free(e->in_rank_of_ly);
    free(e->ly_rank_of_in);
    free(e->dist);
}

/* Rows `ids` of m, copied contiguously (the kernel takes a dense query block). */
static float *gather_rows(const nmp_matrix *m, const int32_t *ids, int64_t nq)
{
    float *out = malloc((size_t)(nq * m->d) * sizeof *out + 1);
    if (!out)
        return NULL;
    for (int64_t i = 0; i < nq; i++)
        memcpy(out + i * m->d, m->x + (int64_t)ids[i] * m->d, (size_t)m->d * sizeof *out);
    return out;
}

/* Three passes: layout kNN (cheap, 2-D); input kNN plus input ranks of the layout
 * neighbours in one GEMM pass over the data; layout ranks of the input neighbours. */
static nmp_status eval_knn_compute(const nmp_matrix *x, const nmp_matrix *y, const int32_t *queries, int64_t nq,
                                   int32_t k, nmp_metric metric, eval_knn *e)
{
    const size_t cells = (size_t)(nq * k) + 1;
    *e = (eval_knn){malloc(cells * sizeof(int32_t)), malloc(cells * sizeof(int32_t)), malloc(cells * sizeof(int64_t)),
                    malloc(cells * sizeof(int64_t)), malloc(cells * sizeof(float))};
    float *qx = gather_rows(x, queries, nq), *qy = gather_rows(y, queries, nq);
    nmp_status st = NMP_ERR_NOMEM;
    if (e->in_idx && e->ly_idx && e->in_rank_of_ly && e->ly_rank_of_in && e->dist && qx && qy) {
        st = knn_topk_cpu(qy, nq, y->x, y->n, y->d, k, NMP_METRIC_L2, queries, NULL, e->ly_idx, e->dist);
        if (st == NMP_OK)
            st = knn_topk_rank_cpu(qx, nq, x->x, x->n, x->d, k, metric, queries, NULL, e->in_idx, e->dist, e->ly_idx,
                                   k, e->in_rank_of_ly);
        if (st == NMP_OK)
            st = knn_topk_rank_cpu(qy, nq, y->x, y->n, y->d, 0, NMP_METRIC_L2, queries, NULL, NULL, NULL, e->in_idx, k,
                                   e->ly_rank_of_in);
    }
    free(qx);
    free(qy);
    if (st != NMP_OK)
        eval_knn_free(e);
    return st;
}

static int contains(const int32_t *list, int32_t k, int32_t id)
{
    for (int32_t a = 0; a < k; a++)
        if (list[a] == id)
            return 1;
    return 0;
}

/* The most frequent label among the neighbours; ties go to the smallest label. O(k^2),
 * which for k <= a few hundred beats sorting a copy and needs no scratch. */
static int32_t majority_label(const int32_t *labels, const int32_t *nbr, int32_t k)
{
    int32_t best = labels[nbr[0]], best_count = 0;
    for (int32_t a = 0; a < k; a++) {
        int32_t label = labels[nbr[a]], count = 0;
        for (int32_t b = 0; b < k; b++)
            count += labels[nbr[b]] == label;
        if (count > best_count || (count == best_count && label < best)) {
            best = label;
            best_count = count;
        }
    }
    return best;
}

/* Per-query values of query q (row q of the eval_knn arrays). norm = 2 / (k (2n - 3k - 1)):
 * a neighbour ranked r in the other space costs norm * (r - k). */
static void query_values(const eval_knn *e, int64_t q, int32_t k, double norm, double *np, double *trust,
                         double *cont)
{
    const int32_t *in = e->in_idx + q * k, *ly = e->ly_idx + q * k;
    int64_t shared = 0, trust_sum = 0, cont_sum = 0;
    for (int32_t a = 0; a < k; a++) {
        if (contains(in, k, ly[a]))
            shared++;
        else
            trust_sum += e->in_rank_of_ly[q * k + a] - k;
        if (!contains(ly, k, in[a]))
            cont_sum += e->ly_rank_of_in[q * k + a] - k;
    }
    *np = (double)shared / k;
    *trust = 1.0 - norm * (double)trust_sum;
    *cont = 1.0 - norm * (double)cont_sum;
}

nmp_status nmp_eval_neighbors(const nmp_matrix *x, const nmp_matrix *y, const int32_t *labels,
                              const int32_t *queries, int64_t nq, int32_t k, nmp_metric metric, nmp_eval_result *r)
{
    eval_knn e;
    double *v = malloc((size_t)(4 * nq + 1) * sizeof *v); /* np | trust | cont | acc */
    nmp_status st = v ? eval_knn_compute(x, y, queries, nq, k, metric, &e) : NMP_ERR_NOMEM;
    if (st != NMP_OK) {
        free(v);
        return st;
    }
    const double n = (double)x->n, norm = 2.0 / (k * (2.0 * n - 3.0 * k - 1.0));
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < nq; q++) {
        query_values(&e, q, k, norm, &v[q], &v[nq + q], &v[2 * nq + q]);
        if (labels)
            v[3 * nq + q] = majority_label(labels, e.ly_idx + q * k, k) == labels[queries[q]];
    }
    r->np = nmp_estimate_of(v, nq);
    r->trust = nmp_estimate_of(v + nq, nq);
    r->cont = nmp_estimate_of(v + 2 * nq, nq);
    r->has_labels = labels != NULL;
    r->knn_acc = labels ? nmp_estimate_of(v + 3 * nq, nq) : (nmp_estimate){0.0, 0.0};
    eval_knn_free(&e);
    free(v);
    return NMP_OK;
}
