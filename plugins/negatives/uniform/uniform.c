/* Negatives plugin "uniform" (exact InfoNC-t-SNE, Damrich et al. ICLR 2023): m negatives per
 * target drawn uniformly from all points on this rank, no approximate terms. */
#include <stdlib.h>
#include <string.h>

#include "neg_common.h"
#ifdef NOMAD_CUDA
#include "neg_cuda.h"
#endif

static const nmp_param_decl uniform_params[] = {
    {"m", NMP_PARAM_INT, "5", 1, 100000, NULL, "negatives per target, drawn uniformly with replacement"},
    {"shared", NMP_PARAM_BOOL, "false", 0, -1, NULL, "draw one set of m for the whole batch instead of per target"},
    {"group", NMP_PARAM_INT, "1", 1, 1000000, NULL,
     "consecutive targets that share one draw of m (1 = a draw per target; ignored when shared)"},
};

typedef struct {
    const nmp_host *host;
    const nmp_cells *cells;
    uint64_t seed;
    int32_t m, batch, group;
    int shared;
    int32_t *index;     /* rows x m: 1 when shared, else one per target or per group */
    int32_t *row_start; /* batch + 1 (group > 1) */
    neg_cellsets local; /* one group: the cells on this rank (all of them when local) */
#ifdef NOMAD_CUDA
    neg_cuda_bufs gpu; /* the CUDA entry's device copies */
#endif
} uniform_state;

typedef struct {
    const uniform_state *s;
    int64_t step;
} draw_ctx;

static nmp_status uniform_create(const nmp_host *host, const nmp_params *params, void **state)
{
    uniform_state *s = *state = nmp_state_new(host, sizeof *s, "uniform");
    if (!s) return NMP_ERR_NOMEM;
    s->host = host;
    s->seed = neg_seed(host);
    s->m = (int32_t)nmp_param_int(params, "m");
    s->shared = (int)nmp_param_int(params, "shared");
    s->group = s->shared ? 1 : (int32_t)nmp_param_int(params, "group");
    return NMP_OK;
}

static void uniform_destroy(void *state)
{
    uniform_state *s = state;
    neg_cellsets_free(&s->local);
#ifdef NOMAD_CUDA
    neg_cuda_bufs_free(&s->gpu);
#endif
    free(s->index), free(s->row_start);
    free(s);
}

static nmp_status uniform_prepare(void *state, const nmp_fit_info *fit)
{
    uniform_state *s = state;
    const nmp_cells *cells = fit->cells;
    nmp_status st = neg_cellsets_alloc(&s->local, s->host, 1, cells->count);
    if (st != NMP_OK) return st;
    for (int32_t c = 0; c < cells->count; c++)
        if (fit->cell_local[c]) s->local.cell[s->local.start[1]++] = c;
    neg_cellsets_finish(&s->local, cells);
    if (neg_cellsets_size(&s->local, 0) == 0) {
        s->host->set_error(s->host, "no points on this rank to draw negatives from");
        return NMP_ERR_INVALID;
    }
    s->index = malloc((size_t)(s->shared ? 1 : fit->batch) * (size_t)s->m * sizeof *s->index);
    s->row_start = malloc(((size_t)fit->batch + 1) * sizeof *s->row_start);
    if (!s->index || !s->row_start) {
        s->host->set_error(s->host, "out of memory for %d x %d negatives", fit->batch, s->m);
        return NMP_ERR_NOMEM;
    }
    s->cells = cells;
    s->batch = fit->batch;
    return NMP_OK;
}

/* Slot b * m + l of the step: its own counter, so the split over workers does not matter. */
static void draw_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const draw_ctx *d = ctx;
    const uniform_state *s = d->s;
    for (int64_t k = begin; k < end; k++)
        s->index[k] = neg_cellsets_draw(&s->local, s->cells, 0, s->seed, d->step, (uint64_t)k);
}

static nmp_status uniform_sample(void *state, const nmp_step *step, nmp_negatives *out)
{
    uniform_state *s = state;
    nmp_status st = neg_check_step(s->host, step, s->batch);
    if (st != NMP_OK) return st;
    draw_ctx d = {s, step->step};
    int32_t rows = s->shared ? 1 : step->batch;
    if (s->group > 1) rows = neg_rows(step, s->cells, s->group, 0, s->row_start);
    s->host->parallel_for(s->host, (int64_t)rows * s->m, draw_range, &d);
    memset(out, 0, sizeof *out);
    if (s->group > 1) out->rows = rows, out->row_start = s->row_start;
    out->per_target = s->m;
    out->shared = s->shared;
    out->index = s->index;
    return NMP_OK;
}

NEG_REGISTER("uniform", "1.2.0",
             "exact InfoNC-t-SNE negatives: m per target (or shared), uniform over the points",
             uniform_params, uniform_create, uniform_destroy, uniform_prepare, uniform_sample, uniform_state);
