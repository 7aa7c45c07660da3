/* kmeans_cpu against naive double-precision loops: assignment (blocked GEMM) and distances,
 * tie rule, clamping, the centroid update with an empty cell, ordered column sums. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "kmeans_cpu.h"
#include "nomad/rng.h"

static float *random_matrix(int64_t n, int64_t d, uint64_t seed)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)(2.0 * nmp_rng_uniform(seed, 7, (uint64_t)i) - 1.0);
    return x;
}

static double naive_dist2(const float *a, const float *b, int64_t d)
{
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

/* The chosen centroid is the nearest up to float rounding, and dist2 matches. Sizes are off
 * any block grid (and n exceeds one reference block for k = 1100). */
static void check_assign(int64_t n, int64_t d, int32_t k)
{
    float *x = random_matrix(n, d, 1), *c = random_matrix(k, d, 2), *dist2 = malloc((size_t)n * sizeof *dist2);
    int32_t *assign = malloc((size_t)n * sizeof *assign);
    assert_int_equal(kmeans_assign_cpu(x, n, d, c, k, assign, dist2), NMP_OK);
    for (int64_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (int32_t t = 0; t < k; t++) best = fmin(best, naive_dist2(x + i * d, c + (int64_t)t * d, d));
        assert_true(assign[i] >= 0 && assign[i] < k);
        double got = naive_dist2(x + i * d, c + (int64_t)assign[i] * d, d);
        assert_true(got <= best + 1e-4 * fmax(best, 1.0));
        assert_true(fabs(dist2[i] - got) <= 1e-4 * fmax(got, 1.0));
    }
    free(x), free(c), free(dist2), free(assign);
}

static void test_assign_matches_naive(void **state)
{
    (void)state;
    check_assign(1537, 37, 13);
    check_assign(5000, 3, 1100);
    check_assign(10, 64, 1);
}

static void test_argmin_ties_and_clamp(void **state)
{
    (void)state;
    /* two equal centroids: the smaller id wins; a point on a far centroid: dist2 is 0, not < 0 */
    float c[2 * 4] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    float x[4] = {1000, 1000, 1000, 1000}, cn[2], dots[2], d2;
    int32_t a = -1;
    kmeans_row_norms_cpu(c, 2, 4, cn);
    for (int t = 0; t < 2; t++) dots[t] = 4e6f;
    kmeans_argmin_cpu(x, 1, 4, dots, 2, cn, &a, &d2);
    assert_int_equal(a, 0);
    assert_true(d2 >= 0.0f && d2 < 1.0f);
}

static void test_update_with_empty_cell(void **state)
{
    (void)state;
    const int64_t n = 300, d = 9;
    const int32_t k = 4;
    float *x = random_matrix(n, d, 3), *c = random_matrix(k, d, 4), keep[9];
    int32_t *assign = malloc((size_t)n * sizeof *assign);
    int64_t counts[4];
    for (int64_t i = 0; i < n; i++) assign[i] = (int32_t)(i % 3); /* cell 3 stays empty */
    memcpy(keep, c + 3 * d, sizeof keep);
    assert_int_equal(kmeans_update_cpu(x, n, d, assign, k, c, counts), NMP_OK);
    assert_int_equal(counts[0], 100), assert_int_equal(counts[1], 100), assert_int_equal(counts[2], 100);
    assert_int_equal(counts[3], 0);
    assert_memory_equal(keep, c + 3 * d, sizeof keep);
    for (int32_t t = 0; t < 3; t++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t i = t; i < n; i += 3) s += x[i * d + j];
            assert_true(fabs(c[t * d + j] - s / 100.0) < 1e-6);
        }
    free(x), free(c), free(assign);
}

static void test_cell_sum_columns(void **state)
{
    (void)state;
    float x[3 * 4] = {1, 2, 3, 4, 10, 20, 30, 40, 100, 200, 300, 400};
    int32_t member[2] = {2, 0};
    double sum[2] = {0, 0};
    kmeans_cell_sum_cpu(x, 4, member, 2, 1, 3, sum);
    assert_true(sum[0] == 202.0 && sum[1] == 303.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_matches_naive),
        cmocka_unit_test(test_argmin_ties_and_clamp),
        cmocka_unit_test(test_update_with_empty_cell),
        cmocka_unit_test(test_cell_sum_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
