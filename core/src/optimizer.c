/* Momentum SGD over the layout, driven by a negatives and a loss plugin. One fused pass
 * per step applies the update to every point and accumulates the next step's cell means. */
#include "optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "nomad/rng.h"

typedef struct {
    const nmp_opt_settings *s;
    int64_t n;
    int dims;
    const nmp_graph *graph;
    const nmp_cells *cells;
    int32_t *target;
    int64_t *edge_offset;
    int32_t *pos;
    float *pos_weight;
    float *cell_mean, *cell_mass;
    double *cell_acc; /* threads x cells x dims */
    float *g_target, *g_pos, *g_neg;
    size_t g_neg_cap;
    float *grad, *velocity; /* n x dims */
    float *y;
    /* per-step inputs of the update pass */
    double lr, inv_batch;
    int *nonfinite; /* per worker */
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

static void free_fit(fit *f)
{
    free(f->target), free(f->edge_offset), free(f->pos), free(f->pos_weight);
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
    if (!f->target || !f->edge_offset || !f->pos || !f->pos_weight || !f->cell_mean || !f->cell_mass ||
        !f->cell_acc || !f->g_target || !f->g_pos || !f->grad || !f->velocity || !f->nonfinite)
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for %lld points", (long long)f->n);
    for (int64_t c = 0; c < C; c++) f->cell_mass[c] = (float)(f->cells->start[c + 1] - f->cells->start[c]);
    return NMP_OK;
}

/* Reduces the per-worker cell sums into cell means, in worker order (deterministic). */
static void reduce_cell_means(fit *f)
{
    int64_t C = f->cells->count, D = f->dims, T = nmp_host_settings()->threads;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < D; k++) {
            double sum = 0;
            for (int64_t w = 0; w < T; w++) sum += f->cell_acc[(w * C + c) * D + k];
            f->cell_mean[c * D + k] = f->cell_mass[c] > 0 ? (float)(sum / f->cell_mass[c]) : 0.0f;
        }
    memset(f->cell_acc, 0, (size_t)(T * C * D) * sizeof *f->cell_acc);
}

static void accumulate_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    int64_t C = f->cells->count, D = f->dims;
    double *acc = f->cell_acc + (int64_t)worker * C * D;
    for (int64_t i = begin; i < end; i++)
        for (int64_t k = 0; k < D; k++) acc[f->cells->cell_of[i] * D + k] += f->y[i * D + k];
}

/* The fused pass: averaged (and clipped) gradient -> momentum -> y, gradient zeroed, cell
 * sums of the new layout accumulated for the next step. */
static void update_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    fit *f = ctx;
    int64_t C = f->cells->count, D = f->dims;
    double *acc = f->cell_acc + (int64_t)worker * C * D;
    const float mu = (float)f->s->momentum, lr = (float)f->lr, ib = (float)f->inv_batch;
    const float clip = (float)f->s->clip;
    int bad = 0;
    for (int64_t i = begin; i < end; i++) {
        int64_t cell = f->cells->cell_of[i];
        for (int64_t k = 0; k < D; k++) {
            int64_t at = i * D + k;
            float g = f->grad[at] * ib;
            if (clip > 0) g = g > clip ? clip : (g < -clip ? -clip : g);
            float v = mu * f->velocity[at] + g;
            f->velocity[at] = v;
            float yn = f->y[at] - lr * v;
            f->y[at] = yn;
            f->grad[at] = 0.0f;
            bad |= !isfinite(yn);
            acc[cell * D + k] += yn;
        }
    }
    f->nonfinite[worker] |= bad;
}

/* Draws the step's targets and lays out their positive edges. */
static void draw_batch(fit *f, int64_t step, nmp_step *st)
{
    const nmp_graph *g = f->graph;
    int64_t e = 0;
    const uint64_t key = nmp_rng_key(f->s->seed, NMP_STREAM_BATCH), step_mix = nmp_mix64((uint64_t)step);
    for (int32_t b = 0; b < f->s->batch; b++) {
        /* == nmp_rng_below(seed, BATCH, nmp_rng_counter2(step, b), n), with the invariant mixing hoisted */
        uint64_t bits = nmp_rng_keyed(key, step_mix ^ ((uint64_t)b * 0xd1b54a32d192ed03ull));
        int32_t t = (int32_t)(((unsigned __int128)bits * (uint64_t)f->n) >> 64);
        f->target[b] = t;
        f->edge_offset[b] = e;
        for (int64_t j = g->offsets[t]; j < g->offsets[t + 1]; j++, e++) {
            f->pos[e] = g->index[j];
            f->pos_weight[e] = g->weight ? g->weight[j] : 1.0f;
        }
    }
    f->edge_offset[f->s->batch] = e;
    st->batch = f->s->batch;
    st->target = f->target;
    st->edge_offset = f->edge_offset;
    st->pos = f->pos;
    st->pos_weight = f->pos_weight;
}

/* Adds the loss's per-slot gradients into the dense gradient (serial: deterministic). */
static void scatter(fit *f, const nmp_negatives *neg)
{
    int64_t D = f->dims, B = f->s->batch;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < D; k++) f->grad[f->target[b] * D + k] += f->g_target[b * D + k];
    for (int64_t e = 0; e < f->edge_offset[B]; e++)
        for (int64_t k = 0; k < D; k++) f->grad[f->pos[e] * D + k] += f->g_pos[e * D + k];
    int64_t rows = neg->shared ? 1 : B, slots = rows * neg->per_target;
    for (int64_t s = 0; s < slots; s++) {
        int32_t idx = neg->index[s];
        if (idx < 0) continue;
        for (int64_t k = 0; k < D; k++) f->grad[(int64_t)idx * D + k] += f->g_neg[s * D + k];
    }
}

static nmp_status check_negatives(fit *f, const nmp_instance *inst, const nmp_negatives *neg, nmp_err *err)
{
    int64_t rows = neg->shared ? 1 : f->s->batch, slots = rows * (int64_t)neg->per_target;
    if (neg->per_target < 0 || (slots > 0 && !neg->index) || neg->approx_count < 0 ||
        (neg->approx_count > 0 && (!neg->approx_y || !neg->approx_weight)))
        return nmp_fail(err, NMP_ERR_RUNTIME, "negatives plugin %s (%s): sample() returned an inconsistent result",
                        inst->ref->desc->name, inst->ref->file);
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
    const nmp_negatives_ops *nops = negatives->ref->desc->ops;
    const nmp_loss_ops *lops = loss->ref->desc->ops;
    double t0 = nmp_now();
    draw_batch(f, st->step, st);
    nmp_negatives neg;
    memset(&neg, 0, sizeof neg);
    double t1 = nmp_now();
    nmp_status s = nops->sample(negatives->state, st, &neg);
    if (s != NMP_OK) return nmp_instance_fail(negatives, s, "sample", err);
    if ((s = check_negatives(f, negatives, &neg, err)) != NMP_OK) return s;
    int64_t D = f->dims, slots = (neg.shared ? 1 : st->batch) * (int64_t)neg.per_target;
    memset(f->g_target, 0, (size_t)(st->batch * D) * sizeof(float));
    memset(f->g_pos, 0, (size_t)(f->edge_offset[st->batch] * D) * sizeof(float));
    if (slots) memset(f->g_neg, 0, (size_t)(slots * D) * sizeof(float));
    nmp_grads out = {.target = f->g_target, .pos = f->g_pos, .neg = f->g_neg, .loss = 0.0};
    double t2 = nmp_now();
    s = lops->grad(loss->state, st, &neg, exaggeration, &out);
    if (s != NMP_OK) return nmp_instance_fail(loss, s, "grad", err);
    double t3 = nmp_now();
    scatter(f, &neg);
    *batch_loss = out.loss;
    double t4 = nmp_now();
    nmp_parallel_for(f->n, update_range, f);
    reduce_cell_means(f);
    double t5 = nmp_now();
    res->seconds_batch += t1 - t0, res->seconds_sample += t2 - t1, res->seconds_grad += t3 - t2;
    res->seconds_scatter += t4 - t3, res->seconds_update += t5 - t4;
    return NMP_OK;
}

static nmp_status prepare_plugins(fit *f, const uint8_t *cell_local, int64_t spe, nmp_instance *negatives,
                                  nmp_instance *loss, nmp_err *err)
{
    f->info = (nmp_fit_info){.n = f->n, .dims = f->dims, .batch = f->s->batch, .steps_per_epoch = spe,
                             .epochs = f->s->epochs, .graph = f->graph, .cells = f->cells, .cell_local = cell_local};
    const nmp_fit_info *info = &f->info;
    const nmp_negatives_ops *nops = negatives->ref->desc->ops;
    const nmp_loss_ops *lops = loss->ref->desc->ops;
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
    fit f = {.s = s, .n = graph->n, .dims = s->dims, .graph = graph, .cells = cells, .y = y};
    memset(result, 0, sizeof *result);
    int64_t ranks = nmp_host_settings()->ranks;
    int64_t spe = f.n / ((int64_t)s->batch * ranks);
    if (spe < 1) spe = 1;
    int64_t total = spe * s->epochs;
    nmp_status st = alloc_fit(&f, err);
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
    nmp_step step = {.y = y, .cell_mean = f.cell_mean, .cell_mass = f.cell_mass};
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
        result->loss[e] = sum / ((double)spe * s->batch);
        result->epoch_seconds[e] = nmp_now() - t0;
        nmp_progress_epoch(e + 1, s->epochs, result->loss[e], result->epoch_seconds[e]);
        if (on_epoch) st = on_epoch(ctx, e, result->loss[e], y, err);
    }
    result->steps = total;
    free_fit(&f);
    return st;
}
