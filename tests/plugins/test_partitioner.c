/* The partitioner plugins (kmeans, random, single): blob recovery for every seeding, the
 * stopping rules, determinism, empty-cell reseed/drop, centroids as cell means, errors. */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "nomad/rng.h"

/* Blobs far apart relative to their spread (centres in [-100, 100]^d, noise `noise`), so
 * that the right partition is unambiguous; labels[i] = i % blobs. */
static float *tight_blobs(int64_t n, int64_t d, int blobs, double noise, uint64_t seed, int32_t *labels)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        int b = (int)(i % blobs);
        labels[i] = b;
        for (int64_t j = 0; j < d; j++) {
            double centre = 200.0 * nmp_rng_uniform(seed, 1, (uint64_t)(b * d + j)) - 100.0;
            double u1 = nmp_rng_uniform(seed, 2, (uint64_t)(i * d + j) * 2) + 1e-300;
            double u2 = nmp_rng_uniform(seed, 2, (uint64_t)(i * d + j) * 2 + 1);
            x[i * d + j] = (float)(centre + noise * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
    return x;
}

typedef struct {
    nmp_partition part;
    nmp_status status;
} run_result;

/* Creates the plugin, partitions once, destroys it (the lifecycle under test). */
static run_result run_partitioner(const char *name, const char *const *kv, int threads, uint64_t seed,
                                  const float *x, int64_t n, int64_t d, int32_t cells)
{
    nmp_host *h = test_host_new(threads, seed);
    test_instance t = test_plugin_create(h, NMP_KIND_PARTITIONER, name, kv);
    const nmp_partitioner_ops *ops = t.plugin->ops;
    run_result r = {{.cells = cells}, NMP_OK};
    r.part.cell_of = malloc((size_t)n * sizeof *r.part.cell_of);
    r.part.centroids = malloc((size_t)cells * (size_t)d * sizeof *r.part.centroids);
    nmp_matrix m = {n, d, x};
    r.status = ops->partition(t.state, &m, &r.part);
    if (r.status != NMP_OK) print_message("%s: %s\n", name, test_host_error(h));
    test_plugin_destroy(&t);
    test_host_free(h);
    return r;
}

static void run_free(run_result *r) { free(r->part.cell_of), free(r->part.centroids); }

/* Every blob lies in exactly one cell and no two blobs share one. */
static void assert_recovers(const run_result *r, const int32_t *labels, int64_t n, int blobs)
{
    assert_int_equal(r->status, NMP_OK);
    assert_int_equal(r->part.cells, blobs);
    int32_t map[64], used[64] = {0};
    for (int b = 0; b < blobs; b++) map[b] = r->part.cell_of[b];
    for (int64_t i = 0; i < n; i++) assert_int_equal(r->part.cell_of[i], map[labels[i]]);
    for (int b = 0; b < blobs; b++) assert_int_equal(used[map[b]]++, 0);
}

/* Centroids are the means of their cells (within float rounding) and no cell is empty. */
static void assert_means(const run_result *r, const float *x, int64_t n, int64_t d)
{
    int32_t k = r->part.cells;
    double *sum = calloc((size_t)k * (size_t)d, sizeof *sum);
    int64_t *cnt = calloc((size_t)k, sizeof *cnt);
    for (int64_t i = 0; i < n; i++) {
        int32_t c = r->part.cell_of[i];
        assert_true(c >= 0 && c < k);
        cnt[c]++;
        for (int64_t j = 0; j < d; j++) sum[c * d + j] += x[i * d + j];
    }
    for (int32_t c = 0; c < k; c++) {
        assert_true(cnt[c] > 0);
        for (int64_t j = 0; j < d; j++)
            assert_true(fabs(r->part.centroids[c * d + j] - sum[c * d + j] / cnt[c]) < 1e-3);
    }
    free(sum), free(cnt);
}

static void check_blobs(const char *seeding, int blobs, uint64_t seed, double noise)
{
    const int64_t n = 2000, d = 16;
    int32_t labels[2000];
    float *x = tight_blobs(n, d, blobs, noise, 11, labels);
    char kv0[64];
    snprintf(kv0, sizeof kv0, "seeding=%s", seeding);
    const char *kv[] = {kv0, NULL};
    run_result r = run_partitioner("kmeans", kv, 2, seed, x, n, d, blobs);
    assert_recovers(&r, labels, n, blobs);
    assert_means(&r, x, n, d);
    assert_int_equal(r.part.empty_cells, 0);
    assert_true(r.part.iterations >= 1 && r.part.iterations < 1000); /* converged by tol */
    run_free(&r);
    free(x);
}

/* A hyperplane that cuts a blob makes two buckets of it, and both may seed: at noise 1 that
 * happened for 2 of 100 seeds, at noise 0.1 for none. */
static void test_kmeans_blobs_lsh(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) check_blobs("lsh", 5, seed, 0.1);
}

static void test_kmeans_blobs_plusplus(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) check_blobs("kmeans++", 5, seed, 1.0);
}

/* Forgy seeding puts two seeds in one blob with probability 1 - k!/k^k, a local optimum
 * Lloyd cannot leave once blobs are far apart; with two blobs Lloyd always separates them. */
static void test_kmeans_blobs_random(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) check_blobs("random", 2, seed, 1.0);
}

/* Lloyd on a 50-point sample, then every point assigned: still the blobs. */
static void test_kmeans_sample(void **state)
{
    (void)state;
    const int64_t n = 2000, d = 8;
    int32_t labels[2000];
    float *x = tight_blobs(n, d, 4, 1.0, 12, labels);
    const char *kv[] = {"sample=50", "seeding=kmeans++", NULL};
    run_result r = run_partitioner("kmeans", kv, 2, 5, x, n, d, 4);
    assert_recovers(&r, labels, n, 4);
    assert_means(&r, x, n, d);
    run_free(&r);
    free(x);
}

/* sample_per_cell: a sample of 50 per cell for 6 cells is the sample of 300, bit for bit; a
 * smaller per-cell share leaves `sample` as it is; a sample of 10 gives other cells. */
static void test_kmeans_sample_per_cell(void **state)
{
    (void)state;
    const int64_t n = 2000, d = 8;
    const int32_t k = 6;
    int32_t labels[2000];
    float *x = tight_blobs(n, d, k, 30.0, 13, labels); /* overlapping: the sample shapes the cells */
    const char *per_cell[] = {"sample=10", "sample_per_cell=50", NULL}, *plain[] = {"sample=300", NULL},
               *small[] = {"sample=300", "sample_per_cell=5", NULL}, *tiny[] = {"sample=10", NULL};
    run_result a = run_partitioner("kmeans", per_cell, 2, 5, x, n, d, k);
    run_result b = run_partitioner("kmeans", plain, 2, 5, x, n, d, k);
    run_result c = run_partitioner("kmeans", small, 2, 5, x, n, d, k);
    run_result e = run_partitioner("kmeans", tiny, 2, 5, x, n, d, k);
    assert_int_equal(a.part.iterations, b.part.iterations);
    assert_memory_equal(a.part.centroids, b.part.centroids, (size_t)(k * d) * sizeof(float));
    assert_memory_equal(a.part.cell_of, b.part.cell_of, (size_t)n * sizeof(int32_t));
    assert_memory_equal(c.part.centroids, b.part.centroids, (size_t)(k * d) * sizeof(float));
    assert_true(memcmp(e.part.cell_of, b.part.cell_of, (size_t)n * sizeof(int32_t)) != 0);
    run_free(&a), run_free(&b), run_free(&c), run_free(&e);
    free(x);
}

/* max_iter bounds the iterations; tol = 0 never stops early. */
static void test_kmeans_stopping(void **state)
{
    (void)state;
    const int64_t n = 1000, d = 8;
    int32_t labels[1000];
    float *x = tight_blobs(n, d, 6, 30.0, 13, labels); /* overlapping: Lloyd takes a while */
    const char *one[] = {"max_iter=1", NULL}, *three[] = {"max_iter=3", "tol=0", NULL};
    const char *zero[] = {"max_iter=0", NULL}, *loose[] = {"tol=1e3", NULL};
    run_result r = run_partitioner("kmeans", one, 2, 1, x, n, d, 6);
    assert_int_equal(r.part.iterations, 1), run_free(&r);
    r = run_partitioner("kmeans", three, 2, 1, x, n, d, 6);
    assert_int_equal(r.part.iterations, 3), run_free(&r);
    r = run_partitioner("kmeans", zero, 2, 1, x, n, d, 6);
    assert_int_equal(r.status, NMP_OK), assert_int_equal(r.part.iterations, 0), run_free(&r);
    r = run_partitioner("kmeans", loose, 2, 1, x, n, d, 6); /* any first shift is below 1e3 */
    assert_int_equal(r.part.iterations, 1), run_free(&r);
    free(x);
}

/* Same seed and threads: identical cells and centroids, bit for bit. */
static void test_kmeans_deterministic(void **state)
{
    (void)state;
    const int64_t n = 3000, d = 12;
    int32_t labels[3000];
    float *x = tight_blobs(n, d, 7, 40.0, 14, labels);
    const char *seedings[] = {"seeding=lsh", "seeding=kmeans++", "seeding=random"};
    for (int s = 0; s < 3; s++) {
        const char *kv[] = {seedings[s], NULL};
        run_result a = run_partitioner("kmeans", kv, 2, 42, x, n, d, 7);
        run_result b = run_partitioner("kmeans", kv, 2, 42, x, n, d, 7);
        run_result c = run_partitioner("kmeans", kv, 2, 43, x, n, d, 7);
        assert_int_equal(a.part.cells, b.part.cells);
        assert_int_equal(a.part.iterations, b.part.iterations);
        assert_memory_equal(a.part.cell_of, b.part.cell_of, (size_t)n * sizeof(int32_t));
        assert_memory_equal(a.part.centroids, b.part.centroids, (size_t)(7 * d) * sizeof(float));
        assert_int_equal(c.status, NMP_OK); /* another seed may differ, but must be valid */
        assert_means(&c, x, n, d);
        run_free(&a), run_free(&b), run_free(&c);
    }
    free(x);
}

/* 30 points on 3 distinct positions, asked for 5 cells: 2 cells must come out empty. */
static float *three_positions(int32_t *which)
{
    static const float pos[3][4] = {{0, 0, 0, 0}, {50, 0, 10, 0}, {0, -40, 0, 70}};
    float *x = malloc(30 * 4 * sizeof *x);
    for (int i = 0; i < 30; i++) {
        which[i] = (i * 7) % 3;
        memcpy(x + i * 4, pos[which[i]], sizeof pos[0]);
    }
    return x;
}

static void test_kmeans_empty_reseed(void **state)
{
    (void)state;
    int32_t which[30];
    float *x = three_positions(which);
    const char *seedings[] = {"seeding=kmeans++", "seeding=lsh", "seeding=random"};
    for (int s = 0; s < 3; s++) {
        const char *kv[] = {seedings[s], "empty=reseed", NULL};
        run_result r = run_partitioner("kmeans", kv, 2, 3, x, 30, 4, 5);
        assert_int_equal(r.status, NMP_OK);
        assert_int_equal(r.part.cells, 5);
        if (s == 0) assert_int_equal(r.part.empty_cells, 2);
        assert_means(&r, x, 30, 4); /* every cell holds a point again */
        run_free(&r);
    }
    free(x);
}

static void test_kmeans_empty_drop(void **state)
{
    (void)state;
    int32_t which[30];
    float *x = three_positions(which);
    const char *seedings[] = {"seeding=kmeans++", "seeding=lsh", "seeding=random"};
    for (int s = 0; s < 3; s++) {
        const char *kv[] = {seedings[s], "empty=drop", NULL};
        run_result r = run_partitioner("kmeans", kv, 2, 3, x, 30, 4, 5);
        assert_int_equal(r.status, NMP_OK);
        assert_int_equal(r.part.cells + r.part.empty_cells, 5);
        if (s == 0) assert_int_equal(r.part.cells, 3);
        assert_means(&r, x, 30, 4); /* dense numbering, no empty cell left */
        for (int i = 0; i < 30; i++) /* equal points share a cell */
            for (int j = 0; j < 30; j++)
                if (which[i] == which[j]) assert_int_equal(r.part.cell_of[i], r.part.cell_of[j]);
        run_free(&r);
    }
    free(x);
}

static void test_kmeans_errors(void **state)
{
    (void)state;
    float x[8] = {0};
    nmp_host *h = test_host_new(1, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_PARTITIONER, "kmeans", NULL);
    int32_t cell_of[2];
    float cent[40];
    nmp_partition p = {.cells = 10, .cell_of = cell_of, .centroids = cent};
    nmp_matrix m = {2, 4, x};
    assert_int_equal(((const nmp_partitioner_ops *)t.plugin->ops)->partition(t.state, &m, &p), NMP_ERR_INVALID);
    assert_non_null(strstr(test_host_error(h), "cells"));
    test_plugin_destroy(&t);
    const char *bad[] = {"hyperplanes=64", NULL};
    assert_int_equal(test_plugin_try_create(h, NMP_KIND_PARTITIONER, "kmeans", bad, &t), NMP_ERR_INVALID);
    assert_null(t.state);
    test_plugin_destroy(&t);
    test_host_free(h);
}

static void test_random_partitioner(void **state)
{
    (void)state;
    const int64_t n = 1000, d = 5;
    int32_t labels[1000];
    float *x = tight_blobs(n, d, 3, 1.0, 15, labels);
    run_result a = run_partitioner("random", NULL, 2, 9, x, n, d, 4);
    run_result b = run_partitioner("random", NULL, 1, 9, x, n, d, 4);
    assert_int_equal(a.status, NMP_OK);
    assert_int_equal(a.part.cells, 4);
    assert_means(&a, x, n, d);
    assert_memory_equal(a.part.cell_of, b.part.cell_of, (size_t)n * sizeof(int32_t)); /* any thread count */
    int64_t count[4] = {0};
    for (int64_t i = 0; i < n; i++) count[a.part.cell_of[i]]++;
    for (int c = 0; c < 4; c++) assert_true(count[c] > 150 && count[c] < 350); /* uniform: 250 +- 6 sd */
    run_free(&a), run_free(&b);
    /* more cells than points: empty ones are dropped and the rest renumbered */
    a = run_partitioner("random", NULL, 2, 9, x, 3, d, 10);
    assert_int_equal(a.status, NMP_OK);
    assert_true(a.part.cells >= 1 && a.part.cells <= 3);
    assert_int_equal(a.part.cells + a.part.empty_cells, 10);
    assert_means(&a, x, 3, d);
    run_free(&a);
    free(x);
}

static void test_single_partitioner(void **state)
{
    (void)state;
    const int64_t n = 500, d = 6;
    int32_t labels[500];
    float *x = tight_blobs(n, d, 3, 1.0, 16, labels);
    run_result r = run_partitioner("single", NULL, 2, 1, x, n, d, 8);
    assert_int_equal(r.status, NMP_OK);
    assert_int_equal(r.part.cells, 1);
    assert_int_equal(r.part.empty_cells, 0);
    assert_means(&r, x, n, d);
    run_free(&r);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_blobs_lsh),    cmocka_unit_test(test_kmeans_blobs_plusplus),
        cmocka_unit_test(test_kmeans_blobs_random), cmocka_unit_test(test_kmeans_sample),
        cmocka_unit_test(test_kmeans_sample_per_cell),
        cmocka_unit_test(test_kmeans_stopping),     cmocka_unit_test(test_kmeans_deterministic),
        cmocka_unit_test(test_kmeans_empty_reseed), cmocka_unit_test(test_kmeans_empty_drop),
        cmocka_unit_test(test_kmeans_errors),       cmocka_unit_test(test_random_partitioner),
        cmocka_unit_test(test_single_partitioner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
