/* The exact_cell ann plugin (NOMAD): exact kNN inside each cell by blocked GEMM + top-k.
 * Edges to other cells are lost by design; cells of <= k points give rows of size - 1. */
#include <stdlib.h>
#include <string.h>

#include "ann_common.h"

static const nmp_param_decl exact_cell_params[] = {
    {"query_block", NMP_PARAM_INT, "65536", 1, 2147483647.0, NULL,
     "queries per kernel call: bounds the scratch result buffers (query_block x k)"},
};

typedef struct {
    const nmp_host *host;
    int64_t query_block;
} exact_cell_state;

static nmp_status exact_cell_create(const nmp_host *host, const nmp_params *params, void **state)
{
    exact_cell_state *st = calloc(1, sizeof *st);
    if (!st) {
        host->set_error(host, "exact_cell: out of memory");
        return NMP_ERR_NOMEM;
    }
    st->host = host;
    st->query_block = nmp_param_int(params, "query_block");
    if (st->query_block < 1) st->query_block = 1;
    *state = st;
    return NMP_OK;
}

static void exact_cell_destroy(void *state) { free(state); }

static nmp_status exact_cell_build(void *state, const nmp_matrix *x, const nmp_cells *cells, int32_t k,
                                   nmp_metric metric, nmp_graph *out)
{
    exact_cell_state *st = state;
    const nmp_host *h = st->host;
    if (k < 1) {
        h->set_error(h, "exact_cell: k must be >= 1, got %d", k);
        return NMP_ERR_INVALID;
    }
    if (cells && cells->n != x->n) {
        h->set_error(h, "exact_cell: partition has %lld points, data %lld", (long long)cells->n, (long long)x->n);
        return NMP_ERR_INVALID;
    }
    memset(out, 0, sizeof *out);
    ann_groups g;
    nmp_status s = ann_groups_make(h, cells, x->n, 0, &g);
    if (s == NMP_OK) s = ann_graph_alloc_groups(h, &g, x->n, k, out);
    int64_t done = 0;
    /* cells one after another: the kernel spreads each cell's queries over all threads */
    for (int32_t c = 0; s == NMP_OK && c < g.count; c++) {
        ann_group grp = ann_groups_get(&g, c);
        s = ann_exact_group(h, x, grp, k, metric, st->query_block, done, x->n, out);
        done += grp.count;
    }
    if (s != NMP_OK && out->offsets) ann_graph_release(h, out);
    ann_groups_free(&g);
    return s;
}

static const nmp_ann_ops exact_cell_ops = {sizeof(nmp_ann_ops), exact_cell_build};

static const nmp_plugin exact_cell_plugin = {
    NMP_ABI_MAJOR, NMP_ABI_MINOR, sizeof(nmp_plugin), NMP_KIND_ANN, "exact_cell", "1.0.0",
    "Exact kNN inside each cell (GEMM + top-k), the NOMAD reference graph",
    exact_cell_params, sizeof exact_cell_params / sizeof exact_cell_params[0], exact_cell_create,
    exact_cell_destroy, &exact_cell_ops,
};

NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i) { return i == 0 ? &exact_cell_plugin : NULL; }
