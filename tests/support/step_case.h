/* One optimiser step as the step engine sees it, built at random (a layout, a graph of k
 * neighbours per point, cells, a batch with repeats, negatives per target, shared or in
 * runs, weighted approximate terms, some of weight 0), and the engine's dense gradient of
 * it through a real loss plugin. Used by the engine's test and the GPU kernel's parity test,
 * whose CPU reference is the engine. Header-only: its users link the core. */
#ifndef NOMAD_TEST_STEP_CASE_H
#define NOMAD_TEST_STEP_CASE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "nomad/rng.h"
#include "step_engine.h"
#include "test_host.h"

typedef enum { CASE_PER_TARGET = 0, CASE_SHARED = 1, CASE_RUNS = 2 } step_case_rows;

typedef struct {
    int64_t n;
    int dims, k, cells, batch, per_target;
    float *y, *weight, *mass, *cell_mean, *neg_weight, *approx_weight, *pos_weight;
    float *spread; /* cells, or NULL: the approximate terms' spreads (step_case_spread) */
    int64_t *offsets, *edge_offset;
    int32_t *index, *cell_of, *target, *neg_index, *row_start, *pos;
    nmp_step step;
    nmp_negatives neg;
    double stat_before; /* > 0: the loss's end_step() sees this statistic sum first, as after a step before */
    int64_t *row_first; /* batch, or NULL: the engine reads each target's edges where its graph row starts
                           (nmp_engine_edges), the step's pos and pos_weight NULL (step_case_from_graph) */
} step_case;

static inline double step_case_u01(uint64_t seed, uint64_t stream, uint64_t i) { return nmp_rng_uniform(seed, stream, i); }

/* Weights of the negatives: random, or (same_weight) one value per row, as cluster_mean's. */
static inline step_case *step_case_new(int64_t n, int dims, int k, int cells, int batch, int per_target,
                                       step_case_rows mode, int same_weight, double scale, uint64_t seed)
{
    step_case *c = calloc(1, sizeof *c);
    *c = (step_case){.n = n, .dims = dims, .k = k, .cells = cells, .batch = batch, .per_target = per_target};
    int64_t slots = (int64_t)batch * per_target, edges = (int64_t)batch * k;
    c->y = malloc((size_t)(n * dims) * sizeof *c->y);
    c->offsets = malloc((size_t)(n + 1) * sizeof *c->offsets);
    c->index = malloc((size_t)(n * k) * sizeof *c->index);
    c->weight = malloc((size_t)(n * k) * sizeof *c->weight);
    c->cell_of = malloc((size_t)n * sizeof *c->cell_of);
    c->mass = calloc((size_t)cells, sizeof *c->mass);
    c->cell_mean = calloc((size_t)(cells * dims), sizeof *c->cell_mean);
    c->target = malloc((size_t)batch * sizeof *c->target);
    c->row_start = malloc((size_t)(batch + 1) * sizeof *c->row_start);
    c->neg_index = malloc((size_t)(slots + 1) * sizeof *c->neg_index);
    c->neg_weight = malloc((size_t)(slots + 1) * sizeof *c->neg_weight);
    c->approx_weight = malloc((size_t)(batch * cells) * sizeof *c->approx_weight);
    c->edge_offset = malloc((size_t)(batch + 1) * sizeof *c->edge_offset);
    c->pos = malloc((size_t)edges * sizeof *c->pos);
    c->pos_weight = malloc((size_t)edges * sizeof *c->pos_weight);
    for (int64_t i = 0; i < n * dims; i++) c->y[i] = (float)(scale * (2.0 * step_case_u01(seed, 1, (uint64_t)i) - 1.0));
    for (int64_t i = 0; i < n; i++) {
        c->offsets[i + 1] = (i + 1) * k;
        c->cell_of[i] = (int32_t)(i % cells);
        c->mass[i % cells] += 1.0f;
        for (int j = 0; j < k; j++) {
            uint64_t e = (uint64_t)(i * k + j);
            c->index[e] = (int32_t)((i + 1 + (int64_t)nmp_rng_below(seed, 2, e, (uint64_t)n - 1)) % n);
            c->weight[e] = (float)(0.05 + step_case_u01(seed, 3, e));
        }
    }
    c->offsets[0] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < dims; d++) c->cell_mean[c->cell_of[i] * dims + d] += c->y[i * dims + d] / c->mass[c->cell_of[i]];
    int32_t rows = mode == CASE_SHARED ? 1 : 0;
    for (int b = 0; b < batch; b++) {
        c->target[b] = (int32_t)nmp_rng_below(seed, 4, (uint64_t)b, (uint64_t)(n / 2)); /* repeats likely */
        if (mode == CASE_RUNS && (b == 0 || nmp_rng_below(seed, 8, (uint64_t)b, 3) == 0)) c->row_start[rows++] = b;
    }
    c->row_start[rows] = batch;
    if (mode == CASE_PER_TARGET) rows = batch;
    for (int64_t s = 0; s < (int64_t)rows * per_target; s++) {
        c->neg_index[s] = (int32_t)nmp_rng_below(seed, 5, (uint64_t)s, (uint64_t)n);
        uint64_t w = same_weight ? (uint64_t)(s / per_target) : (uint64_t)s;
        c->neg_weight[s] = (float)(0.5 + step_case_u01(seed, 6, w));
    }
    for (int64_t s = 0; s < (int64_t)batch * cells; s++)
        c->approx_weight[s] = s % 7 == 3 ? 0.0f : (float)(0.1 + 2 * step_case_u01(seed, 7, (uint64_t)s));
    int64_t e = 0;
    for (int b = 0; b < batch; b++) {
        c->edge_offset[b] = e;
        for (int64_t j = c->offsets[c->target[b]]; j < c->offsets[c->target[b] + 1]; j++, e++)
            c->pos[e] = c->index[j], c->pos_weight[e] = c->weight[j];
    }
    c->edge_offset[batch] = e;
    c->step = (nmp_step){.step = 3, .y = c->y, .batch = batch, .target = c->target, .edge_offset = c->edge_offset,
                         .pos = c->pos, .pos_weight = c->pos_weight, .cell_mean = c->cell_mean,
                         .cell_mass = c->mass, .loss_every = 1};
    c->neg = (nmp_negatives){.per_target = per_target, .shared = mode == CASE_SHARED, .index = c->neg_index,
                             .weight = c->neg_weight, .approx_count = cells, .approx_y = c->cell_mean,
                             .approx_weight = c->approx_weight, .rows = mode == CASE_RUNS ? rows : 0,
                             .row_start = mode == CASE_RUNS ? c->row_start : NULL};
    return c;
}

/* Spreads the approximate terms: s2 in [0, 2), one in five 0 (nmp_negatives.approx_spread). */
static inline void step_case_spread(step_case *c, uint64_t seed)
{
    c->spread = malloc((size_t)c->cells * sizeof *c->spread);
    for (int r = 0; r < c->cells; r++)
        c->spread[r] = r % 5 == 2 ? 0.0f : (float)(2.0 * step_case_u01(seed, 11, (uint64_t)r));
    c->neg.approx_spread = c->spread;
}

/* Every target of a row weighs the approximate terms as the row's first does (cluster_mean's
 * rows: one cell, one R~), which lets the engine fold them into the row's negatives. */
static inline void step_case_row_approx(step_case *c)
{
    const int32_t rows = c->neg.shared ? 1 : c->neg.rows;
    for (int32_t r = 0; r < rows; r++) {
        const int32_t b0 = c->neg.shared ? 0 : c->row_start[r], b1 = c->neg.shared ? c->batch : c->row_start[r + 1];
        for (int32_t b = b0 + 1; b < b1; b++)
            memcpy(c->approx_weight + (int64_t)b * c->cells, c->approx_weight + (int64_t)b0 * c->cells,
                   (size_t)c->cells * sizeof *c->approx_weight);
    }
}

/* The engine to read the positives from the graph's rows, not the step's copy of them. */
static inline void step_case_from_graph(step_case *c)
{
    c->row_first = malloc((size_t)(c->batch + 1) * sizeof *c->row_first);
    for (int b = 0; b < c->batch; b++) c->row_first[b] = c->offsets[c->target[b]];
}

static inline void step_case_free(step_case *c)
{
    free(c->spread), free(c->row_first);
    free(c->y), free(c->offsets), free(c->index), free(c->weight), free(c->cell_of), free(c->mass), free(c->cell_mean);
    free(c->target), free(c->row_start), free(c->neg_index), free(c->neg_weight), free(c->approx_weight);
    free(c->edge_offset), free(c->pos), free(c->pos_weight);
    free(c);
}

/* The engine's gradient of the step through loss instance t (dense, n x dims, added to grad
 * in slot order) and the batch's loss; `threads` workers; generic: call the plugin's repel()
 * even when it names a formula the engine inlines. Returns the engine's output. */
static inline nmp_engine_out step_case_engine_sink(const step_case *c, test_instance *t, double exaggeration,
                                                   int threads, int generic, int dense, float *grad);
static inline nmp_engine_out step_case_engine_path(const step_case *c, test_instance *t, double exaggeration,
                                                   int threads, int generic, float *grad)
{
    return step_case_engine_sink(c, t, exaggeration, threads, generic, 0, grad);
}

/* ... dense: the workers' gradients through nmp_engine_sink, summed here in worker order. */
static inline nmp_engine_out step_case_engine_sink(const step_case *c, test_instance *t, double exaggeration,
                                                   int threads, int generic, int dense, float *grad)
{
    nmp_host_config hc = {.threads = threads, .quiet = 1, .seed = 5, .ranks = 1};
    nmp_host_configure(&hc);
    const nmp_loss_ops *ops = t->plugin->ops;
    nmp_fit_info fit = {.n = c->n, .dims = c->dims, .batch = c->batch, .steps_per_epoch = 1, .epochs = 1, .n_total = c->n};
    nmp_loss_shape shape = {0};
    assert_int_equal(ops->prepare(t->state, &fit, &shape), NMP_OK);
    if (generic) shape.formula = NMP_FORMULA_NONE;
    if (c->stat_before > 0.0) assert_int_equal(ops->end_step(t->state, &c->step, c->stat_before), NMP_OK);
    if (ops->begin_step) assert_int_equal(ops->begin_step(t->state, &c->step, &c->neg), NMP_OK);
    nmp_engine *e = NULL;
    nmp_err err = {0};
    nmp_engine_out out;
    assert_int_equal(nmp_engine_new(&e, ops, t->state, &shape, c->dims, &err), NMP_OK);
    const int D = c->dims;
    float *sink = dense ? calloc((size_t)(threads * c->n * D), sizeof *sink) : NULL;
    nmp_engine_sink(e, sink, c->n);
    nmp_step st = c->step;
    if (c->row_first) {
        st.pos = NULL, st.pos_weight = NULL;
        nmp_engine_edges(e, c->index, c->weight, c->row_first);
    }
    assert_int_equal(nmp_engine_run(e, &st, &c->neg, exaggeration, &out, &err), NMP_OK);
    if (sink) {
        for (int w = 0; w < threads; w++)
            for (int64_t v = 0; v < c->n * D; v++) grad[v] += sink[(int64_t)w * c->n * D + v];
        assert_null(out.target), assert_null(out.pos), assert_null(out.neg);
        free(sink);
        nmp_engine_free(e);
        return out;
    }
    for (int b = 0; b < c->batch; b++)
        for (int k = 0; k < D; k++) grad[c->target[b] * D + k] += out.target[b * D + k];
    for (int64_t j = 0; j < c->edge_offset[c->batch]; j++)
        for (int k = 0; k < D; k++) grad[c->pos[j] * D + k] += out.pos[j * D + k];
    int64_t slots = (int64_t)nmp_negatives_rows(&c->neg, c->batch) * c->per_target;
    for (int64_t s = 0; s < slots; s++)
        for (int k = 0; k < D; k++) grad[c->neg_index[s] * D + k] += out.neg[s * D + k];
    nmp_engine_free(e); /* out's arrays die with it: keep only the numbers */
    out.target = out.pos = out.neg = NULL;
    return out;
}

static inline nmp_engine_out step_case_engine(const step_case *c, test_instance *t, double exaggeration, int threads,
                                              float *grad)
{
    return step_case_engine_path(c, t, exaggeration, threads, 0, grad);
}

#endif
