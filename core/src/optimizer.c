/* Momentum SGD over the layout, driven by a negatives and a loss plugin. One fused pass
 * per step applies the update to every point and accumulates the next step's cell means. */
#include "optimizer.h"

#include <stdlib.h>
#include <string.h>

#include "fit_order.h"
#include "host.h"
#include "nomad/rng.h"
#include "sgd_step_cpu.h"

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
    float *cell_mean, *cell_mass;
    double *cell_acc; /* threads x cells x dims */
    float *g_target, *g_pos, *g_neg;
    size_t g_neg_cap;
    float *grad, *velocity; /* n x dims */
    float *y;             /* the layout in fit order (see fit_order.h) */
    nmp_fit_order order;
    uint32_t loss_minor;  /* ABI minor the loss plugin was built with */
    /* per-step inputs of the update pass */
    double lr, inv_batch;
    int *nonfinite; /* per worker */
    const nmp_negatives *neg; /* this step's negatives, for the scatter inside the update pass */
    double scatter_seconds;   /* worker 0's time in that scatter, this step */
    nmp_fit_info info; /* handed to prepare(): plugins may keep the pointer for the whole fit */
} fit;

double nmp_opt_lr(const nmp_opt_settings *s, int64_t step, int64_t total)
{
    double t = total > 0 ? (double)step / (double)total : 0.0;
    if (t <= s->hold || s->hold >= 1.0) return s->lr;
    double u = (t - s->hold) / (1.0 - s->hold);
    return s->lr * ((1.0 - u) + u * s->final_lr_fraction);
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
    return (nmp_fit_info){.n = n, .dims = s->dims, .batch = s->batch, .steps_per_epoch = spe, .epochs = s->epochs,
                          .graph = graph, .cells = cells, .cell_local = cell_local, .cell_mass = cell_mass,
                          .n_total = s->n_total > 0 ? s->n_total : n};
}

static void free_fit(fit *f)
{
    free(f->target), free(f->drawn), free(f->radix_count), free(f->edge_offset), free(f->pos), free(f->pos_weight);
    free(f->y);
    nmp_fit_order_free(&f->order);
    free(f->cell_mean), free(f->cell_mass), free(f->cell_acc);
    free(f->g_target), free(f->g_pos), free(f->g_neg);
    free(f->grad), free(f->velocity), free(f->nonfinite);
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
    f->y = malloc((size_t)(f->n * D) * sizeof *f->y + 1);
    f->edge_offset = malloc((size_t)(B + 1) * sizeof *f->edge_offset);
    f->pos = malloc((size_t)(edges + 1) * sizeof *f->pos);
    f->pos_weight = malloc((size_t)(edges + 1) * sizeof *f->pos_weight);
    f->cell_mean = calloc((size_t)(C * D), sizeof *f->cell_mean);
    f->cell_mass = calloc((size_t)C, sizeof *f->cell_mass);
    f->cell_acc = calloc((size_t)(T * C * D), sizeof *f->cell_acc);
    f->g_target = malloc((size_t)(B * D) * sizeof *f->g_target);
    f->g_pos = malloc((size_t)((edges + 1) * D) * sizeof *f->g_pos);
    f->grad = calloc((size_t)(f->n * D), sizeof *f->grad);
    f->velocity = calloc((size_t)(f->n * D), sizeof *f->velocity);
    f->nonfinite = calloc((size_t)T, sizeof *f->nonfinite);
    if (!f->target || !f->drawn || !f->radix_count || !f->y || !f->edge_offset || !f->pos || !f->pos_weight || !f->cell_mean || !f->cell_mass ||
        !f->cell_acc || !f->g_target || !f->g_pos || !f->grad || !f->velocity || !f->nonfinite)
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for %lld points", (long long)f->n);
    nmp_opt_cell_mass(f->s, f->cells, f->cell_mass);
    return NMP_OK;
}

/* Reduces the per-worker cell sums into cell means, in worker order (deterministic), summed
 * over the ranks first when the run is distributed. */
static void reduce_cell_means(fit *f)
{
    int64_t C = f->cells->count, D = f->dims, T = nmp_host_settings()->threads;
    double *sum = f->cell_acc; /* worker 0's block collects the total */
    for (int64_t w = 1; w < T; w++)
        for (int64_t v = 0; v < C * D; v++) sum[v] += f->cell_acc[w * C * D + v];
    if (f->s->reduce_cells && f->s->reduce_cells(f->s->reduce_ctx, sum, C * D)) f->nonfinite[0] = 1;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < D; k++)
            f->cell_mean[c * D + k] = f->cell_mass[c] > 0 ? (float)(sum[c * D + k] / f->cell_mass[c]) : 0.0f;
    memset(f->cell_acc, 0, (size_t)(T * C * D) * sizeof *f->cell_acc);
}

/* In fit order a cell is a range of rows: sum [begin, end) cell piece by cell piece, in
 * registers, and add each piece's sum once. */
static void accumulate_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    int64_t C = f->cells->count, D = f->dims;
    double *acc = f->cell_acc + (int64_t)worker * C * D;
    for (int64_t i = begin; i < end;) {
        int32_t cell = f->cells->cell_of[i];
        int64_t stop = f->cells->start[cell + 1] < end ? f->cells->start[cell + 1] : end;
        for (int64_t k = 0; k < D; k++) {
            double sum = 0.0;
            for (int64_t j = i; j < stop; j++) sum += f->y[j * D + k];
            acc[cell * D + k] += sum;
        }
        i = stop;
    }
}

/* Rows of negatives as nmp_negatives defines them: rows/row_start (ABI 1.1), or one row for
 * shared negatives, or one per target. */
static int64_t negative_rows(const fit *f, const nmp_negatives *neg)
{
    return neg->rows > 0 ? neg->rows : neg->shared ? 1 : f->s->batch;
}

/* Adds the loss's per-slot gradients of the points in [begin, end) into the dense gradient.
 * Every worker reads all slots and keeps its own points, so each point's sum runs in slot
 * order whatever the thread count: the result is that of one serial scatter. In fit order a
 * worker's points are whole cells, and the batch is grouped by cell, so the filter's branch
 * is taken in long runs. */
static void scatter_range(fit *f, int64_t begin, int64_t end)
{
    int64_t D = f->dims, B = f->s->batch;
    const nmp_negatives *neg = f->neg;
    for (int64_t b = 0; b < B; b++) {
        int64_t t = f->target[b];
        if (t < begin || t >= end) continue;
        for (int64_t k = 0; k < D; k++) f->grad[t * D + k] += f->g_target[b * D + k];
    }
    for (int64_t e = 0; e < f->edge_offset[B]; e++) {
        int64_t j = f->pos[e];
        if (j < begin || j >= end) continue;
        for (int64_t k = 0; k < D; k++) f->grad[j * D + k] += f->g_pos[e * D + k];
    }
    int64_t slots = negative_rows(f, neg) * neg->per_target;
    for (int64_t s = 0; s < slots; s++) {
        int64_t idx = neg->index[s];
        if (idx < begin || idx >= end) continue; /* also skips the -1 of an empty slot */
        for (int64_t k = 0; k < D; k++) f->grad[idx * D + k] += f->g_neg[s * D + k];
    }
}



/* The fused pass: the scatter of this worker's points, then averaged (and clipped) gradient ->
 * momentum -> y, gradient zeroed, cell sums of the new layout accumulated for the next step. */
static void update_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    int64_t C = f->cells->count, D = f->dims;
    double *acc = f->cell_acc + (int64_t)worker * C * D;
    const sgd_update u = {.lr = f->lr, .momentum = f->s->momentum, .inv_batch = f->inv_batch, .clip = f->s->clip};
    double t0 = worker == 0 ? nmp_now() : 0.0;
    scatter_range(f, begin, end);
    if (worker == 0) f->scatter_seconds = nmp_now() - t0;
    int bad = 0;
    for (int64_t i0 = begin; i0 < end;) { /* one piece of one cell at a time (fit order) */
        int32_t cell = f->cells->cell_of[i0];
        int64_t stop = f->cells->start[cell + 1] < end ? f->cells->start[cell + 1] : end, len = (stop - i0) * D;
        float *y = f->y + i0 * D;
        /* coordinates are independent here: one flat vector loop, then the cell sums */
        bad |= sgd_momentum_cpu(&u, y, f->velocity + i0 * D, f->grad + i0 * D, len);
        for (int64_t k = 0; k < D; k++) {
            double sum = 0.0;
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < stop - i0; i++) sum += y[i * D + k];
            acc[cell * D + k] += sum;
        }
        i0 = stop;
    }
    f->nonfinite[worker] |= bad;
}

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
        int64_t j0 = g->offsets[f->target[b]], e = f->edge_offset[b], len = f->edge_offset[b + 1] - e;
        memcpy(f->pos + e, g->index + j0, (size_t)len * sizeof *f->pos);
        if (g->weight) memcpy(f->pos_weight + e, g->weight + j0, (size_t)len * sizeof *f->pos_weight);
        else
            for (int64_t j = 0; j < len; j++) f->pos_weight[e + j] = 1.0f;
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

static void draw_batch(fit *f, int64_t step, nmp_step *st)
{
    const nmp_graph *g = f->graph;
    int64_t e = 0;
    nmp_opt_draw_targets(f->s->seed, step, f->n, f->s->batch, f->target, f->drawn, f->radix_count);
    for (int32_t b = 0; b < f->s->batch; b++) {
        f->edge_offset[b] = e;
        e += g->offsets[f->target[b] + 1] - g->offsets[f->target[b]];
    }
    f->edge_offset[f->s->batch] = e;
    nmp_parallel_for(f->s->batch, copy_edges_range, f);
    st->batch = f->s->batch;
    st->target = f->target;
    st->edge_offset = f->edge_offset;
    st->pos = f->pos;
    st->pos_weight = f->pos_weight;
}

static nmp_status check_rows(const fit *f, const nmp_instance *inst, const nmp_negatives *neg, nmp_err *err)
{
    int32_t B = f->s->batch;
    if (neg->rows <= 0) return NMP_OK;
    int ok = neg->row_start && neg->rows <= B && neg->row_start[0] == 0 && neg->row_start[neg->rows] == B;
    for (int32_t r = 0; ok && r < neg->rows; r++) ok = neg->row_start[r] <= neg->row_start[r + 1];
    if (!ok)
        return nmp_fail(err, NMP_ERR_RUNTIME,
                        "negatives plugin %s (%s): row_start must rise from 0 to the batch size %d over %d rows",
                        inst->ref->desc->name, inst->ref->file, B, neg->rows);
    if (f->loss_minor < 1 && neg->rows != B && neg->rows != 1)
        return nmp_fail(err, NMP_ERR_UNSUPPORTED,
                        "negatives plugin %s shares draws between targets (ABI 1.1), which the loss plugin "
                        "(built for ABI 1.0) cannot read; rebuild the loss plugin or set the negatives to one draw per target",
                        inst->ref->desc->name);
    return NMP_OK;
}

static nmp_status check_negatives(fit *f, const nmp_instance *inst, const nmp_negatives *neg, nmp_err *err)
{
    int64_t slots = negative_rows(f, neg) * (int64_t)neg->per_target;
    if (neg->per_target < 0 || (slots > 0 && !neg->index) || neg->approx_count < 0 ||
        (neg->approx_count > 0 && (!neg->approx_y || !neg->approx_weight)))
        return nmp_fail(err, NMP_ERR_RUNTIME, "negatives plugin %s (%s): sample() returned an inconsistent result",
                        inst->ref->desc->name, inst->ref->file);
    nmp_status s = check_rows(f, inst, neg, err);
    if (s != NMP_OK) return s;
    for (int64_t s = 0; s < slots; s++)
        if (neg->index[s] >= f->n)
            return nmp_fail(err, NMP_ERR_RUNTIME, "negatives plugin %s (%s): negative index %d out of range [0, %lld)",
                            inst->ref->desc->name, inst->ref->file, neg->index[s], (long long)f->n);
    if ((size_t)(slots * f->dims) > f->g_neg_cap) {
        free(f->g_neg);
        f->g_neg_cap = (size_t)(slots * f->dims);
        f->g_neg = malloc(f->g_neg_cap * sizeof *f->g_neg + 1);
        if (!f->g_neg) return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for negative gradients");
    }
    return NMP_OK;
}

/* One step: negatives, loss gradients, scatter, fused update. Returns the batch loss. */
static nmp_status run_step(fit *f, nmp_step *st, nmp_instance *negatives, nmp_instance *loss, double exaggeration,
                           double *batch_loss, nmp_opt_result *res, nmp_err *err)
{
    const nmp_negatives_ops *nops = negatives->ops;
    const nmp_loss_ops *lops = loss->ops;
    double t0 = nmp_now();
    draw_batch(f, st->step, st);
    nmp_negatives neg;
    memset(&neg, 0, sizeof neg);
    double t1 = nmp_now();
    nmp_status s = nops->sample(negatives->state, st, &neg);
    if (s != NMP_OK) return nmp_instance_fail(negatives, s, "sample", err);
    if ((s = check_negatives(f, negatives, &neg, err)) != NMP_OK) return s;
    int64_t D = f->dims, slots = negative_rows(f, &neg) * (int64_t)neg.per_target;
    memset(f->g_target, 0, (size_t)(st->batch * D) * sizeof(float));
    memset(f->g_pos, 0, (size_t)(f->edge_offset[st->batch] * D) * sizeof(float));
    if (slots) memset(f->g_neg, 0, (size_t)(slots * D) * sizeof(float));
    nmp_grads out = {.target = f->g_target, .pos = f->g_pos, .neg = f->g_neg, .loss = 0.0};
    double t2 = nmp_now();
    s = lops->grad(loss->state, st, &neg, exaggeration, &out);
    if (s != NMP_OK) return nmp_instance_fail(loss, s, "grad", err);
    double t3 = nmp_now();
    *batch_loss = out.loss;
    f->neg = &neg;
    f->scatter_seconds = 0.0;
    nmp_parallel_for(f->n, update_range, f);
    f->neg = NULL;
    reduce_cell_means(f);
    double t4 = nmp_now();
    res->seconds_batch += t1 - t0, res->seconds_sample += t2 - t1, res->seconds_grad += t3 - t2;
    res->seconds_scatter += f->scatter_seconds, res->seconds_update += t4 - t3 - f->scatter_seconds;
    return NMP_OK;
}

static nmp_status prepare_plugins(fit *f, const uint8_t *cell_local, int64_t spe, nmp_instance *negatives,
                                  nmp_instance *loss, nmp_err *err)
{
    f->info = nmp_opt_fit_info(f->s, f->n, spe, f->graph, f->cells, cell_local, f->cell_mass);
    const nmp_fit_info *info = &f->info;
    const nmp_negatives_ops *nops = negatives->ops;
    const nmp_loss_ops *lops = loss->ops;
    f->loss_minor = loss->ref->desc->abi_minor;
    nmp_status s;
    if (nops->prepare && (s = nops->prepare(negatives->state, info)) != NMP_OK)
        return nmp_instance_fail(negatives, s, "prepare", err);
    if (lops->prepare && (s = lops->prepare(loss->state, info)) != NMP_OK)
        return nmp_instance_fail(loss, s, "prepare", err);
    return NMP_OK;
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

nmp_status nmp_optimize(const nmp_opt_settings *s, float *y, const nmp_graph *graph, const nmp_cells *cells,
                        const uint8_t *cell_local, nmp_instance *negatives, nmp_instance *loss, nmp_epoch_fn on_epoch,
                        void *ctx, nmp_opt_result *result, nmp_err *err)
{
    fit f = {.s = s, .n = graph->n, .dims = s->dims};
    memset(result, 0, sizeof *result);
    int64_t spe = nmp_opt_steps_per_epoch(s, f.n);
    int64_t total = spe * s->epochs;
    nmp_status st = nmp_fit_order_build(&f.order, graph, cells, err);
    f.graph = &f.order.graph, f.cells = &f.order.cells;
    if (st == NMP_OK) st = alloc_fit(&f, err);
    if (st == NMP_OK) nmp_fit_order_to_fit(&f.order, y, f.y, f.dims);
    result->loss = calloc((size_t)s->epochs, sizeof *result->loss);
    result->epoch_seconds = calloc((size_t)s->epochs, sizeof *result->epoch_seconds);
    if (st == NMP_OK && (!result->loss || !result->epoch_seconds))
        st = nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory");
    if (st == NMP_OK) st = prepare_plugins(&f, cell_local, spe, negatives, loss, err);
    if (st == NMP_OK) {
        nmp_parallel_for(f.n, accumulate_range, &f);
        reduce_cell_means(&f);
    }
    f.inv_batch = 1.0 / (double)s->batch;
    double t0 = nmp_now();
    nmp_step step = {.y = f.y, .cell_mean = f.cell_mean, .cell_mass = f.cell_mass, .loss_every = s->loss_every};
    for (int64_t e = 0; st == NMP_OK && e < s->epochs; e++) {
        double ex = nmp_opt_exaggeration(s, e), sum = 0;
        for (int64_t k = 0; st == NMP_OK && k < spe; k++) {
            step.epoch = e;
            step.step = e * spe + k;
            step.progress = (double)step.step / (double)total;
            f.lr = nmp_opt_lr(s, step.step, total);
            double bl = 0;
            st = run_step(&f, &step, negatives, loss, ex, &bl, result, err);
            if (st == NMP_OK) st = check_finite(&f, e, step.step, err);
            sum += bl;
        }
        if (st != NMP_OK) break;
        nmp_fit_order_to_input(&f.order, f.y, y, f.dims);
        result->loss[e] = sum / ((double)spe * s->batch);
        result->epoch_seconds[e] = nmp_now() - t0;
        nmp_progress_epoch(e + 1, s->epochs, result->loss[e], result->epoch_seconds[e]);
        if (on_epoch) st = on_epoch(ctx, e, result->loss[e], y, err);
    }
    result->steps = total;
    free_fit(&f);
    return st;
}
