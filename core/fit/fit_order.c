/* Renumbering of the fit's points into cell order (see fit_order.h). */
#include "fit_order.h"

#include <stdlib.h>
#include <string.h>

void nmp_fit_order_free(nmp_fit_order *o)
{
    free(o->offsets), free(o->index), free(o->cell_of), free(o->member), free(o->weight), free(o->dist);
    free(o->rank);
    memset(o, 0, sizeof *o);
}

static int is_identity(const nmp_cells *c)
{
    for (int64_t i = 0; i < c->n; i++)
        if (c->member[i] != i) return 0;
    return 1;
}

nmp_status nmp_fit_order_build(nmp_fit_order *o, const nmp_graph *g, const nmp_cells *c, nmp_err *err)
{
    memset(o, 0, sizeof *o);
    o->order = c->member;
    if (is_identity(c)) {
        o->identity = 1, o->graph = *g, o->cells = *c;
        return NMP_OK;
    }
    int64_t n = g->n, nnz = nmp_graph_nnz(g);
    o->offsets = malloc((size_t)(n + 1) * sizeof *o->offsets);
    o->index = malloc((size_t)(nnz + 1) * sizeof *o->index);
    o->weight = g->weight ? malloc((size_t)(nnz + 1) * sizeof *o->weight) : NULL;
    o->dist = g->dist ? malloc((size_t)(nnz + 1) * sizeof *o->dist) : NULL;
    o->cell_of = malloc((size_t)(n + 1) * sizeof *o->cell_of);
    o->member = malloc((size_t)(n + 1) * sizeof *o->member);
    o->rank = malloc((size_t)(n + 1) * sizeof *o->rank);
    if (!o->offsets || !o->index || (g->weight && !o->weight) || (g->dist && !o->dist) || !o->cell_of || !o->member ||
        !o->rank) {
        nmp_fit_order_free(o);
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory renumbering %lld points (%lld edges) by cell",
                        (long long)n, (long long)nnz);
    }
    for (int64_t i = 0; i < n; i++) o->rank[c->member[i]] = (int32_t)i, o->member[i] = (int32_t)i;
    for (int32_t cell = 0; cell < c->count; cell++)
        for (int64_t i = c->start[cell]; i < c->start[cell + 1]; i++) o->cell_of[i] = cell;
    int64_t e = 0;
    o->offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t src = c->member[i];
        for (int64_t j = g->offsets[src]; j < g->offsets[src + 1]; j++, e++) {
            o->index[e] = o->rank[g->index[j]];
            if (o->weight) o->weight[e] = g->weight[j];
            if (o->dist) o->dist[e] = g->dist[j];
        }
        o->offsets[i + 1] = e;
    }
    o->graph = (nmp_graph){.n = n, .offsets = o->offsets, .index = o->index, .dist = o->dist, .weight = o->weight};
    o->cells = *c;
    o->cells.cell_of = o->cell_of;
    o->cells.member = o->member;
    o->order = c->member;
    return NMP_OK;
}

void nmp_fit_order_to_fit(const nmp_fit_order *o, const float *y_input, float *y_fit, int dims)
{
    for (int64_t i = 0; i < o->cells.n; i++)
        memcpy(y_fit + i * dims, y_input + (int64_t)o->order[i] * dims, (size_t)dims * sizeof *y_fit);
}

void nmp_fit_order_to_input(const nmp_fit_order *o, const float *y_fit, float *y_input, int dims)
{
    for (int64_t i = 0; i < o->cells.n; i++)
        memcpy(y_input + (int64_t)o->order[i] * dims, y_fit + i * dims, (size_t)dims * sizeof *y_fit);
}
