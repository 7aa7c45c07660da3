/* Example negatives plugin for docs/plugin-guide.md: m exact negatives from the target's own
 * cell, and every other cell as one mean weighted by its size. Built and run by
 * tests/e2e/plugin_guide.sh, so the guide cannot drift from the ABI. */
#include <stdlib.h>

#include "nomad/plugin.h"
#include "nomad/rng.h"

static const nmp_param_decl params[] = {
    {"m", NMP_PARAM_INT, "16", 1, 100000, NULL, "exact negatives per target, from its own cell"},
};

typedef struct {
    const nmp_host *host;
    int m;
    const nmp_fit_info *fit;
    int32_t *index;      /* batch x m */
    float *weight;       /* batch x m */
    float *mean_weight;  /* batch x cells */
} own_cell;

static nmp_status create(const nmp_host *host, const nmp_params *p, void **state)
{
    own_cell *s = calloc(1, sizeof *s);
    if (!s) return NMP_ERR_NOMEM;
    s->host = host;
    s->m = (int)nmp_param_int(p, "m");
    *state = s;
    return NMP_OK;
}

static void destroy(void *state)
{
    own_cell *s = state;
    free(s->index), free(s->weight), free(s->mean_weight), free(s);
}

static nmp_status prepare(void *state, const nmp_fit_info *fit)
{
    own_cell *s = state;
    s->fit = fit;
    s->index = malloc((size_t)fit->batch * (size_t)s->m * sizeof *s->index);
    s->weight = malloc((size_t)fit->batch * (size_t)s->m * sizeof *s->weight);
    s->mean_weight = malloc((size_t)fit->batch * (size_t)fit->cells->count * sizeof *s->mean_weight);
    return s->index && s->weight && s->mean_weight ? NMP_OK : NMP_ERR_NOMEM;
}

static nmp_status sample(void *state, const nmp_step *step, nmp_negatives *out)
{
    own_cell *s = state;
    const nmp_cells *cells = s->fit->cells;
    for (int32_t b = 0; b < step->batch; b++) {
        int32_t c = cells->cell_of[step->target[b]];
        int64_t first = cells->start[c], size = cells->start[c + 1] - first;
        for (int l = 0; l < s->m; l++) {
            uint64_t draw = nmp_rng_below(s->host->seed, NMP_STREAM_PLUGIN + 7,
                                          nmp_rng_counter2((uint64_t)step->step, (uint64_t)(b * s->m + l)), (uint64_t)size);
            s->index[b * s->m + l] = cells->member[first + (int64_t)draw];
            s->weight[b * s->m + l] = step->cell_mass[c] / (float)s->fit->n; /* m draws = own cell's share */
        }
        for (int32_t r = 0; r < cells->count; r++) /* other cells: their share of m uniform draws */
            s->mean_weight[b * cells->count + r] = r == c ? 0.0f : (float)s->m * step->cell_mass[r] / (float)s->fit->n;
    }
    *out = (nmp_negatives){.per_target = s->m, .shared = 0, .index = s->index, .weight = s->weight,
                           .approx_count = cells->count, .approx_y = step->cell_mean, .approx_weight = s->mean_weight};
    return NMP_OK;
}

static const nmp_negatives_ops ops = {sizeof ops, prepare, sample};
static const nmp_plugin plugin = {NMP_ABI_MAJOR, NMP_ABI_MINOR, sizeof plugin, NMP_KIND_NEGATIVES, "own_cell", "1.0",
                                  "exact negatives from the target's cell, other cells as size-weighted means",
                                  params, 1, create, destroy, &ops};

NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i) { return i == 0 ? &plugin : NULL; }
