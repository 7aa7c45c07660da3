/* Momentum SGD over the layout, driven by a negatives plugin and the step engine (the loss
 * plugin's maths). Two ways to update, the same numbers up to rounding: eager moves every
 * point every step (O(n) a step, the cheaper while a step touches most points); lazy moves
 * only what a step touches (O(batch)): the points it reads are brought up to date first
 * (lazy_sgd.h), the points with a gradient are updated, and the cell means follow from
 * per-cell sums kept exactly from the same updates. */
#include "optimizer.h"
#include "proc.h"

#include <stdlib.h>
#include <string.h>

#include "fit_order.h"
#include "host.h"
#include "lazy_sgd.h"
#include "config.h"
#include "nomad/rng.h"
#include "step_engine.h"

/* Largest dense per-worker gradient the eager update keeps (bytes; see choose_update). */
#define DENSE_MAX_BYTES ((size_t)1 << 30)

typedef struct {
    const nmp_opt_settings *s;
    int64_t n;
    int dims;
    const nmp_graph *graph;
    const nmp_cells *cells;
    int32_t *target;
    int32_t *drawn;       /* batch: scratch of the radix sort of the step's targets */
    int64_t *radix_count; /* 2049: its digit counts */
    int64_t *edge_offset;
    int32_t *pos;
    float *pos_weight;
    int64_t *row_first; /* batch: where each target's row starts in the graph (edges not laid out) */
    int edges_read;     /* the negatives or loss plugin may read the step's pos and pos_weight */
    float *cell_mean, *cell_mass;
    float *cell_spread;     /* cells: mean squared distance of a cell's points from its mean (cell_spreads) */
    double *cell_sum;       /* cells x dims: sum of the (true, caught-up) layout of each cell */
    double *cell_vel;       /* cells x dims: sum of their velocities */
    double *cell_buf;       /* cells x dims: the sums summed over ranks */
    double *cell_acc;       /* threads x cells x dims: per-worker sums of a pass */
    float *grad, *velocity; /* n x dims */
    int32_t *last;          /* n: the step after which the point's y and velocity are current */
    int32_t **touched;      /* threads: points a worker updated this step */
    int64_t touched_cap;
    float *y; /* the layout in fit order (see fit_order.h) */
    nmp_fit_order order;
    nmp_lazy_sgd sgd;
    nmp_engine *engine;
    nmp_engine_out out;
    int move_negatives; /* the loss moves exact negatives (else they are read, never updated) */
    int eager;          /* -1 until the first step decides (optimizer.update auto), 0 lazy, 1 eager */
    float *dense;       /* eager: threads x n x dims, each worker's gradient straight from the engine */
    /* per-step inputs of the passes */
    int64_t step;
    double lr, inv_batch;
    const nmp_negatives *neg;
    int *nonfinite;    /* per worker */
    nmp_fit_info info; /* handed to prepare(): plugins may keep the pointer for the whole fit */
} fit;

double nmp_opt_lr(const nmp_opt_settings *s, int64_t step, int64_t total)
{
    const nmp_lazy_sgd sched = {
        .lr = s->lr, .hold = s->hold, .final_lr_fraction = s->final_lr_fraction, .total = total};
    return nmp_lazy_lr(&sched, step);
}

double nmp_opt_exaggeration(const nmp_opt_settings *s, int64_t epoch)
{
    if (epoch < s->early_epochs) return s->early_exaggeration;
    if (s->epochs > 0 && (double)epoch / (double)s->epochs >= s->late_start) return s->late_exaggeration;
    return 1.0;
}

int64_t nmp_opt_steps_per_epoch(const nmp_opt_settings *s, int64_t n)
{
    int64_t spe = (s->n_total > 0 ? s->n_total : n) / ((int64_t)s->batch * nmp_host_settings()->ranks);
    return spe < 1 ? 1 : spe;
}

void nmp_opt_cell_mass(const nmp_opt_settings *s, const nmp_cells *cells, float *mass)
{
    for (int64_t c = 0; c < cells->count; c++) mass[c] = (float)(cells->start[c + 1] - cells->start[c]);
    if (s->cell_mass) memcpy(mass, s->cell_mass, (size_t)cells->count * sizeof *mass); /* all ranks */
}

nmp_fit_info nmp_opt_fit_info(const nmp_opt_settings *s, int64_t n, int64_t spe, const nmp_graph *graph,
                              const nmp_cells *cells, const uint8_t *cell_local, const float *cell_mass)
{
    return (nmp_fit_info){.n = n,
                          .dims = s->dims,
                          .batch = s->batch,
                          .steps_per_epoch = spe,
                          .epochs = s->epochs,
                          .graph = graph,
                          .cells = cells,
                          .cell_local = cell_local,
                          .cell_mass = cell_mass,
                          .n_total = s->n_total > 0 ? s->n_total : n};
}

static void free_fit(fit *f)
{
    free(f->target), free(f->drawn), free(f->radix_count), free(f->edge_offset), free(f->pos), free(f->pos_weight);
    free(f->row_first);
    free(f->y);
    nmp_fit_order_free(&f->order);
    nmp_lazy_sgd_free(&f->sgd);
    nmp_engine_free(f->engine);
    free(f->cell_mean), free(f->cell_mass), free(f->cell_spread), free(f->cell_sum), free(f->cell_vel);
    free(f->cell_buf), free(f->cell_acc);
    free(f->grad), free(f->velocity), free(f->last), free(f->nonfinite), free(f->dense);
    for (int w = 0; f->touched && w < nmp_host_settings()->threads; w++) free(f->touched[w]);
    free(f->touched);
}

static int64_t max_degree(const nmp_graph *g)
{
    int64_t m = 0;
    for (int64_t i = 0; i < g->n; i++) {
        int64_t d = g->offsets[i + 1] - g->offsets[i];
        if (d > m) m = d;
    }
    return m;
}

static nmp_status alloc_fit(fit *f, nmp_err *err)
{
    int64_t B = f->s->batch, C = f->cells->count, D = f->dims, T = nmp_host_settings()->threads;
    int64_t edges = B * max_degree(f->graph);
    f->target = malloc((size_t)B * sizeof *f->target);
    f->drawn = malloc((size_t)B * sizeof *f->drawn);
    f->radix_count = malloc(2049 * sizeof *f->radix_count);
    f->y = nmp_alloc_huge((size_t)(f->n * D) * sizeof *f->y, 0);
    f->edge_offset = malloc((size_t)(B + 1) * sizeof *f->edge_offset);
    f->row_first = malloc((size_t)(B + 1) * sizeof *f->row_first);
    f->pos = malloc((size_t)(edges + 1) * sizeof *f->pos);
    f->pos_weight = malloc((size_t)(edges + 1) * sizeof *f->pos_weight);
    f->cell_mean = calloc((size_t)(C * D), sizeof *f->cell_mean);
    f->cell_mass = calloc((size_t)C, sizeof *f->cell_mass);
    f->cell_spread = calloc((size_t)C, sizeof *f->cell_spread);
    f->cell_sum = calloc((size_t)(C * D), sizeof *f->cell_sum);
    f->cell_vel = calloc((size_t)(C * D), sizeof *f->cell_vel);
    f->cell_buf = calloc((size_t)(C * D), sizeof *f->cell_buf);
    f->cell_acc = calloc((size_t)(T * 2 * C * D), sizeof *f->cell_acc); /* sums_range needs two blocks */
    f->grad = nmp_alloc_huge((size_t)(f->n * D) * sizeof *f->grad, 1);
    f->velocity = nmp_alloc_huge((size_t)(f->n * D) * sizeof *f->velocity, 1);
    f->last = nmp_alloc_huge(((size_t)f->n + 1) * sizeof *f->last, 0);
    f->touched = calloc((size_t)T, sizeof *f->touched);
    f->nonfinite = calloc((size_t)T, sizeof *f->nonfinite);
    if (!f->target || !f->drawn || !f->radix_count || !f->y || !f->edge_offset || !f->row_first || !f->pos ||
        !f->pos_weight || !f->cell_mean || !f->cell_mass || !f->cell_spread || !f->cell_sum || !f->cell_vel ||
        !f->cell_buf || !f->cell_acc || !f->grad || !f->velocity || !f->last || !f->touched || !f->nonfinite)
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for %lld points", (long long)f->n);
    for (int64_t i = 0; i < f->n; i++) f->last[i] = -1; /* current as of "before step 0" */
    nmp_opt_cell_mass(f->s, f->cells, f->cell_mass);
    return NMP_OK;
}

/* Eager fits keep no per-point step counter: every point is current after every step. */
static int64_t last_of(const fit *f, int64_t i)
{
    return f->eager == 1 ? f->step : f->last[i];
}

/* ------------------------------------------------------------------ cell sums and means */

/* Sums y (and, for the lazy bookkeeping, the velocity) per cell over the caught-up layout,
 * into this worker's block; take_sums adds the blocks in worker order (deterministic). A
 * pass clears its worker's block (sums_begin), then adds each run of one cell's points. */
static double *sums_begin(fit *f, int worker)
{
    int64_t C = f->cells->count, D = f->dims;
    double *acc = f->cell_acc + (int64_t)worker * 2 * C * D; /* sums, then velocities */
    memset(acc, 0, (size_t)(2 * C * D) * sizeof *acc);
    return acc;
}

/* s[k] = the sum of coordinate k over `rows` rows of x, in one pass (a pass per coordinate
 * would read the rows D times, and eager fits take these sums over every point every step). */
static inline __attribute__((always_inline)) void sum_rows(const int D, const float *x, int64_t rows, double *s)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s0, s1, s2)
    for (int64_t j = 0; j < rows; j++) {
        s0 += x[j * D], s1 += x[j * D + 1];
        if (D > 2) s2 += x[j * D + 2];
    }
    s[0] = s0, s[1] = s1, s[2] = s2;
}

static void sums_segment(fit *f, double *acc, int32_t cell, int64_t i, int64_t stop, int velocity)
{
    const int64_t C = f->cells->count, D = f->dims;
    double sy[3], sv[3] = {0.0, 0.0, 0.0};
    if (D == 2) {
        sum_rows(2, f->y + i * D, stop - i, sy);
        if (velocity) sum_rows(2, f->velocity + i * D, stop - i, sv);
    } else {
        sum_rows(3, f->y + i * D, stop - i, sy);
        if (velocity) sum_rows(3, f->velocity + i * D, stop - i, sv);
    }
    for (int64_t k = 0; k < D; k++) acc[cell * D + k] += sy[k], acc[C * D + cell * D + k] += sv[k];
}

/* In fit order a cell is a range of rows: the end of the run of point i's cell within
 * [i, end), and that cell. */
static int64_t cell_run_end(const fit *f, int64_t i, int64_t end, int32_t *cell)
{
    *cell = f->cells->cell_of[i];
    return f->cells->start[*cell + 1] < end ? f->cells->start[*cell + 1] : end;
}

static void sums_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    double *acc = sums_begin(f, worker);
    int32_t cell;
    for (int64_t i = begin, stop; i < end; i = stop) {
        stop = cell_run_end(f, i, end, &cell);
        sums_segment(f, acc, cell, i, stop, 1);
    }
}

/* The cell means from cell_sum: summed over the ranks first when the run is distributed. */
static void cell_means(fit *f)
{
    int64_t C = f->cells->count, D = f->dims;
    memcpy(f->cell_buf, f->cell_sum, (size_t)(C * D) * sizeof *f->cell_buf);
    if (f->s->reduce_cells && f->s->reduce_cells(f->s->reduce_ctx, f->cell_buf, C * D)) f->nonfinite[0] = 1;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < D; k++)
            f->cell_mean[c * D + k] = f->cell_mass[c] > 0 ? (float)(f->cell_buf[c * D + k] / f->cell_mass[c]) : 0.0f;
}

/* Brings the points of a range up to the end of step `now` and sums them per cell (settle). */
static void catch_up_all_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    for (int64_t i = begin; i < end; i++) {
        nmp_lazy_catch_up(&f->sgd, f->y + i * f->dims, f->velocity + i * f->dims, f->dims, last_of(f, i), f->step);
        f->last[i] = (int32_t)f->step;
    }
    sums_range(ctx, begin, end, worker);
}

/* cell_sum and cell_vel from the workers' sums_range blocks, in worker order. */
static void take_sums(fit *f)
{
    int64_t C = f->cells->count, D = f->dims, T = nmp_host_settings()->threads;
    memset(f->cell_sum, 0, (size_t)(C * D) * sizeof *f->cell_sum);
    memset(f->cell_vel, 0, (size_t)(C * D) * sizeof *f->cell_vel);
    for (int64_t w = 0; w < T; w++)
        for (int64_t v = 0; v < C * D; v++)
            f->cell_sum[v] += f->cell_acc[w * 2 * C * D + v], f->cell_vel[v] += f->cell_acc[w * 2 * C * D + C * D + v];
}

void nmp_opt_spread_sums(const nmp_cells *cells, const float *y, const float *mean, int dims, int64_t begin,
                         int64_t end, double *acc)
{
    const int64_t D = dims;
    for (int64_t i = begin, stop; i < end; i = stop) {
        const int32_t cell = cells->cell_of[i];
        stop = cells->start[cell + 1] < end ? cells->start[cell + 1] : end;
        const float *mu = mean + (int64_t)cell * D;
        double s = 0.0;
        for (int64_t j = i; j < stop; j++)
            for (int64_t k = 0; k < D; k++) {
                const double d = (double)y[j * D + k] - mu[k];
                s += d * d;
            }
        acc[cell] += s;
    }
}

void nmp_opt_spreads(const double *acc, const float *mass, int32_t cells, float *spread)
{
    for (int32_t c = 0; c < cells; c++) spread[c] = mass[c] > 0 ? (float)(acc[c] / mass[c]) : 0.0f;
}

/* Each worker's squared distances of its points from their cells' means, per cell, into the
 * first C values of its cell_acc block. */
static void spread_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    double *acc = f->cell_acc + (int64_t)worker * 2 * f->cells->count * f->dims;
    nmp_opt_spread_sums(f->cells, f->y, f->cell_mean, f->dims, begin, end, acc);
}

/* The cell spreads (nmp_step.cell_spread) of the settled layout, whose means were just taken:
 * once an epoch, as a cell's spread changes slowly and the lazy update keeps no per-step sum of
 * squares. Summed in worker order, then over the ranks. */
static void cell_spreads(fit *f)
{
    const int64_t C = f->cells->count, D = f->dims, T = nmp_host_settings()->threads;
    for (int64_t w = 0; w < T; w++) memset(f->cell_acc + w * 2 * C * D, 0, (size_t)C * sizeof *f->cell_acc);
    nmp_parallel_for(f->n, spread_range, f);
    for (int64_t c = 0; c < C; c++) {
        f->cell_buf[c] = 0.0;
        for (int64_t w = 0; w < T; w++) f->cell_buf[c] += f->cell_acc[w * 2 * C * D + c];
    }
    if (f->s->reduce_cells && f->s->reduce_cells(f->s->reduce_ctx, f->cell_buf, C)) f->nonfinite[0] = 1;
    nmp_opt_spreads(f->cell_buf, f->cell_mass, (int32_t)C, f->cell_spread);
}

/* Every point brought up to the end of step `now`, the cell sums, means and spreads taken
 * afresh from the layout, so the per-step bookkeeping cannot drift (once per epoch, and
 * before the fit). */
static void settle(fit *f, int64_t now)
{
    f->step = now;
    nmp_parallel_for(f->n, catch_up_all_range, f);
    take_sums(f);
    cell_means(f);
    cell_spreads(f);
}

/* ------------------------------------------------------------------ lazy passes */

/* The ids a step reads or moves, in slot order: targets, positive edges, negative slots. */
enum { SLOT_TARGETS = 1, SLOT_EDGES = 2, SLOT_NEGATIVES = 4 };
typedef struct {
    const int32_t *ids[3];
    int64_t count[3];
} slot_lists;

static slot_lists step_slots(const fit *f, int which)
{
    const nmp_negatives *neg = f->neg;
    slot_lists s = {{f->target, f->pos, NULL}, {0, 0, 0}};
    if (which & SLOT_TARGETS) s.count[0] = f->s->batch;
    if (which & SLOT_EDGES) s.count[1] = f->edge_offset[f->s->batch];
    if ((which & SLOT_NEGATIVES) && neg)
        s.ids[2] = neg->index, s.count[2] = (int64_t)nmp_negatives_rows(neg, f->s->batch) * neg->per_target;
    return s;
}

typedef struct {
    fit *f;
    slot_lists slots;
} catch_ctx;

/* Each worker brings the points of its id range among the slots to the end of the previous
 * step (an owner per point: no two workers write one point). */
static void catch_up_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const catch_ctx *c = ctx;
    fit *f = c->f;
    const int64_t now = f->step - 1;
    for (int l = 0; l < 3; l++)
        for (int64_t s = 0; s < c->slots.count[l]; s++) {
            int64_t i = c->slots.ids[l][s];
            if (s + 16 < c->slots.count[l]) { /* random ids: fetch ahead what the catch-up reads */
                int64_t ahead = c->slots.ids[l][s + 16];
                if (ahead >= begin && ahead < end) {
                    __builtin_prefetch(f->last + ahead), __builtin_prefetch(f->y + ahead * f->dims, 1);
                    __builtin_prefetch(f->velocity + ahead * f->dims, 1);
                }
            }
            if (i < begin || i >= end || f->last[i] >= now) continue;
            nmp_lazy_catch_up(&f->sgd, f->y + i * f->dims, f->velocity + i * f->dims, f->dims, f->last[i], now);
            f->last[i] = (int32_t)now;
        }
}

static void catch_up(fit *f, int which)
{
    catch_ctx c = {f, step_slots(f, which)};
    nmp_parallel_for(f->n, catch_up_range, &c);
}

/* The engine's per-slot gradients of this worker's points into the dense gradient, in slot
 * order whatever the thread count (the bytes of one serial scatter); returns the points
 * touched, in the order first seen. */
static inline __attribute__((always_inline)) int64_t scatter_run(fit *f, const int D, int64_t begin, int64_t end,
                                                                 int32_t *touched)
{
    const float *g[3] = {f->out.target, f->out.pos, f->out.neg};
    slot_lists sl = step_slots(f, SLOT_TARGETS | SLOT_EDGES | (f->move_negatives ? SLOT_NEGATIVES : 0));
    const int32_t now = (int32_t)f->step;
    int64_t count = 0;
    for (int l = 0; l < 3; l++) {
        const int32_t *ids = sl.ids[l];
        const float *gl = g[l];
        for (int64_t s = 0; s < sl.count[l]; s++) {
            int64_t i = ids[s];
            if (i < begin || i >= end) continue;
            /* the catch-up left every point read at step - 1: the first slot of each sets it */
            if (touched && f->last[i] != now) f->last[i] = now, touched[count++] = (int32_t)i;
            for (int k = 0; k < D; k++) f->grad[i * D + k] += gl[s * D + k];
        }
    }
    return count;
}

/* The eager scatter, without a branch per slot: when a step's ids are spread over the layout,
 * whether a worker owns a slot's point is a coin toss that mispredicts half the time. A slot
 * of another worker's point is added to one of a few scratch rows instead (rotating, so the
 * adds do not wait on each other). */
static inline __attribute__((always_inline)) void scatter_all_run(fit *f, const int D, int64_t begin, int64_t end)
{
    const float *g[3] = {f->out.target, f->out.pos, f->out.neg};
    slot_lists sl = step_slots(f, SLOT_TARGETS | SLOT_EDGES | (f->move_negatives ? SLOT_NEGATIVES : 0));
    float trash[8 * 3] = {0};
    const uint64_t span = (uint64_t)(end - begin);
    for (int l = 0; l < 3; l++) {
        const int32_t *ids = sl.ids[l];
        const float *gl = g[l];
        for (int64_t s = 0; s < sl.count[l]; s++) {
            const int64_t i = ids[s];
            float *dst = (uint64_t)(i - begin) < span ? f->grad + i * D : trash + (s & 7) * 3;
            for (int k = 0; k < D; k++) dst[k] += gl[s * D + k];
        }
    }
}

static int64_t scatter_range(fit *f, int64_t begin, int64_t end, int32_t *touched)
{
    if (!touched) {
        if (f->dims == 2)
            scatter_all_run(f, 2, begin, end);
        else
            scatter_all_run(f, 3, begin, end);
        return 0;
    }
    return f->dims == 2 ? scatter_run(f, 2, begin, end, touched) : scatter_run(f, 3, begin, end, touched);
}

/* The cell of point i in fit order (cells are ranges of ids): a search of the few cell starts,
 * which stay in cache, instead of a read of cell_of[i], which would not. */
static inline int32_t cell_of_point(const nmp_cells *c, int64_t i)
{
    int32_t lo = 0, hi = c->count - 1;
    while (lo < hi) {
        int32_t mid = (lo + hi + 1) / 2;
        if (c->start[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Scatter, then momentum SGD on the touched points (their gradient averaged over the batch,
 * clipped), with this worker's per-cell sums of the gradient applied, for the cell sums. */
static void update_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    const int64_t C = f->cells->count, D = f->dims;
    int32_t *touched = f->touched[worker];
    int64_t count = scatter_range(f, begin, end, touched);
    double *acc = f->cell_acc + (int64_t)worker * C * D;
    memset(acc, 0, (size_t)(C * D) * sizeof *acc);
    const float mu = (float)f->s->momentum, lr = (float)f->lr, ib = (float)f->inv_batch, clip = (float)f->s->clip;
    int bad = 0;
    for (int64_t t = 0; t < count; t++) {
        int64_t i = touched[t];
        if (t + 8 < count) { /* the touched points are scattered over the layout: fetch ahead */
            int64_t ahead = touched[t + 8];
            __builtin_prefetch(f->y + ahead * D, 1), __builtin_prefetch(f->velocity + ahead * D, 1);
            __builtin_prefetch(f->grad + ahead * D, 1);
        }
        float *y = f->y + i * D, *v = f->velocity + i * D, *g = f->grad + i * D;
        double *cell = acc + (int64_t)cell_of_point(f->cells, i) * D;
        for (int64_t k = 0; k < D; k++) {
            float gk = g[k] * ib;
            if (clip > 0) gk = gk > clip ? clip : (gk < -clip ? -clip : gk);
            v[k] = mu * v[k] + gk;
            y[k] -= lr * v[k];
            bad |= !(y[k] - y[k] == 0.0f); /* NaN or Inf */
            g[k] = 0.0f;
            cell[k] += gk;
        }
        f->last[i] = (int32_t)f->step;
    }
    f->nonfinite[worker] |= bad;
}

/* Eager, points [i, stop) of one cell: their gradient (the workers' dense arrays summed in
 * worker order into worker 0's, or the slots already scattered into grad), then each moves. */
static void move_run(fit *f, int64_t i, int64_t stop, int *bad)
{
    const int64_t D = f->dims, len = (stop - i) * D, T = nmp_host_settings()->threads;
    float *g = f->grad + i * D;
    if (f->dense) {
        g = f->dense + i * D;
        for (int64_t w = 1; w < T; w++) {
            float *dw = f->dense + (w * f->n + i) * D;
#pragma omp simd
            for (int64_t a = 0; a < len; a++) g[a] += dw[a], dw[a] = 0.0f;
        }
    }
    const float mu = (float)f->s->momentum, lr = (float)f->lr, ib = (float)f->inv_batch, clip = (float)f->s->clip;
    float *y = f->y + i * D, *v = f->velocity + i * D, bad_sum = 0.0f; /* y * 0 is NaN for a NaN or infinite y */
    /* two loops, not a test of clip inside one: with the test inside, the pass takes 1.7x as long */
    if (clip > 0) {
#pragma omp simd reduction(+ : bad_sum)
        for (int64_t a = 0; a < len; a++) {
            float gk = g[a] * ib;
            gk = gk > clip ? clip : (gk < -clip ? -clip : gk);
            v[a] = mu * v[a] + gk, y[a] -= lr * v[a], g[a] = 0.0f;
            bad_sum += y[a] * 0.0f;
        }
    } else {
#pragma omp simd reduction(+ : bad_sum)
        for (int64_t a = 0; a < len; a++) {
            float gk = g[a] * ib;
            v[a] = mu * v[a] + gk, y[a] -= lr * v[a], g[a] = 0.0f;
            bad_sum += y[a] * 0.0f;
        }
    }
    *bad |= bad_sum != 0.0f;
}

/* Eager: every point of the range moves, a cell at a time, and that cell's sums of the new
 * layout are taken at once, while its rows are still in cache. */
static void update_all_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    if (!f->dense) scatter_range(f, begin, end, NULL);
    double *acc = sums_begin(f, worker);
    int bad = 0;
    int32_t cell;
    for (int64_t i = begin, stop; i < end; i = stop) {
        stop = cell_run_end(f, i, end, &cell);
        move_run(f, i, stop, &bad);
        sums_segment(f, acc, cell, i, stop, 0);
    }
    f->nonfinite[worker] |= bad;
}

/* Every point moves each step (v <- mu v + g, y <- y - lr v), so summed over a cell:
 * V <- mu V + G and S <- S - lr V, with G the gradient applied to its touched points. */
static void update_cells(fit *f)
{
    int64_t C = f->cells->count, D = f->dims, T = nmp_host_settings()->threads;
    for (int64_t v = 0; v < C * D; v++) {
        double g = 0.0;
        for (int64_t w = 0; w < T; w++) g += f->cell_acc[w * C * D + v];
        f->cell_vel[v] = f->s->momentum * f->cell_vel[v] + g;
        f->cell_sum[v] -= f->lr * f->cell_vel[v];
    }
    cell_means(f);
}

/* ------------------------------------------------------------------ the step */

/* Sorts the batch's ids ascending: LSD radix, 11 bits a pass (ids are < 2^31). */
static void sort_ids(int32_t *a, int32_t *tmp, int64_t n, int64_t *count)
{
    for (int shift = 0; shift < 31; shift += 11) {
        memset(count, 0, 2049 * sizeof *count);
        for (int64_t i = 0; i < n; i++) count[((uint32_t)a[i] >> shift & 2047) + 1]++;
        for (int d = 0; d < 2048; d++) count[d + 1] += count[d];
        for (int64_t i = 0; i < n; i++) tmp[count[(uint32_t)a[i] >> shift & 2047]++] = a[i];
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
}

/* The positive edges of targets [begin, end), into the slots edge_offset gives them. */
static void copy_edges_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    const nmp_graph *g = f->graph;
    for (int64_t b = begin; b < end; b++) {
        if (b + 8 < end) { /* the targets' rows are scattered over the graph: fetch ahead, every line */
            const int64_t a0 = g->offsets[f->target[b + 8]], a1 = g->offsets[f->target[b + 8] + 1];
            for (int64_t a = a0; a < a1 + 15; a += 16) {
                __builtin_prefetch(g->index + a);
                if (g->weight) __builtin_prefetch(g->weight + a);
            }
        }
        /* rows are short (k edges): plain loops beat a memcpy call each */
        const int64_t j0 = g->offsets[f->target[b]], e = f->edge_offset[b], len = f->edge_offset[b + 1] - e;
        for (int64_t j = 0; j < len; j++) f->pos[e + j] = g->index[j0 + j];
        for (int64_t j = 0; j < len; j++) f->pos_weight[e + j] = g->weight ? g->weight[j0 + j] : 1.0f;
    }
}

/* Draws the step's targets and sorts them: the batch is a set, and in fit order (cells as
 * ranges of ids) sorted targets come grouped by cell, so targets of one cell can share draws
 * of negatives, and the graph's rows are read in address order. Then lays out their edges. */
void nmp_opt_draw_targets(uint64_t seed, int64_t step, int64_t n, int32_t batch, int32_t *target, int32_t *scratch,
                          int64_t *radix_count)
{
    const uint64_t key = nmp_rng_key(seed, NMP_STREAM_BATCH), step_mix = nmp_mix64((uint64_t)step);
    for (int32_t b = 0; b < batch; b++) {
        /* == nmp_rng_below(seed, BATCH, nmp_rng_counter2(step, b), n), with the invariant mixing hoisted */
        uint64_t bits = nmp_rng_keyed(key, step_mix ^ ((uint64_t)b * 0xd1b54a32d192ed03ull));
        target[b] = (int32_t)(((unsigned __int128)bits * (uint64_t)n) >> 64);
    }
    sort_ids(target, scratch, batch, radix_count);
}

/* Whether a step's edges must be laid out as the step's pos and pos_weight: for a plugin that
 * may read them, for the lazy update's passes and the slots' scatter, which read them, and for
 * a graph without weights (the copy writes the 1s). Otherwise the engine reads each target's
 * row where it lies in the graph: the copy was an eighth of a fit's time (nomad-paper.yaml). */
static int lay_out_edges(const fit *f)
{
    return f->edges_read || f->eager != 1 || !f->dense || !f->graph->weight;
}

static void draw_batch(fit *f, int64_t step, nmp_step *st)
{
    const nmp_graph *g = f->graph;
    int64_t e = 0;
    nmp_opt_draw_targets(f->s->seed, step, f->n, f->s->batch, f->target, f->drawn, f->radix_count);
    for (int32_t b = 0; b < f->s->batch; b++) {
        f->edge_offset[b] = e;
        f->row_first[b] = g->offsets[f->target[b]];
        e += g->offsets[f->target[b] + 1] - g->offsets[f->target[b]];
    }
    f->edge_offset[f->s->batch] = e;
    /* the engine reads the positives where they are: the step's copy, or the graph's rows */
    const int laid_out = lay_out_edges(f);
    if (laid_out) {
        nmp_parallel_for(f->s->batch, copy_edges_range, f);
        nmp_engine_edges(f->engine, NULL, NULL, NULL);
    } else {
        nmp_engine_edges(f->engine, g->index, g->weight, f->row_first);
    }
    st->batch = f->s->batch;
    st->target = f->target;
    st->edge_offset = f->edge_offset;
    st->pos = laid_out ? f->pos : NULL;
    st->pos_weight = laid_out ? f->pos_weight : NULL;
}

static nmp_status check_negatives(fit *f, const nmp_instance *inst, const nmp_negatives *neg, nmp_err *err)
{
    int32_t B = f->s->batch;
    int64_t slots = (int64_t)nmp_negatives_rows(neg, B) * (int64_t)neg->per_target;
    int ok = neg->per_target >= 0 && (slots == 0 || neg->index) && neg->approx_count >= 0 &&
             (neg->approx_count == 0 || (neg->approx_y && neg->approx_weight));
    if (ok && neg->rows > 0) {
        ok = neg->row_start && neg->rows <= B && neg->row_start[0] == 0 && neg->row_start[neg->rows] == B;
        for (int32_t r = 0; ok && r < neg->rows; r++) ok = neg->row_start[r] <= neg->row_start[r + 1];
        if (!ok)
            return nmp_fail(err, NMP_ERR_RUNTIME,
                            "negatives plugin %s (%s): row_start must rise from 0 to the batch size %d over %d rows",
                            inst->ref->desc->name, inst->ref->file, B, neg->rows);
    }
    if (!ok)
        return nmp_fail(err, NMP_ERR_RUNTIME, "negatives plugin %s (%s): sample() returned an inconsistent result",
                        inst->ref->desc->name, inst->ref->file);
    for (int64_t s = 0; s < slots; s++)
        if (neg->index[s] < 0 || neg->index[s] >= f->n)
            return nmp_fail(err, NMP_ERR_RUNTIME, "negatives plugin %s (%s): negative index %d out of range [0, %lld)",
                            inst->ref->desc->name, inst->ref->file, neg->index[s], (long long)f->n);
    int64_t need = B + f->edge_offset[B] + slots; /* a worker may touch every slot's point */
    for (int w = 0; need > f->touched_cap && w < nmp_host_settings()->threads; w++) {
        free(f->touched[w]);
        if (!(f->touched[w] = malloc((size_t)need * sizeof *f->touched[w])))
            return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for the step's touched points");
    }
    if (need > f->touched_cap) f->touched_cap = need;
    return NMP_OK;
}

/* optimizer.update auto: eager while a step touches a good share of the points. A lazy step
 * scans its slots three times on every worker (two catch-ups, the scatter); an eager one scans
 * them once and moves n points split over the workers. */
static void choose_update(fit *f, const nmp_negatives *neg)
{
    int64_t slots =
        f->s->batch + f->edge_offset[f->s->batch] + (int64_t)nmp_negatives_rows(neg, f->s->batch) * neg->per_target;
    f->eager = f->s->update == NMP_UPDATE_EAGER ? 1 : f->s->update == NMP_UPDATE_LAZY ? 0 : f->n < 4 * slots;
    /* eager: each worker's gradient straight into its own dense array (no scatter), while that
     * costs less than DENSE_MAX_BYTES; slots otherwise */
    size_t bytes = (size_t)nmp_host_settings()->threads * (size_t)f->n * (size_t)f->dims * sizeof(float);
    if (f->eager && bytes <= DENSE_MAX_BYTES && (f->dense = nmp_alloc_huge(bytes, 1)) != NULL)
        nmp_engine_sink(f->engine, f->dense, f->n);
}

/* The loss's pair terms of the step, through the engine. */
static nmp_status loss_terms(fit *f, nmp_step *st, const nmp_negatives *neg, nmp_instance *loss, double exaggeration,
                             nmp_err *err)
{
    const nmp_loss_ops *lops = loss->ops;
    nmp_status s;
    if (lops->begin_step && (s = lops->begin_step(loss->state, st, neg)) != NMP_OK)
        return nmp_instance_fail(loss, s, "begin_step", err);
    if ((s = nmp_engine_run(f->engine, st, neg, exaggeration, &f->out, err)) != NMP_OK) return s;
    if (lops->end_step && (s = lops->end_step(loss->state, st, f->out.stat)) != NMP_OK)
        return nmp_instance_fail(loss, s, "end_step", err);
    return NMP_OK;
}

/* One step: targets, negatives, the points they read brought up to date, the engine's pair
 * terms, then the update of the touched points and the cell means. */
static nmp_status run_step(fit *f, nmp_step *st, nmp_instance *negatives, nmp_instance *loss, double exaggeration,
                           nmp_opt_result *res, nmp_err *err)
{
    const nmp_negatives_ops *nops = negatives->ops;
    double t0 = nmp_now();
    f->step = st->step;
    f->neg = NULL;
    draw_batch(f, st->step, st);
    if (f->eager != 1) catch_up(f, SLOT_TARGETS | SLOT_EDGES); /* sample() may read them */
    nmp_negatives neg;
    memset(&neg, 0, sizeof neg);
    double t1 = nmp_now();
    nmp_status s = nops->sample(negatives->state, st, &neg);
    if (s != NMP_OK) return nmp_instance_fail(negatives, s, "sample", err);
    if ((s = check_negatives(f, negatives, &neg, err)) != NMP_OK) return s;
    f->neg = &neg;
    if (f->eager < 0) choose_update(f, &neg);
    if (!f->eager) catch_up(f, SLOT_NEGATIVES);
    double t2 = nmp_now();
    if ((s = loss_terms(f, st, &neg, loss, exaggeration, err)) != NMP_OK) return s;
    double t3 = nmp_now();
    if (f->eager) {
        nmp_parallel_for(f->n, update_all_range, f);
        take_sums(f);
        cell_means(f);
    } else {
        nmp_parallel_for(f->n, update_range, f);
        update_cells(f);
    }
    f->neg = NULL;
    double t4 = nmp_now();
    res->seconds_batch += t1 - t0, res->seconds_sample += t2 - t1, res->seconds_grad += t3 - t2;
    res->seconds_update += t4 - t3;
    res->pairs += f->out.pairs;
    res->targets += st->batch;
    res->repel_terms += (int64_t)st->batch * (neg.per_target + neg.approx_count);
    return NMP_OK;
}

/* ABI 2.2's no_edges, where the plugin's ops are new enough to have it (see plugin.h). */
#define OPS_HAVE(ops, member) ((ops)->struct_size >= offsetof(__typeof__(*(ops)), member) + sizeof((ops)->member))
static int negatives_skip_edges(const nmp_negatives_ops *o)
{
    return OPS_HAVE(o, no_edges) && o->no_edges;
}
static int loss_skips_edges(const nmp_loss_ops *o)
{
    return (!o->begin_step && !o->end_step) || (OPS_HAVE(o, no_edges) && o->no_edges);
}
#undef OPS_HAVE

static nmp_status prepare_plugins(fit *f, const uint8_t *cell_local, int64_t spe, nmp_instance *negatives,
                                  nmp_instance *loss, nmp_err *err)
{
    f->info = nmp_opt_fit_info(f->s, f->n, spe, f->graph, f->cells, cell_local, f->cell_mass);
    const nmp_negatives_ops *nops = negatives->ops;
    const nmp_loss_ops *lops = loss->ops;
    nmp_loss_shape shape = {0};
    nmp_status s;
    if (nops->prepare && (s = nops->prepare(negatives->state, &f->info)) != NMP_OK)
        return nmp_instance_fail(negatives, s, "prepare", err);
    if ((s = lops->prepare(loss->state, &f->info, &shape)) != NMP_OK) return nmp_instance_fail(loss, s, "prepare", err);
    f->move_negatives = shape.move_negatives != 0;
    f->edges_read = !negatives_skip_edges(nops) || !loss_skips_edges(lops);
    return nmp_engine_new(&f->engine, lops, loss->state, &shape, f->dims, err);
}

static nmp_status check_finite(fit *f, int64_t epoch, int64_t step, nmp_err *err)
{
    int bad = 0;
    for (int w = 0; w < nmp_host_settings()->threads; w++) bad |= f->nonfinite[w];
    if (!bad) return NMP_OK;
    return nmp_fail(err, NMP_ERR_RUNTIME,
                    "optimize: the layout became NaN or Inf at epoch %lld (step %lld) in the SGD update; "
                    "lower optimizer.lr_scale or set optimizer.clip",
                    (long long)epoch, (long long)step);
}

/* ------------------------------------------------------------------ the CPU back end */

typedef struct {
    fit f;
    const nmp_fit_request *req;
    nmp_step step;
    int64_t total;
} cpu_fit;

static nmp_status cpu_start(void *b, const nmp_fit_request *req, int64_t spe, int64_t total, nmp_err *err)
{
    cpu_fit *c = b;
    const nmp_opt_settings *s = req->settings;
    fit *f = &c->f;
    *f = (fit){.s = s, .n = req->graph->n, .dims = s->dims, .graph = req->graph, .cells = req->cells, .eager = -1,
               .inv_batch = 1.0 / (double)s->batch};
    c->req = req, c->total = total;
    nmp_status st = nmp_fit_order_build(&f->order, f->graph, f->cells, err);
    f->graph = &f->order.graph, f->cells = &f->order.cells;
    if (st == NMP_OK) st = alloc_fit(f, err);
    if (st == NMP_OK) nmp_fit_order_to_fit(&f->order, req->y, f->y, f->dims);
    if (st == NMP_OK) st = nmp_lazy_sgd_init(&f->sgd, s->lr, s->momentum, s->hold, s->final_lr_fraction, total, err);
    if (st == NMP_OK) st = prepare_plugins(f, req->cell_local, spe, req->negatives, req->loss, err);
    if (st == NMP_OK) settle(f, -1);
    c->step = (nmp_step){.y = f->y,
                         .cell_mean = f->cell_mean,
                         .cell_mass = f->cell_mass,
                         .loss_every = s->loss_every,
                         .cell_spread = f->cell_spread};
    return st;
}

static const nmp_checkpoint_ops *checkpoint_entry(const nmp_instance *inst)
{
    return nmp_plugin_extension(inst->ref->desc, NMP_EXT_CHECKPOINT);
}

/* Hands the state at the end of epoch `done` (settled: every point caught up) to the caller. */
static nmp_status cpu_checkpoint(void *b, int64_t done, const nmp_opt_result *result, nmp_err *err)
{
    cpu_fit *c = b;
    fit *f = &c->f;
    nmp_instance *inst[2] = {c->req->negatives, c->req->loss};
    nmp_opt_state state = {.epochs_done = done, .n = f->n, .dims = f->dims, .y = f->y, .velocity = f->velocity,
                           .loss = result->loss, .epoch_seconds = result->epoch_seconds};
    nmp_status st = NMP_OK;
    for (int p = 0; p < 2 && st == NMP_OK; p++) {
        const nmp_checkpoint_ops *ops = checkpoint_entry(inst[p]);
        state.plugin_size[p] = ops ? ops->size(inst[p]->state) : 0;
        if (state.plugin_size[p] && !(state.plugin[p] = malloc(state.plugin_size[p])))
            st = nmp_fail(err, NMP_ERR_NOMEM, "checkpoint: out of memory");
        else if (state.plugin_size[p])
            ops->save(inst[p]->state, state.plugin[p]);
    }
    if (st == NMP_OK) st = f->s->on_checkpoint(c->req->ctx, &state, err);
    free(state.plugin[0]), free(state.plugin[1]);
    return st;
}

/* Puts the fit where `r` stopped: its layout and velocity, every point current at the
 * epoch's last step, cell sums and means taken afresh (as the epoch's end did), the plugins'
 * states. The eager/lazy choice is made again by the next step, as the first step made it. */
static nmp_status cpu_resume(void *b, const nmp_opt_state *r, int64_t spe, nmp_err *err)
{
    cpu_fit *c = b;
    fit *f = &c->f;
    nmp_instance *inst[2] = {c->req->negatives, c->req->loss};
    const size_t values = (size_t)(f->n * f->dims);
    memcpy(f->y, r->y, values * sizeof *f->y);
    memcpy(f->velocity, r->velocity, values * sizeof *f->velocity);
    const int64_t now = r->epochs_done * spe - 1;
    for (int64_t i = 0; i < f->n; i++) f->last[i] = (int32_t)now;
    settle(f, now);
    for (int p = 0; p < 2; p++) {
        const nmp_checkpoint_ops *ops = checkpoint_entry(inst[p]);
        if (!ops && r->plugin_size[p])
            return nmp_fail(err, NMP_ERR_INVALID, "resume: the checkpoint holds a state of %s plugin %s, which offers "
                            "no checkpoint entry now", nmp_kind_name(inst[p]->ref->desc->kind), inst[p]->ref->desc->name);
        nmp_status s = ops ? ops->load(inst[p]->state, r->plugin[p], r->plugin_size[p]) : NMP_OK;
        if (s != NMP_OK) return nmp_instance_fail(inst[p], s, "checkpoint load", err);
    }
    return NMP_OK;
}

static nmp_status cpu_step(void *b, int64_t epoch, int64_t step, int64_t k, double exaggeration, double *loss_sum,
                           nmp_opt_result *res, nmp_err *err)
{
    (void)k;
    cpu_fit *c = b;
    fit *f = &c->f;
    c->step.epoch = epoch;
    c->step.step = step;
    c->step.progress = (double)step / (double)c->total;
    f->lr = nmp_lazy_lr(&f->sgd, step);
    nmp_status st = run_step(f, &c->step, c->req->negatives, c->req->loss, exaggeration, res, err);
    if (st == NMP_OK) st = check_finite(f, epoch, step, err);
    *loss_sum += f->out.loss;
    return st;
}

static nmp_status cpu_end_epoch(void *b, int64_t epoch, float *y, double loss_sum, double *loss, nmp_opt_result *res,
                                nmp_err *err)
{
    (void)res, (void)err;
    cpu_fit *c = b;
    fit *f = &c->f;
    const int64_t spe = c->total / f->s->epochs;
    settle(f, (epoch + 1) * spe - 1);
    nmp_fit_order_to_input(&f->order, f->y, y, f->dims);
    *loss = loss_sum / ((double)spe * f->s->batch);
    return NMP_OK;
}

static void cpu_finish(void *b, nmp_opt_result *res)
{
    cpu_fit *c = b;
    res->eager = c->f.eager == 1;
    free_fit(&c->f);
}

const nmp_fit_backend_ops nmp_fit_cpu = {.device = "cpu",
                                         .state_size = sizeof(cpu_fit),
                                         .start = cpu_start,
                                         .resume = cpu_resume,
                                         .step = cpu_step,
                                         .end_epoch = cpu_end_epoch,
                                         .checkpoint = cpu_checkpoint,
                                         .finish = cpu_finish};
