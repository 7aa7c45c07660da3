/* Negatives plugin "cluster_mean": per target, exact negatives from a set E of cells and one
 * approximate term (the layout mean) per cell of R~; see docs/losses.md for the estimator. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "neg_common.h"
#ifdef NOMAD_CUDA
#include "neg_cuda.h"
#endif

static const nmp_param_decl cluster_mean_params[] = {
    {"exact", NMP_PARAM_INT, "64", 0, 1000000, NULL,
     "exact negatives per target, uniform over the points of E (also the noise count m of mass weights)"},
    {"approx_cells", NMP_PARAM_ENUM, "remote", 0, -1, "remote|all_but_own|all|none|nearest_exact:",
     "cells replaced by their mean: other ranks' | all but the target's | all | none | all but the K nearest"},
    {"weighting", NMP_PARAM_ENUM, "unweighted", 0, -1, "unweighted|mass",
     "unweighted: every term 1; mass: mean of r weighs exact |r|/n, an exact sample |E|/n"},
    {"draw", NMP_PARAM_ENUM, "uniform", 0, -1, "uniform|systematic",
     "how a row's exact negatives are drawn from E: uniform: each on its own; systematic: evenly spaced over "
     "E's points laid end to end, from one random offset (each point as likely as under uniform, E's cells "
     "in proportion, no search per draw, points read in address order)"},
    {"group", NMP_PARAM_INT, "1", 1, 1000000, NULL,
     "targets of one cell in a step that share one draw of exact negatives (1 = a fresh draw per target)"},
    {"spread", NMP_PARAM_DOUBLE, "0", 0, 1e6, NULL,
     "a mean's kernel reads d^2 + spread x s^2, s^2 the mean squared distance of its cell's points from the "
     "mean in the layout (taken each epoch): 1 / (1 + d^2 + s^2) for t-SNE's kernel, a cloud, not a point "
     "(0 = a point mass; CPU optimiser only)"},
    {"open_radii", NMP_PARAM_DOUBLE, "0", 0, 1e6, NULL,
     "for the targets of cell g, a cell c whose layout mean lies within open_radii x (r_g + r_c) of g's is "
     "drawn exactly too, not as a mean (r: the cells' rms radii in the layout; Barnes-Hut's opening test, "
     "theta = 1 / open_radii; decided again each epoch; 0 = off; acts with all_but_own and nearest_exact, "
     "CPU optimiser only)"},
};

typedef enum { MODE_REMOTE, MODE_ALL_BUT_OWN, MODE_ALL, MODE_NONE, MODE_NEAREST } approx_mode;

typedef struct {
    const nmp_host *host;
    const nmp_cells *cells;
    uint64_t seed;
    int32_t exact, batch, nearest_k, group;
    int32_t draws;       /* exact negatives per target actually drawn (0 when approx_cells: all) */
    double spread;       /* the means' spread factor (0: point masses) */
    double open_radii;   /* the opening test's factor (0: E is fixed) */
    int32_t *base_cell;  /* cells x base_k: each group's fixed cells (open_radii > 0) */
    int32_t base_k;
    float *open_spread;  /* cells: the spreads E was last decided on (open_radii > 0) */
    int opened;          /* E has been decided at least once */
    float *open_radius;  /* cells: scratch, the rms radii */
    uint8_t *open_mark;  /* cells: scratch, a group's fixed cells */
    int32_t dims;
    double n_total;      /* points over all ranks (the mass weights' n) */
    float *spread_now;   /* cells: this step's spread x cell spread, per_cell only */
    int mass, per_cell; /* per_cell: E (and R~) depend on the target's cell */
    int systematic;     /* draw: systematic */
    approx_mode mode;
    neg_cellsets sets;   /* E: one group, or one per cell when per_cell */
    float *set_weight;   /* per group: weight of an exact sample */
    int32_t *index;      /* rows x exact (rows <= batch) */
    float *weight;       /* rows x exact (mass only) */
    int32_t *row_start;  /* batch + 1: targets of each row (group > 1) */
    neg_fixed_approx fixed; /* R~ when it is the same for every target */
    float *base_row;     /* cells: mean weights, per_cell only */
    float *approx_weight; /* batch x cells, per_cell only */
#ifdef NOMAD_CUDA
    neg_cuda_bufs gpu; /* the CUDA entry's device copies */
#endif
} cm_state;

static nmp_status cm_create(const nmp_host *host, const nmp_params *params, void **state)
{
    static const char *names[] = {"remote", "all_but_own", "all", "none", "nearest_exact"};
    cm_state *s = nmp_state_new(host, sizeof *s, "cluster_mean");
    if (!s) return NMP_ERR_NOMEM;
    for (int m = 0; m < 5; m++)
        if (nmp_param_is(params, "approx_cells", names[m])) s->mode = (approx_mode)m;
    s->nearest_k = (int32_t)nmp_param_int(params, "approx_cells");
    if (s->mode == MODE_NEAREST && s->nearest_k < 1) {
        free(s);
        host->set_error(host, "approx_cells: nearest_exact needs a cell count, e.g. nearest_exact:4");
        return NMP_ERR_INVALID;
    }
    s->host = host;
    s->seed = neg_seed(host);
    s->exact = (int32_t)nmp_param_int(params, "exact");
    s->group = (int32_t)nmp_param_int(params, "group");
    s->mass = nmp_param_is(params, "weighting", "mass");
    s->systematic = nmp_param_is(params, "draw", "systematic");
    s->spread = nmp_param_double(params, "spread");
    s->open_radii = nmp_param_double(params, "open_radii");
    s->per_cell = s->mode == MODE_ALL_BUT_OWN || s->mode == MODE_NEAREST;
    /* the test adds cells to a per-cell E; with none every cell is exact already, and remote and
     * all keep one fixed R~ (so an approx_cells sweep over nomad.yaml runs as asked) */
    if (s->open_radii > 0 && !s->per_cell) {
        if (s->mode != MODE_NONE)
            host->log(host, NMP_LOG_WARN, "open_radii %g has no effect with approx_cells: %s (it opens cells of a "
                      "per-cell E: all_but_own, nearest_exact)", s->open_radii, names[s->mode]);
        s->open_radii = 0;
    }
    *state = s;
    return NMP_OK;
}

static void cm_destroy(void *state)
{
    cm_state *s = state;
    neg_cellsets_free(&s->sets);
    neg_fixed_approx_free(&s->fixed);
    free(s->set_weight), free(s->index), free(s->weight), free(s->base_row), free(s->approx_weight);
    free(s->row_start), free(s->spread_now), free(s->base_cell), free(s->open_spread), free(s->open_radius);
    free(s->open_mark);
#ifdef NOMAD_CUDA
    neg_cuda_bufs_free(&s->gpu);
#endif
    free(s);
}

typedef struct {
    double dist;
    int32_t cell;
} cell_dist;

static int cell_dist_cmp(const void *pa, const void *pb)
{
    const cell_dist *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    return (a->cell > b->cell) - (a->cell < b->cell); /* ties: lower cell id first */
}

typedef struct {
    const nmp_cells *cells;
    cell_dist *scratch; /* threads x cells */
    int32_t k;
    int32_t *out;       /* cells x k */
} nearest_ctx;

/* For each cell, the k cells with the nearest centroids in input space, its own first. */
static void nearest_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const nearest_ctx *n = ctx;
    int32_t C = n->cells->count;
    int64_t D = n->cells->d;
    cell_dist *cd = n->scratch + (size_t)worker * (size_t)C;
    for (int64_t c = begin; c < end; c++) {
        const float *x = n->cells->centroids + c * D;
        for (int32_t r = 0; r < C; r++) {
            const float *z = n->cells->centroids + (int64_t)r * D;
            double s = 0.0;
            for (int64_t k = 0; k < D; k++) s += ((double)x[k] - z[k]) * ((double)x[k] - z[k]);
            cd[r].dist = r == c ? -1.0 : s, cd[r].cell = r;
        }
        qsort(cd, (size_t)C, sizeof *cd, cell_dist_cmp);
        for (int32_t k = 0; k < n->k; k++) n->out[c * n->k + k] = cd[k].cell;
    }
}

static nmp_status cm_nearest(cm_state *s, const nmp_cells *cells)
{
    if (!cells->centroids && cells->count > 1) {
        s->host->set_error(s->host, "approx_cells: nearest_exact needs the partition's centroids");
        return NMP_ERR_INVALID;
    }
    nearest_ctx n = {cells, malloc((size_t)s->host->threads * (size_t)cells->count * sizeof(cell_dist)),
                     s->nearest_k, s->sets.cell};
    if (!n.scratch) {
        s->host->set_error(s->host, "out of memory for nearest cells");
        return NMP_ERR_NOMEM;
    }
    s->host->parallel_for(s->host, cells->count, nearest_range, &n);
    free(n.scratch);
    return NMP_OK;
}

/* The weight of an exact sample of each group: 1, or under mass uniform noise's share in E,
 * |E| / n. */
static void cm_set_weights(cm_state *s)
{
    for (int32_t g = 0; g < s->sets.groups; g++)
        s->set_weight[g] = s->mass ? (float)((double)neg_cellsets_size(&s->sets, g) / s->n_total) : 1.0f;
}

/* The exact set E of each group (see cm_state.per_cell) and the weight of its samples. */
static nmp_status cm_build_sets(cm_state *s, const nmp_fit_info *fit)
{
    const nmp_cells *cells = fit->cells;
    int32_t C = cells->count, groups = s->mode == MODE_ALL ? 0 : s->per_cell ? C : 1;
    if (s->mode == MODE_NEAREST && s->nearest_k > C) {
        s->host->log(s->host, NMP_LOG_WARN, "nearest_exact:%d > %d cells: every cell is exact", s->nearest_k, C);
        s->nearest_k = C;
    }
    int32_t per_group = s->mode == MODE_ALL_BUT_OWN ? 1 : s->mode == MODE_NEAREST ? s->nearest_k : C;
    nmp_status st = neg_cellsets_alloc(&s->sets, s->host, groups, (int64_t)groups * per_group);
    if (st != NMP_OK) return st;
    if (s->per_cell) {
        for (int32_t g = 0; g <= C; g++) s->sets.start[g] = (int64_t)g * per_group;
        for (int32_t g = 0; g < C && s->mode == MODE_ALL_BUT_OWN; g++) s->sets.cell[g] = g;
        if (s->mode == MODE_NEAREST && (st = cm_nearest(s, cells)) != NMP_OK) return st;
    } else if (groups == 1) { /* remote: the cells on this rank; none: every cell */
        for (int32_t c = 0; c < C; c++)
            if (s->mode == MODE_NONE || fit->cell_local[c]) s->sets.cell[s->sets.start[1]++] = c;
    }
    neg_cellsets_finish(&s->sets, cells);
    s->set_weight = malloc(((size_t)groups + 1) * sizeof *s->set_weight);
    if (!s->set_weight) {
        s->host->set_error(s->host, "out of memory");
        return NMP_ERR_NOMEM;
    }
    cm_set_weights(s);
    if (s->open_radii > 0) {
        s->base_k = per_group;
        s->base_cell = malloc((size_t)C * (size_t)per_group * sizeof *s->base_cell);
        s->open_spread = malloc((size_t)C * sizeof *s->open_spread);
        s->open_radius = malloc((size_t)C * sizeof *s->open_radius);
        s->open_mark = calloc((size_t)C, 1);
        if (!s->base_cell || !s->open_spread || !s->open_radius || !s->open_mark) {
            s->host->set_error(s->host, "out of memory for the opening test of %d cells", C);
            return NMP_ERR_NOMEM;
        }
        memcpy(s->base_cell, s->sets.cell, (size_t)C * (size_t)per_group * sizeof *s->base_cell);
    }
    if (groups == 1 && s->exact > 0 && neg_cellsets_size(&s->sets, 0) == 0) {
        s->host->set_error(s->host, "no points in the exact cells to draw negatives from");
        return NMP_ERR_INVALID;
    }
    return NMP_OK;
}

/* R~: fixed cells (remote, all, none) or a per-target row that zeroes the target's E. */
static nmp_status cm_build_approx(cm_state *s, const nmp_fit_info *fit)
{
    const nmp_cells *cells = fit->cells;
    int32_t C = cells->count;
    if (s->per_cell) {
        s->base_row = malloc((size_t)C * sizeof *s->base_row);
        s->approx_weight = malloc((size_t)fit->batch * (size_t)C * sizeof *s->approx_weight + 1);
        s->spread_now = s->spread > 0 ? malloc((size_t)C * sizeof *s->spread_now) : NULL;
        if (!s->base_row || !s->approx_weight || (s->spread > 0 && !s->spread_now)) {
            s->host->set_error(s->host, "out of memory for %d x %d approximate weights", fit->batch, C);
            return NMP_ERR_NOMEM;
        }
        for (int32_t r = 0; r < C; r++) s->base_row[r] = neg_mean_weight(fit, r, s->exact, s->mass);
        return NMP_OK;
    }
    uint8_t *approx = malloc((size_t)C + 1);
    if (!approx) {
        s->host->set_error(s->host, "out of memory");
        return NMP_ERR_NOMEM;
    }
    for (int32_t c = 0; c < C; c++)
        approx[c] = s->mode == MODE_ALL || (s->mode == MODE_REMOTE && !fit->cell_local[c]);
    nmp_status st = neg_fixed_approx_init(&s->fixed, s->host, fit, approx, s->exact, s->mass, s->spread);
    free(approx);
    return st;
}

static nmp_status cm_prepare(void *state, const nmp_fit_info *fit)
{
    cm_state *s = state;
    s->n_total = neg_total(fit);
    nmp_status st = cm_build_sets(s, fit);
    if (st == NMP_OK) st = cm_build_approx(s, fit);
    if (st != NMP_OK) return st;
    s->draws = s->mode == MODE_ALL ? 0 : s->exact;
    size_t slots = (size_t)fit->batch * (size_t)s->draws + 1;
    s->index = malloc(slots * sizeof *s->index);
    s->weight = s->mass ? malloc(slots * sizeof *s->weight) : NULL;
    s->row_start = malloc(((size_t)fit->batch + 1) * sizeof *s->row_start);
    if (!s->index || (s->mass && !s->weight) || !s->row_start) {
        s->host->set_error(s->host, "out of memory for %d x %d negatives", fit->batch, s->draws);
        return NMP_ERR_NOMEM;
    }
    s->cells = fit->cells;
    s->batch = fit->batch;
    s->dims = fit->dims;
    return NMP_OK;
}

/* Does cell c's cloud reach near group g's (open_radii)? */
static int cm_opens(const cm_state *s, const float *mean, int32_t g, int32_t c)
{
    double d2 = 0.0, reach = s->open_radii * ((double)s->open_radius[g] + s->open_radius[c]);
    for (int32_t k = 0; k < s->dims; k++) {
        double t = (double)mean[(int64_t)g * s->dims + k] - mean[(int64_t)c * s->dims + k];
        d2 += t * t;
    }
    return d2 < reach * reach;
}

/* Fills E per group: its fixed cells, then the cells the opening test adds (when out is NULL,
 * only counts them). Returns the cells in all. */
static int64_t cm_fill_open(cm_state *s, const float *mean, neg_cellsets *out)
{
    const int32_t C = s->cells->count, K = s->base_k;
    int64_t total = 0;
    for (int32_t g = 0; g < C; g++) {
        const int32_t *base = s->base_cell + (int64_t)g * K;
        if (out) out->start[g] = total;
        for (int32_t k = 0; k < K; k++) {
            s->open_mark[base[k]] = 1;
            if (out) out->cell[total] = base[k];
            total++;
        }
        for (int32_t c = 0; c < C; c++) /* a cell with no points here (another rank's) stays a mean */
            if (!s->open_mark[c] && neg_cell_size(s->cells, c) > 0 && cm_opens(s, mean, g, c)) {
                if (out) out->cell[total] = c;
                total++;
            }
        for (int32_t k = 0; k < K; k++) s->open_mark[base[k]] = 0;
    }
    if (out) out->start[C] = total;
    return total;
}

/* open_radii: E decided again whenever the optimiser has taken new cell spreads (each epoch).
 * A mean stands in for its cell's points only where they lie far off as seen from the
 * targets; a cell spread around the map has its mean where few of its points are, and a
 * target near it would be pushed from a place the cell does not fill (at 1M points, that
 * feedback drove the map into a ring: docs/results.md section 7). */
static nmp_status cm_open(cm_state *s, const nmp_step *step)
{
    const int32_t C = s->cells->count;
    if (!step->cell_spread) {
        s->host->set_error(s->host, "open_radii = %g needs each cell's layout spread, which this optimiser does "
                                    "not keep; use open_radii 0 there", s->open_radii);
        return NMP_ERR_UNSUPPORTED;
    }
    if (s->opened && memcmp(s->open_spread, step->cell_spread, (size_t)C * sizeof *s->open_spread) == 0)
        return NMP_OK;
    memcpy(s->open_spread, step->cell_spread, (size_t)C * sizeof *s->open_spread);
    for (int32_t c = 0; c < C; c++) s->open_radius[c] = sqrtf(step->cell_spread[c] > 0 ? step->cell_spread[c] : 0);
    int64_t total = cm_fill_open(s, step->cell_mean, NULL);
    neg_cellsets_free(&s->sets);
    nmp_status st = neg_cellsets_alloc(&s->sets, s->host, C, total);
    if (st != NMP_OK) return st;
    cm_fill_open(s, step->cell_mean, &s->sets);
    neg_cellsets_finish(&s->sets, s->cells);
    cm_set_weights(s);
    s->host->log(s->host, s->opened ? NMP_LOG_DEBUG : NMP_LOG_INFO,
                 "cluster_mean: open_radii %g: %.1f exact cells per cell on average (%d fixed), step %lld",
                 s->open_radii, (double)total / C, s->base_k, (long long)step->step);
    s->opened = 1;
    return NMP_OK;
}

typedef struct {
    const cm_state *s;
    const nmp_step *step;
    const int32_t *row_start; /* NULL: row r is target r */
} cm_ctx;

/* Row r: its draws (slot r * draws + l has its own counter, so the split over workers does
 * not matter) and, per_cell, the R~ weights of its targets (every mean but those of E). A
 * row's targets share one cell when per_cell: neg_rows cuts at cell changes. */
static void cm_row_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const cm_ctx *c = ctx;
    const cm_state *s = c->s;
    int32_t C = s->cells->count;
    for (int64_t r = begin; r < end; r++) {
        int32_t first = c->row_start ? c->row_start[r] : (int32_t)r;
        int32_t last = c->row_start ? c->row_start[r + 1] : (int32_t)r + 1;
        int32_t g = s->per_cell ? s->cells->cell_of[c->step->target[first]] : 0;
        const int64_t k0 = r * s->draws, k1 = k0 + s->draws;
        if (s->systematic)
            neg_cellsets_systematic(&s->sets, s->cells, g, s->seed, c->step->step, (uint64_t)k0, s->draws,
                                    s->index + k0);
        else
            for (int64_t k = k0; k < k1; k++)
                s->index[k] = neg_cellsets_draw(&s->sets, s->cells, g, s->seed, c->step->step, (uint64_t)k);
        for (int64_t k = k0; s->weight && k < k1; k++) s->weight[k] = s->set_weight[g];
        for (int32_t b = first; s->per_cell && b < last; b++) {
            float *row = s->approx_weight + (int64_t)b * C;
            memcpy(row, s->base_row, (size_t)C * sizeof *row);
            /* a cell of E with no points here (another rank's) is never drawn: its mean stays */
            for (int64_t k = s->sets.start[g]; k < s->sets.start[g + 1]; k++)
                if (neg_cell_size(s->cells, s->sets.cell[k]) > 0) row[s->sets.cell[k]] = 0.0f;
        }
    }
}

static nmp_status cm_sample(void *state, const nmp_step *step, nmp_negatives *out)
{
    cm_state *s = state;
    nmp_status st = neg_check_step(s->host, step, s->batch);
    if (st != NMP_OK) return st;
    if (s->open_radii > 0 && (st = cm_open(s, step)) != NMP_OK) return st;
    cm_ctx c = {s, step, NULL};
    int32_t rows = step->batch;
    if (s->group > 1) {
        rows = neg_rows(step, s->cells, s->group, s->per_cell, s->row_start);
        c.row_start = s->row_start;
    }
    if (s->draws > 0 || s->per_cell) s->host->parallel_for(s->host, rows, cm_row_range, &c);
    memset(out, 0, sizeof *out);
    if (c.row_start) out->rows = rows, out->row_start = c.row_start;
    out->per_target = s->draws;
    out->index = s->draws ? s->index : NULL;
    out->weight = s->draws ? s->weight : NULL;
    if (!s->per_cell) return neg_fixed_approx_step(&s->fixed, s->host, step, out);
    out->approx_count = s->cells->count;
    out->approx_y = step->cell_mean;
    out->approx_weight = s->approx_weight;
    if (!s->spread_now) return NMP_OK;
    out->approx_spread = s->spread_now;
    return neg_spread(s->host, step, NULL, s->cells->count, s->spread, s->spread_now);
}

NEG_REGISTER("cluster_mean", "1.5.0",
             "exact negatives from a set E of cells + one (optionally mass-weighted) mean per other cell",
             cluster_mean_params, cm_create, cm_destroy, cm_prepare, cm_sample, cm_state);
