/* pca_cpu (kernels/pca_cpu.c) against double-precision loops: mean over a sample with
 * repeated rows, the blocked covariance (any block size gives the same within float
 * rounding), the projection. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "nomad/rng.h"
#include "pca_cpu.h"

static float *data(int64_t n, int64_t d)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) /* column j has mean j and scale 1 + j */
            x[i * d + j] = (float)(j + (1.0 + j) * (2.0 * nmp_rng_uniform(41, 1, (uint64_t)(i * d + j)) - 1.0));
    return x;
}

static void test_mean_and_covariance(void **state)
{
    (void)state;
    int64_t n = 3001, d = 13, m = 2500;
    float *x = data(n, d);
    int64_t *rows = malloc((size_t)m * sizeof *rows);
    for (int64_t s = 0; s < m; s++) rows[s] = (int64_t)nmp_rng_below(42, 1, (uint64_t)s, (uint64_t)n);
    double mean[13], naive_mean[13] = {0}, cov[13 * 13], cov2[13 * 13], naive[13 * 13] = {0};
    pca_mean_cpu(x, d, rows, m, mean);
    for (int64_t s = 0; s < m; s++)
        for (int64_t j = 0; j < d; j++) naive_mean[j] += x[rows[s] * d + j] / (double)m;
    for (int64_t j = 0; j < d; j++) assert_float_equal(mean[j], naive_mean[j], 1e-12 * (1 + j));
    for (int64_t s = 0; s < m; s++)
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++)
                naive[a * d + b] += (x[rows[s] * d + a] - mean[a]) * (x[rows[s] * d + b] - mean[b]);
    assert_int_equal(pca_covariance_cpu(x, d, rows, m, mean, 700, cov), NMP_OK);
    assert_int_equal(pca_covariance_cpu(x, d, rows, m, mean, 100000, cov2), NMP_OK);
    double scale = naive[(d - 1) * d + d - 1];
    for (int64_t v = 0; v < d * d; v++) {
        assert_true(fabs(cov[v] - naive[v]) <= 1e-5 * scale);
        assert_true(fabs(cov2[v] - naive[v]) <= 1e-5 * scale);
    }
    for (int64_t a = 0; a < d; a++) assert_true(cov[a * d + a] > 0.0);
    free(x), free(rows);
}

static void test_project(void **state)
{
    (void)state;
    int64_t n = 1001, d = 9;
    float *x = data(n, d), vt[2 * 9], y[1001 * 2];
    double mean[9];
    pca_mean_cpu(x, d, NULL, n, mean);
    for (int64_t j = 0; j < 2 * d; j++) vt[j] = (float)(j % 3 - 1) * 0.5f;
    assert_int_equal(pca_project_cpu(x, n, d, mean, vt, 2, 128, y), NMP_OK);
    double sum0 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            double want = 0.0;
            for (int64_t j = 0; j < d; j++) want += (x[i * d + j] - mean[j]) * vt[k * d + j];
            assert_true(fabs(y[i * 2 + k] - want) <= 1e-5 * 10.0);
        }
        sum0 += y[i * 2];
    }
    assert_true(fabs(sum0 / (double)n) < 1e-4); /* centred data projects to mean 0 */
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mean_and_covariance), cmocka_unit_test(test_project)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
