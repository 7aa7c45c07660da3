/* The single partitioner: all points in cell 0 (no partition), centroid = the data mean. Use
 * it for global methods (exact InfoNC-t-SNE, UMAP) that need no cells. */
#include <stdlib.h>
#include <string.h>

#include "part_common.h"

typedef struct {
    const nmp_host *host;
} single_state;

static nmp_status single_create(const nmp_host *host, const nmp_params *params, void **state)
{
    (void)params;
    single_state *st = nmp_state_new(host, sizeof *st, "single");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    *state = st;
    return NMP_OK;
}

static void single_destroy(void *state) { free(state); }

static nmp_status single_partition(void *state, const nmp_matrix *x, nmp_partition *out)
{
    const nmp_host *h = ((single_state *)state)->host;
    memset(out->cell_of, 0, (size_t)x->n * sizeof *out->cell_of);
    if (out->cells != 1) h->log(h, NMP_LOG_INFO, "single: %d cells asked, 1 produced", out->cells);
    out->cells = 1;
    out->iterations = 0;
    out->empty_cells = 0;
    if (x->n == 0) {
        memset(out->centroids, 0, (size_t)x->d * sizeof *out->centroids);
        return NMP_OK;
    }
    return part_cell_means(h, x->x, x->d, out->cell_of, NULL, x->n, 1, out->centroids, NULL);
}

static const nmp_partitioner_ops single_ops = {sizeof(nmp_partitioner_ops), single_partition};

NMP_PLUGIN_DEFINE(single_plugin, NMP_KIND_PARTITIONER, "single", "1.1.0",
                  "All points in one cell (no partition); centroid = data mean",
                  NMP_NO_PARAMS, single_create, single_destroy, &single_ops, NULL);
NMP_PLUGIN_EXPORT(&single_plugin);
