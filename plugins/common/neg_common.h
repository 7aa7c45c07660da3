/* Pieces shared by the negatives plugins: the random stream, draws uniform over the points
 * of a set of cells, and approximate terms (cell means) that are the same for every target. */
#ifndef NOMAD_NEG_COMMON_H
#define NOMAD_NEG_COMMON_H

#include "nomad/plugin.h"
#include "nomad/rng.h"
#include "plugin_device.h"

/* Seed of the negatives stream: the run's seed, made distinct per rank so ranks do not draw
 * the same slots. Counters are nmp_rng_counter2(step, slot). */
static inline uint64_t neg_seed(const nmp_host *h)
{
    return h->rank ? nmp_mix64(h->seed ^ nmp_mix64((uint64_t)h->rank)) : h->seed;
}

/* Uniform integer below `bound` for (step, slot) on the negatives stream. */
static inline uint64_t neg_draw(uint64_t seed, int64_t step, uint64_t slot, uint64_t bound)
{
    return nmp_rng_below(seed, NMP_STREAM_NEGATIVES, nmp_rng_counter2((uint64_t)step, slot), bound);
}

static inline int64_t neg_cell_size(const nmp_cells *c, int32_t r) { return c->start[r + 1] - c->start[r]; }

/* Points over all ranks, and in cell r over all ranks (this rank's cells->start knows only
 * its own points; a host before ABI 1.1 leaves the fields 0/NULL, and was never distributed). */
static inline double neg_total(const nmp_fit_info *fit)
{
    return fit->n_total > 0 ? (double)fit->n_total : (double)fit->cells->start[fit->cells->count];
}
static inline double neg_mass(const nmp_fit_info *fit, int32_t r)
{
    return fit->cell_mass ? (double)fit->cell_mass[r] : (double)neg_cell_size(fit->cells, r);
}

/* Weight of the mean of cell r: 1 (unweighted), or under `mass` the expected number of the
 * `noise` uniform samples that fall in r: noise * |r| / n (the paper's bound). */
static inline float neg_mean_weight(const nmp_fit_info *fit, int32_t r, double noise, int mass)
{
    return mass ? (float)(noise * neg_mass(fit, r) / neg_total(fit)) : 1.0f;
}

/* Groups of cells to draw points from, uniformly over the points of the group: draw one
 * integer below the group's size, then a binary search of the cumulative cell sizes. */
typedef struct {
    int32_t groups;
    int64_t *start; /* groups + 1: cells of group g are cell[start[g] .. start[g+1]) */
    int32_t *cell;
    int64_t *cum;   /* start[groups] + groups: group g's cumulative sizes at cum[start[g] + g ...], from 0 */
    int64_t *flat;  /* groups: where the group's points start in cells->member when its cells are
                       consecutive ids (members then lie side by side: no search), else -1 */
    int identity;   /* cells->member[i] == i (the optimiser's cell order): a draw needs no load of
                       it, which was most of a draw's time (a cache miss per draw) */
} neg_cellsets;

/* Allocates `groups` groups with `total` cells in all; the caller fills start and cell, then
 * calls neg_cellsets_finish. Returns NMP_ERR_NOMEM (after set_error) on failure. */
nmp_status neg_cellsets_alloc(neg_cellsets *s, const nmp_host *h, int32_t groups, int64_t total);
void neg_cellsets_finish(neg_cellsets *s, const nmp_cells *cells);
void neg_cellsets_free(neg_cellsets *s);
/* Points in group g. */
static inline int64_t neg_cellsets_size(const neg_cellsets *s, int32_t g) { return s->cum[s->start[g + 1] + g]; }
/* A point drawn uniformly from group g (which must have points) for (step, slot). */
/* Inline so that callers' loops hoist the seed and step mixing out of the per-draw work. */
static inline int32_t neg_cellsets_draw(const neg_cellsets *s, const nmp_cells *cells, int32_t g, uint64_t seed, int64_t step,
                          uint64_t slot)
{
    const int64_t *cum = s->cum + s->start[g] + g;
    int64_t len = s->start[g + 1] - s->start[g];
    int64_t u = (int64_t)neg_draw(seed, step, slot, (uint64_t)cum[len]);
    if (s->flat[g] >= 0) return s->identity ? (int32_t)(s->flat[g] + u) : cells->member[s->flat[g] + u];
    /* Branchless search for the last cell whose range starts at or before u (this skips
     * empty cells): the answer stays in [base, base + len) with cum[base] <= u. */
    const int64_t *base = cum;
    while (len > 1) {
        int64_t half = len / 2;
        base += base[half] <= u ? half : 0;
        len -= half;
    }
    int64_t k = base - cum, at = cells->start[s->cell[s->start[g] + k]] + (u - *base);
    return s->identity ? (int32_t)at : cells->member[at];
}

/* m points of group g (which must have points) by systematic sampling: the group's points laid
 * end to end (cell by cell, in fit order), positions floor(u + l |g| / m) for l < m, one offset u
 * uniform in [0, |g| / m) for (step, slot). Each point is drawn with probability m / |g|, as by
 * m uniform draws, but the cells of g come in proportion to their sizes (a stratified sample)
 * and a row costs one random number and no search, its points read in address order. */
void neg_cellsets_systematic(const neg_cellsets *s, const nmp_cells *cells, int32_t g, uint64_t seed, int64_t step,
                             uint64_t slot, int32_t m, int32_t *out);

/* Approximate terms shared by every target: the means of a fixed list of cells, gathered from
 * step->cell_mean each step, with constant weight rows (filled once for fit->batch rows). */
typedef struct {
    int32_t count;
    int32_t *cell;  /* count */
    float *y;       /* count x dims */
    float *weight;  /* batch x count */
    float *spread;  /* count: spread x the cells' layout spread (spread > 0 only) */
    double spread_scale;
    int32_t dims, batch;
} neg_fixed_approx;

/* Terms for the cells with approx[c] != 0, weighted by neg_mean_weight(noise, mass), and with
 * spread > 0 spread as spread x step->cell_spread (nmp_negatives.approx_spread). */
nmp_status neg_fixed_approx_init(neg_fixed_approx *a, const nmp_host *h, const nmp_fit_info *fit,
                                 const uint8_t *approx, double noise, int mass, double spread);
/* spread x step->cell_spread into out (count values), or an error when the optimiser keeps no
 * cell spreads. */
nmp_status neg_spread(const nmp_host *h, const nmp_step *step, const int32_t *cell, int32_t count, double spread,
                      float *out);
/* Gathers this step's means (and spreads) and points out->approx_* at them. */
nmp_status neg_fixed_approx_step(const neg_fixed_approx *a, const nmp_host *h, const nmp_step *step,
                                 nmp_negatives *out);
void neg_fixed_approx_free(neg_fixed_approx *a);

/* Rows of targets that share one draw of negatives (nmp_negatives.rows, ABI 1.1): runs of at
 * most `group` consecutive targets, also cut where the target's cell changes when `by_cell`
 * (the host hands the batch grouped by cell). Fills row_start (batch + 1) and returns the
 * number of rows. */
int32_t neg_rows(const nmp_step *step, const nmp_cells *cells, int32_t group, int by_cell, int32_t *row_start);

/* Checks a step against the batch size the buffers were sized for. */
nmp_status neg_check_step(const nmp_host *h, const nmp_step *step, int32_t batch);

/* NEG_CUDA_ENTRY(prefix, state_type, sample_fn): the CUDA entry of a negatives plugin whose own
 * CPU sampler serves the device too (neg_cuda.h), as prefix_extension; its state has members
 * `host` and `gpu` (neg_cuda_bufs). PLUGIN_CUDA_EXTENSION(prefix) names it for
 * NMP_PLUGIN_REGISTER (plugin_device.h). */
#ifdef NOMAD_CUDA
#define NEG_CUDA_ENTRY(prefix, state_type, sample_fn)                                                            \
    static nmp_status prefix##_sample_cuda(void *state, const nmp_step_cuda *step, nmp_negatives *out)           \
    {                                                                                                            \
        state_type *s = state;                                                                                   \
        return neg_cuda_sample(s->host, &s->gpu, sample_fn, s, step, out);                                       \
    }                                                                                                            \
    static const nmp_negatives_cuda_ops prefix##_cuda_ops = {.struct_size = sizeof(nmp_negatives_cuda_ops),      \
                                                             .sample = prefix##_sample_cuda};                    \
    PLUGIN_CUDA_ENTRY(prefix, prefix##_cuda_ops)
#else
#define NEG_CUDA_ENTRY(prefix, state_type, sample_fn)
#endif

/* NEG_REGISTER(name, version, summary, decls, create, destroy, prepare_fn, sample_fn, state_type):
 * NMP_PLUGIN_REGISTER for such a plugin (decls: its nmp_param_decl array), with its CUDA entry. */
#define NEG_REGISTER(name, version, summary, decls, create, destroy, prepare_fn, sample_fn, state_type)                \
    NEG_CUDA_ENTRY(neg_plugin, state_type, sample_fn)                                                                  \
    NMP_PLUGIN_REGISTER(NMP_KIND_NEGATIVES, name, version, summary, NMP_PARAMS(decls), create, destroy,                \
                        (.prepare = prepare_fn, .sample = sample_fn, .no_edges = 1),                                   \
                        PLUGIN_CUDA_EXTENSION(neg_plugin))

#endif
