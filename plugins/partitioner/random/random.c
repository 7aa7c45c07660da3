/* The random partitioner: each point in a uniformly drawn cell (counter RNG, so the same for
 * any thread count); centroids are the cell means. An ablation baseline for kmeans. */
#include <stdlib.h>

#include "nomad/rng.h"
#include "part_common.h"
#include "plugin_state.h"

static nmp_status random_create(const nmp_host *host, const nmp_params *params, void **state)
{
    (void)params;
    return plugin_host_state_new(host, "random", state);
}

typedef struct {
    uint64_t seed;
    int32_t cells;
    int32_t *cell_of;
} draw_ctx;

static void draw_range(void *vctx, int64_t b, int64_t e, int worker)
{
    (void)worker;
    draw_ctx *c = vctx;
    for (int64_t i = b; i < e; i++)
        c->cell_of[i] = (int32_t)nmp_rng_below(c->seed, NMP_STREAM_PARTITION, (uint64_t)i, (uint64_t)c->cells);
}

static nmp_status random_partition(void *state, const nmp_matrix *x, nmp_partition *out)
{
    const nmp_host *h = ((plugin_host_state *)state)->host;
    if (out->cells < 1) {
        h->set_error(h, "random: cells must be >= 1, got %d", out->cells);
        return NMP_ERR_INVALID;
    }
    draw_ctx c = {h->seed, out->cells, out->cell_of};
    h->parallel_for(h, x->n, draw_range, &c);
    int64_t *counts = malloc((size_t)out->cells * sizeof *counts);
    if (!counts) {
        h->set_error(h, "random: out of memory");
        return NMP_ERR_NOMEM;
    }
    nmp_status s = part_cell_means(h, x->x, x->d, out->cell_of, NULL, x->n, out->cells, out->centroids, counts);
    out->iterations = 0;
    out->empty_cells = 0;
    for (int32_t k = 0; k < out->cells; k++) out->empty_cells += counts[k] == 0;
    if (s == NMP_OK && out->empty_cells > 0) {
        int32_t kept = part_drop_empty(out->cell_of, x->n, counts, out->cells, out->centroids, x->d);
        if (kept < 0) {
            h->set_error(h, "random: out of memory");
            s = NMP_ERR_NOMEM;
        } else {
            h->log(h, NMP_LOG_WARN, "random: dropped %d empty cells, %d remain (renumbered)", out->empty_cells, kept);
            out->cells = kept;
        }
    }
    free(counts);
    return s;
}

NMP_PLUGIN_REGISTER(NMP_KIND_PARTITIONER, "random", "1.1.0",
                    "Uniformly random cell per point; centroids are the cell means (empty cells dropped)",
                    NMP_NO_PARAMS, random_create, free, (.partition = random_partition), NULL);
