/* The exact ann plugin: global brute-force kNN over all points, ignoring cells. The recall
 * reference for the approximate graphs. */
#include <stdlib.h>
#include <string.h>

#include "ann_common.h"

static const nmp_param_decl exact_params[] = {
    {"query_block", NMP_PARAM_INT, "65536", 1, 2147483647.0, NULL,
     "queries per kernel call: bounds the scratch result buffers (query_block x k)"},
};

typedef struct {
    const nmp_host *host;
    int64_t query_block;
} exact_state;

static nmp_status exact_create(const nmp_host *host, const nmp_params *params, void **state)
{
    exact_state *st = nmp_state_new(host, sizeof *st, "exact");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->query_block = nmp_param_int(params, "query_block");
    if (st->query_block < 1) st->query_block = 1;
    *state = st;
    return NMP_OK;
}

static void exact_destroy(void *state) { free(state); }

static nmp_status exact_build(void *state, const nmp_matrix *x, const nmp_cells *cells, int32_t k,
                              nmp_metric metric, nmp_graph *out)
{
    (void)cells;
    exact_state *st = state;
    const nmp_host *h = st->host;
    if (k < 1) {
        h->set_error(h, "exact: k must be >= 1, got %d", k);
        return NMP_ERR_INVALID;
    }
    memset(out, 0, sizeof *out);
    ann_groups g;
    nmp_status s = ann_groups_make(h, NULL, x->n, 1, &g);
    if (s == NMP_OK) s = ann_graph_alloc_groups(h, &g, x->n, k, out);
    if (s == NMP_OK) s = ann_exact_group(h, x, ann_groups_get(&g, 0), k, metric, st->query_block, 0, x->n, out);
    if (s != NMP_OK && out->offsets) ann_graph_release(h, out);
    ann_groups_free(&g);
    return s;
}

static const nmp_ann_ops exact_ops = {sizeof(nmp_ann_ops), exact_build};

NMP_PLUGIN_DEFINE(exact_plugin, NMP_KIND_ANN, "exact", "1.0.0",
                  "Global brute-force kNN over all points (ignores cells): the recall reference",
                  NMP_PARAMS(exact_params), exact_create, exact_destroy, &exact_ops, NULL);
NMP_PLUGIN_EXPORT(&exact_plugin);
