/* The exact ann plugin: global brute-force kNN over all points, ignoring cells. The recall
 * reference for the approximate graphs. */
#include <stdlib.h>

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
    exact_state *st = *state = nmp_state_new(host, sizeof *st, "exact");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->query_block = nmp_param_int(params, "query_block");
    if (st->query_block < 1) st->query_block = 1;
    return NMP_OK;
}

static nmp_status exact_build(void *state, const nmp_matrix *x, const nmp_cells *cells, int32_t k,
                              nmp_metric metric, nmp_graph *out)
{
    (void)cells;
    exact_state *st = state;
    const nmp_host *h = st->host;
    nmp_status s = ann_build_begin(h, "exact", k, out);
    if (s != NMP_OK) return s;
    ann_groups g;
    s = ann_groups_make(h, NULL, x->n, 1, &g);
    if (s == NMP_OK) s = ann_graph_alloc_groups(h, &g, x->n, k, out);
    if (s == NMP_OK) s = ann_exact_group(h, x, ann_groups_get(&g, 0), k, metric, st->query_block, 0, x->n, out);
    if (s != NMP_OK && out->offsets) ann_graph_release(h, out);
    ann_groups_free(&g);
    return s;
}

NMP_PLUGIN_REGISTER(NMP_KIND_ANN, "exact", "1.0.0",
                    "Global brute-force kNN over all points (ignores cells): the recall reference",
                    NMP_PARAMS(exact_params), exact_create, free, (.build = exact_build), NULL);
