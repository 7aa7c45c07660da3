/* Example negatives plugin of docs/plugin-guide.md: exact negatives from the target's own cell
 * plus the layout means of only the K other cells nearest the target; far cells are dropped. */
#include <math.h>
#include <stdlib.h>

#include "nomad/plugin.h"
#include "nomad/rng.h"

static const nmp_param_decl params[] = {
    {"exact", NMP_PARAM_INT, "64", 1, 1000000, NULL, "exact negatives per target, from its own cell"},
    {"K", NMP_PARAM_INT, "4", 0, 1000000, NULL, "cell means per target: those of the K other cells nearest it"},
};

typedef struct {
    const nmp_host *host;
    int exact, K;
    const nmp_fit_info *fit;
    int32_t *index;            /* batch x exact, and */
    float *weight;             /* batch x exact: the exact negatives */
    float *mean_weight, *dist; /* batch x cells: the means' weights; cells: scratch */
} nearest_means;

static nmp_status create(const nmp_host *host, const nmp_params *p, void **state)
{
    nearest_means *s = *state = nmp_state_new(host, sizeof *s, "nearest_means");
    if (!s) return NMP_ERR_NOMEM;
    s->host = host, s->exact = (int)nmp_param_int(p, "exact"), s->K = (int)nmp_param_int(p, "K");
    return NMP_OK;
}

static void destroy(void *state)
{
    nearest_means *s = state;
    free(s->index), free(s->weight), free(s->mean_weight), free(s->dist), free(s);
}

static nmp_status prepare(void *state, const nmp_fit_info *fit)
{
    nearest_means *s = state;
    size_t slots = (size_t)fit->batch * (size_t)s->exact, cells = (size_t)fit->cells->count;
    s->fit = fit;
    s->index = malloc(slots * sizeof *s->index), s->weight = malloc(slots * sizeof *s->weight);
    s->mean_weight = malloc((size_t)fit->batch * cells * sizeof(float)), s->dist = malloc(cells * sizeof(float));
    return s->index && s->weight && s->mean_weight && s->dist ? NMP_OK : NMP_ERR_NOMEM;
}

static nmp_status sample(void *state, const nmp_step *step, nmp_negatives *out)
{
    nearest_means *s = state;
    const nmp_cells *cells = s->fit->cells;
    const int32_t C = cells->count, dims = s->fit->dims;
    const float n = (float)s->fit->n_total; /* cell_mass counts every rank's points */
    for (int32_t b = 0; b < step->batch; b++) {
        int32_t t = step->target[b], c = cells->cell_of[t];
        int64_t first = cells->start[c], size = cells->start[c + 1] - first;
        for (uint64_t l = 0, slot = (uint64_t)b * (uint64_t)s->exact; l < (uint64_t)s->exact; l++, slot++) {
            uint64_t draw = nmp_rng_below(s->host->seed, NMP_STREAM_PLUGIN + 11,
                                          nmp_rng_counter2((uint64_t)step->step, slot), (uint64_t)size);
            s->index[slot] = cells->member[first + (int64_t)draw];
            s->weight[slot] = step->cell_mass[c] / n; /* a draw in c stands for |c|/n of a uniform one */
        }
        float *row = s->mean_weight + (int64_t)b * C; /* 0 but for the K other cells nearest y_t */
        for (int32_t r = 0; r < C; r++) {
            float d2 = 0;
            for (int32_t k = 0; k < dims; k++) {
                float diff = step->y[(int64_t)t * dims + k] - step->cell_mean[r * dims + k];
                d2 += diff * diff;
            }
            s->dist[r] = r == c ? INFINITY : d2, row[r] = 0;
        }
        for (int k = 0; k < s->K; k++) {
            int32_t best = 0;
            for (int32_t r = 1; r < C; r++) best = s->dist[r] < s->dist[best] ? r : best;
            if (s->dist[best] == INFINITY) break; /* fewer than K other cells */
            row[best] = (float)s->exact * step->cell_mass[best] / n; /* its share of `exact` uniform draws */
            s->dist[best] = INFINITY;
        }
    }
    *out = (nmp_negatives){.per_target = s->exact, .index = s->index, .weight = s->weight,
                           .approx_count = C, .approx_y = step->cell_mean, .approx_weight = s->mean_weight};
    return NMP_OK;
}

NMP_PLUGIN_REGISTER(NMP_KIND_NEGATIVES, "nearest_means", "1.0",
                    "exact negatives from the target's cell + means of its K nearest other cells", NMP_PARAMS(params),
                    create, destroy, (.prepare = prepare, .sample = sample, .no_edges = 1),
                    NULL /* extensions: none, so no CUDA entry (section 8) */);
