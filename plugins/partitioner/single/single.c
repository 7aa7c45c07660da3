/* The single partitioner: all points in cell 0 (no partition), centroid = the data mean. Use
 * it for global methods (exact InfoNC-t-SNE, UMAP) that need no cells. */
#include <stdlib.h>
#include <string.h>

#include "part_common.h"
#include "plugin_state.h"

static nmp_status single_create(const nmp_host *host, const nmp_params *params, void **state)
{
    (void)params;
    return plugin_host_state_new(host, "single", state);
}

static nmp_status single_partition(void *state, const nmp_matrix *x, nmp_partition *out)
{
    const nmp_host *h = ((plugin_host_state *)state)->host;
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

NMP_PLUGIN_REGISTER(NMP_KIND_PARTITIONER, "single", "1.1.0",
                    "All points in one cell (no partition); centroid = data mean",
                    NMP_NO_PARAMS, single_create, free, (.partition = single_partition), NULL);
