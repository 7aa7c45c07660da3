/* A small nmp_host for plugin tests, plus helpers to load one plugin by file and name.
 * It does not use the core library, so plugin tests build on their own. */
#ifndef NOMAD_TEST_HOST_H
#define NOMAD_TEST_HOST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "nomad/plugin.h"

/* Host with `threads` workers (0 = OpenMP default) and the given seed. Errors set with
 * set_error are kept in test_host_error(). */
nmp_host *test_host_new(int threads, uint64_t seed);
void test_host_free(nmp_host *h);
const char *test_host_error(const nmp_host *h);

/* Finds descriptor `name` of `kind` in build/plugins/<kind>_<name>.so (fails the test if
 * absent). The handle stays open until the process ends. */
const nmp_plugin *test_plugin_find(nmp_kind kind, const char *name);

/* Resolves params from "key=value" strings (NULL-terminated list; the rest take their
 * defaults) and creates the state; fails the test on error. Free with test_plugin_destroy. */
typedef struct {
    const nmp_plugin *plugin;
    void *state;
    nmp_params params;
    nmp_param_value *values;
} test_instance;
test_instance test_plugin_create(nmp_host *h, nmp_kind kind, const char *name, const char *const *kv);
/* Same but returns the create() status instead of failing (for tests of bad parameters). */
nmp_status test_plugin_try_create(nmp_host *h, nmp_kind kind, const char *name, const char *const *kv,
                                  test_instance *out);
void test_plugin_destroy(test_instance *t);

/* Builds nmp_cells from cell_of (n points, count cells); arrays are malloc'd, free with
 * test_cells_free. centroids may be NULL. */
nmp_cells test_cells_make(const int32_t *cell_of, int64_t n, int32_t count, const float *centroids, int64_t d);
void test_cells_free(nmp_cells *c);

/* Frees the arrays of a graph allocated through the host (offsets, index, dist, weight). */
void test_graph_free(nmp_graph *g);

/* Deterministic Gaussian blobs: n points in d dims around `blobs` centres (spread 10x the
 * noise). Returns malloc'd n x d; labels (malloc'd, n) if not NULL. */
float *test_blobs(int64_t n, int64_t d, int blobs, uint64_t seed, int32_t **labels);

#endif
