/* Cell index construction and the kNN-graph cost of partitioning. */
#include "cells.h"

#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "kmeans_cpu.h"
#include "knn_cpu.h"
#include "metrics.h"

nmp_status nmp_cells_build(nmp_cell_index *out, int32_t *cell_of, float *centroids, int64_t n, int64_t d,
                           int32_t count, nmp_err *err)
{
    memset(out, 0, sizeof *out);
    out->cell_of = cell_of;
    out->centroids = centroids;
    out->start = malloc(((size_t)count + 1) * sizeof *out->start);
    out->member = malloc((size_t)(n ? n : 1) * sizeof *out->member);
    if (!out->start || !out->member) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory building %d cells", count);
    for (int64_t i = 0; i < n; i++)
        if (cell_of[i] < 0 || cell_of[i] >= count)
            return nmp_fail(err, NMP_ERR_RUNTIME, "partitioner put point %lld in cell %d, outside [0, %d)",
                            (long long)i, cell_of[i], count);
    kmeans_members_cpu(cell_of, NULL, n, count, out->start, out->member);
    out->view = (nmp_cells){.count = count, .n = n, .d = d, .cell_of = out->cell_of, .start = out->start,
                            .member = out->member, .centroids = out->centroids};
    return NMP_OK;
}

void nmp_cells_free(nmp_cell_index *c)
{
    free(c->cell_of), free(c->start), free(c->member), free(c->centroids);
    memset(c, 0, sizeof *c);
}

nmp_status nmp_knn_quality_measure(const nmp_matrix *x, const nmp_cells *cells, const nmp_graph *knn, int32_t k,
                                   nmp_metric metric, int64_t sample, uint64_t seed, nmp_knn_quality *out,
                                   nmp_err *err)
{
    memset(out, 0, sizeof *out);
    if (sample <= 0) return NMP_OK;
    double t0 = nmp_now();
    int64_t m = 0;
    int32_t *ids = NULL;
    if (nmp_eval_sample_queries(x->n, sample, seed, &ids, &m) != NMP_OK) ids = NULL;
    float *q = malloc((size_t)(m * x->d) * sizeof *q);
    int32_t *idx = malloc((size_t)(m * k) * sizeof *idx);
    float *dist = malloc((size_t)(m * k) * sizeof *dist);
    nmp_status s = (!ids || !q || !idx || !dist) ? NMP_ERR_NOMEM : NMP_OK;
    if (s == NMP_OK) {
        for (int64_t i = 0; i < m; i++) memcpy(q + i * x->d, x->x + (int64_t)ids[i] * x->d, (size_t)x->d * sizeof *q);
        s = knn_topk_cpu(q, m, x->x, x->n, x->d, k, metric, ids, NULL, idx, dist);
    }
    if (s == NMP_OK) {
        int64_t kept = 0, found = 0, total = 0;
        for (int64_t i = 0; i < m; i++) {
            int32_t p = ids[i];
            for (int32_t r = 0; r < k; r++) {
                int32_t nb = idx[i * k + r];
                if (nb < 0) continue;
                total++;
                kept += cells->cell_of[nb] == cells->cell_of[p];
                for (int64_t e = knn->offsets[p]; e < knn->offsets[p + 1]; e++)
                    if (knn->index[e] == nb) {
                        found++;
                        break;
                    }
            }
        }
        out->sample = m;
        out->edges_kept = total ? (double)kept / (double)total : 0;
        out->recall = total ? (double)found / (double)total : 0;
    }
    free(ids), free(q), free(idx), free(dist);
    out->seconds = nmp_now() - t0;
    return s == NMP_OK ? NMP_OK : nmp_fail(err, s, "out of memory measuring kNN recall on %lld points", (long long)m);
}
