/* The optimiser: lr and exaggeration schedules, a fit with the real uniform + infonce
 * plugins (loss falls, same seed gives the same bytes), and the NaN stop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"
#include "config.h"
#include "host.h"
#include "optimizer.h"
#include "plugin_host.h"
#include "test_host.h"

static void lr_schedule_holds_then_anneals(void **st)
{
    (void)st;
    nmp_opt_settings s = {.lr = 10.0, .hold = 0.3, .final_lr_fraction = 0.1};
    assert_float_equal(nmp_opt_lr(&s, 0, 100), 10.0, 1e-12);
    assert_float_equal(nmp_opt_lr(&s, 30, 100), 10.0, 1e-12);
    assert_float_equal(nmp_opt_lr(&s, 65, 100), 10.0 * (0.5 + 0.5 * 0.1), 1e-9); /* halfway down */
    assert_float_equal(nmp_opt_lr(&s, 100, 100), 1.0, 1e-9);
}

static void exaggeration_schedule(void **st)
{
    (void)st;
    nmp_opt_settings s = {.epochs = 100, .early_exaggeration = 4, .early_epochs = 10, .late_exaggeration = 2,
                          .late_start = 0.8};
    assert_float_equal(nmp_opt_exaggeration(&s, 0), 4, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 9), 4, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 10), 1, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 79), 1, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 80), 2, 0);
}

typedef struct {
    nmp_registry reg;
    nmp_instance neg, loss;
    nmp_cell_index cells;
    nmp_graph graph;
    float *y;
    uint8_t local;
} fixture;

/* 200 points on a ring graph (each linked to its 4 ring neighbours), one cell. */
static void setup_fit(fixture *f, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    nmp_host_config hc = {.threads = 2, .quiet = 1, .seed = seed, .ranks = 1};
    nmp_host_configure(&hc);
    nmp_err err = {0};
    assert_int_equal(nmp_registry_scan(&f->reg, NOMAD_PLUGIN_DIR, &err), NMP_OK);
    const nmp_plugin_ref *ref;
    nmp_params p = {0};
    assert_int_equal(nmp_registry_resolve(&f->reg, NMP_KIND_NEGATIVES, "uniform", NULL, &ref, &p, &err), NMP_OK);
    assert_int_equal(nmp_instance_create(ref, "negatives", &p, &f->neg, &err), NMP_OK);
    assert_int_equal(nmp_registry_resolve(&f->reg, NMP_KIND_LOSS, "infonce", NULL, &ref, &p, &err), NMP_OK);
    assert_int_equal(nmp_instance_create(ref, "loss", &p, &f->loss, &err), NMP_OK);
    int64_t n = 200, k = 4;
    assert_int_equal(nmp_cells_build(&f->cells, calloc((size_t)n, sizeof(int32_t)), NULL, n, 2, 1, &err), NMP_OK);
    f->graph.n = n;
    f->graph.offsets = malloc((size_t)(n + 1) * sizeof(int64_t));
    f->graph.index = malloc((size_t)(n * k) * sizeof(int32_t));
    f->graph.weight = malloc((size_t)(n * k) * sizeof(float));
    for (int64_t i = 0; i <= n; i++) f->graph.offsets[i] = i * k;
    static const int off[4] = {-2, -1, 1, 2};
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < 4; j++) {
            f->graph.index[i * k + j] = (int32_t)((i + off[j] + n) % n);
            f->graph.weight[i * k + j] = 0.25f;
        }
    f->y = malloc((size_t)(2 * n) * sizeof(float));
    for (int64_t i = 0; i < 2 * n; i++) f->y[i] = 1e-4f * (float)sin((double)i * 12.9898);
    f->local = 1;
}

static void teardown_fit(fixture *f)
{
    nmp_instance_destroy(&f->neg);
    nmp_instance_destroy(&f->loss);
    nmp_registry_free(&f->reg);
    nmp_cells_free(&f->cells);
    free(f->graph.offsets), free(f->graph.index), free(f->graph.weight), free(f->y);
}

static nmp_opt_settings settings(void)
{
    return (nmp_opt_settings){.epochs = 60, .batch = 64, .lr = 20, .momentum = 0.8, .hold = 0.3, .dims = 2,
                              .seed = 7, .early_exaggeration = 1, .late_exaggeration = 1, .late_start = 1};
}

static void fit_lowers_loss_and_is_deterministic(void **st)
{
    (void)st;
    fixture a, b;
    nmp_opt_settings s = settings();
    nmp_opt_result ra, rb;
    nmp_err err = {0};
    setup_fit(&a, 7);
    assert_int_equal(nmp_optimize(&s, a.y, &a.graph, &a.cells.view, &a.local, &a.neg, &a.loss, NULL, NULL, &ra, &err), NMP_OK);
    assert_true(ra.loss[s.epochs - 1] < 0.8 * ra.loss[0]);
    for (int64_t i = 0; i < 400; i++) assert_true(isfinite(a.y[i]));
    setup_fit(&b, 7);
    assert_int_equal(nmp_optimize(&s, b.y, &b.graph, &b.cells.view, &b.local, &b.neg, &b.loss, NULL, NULL, &rb, &err), NMP_OK);
    assert_memory_equal(a.y, b.y, 400 * sizeof(float));
    free(ra.loss), free(ra.epoch_seconds), free(rb.loss), free(rb.epoch_seconds);
    teardown_fit(&a);
    teardown_fit(&b);
}

/* Rebuilds f's partition as two cells, evens and odds (interleaved ids, so the optimiser
 * renumbers), or, with `sorted`, the same problem already in cell order: evens first. */
static void two_cells(fixture *f, int sorted)
{
    int64_t n = f->graph.n, k = 4;
    nmp_err err = {0};
    nmp_cells_free(&f->cells);
    int32_t *cell_of = malloc((size_t)n * sizeof *cell_of);
    for (int64_t i = 0; i < n; i++) cell_of[i] = sorted ? i >= n / 2 : (int32_t)(i % 2);
    assert_int_equal(nmp_cells_build(&f->cells, cell_of, NULL, n, 2, 2, &err), NMP_OK);
    if (!sorted) return;
    /* old id 2m -> m, 2m + 1 -> n/2 + m: relabel the ring graph and move the layout rows */
    int32_t *index = malloc((size_t)(n * k) * sizeof *index);
    float *y = malloc((size_t)(2 * n) * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        int64_t to = i % 2 ? n / 2 + i / 2 : i / 2;
        for (int j = 0; j < k; j++) {
            int64_t nb = f->graph.index[i * k + j];
            index[to * k + j] = (int32_t)(nb % 2 ? n / 2 + nb / 2 : nb / 2);
        }
        y[2 * to] = f->y[2 * i], y[2 * to + 1] = f->y[2 * i + 1];
    }
    free(f->graph.index), free(f->y);
    f->graph.index = index, f->y = y;
}

/* The optimiser works in cell order internally: a partition with interleaved ids gives,
 * bit for bit, the layout of the same problem handed over already sorted, in input order. */
static void fit_order_is_transparent(void **st)
{
    (void)st;
    fixture a, b;
    nmp_opt_settings s = settings();
    s.epochs = 10;
    nmp_opt_result ra, rb;
    nmp_err err = {0};
    uint8_t local[2] = {1, 1};
    setup_fit(&a, 7), setup_fit(&b, 7);
    two_cells(&a, 0), two_cells(&b, 1);
    assert_int_equal(nmp_optimize(&s, a.y, &a.graph, &a.cells.view, local, &a.neg, &a.loss, NULL, NULL, &ra, &err), NMP_OK);
    assert_int_equal(nmp_optimize(&s, b.y, &b.graph, &b.cells.view, local, &b.neg, &b.loss, NULL, NULL, &rb, &err), NMP_OK);
    for (int64_t i = 0; i < 200; i++) {
        int64_t to = i % 2 ? 100 + i / 2 : i / 2;
        assert_memory_equal(a.y + 2 * i, b.y + 2 * to, 2 * sizeof(float));
    }
    free(ra.loss), free(ra.epoch_seconds), free(rb.loss), free(rb.epoch_seconds);
    teardown_fit(&a);
    teardown_fit(&b);
}

static void nan_stops_with_epoch(void **st)
{
    (void)st;
    fixture f;
    nmp_opt_settings s = settings();
    s.lr = INFINITY; /* the first update makes the layout non-finite */
    nmp_opt_result r;
    nmp_err err = {0};
    setup_fit(&f, 7);
    assert_int_equal(nmp_optimize(&s, f.y, &f.graph, &f.cells.view, &f.local, &f.neg, &f.loss, NULL, NULL, &r, &err),
                     NMP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "NaN or Inf at epoch 0"));
    assert_non_null(strstr(err.msg, "SGD update"));
    free(r.loss), free(r.epoch_seconds);
    teardown_fit(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lr_schedule_holds_then_anneals),
        cmocka_unit_test(exaggeration_schedule),
        cmocka_unit_test(fit_lowers_loss_and_is_deterministic),
        cmocka_unit_test(fit_order_is_transparent),
        cmocka_unit_test(nan_stops_with_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
