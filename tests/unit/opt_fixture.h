/* The optimiser tests' problem: a ring graph with real negatives and loss plugins, in one
 * cell or two interleaved ones (test_optimizer.c, test_optimizer_cuda.c). */
#ifndef NOMAD_TEST_OPT_FIXTURE_H
#define NOMAD_TEST_OPT_FIXTURE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"
#include "config.h"
#include "host.h"
#include "optimizer.h"
#include "plugin_host.h"
#include "test_host.h"

typedef struct {
    nmp_registry reg;
    nmp_instance neg, loss;
    nmp_cell_index cells;
    nmp_graph graph;
    float *y;
    uint8_t local;
} fixture;

/* 200 points on a ring graph (each linked to its 4 ring neighbours), one cell; the named
 * negatives and loss plugins with their defaults. */
static inline void setup_fit(fixture *f, uint64_t seed, const char *negatives, const char *loss)
{
    memset(f, 0, sizeof *f);
    nmp_host_config hc = {.threads = 2, .quiet = 1, .seed = seed, .ranks = 1};
    nmp_host_configure(&hc);
    nmp_err err = {0};
    assert_int_equal(nmp_registry_scan(&f->reg, NOMAD_PLUGIN_DIR, &err), NMP_OK);
    const nmp_plugin_ref *ref;
    nmp_params p = {0};
    assert_int_equal(nmp_registry_resolve(&f->reg, NMP_KIND_NEGATIVES, negatives, NULL, &ref, &p, &err), NMP_OK);
    assert_int_equal(nmp_instance_create(ref, "negatives", &p, &f->neg, &err), NMP_OK);
    assert_int_equal(nmp_registry_resolve(&f->reg, NMP_KIND_LOSS, loss, NULL, &ref, &p, &err), NMP_OK);
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

static inline void teardown_fit(fixture *f)
{
    nmp_instance_destroy(&f->neg);
    nmp_instance_destroy(&f->loss);
    nmp_registry_free(&f->reg);
    nmp_cells_free(&f->cells);
    free(f->graph.offsets), free(f->graph.index), free(f->graph.weight), free(f->y);
}

/* Rebuilds f's partition as two cells, evens and odds (interleaved ids, so the optimiser
 * renumbers), or, with `sorted`, the same problem already in cell order: evens first. */
static inline void two_cells(fixture *f, int sorted)
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

#endif
