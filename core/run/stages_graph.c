/* Stages that build the graph and the starting layout: partition, ann, affinity, init.
 * Every plugin result is checked before the next stage trusts it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "stages.h"

void nmp_graph_release(nmp_graph *g)
{
    free(g->offsets), free(g->index), free(g->dist), free(g->weight);
    memset(g, 0, sizeof *g);
}

nmp_status nmp_graph_check(const nmp_graph *g, int64_t n, const nmp_instance *inst, int need_weight, nmp_err *err)
{
    const char *what = NULL;
    int64_t bad = -1;
    if (!g->offsets || !g->index || g->n != n || g->offsets[0] != 0) what = "no graph, or one of the wrong size";
    else if (need_weight && !g->weight) what = "no edge weights";
    for (int64_t i = 0; !what && i < n; i++) {
        if (g->offsets[i + 1] < g->offsets[i]) what = "offsets that decrease", bad = i;
        for (int64_t e = g->offsets[i]; !what && e < g->offsets[i + 1]; e++) {
            if (g->index[e] < 0 || g->index[e] >= n) what = "a neighbour id out of range", bad = i;
            else if (g->index[e] == i) what = "a self edge", bad = i;
            else if (need_weight && !(g->weight[e] >= 0 && isfinite(g->weight[e]))) what = "a negative or non-finite weight", bad = i;
        }
    }
    if (!what) return NMP_OK;
    return nmp_fail(err, NMP_ERR_RUNTIME, "%s plugin %s (%s) returned a graph with %s%s%lld", nmp_kind_name(inst->ref->desc->kind),
                    inst->ref->desc->name, inst->ref->file, what, bad >= 0 ? " at row " : "", (long long)(bad >= 0 ? bad : 0));
}

nmp_status stage_partition(nmp_run *r, nmp_err *err)
{
    nmp_instance *in = &r->inst[NMP_KIND_PARTITIONER];
    int32_t asked = r->cells_asked;
    int32_t *cell_of = malloc((size_t)r->x.n * sizeof *cell_of);
    float *centroids = malloc((size_t)asked * (size_t)r->x.d * sizeof *centroids);
    if (!cell_of || !centroids) {
        free(cell_of), free(centroids);
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory for the partition");
    }
    nmp_partition part = {.cells = asked, .cell_of = cell_of, .centroids = centroids};
    const nmp_partitioner_ops *ops = in->ops;
    nmp_status s = ops->partition(in->state, &r->x, &part);
    if (s != NMP_OK) {
        free(cell_of), free(centroids);
        return nmp_instance_fail(in, s, "partition", err);
    }
    if (part.cells < 1 || part.cells > asked) {
        free(cell_of), free(centroids);
        return nmp_fail(err, NMP_ERR_RUNTIME, "partitioner %s returned %d cells, outside [1, %d]", in->ref->desc->name,
                        part.cells, asked);
    }
    r->partition_iterations = part.iterations;
    r->empty_cells = part.empty_cells;
    s = nmp_cells_build(&r->cells, cell_of, centroids, r->x.n, r->x.d, part.cells, err);
    if (s != NMP_OK) return s;
    r->cell_local = malloc((size_t)part.cells);
    if (!r->cell_local) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    memset(r->cell_local, 1, (size_t)part.cells); /* one rank holds every cell */
    int64_t smallest = r->x.n, largest = 0;
    for (int32_t c = 0; c < part.cells; c++) {
        int64_t size = r->cells.start[c + 1] - r->cells.start[c];
        smallest = size < smallest ? size : smallest;
        largest = size > largest ? size : largest;
    }
    nmp_log(NMP_LOG_INFO, "partition: %d cells (sizes %lld..%lld), %lld iterations, %d empty", part.cells,
            (long long)smallest, (long long)largest, (long long)part.iterations, part.empty_cells);
    return NMP_OK;
}

/* A search inside cells gives a point at most (its cell's size - 1) neighbours: say so once
 * rather than fit on shorter rows than ann.k asked for without a word. */
static void warn_short_rows(const nmp_graph *g, int64_t k)
{
    int64_t shorter = 0, least = k;
    for (int64_t i = 0; i < g->n; i++) {
        int64_t degree = g->offsets[i + 1] - g->offsets[i];
        shorter += degree < k;
        least = degree < least ? degree : least;
    }
    if (shorter)
        nmp_log(NMP_LOG_WARN, "ann: %lld of %lld points have fewer than ann.k = %lld neighbours (as few as %lld): "
                "their cells are that small; use fewer partitioner.cells or a smaller ann.k", (long long)shorter,
                (long long)g->n, (long long)k, (long long)least);
}

nmp_status stage_ann(nmp_run *r, nmp_err *err)
{
    nmp_instance *in = &r->inst[NMP_KIND_ANN];
    const nmp_ann_ops *ops = in->ops;
    nmp_status s = ops->build(in->state, &r->x, &r->cells.view, (int32_t)r->cfg->ann.k, r->cfg->ann.metric, &r->knn);
    if (s != NMP_OK) return nmp_instance_fail(in, s, "build", err);
    if ((s = nmp_graph_check(&r->knn, r->x.n, in, 0, err)) != NMP_OK) return s;
    warn_short_rows(&r->knn, (int64_t)r->cfg->ann.k);
    if (r->dist.comm) return NMP_OK; /* recall against the exact global kNN needs all rows: local runs only */
    s = nmp_knn_quality_measure(&r->x, &r->cells.view, &r->knn, (int32_t)r->cfg->ann.k, r->cfg->ann.metric,
                                r->cfg->ann.recall_sample, (uint64_t)r->cfg->seed, &r->knn_quality, err);
    if (s == NMP_OK && r->knn_quality.sample)
        nmp_log(NMP_LOG_INFO, "ann: %lld edges; on %lld sampled points %.1f%% of exact kNN edges stay inside cells, "
                "recall %.3f", (long long)nmp_graph_nnz(&r->knn), (long long)r->knn_quality.sample,
                100 * r->knn_quality.edges_kept, r->knn_quality.recall);
    return s;
}

nmp_status stage_affinity(nmp_run *r, nmp_err *err)
{
    nmp_instance *in = &r->inst[NMP_KIND_AFFINITY];
    const nmp_affinity_ops *ops = in->ops;
    nmp_status s = ops->weigh(in->state, &r->knn, &r->graph);
    if (s != NMP_OK) return nmp_instance_fail(in, s, "weigh", err);
    s = nmp_graph_check(&r->graph, r->x.n, in, 1, err);
    nmp_graph_release(&r->knn);
    return s;
}

nmp_status stage_init(nmp_run *r, nmp_err *err)
{
    nmp_instance *in = &r->inst[NMP_KIND_INIT];
    int64_t len = r->x.n * r->cfg->dims;
    r->y = malloc((size_t)len * sizeof *r->y);
    if (!r->y) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory for the layout");
    const nmp_init_ops *ops = in->ops;
    nmp_status s = ops->init(in->state, &r->x, &r->graph, (int32_t)r->cfg->dims, r->y);
    if (s != NMP_OK) return nmp_instance_fail(in, s, "init", err);
    for (int64_t i = 0; i < len; i++)
        if (!isfinite(r->y[i]))
            return nmp_fail(err, NMP_ERR_RUNTIME, "init plugin %s returned a NaN or Inf at point %lld",
                            in->ref->desc->name, (long long)(i / r->cfg->dims));
    return NMP_OK;
}
