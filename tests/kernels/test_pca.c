/* Parity of kernels/pca.cu with kernels/pca_cpu.c. Tolerances:
 *   mean: 1e-12 relative (floor 1): both sum in double, in different orders;
 *   covariance: 1e-4 x the largest diagonal entry: float GEMMs per block, rounded differently;
 *   projection: 1e-4 x the largest |y| (float GEMM over d terms).
 * Exit 77 without a CUDA build or a GPU. */
#include "gpu_parity.h"

#ifdef NOMAD_CUDA
#include <string.h>

#include "pca_cpu.h"
#include "pca_cuda.h"

static void check_pca(int64_t n, int64_t d, int64_t m, int sampled, int64_t block, int32_t dims)
{
    float *x = gpu_test_uniform(n * d, -2, 3, 51);
    int64_t *rows = NULL;
    if (sampled) {
        rows = malloc((size_t)m * sizeof *rows);
        for (int64_t s = 0; s < m; s++) rows[s] = (int64_t)nmp_rng_below(52, 1, (uint64_t)s, (uint64_t)n);
    }
    double *mc = malloc((size_t)d * sizeof *mc), *mg = malloc((size_t)d * sizeof *mg);
    double *cc = malloc((size_t)(d * d) * sizeof *cc), *cg = malloc((size_t)(d * d) * sizeof *cg);
    pca_mean_cpu(x, d, rows, m, mc);
    assert_int_equal(pca_covariance_cpu(x, d, rows, m, mc, block, cc), NMP_OK);
    nmp_gpu_err e = {0};
    pca_cuda *p = NULL;
    GPU_OK(pca_cuda_create(x, n, d, &p, &e), &e);
    GPU_OK(pca_cuda_covariance(p, rows, m, block, mg, cg, &e), &e);
    for (int64_t j = 0; j < d; j++) assert_true(gpu_test_close(mg[j], mc[j], 1e-12));
    double diag = 0.0, worst = 0.0;
    for (int64_t j = 0; j < d; j++) diag = fmax(diag, cc[j * d + j]);
    for (int64_t v = 0; v < d * d; v++) worst = fmax(worst, fabs(cg[v] - cc[v]) / diag);
    printf("  pca n=%lld d=%lld m=%lld block=%lld: covariance worst %.3g of the largest variance\n", (long long)n,
           (long long)d, (long long)m, (long long)block, worst);
    assert_true(worst <= 1e-4);
    float *vt = gpu_test_uniform((int64_t)dims * d, -1, 1, 53);
    float *yc = malloc((size_t)(n * dims) * sizeof *yc), *yg = malloc((size_t)(n * dims) * sizeof *yg);
    assert_int_equal(pca_project_cpu(x, n, d, mc, vt, dims, block, yc), NMP_OK);
    GPU_OK(pca_cuda_project(p, mc, vt, dims, yg, &e), &e);
    double big = 0.0;
    for (int64_t v = 0; v < n * dims; v++) big = fmax(big, fabs(yc[v]));
    for (int64_t v = 0; v < n * dims; v++)
        if (!(fabs(yg[v] - yc[v]) <= 1e-4 * big)) fail_msg("y[%lld]: gpu %.9g cpu %.9g", (long long)v, yg[v], yc[v]);
    pca_cuda_destroy(p);
    free(x), free(rows), free(mc), free(mg), free(cc), free(cg), free(vt), free(yc), free(yg);
}

static void test_pca_parity(void **state)
{
    (void)state;
    check_pca(20011, 64, 20011, 0, 8192, 2); /* all rows, several blocks */
    check_pca(9001, 784, 5000, 1, 1024, 3);  /* a sample with repeats, Fashion-MNIST width */
    check_pca(300, 5, 1000, 1, 8192, 2);     /* more draws than rows */
}

static void test_pca_bad_args(void **state)
{
    (void)state;
    float x[6] = {0};
    int64_t rows[2] = {0, 3};
    double mean[3], cov[9];
    nmp_gpu_err e = {0};
    pca_cuda *p = NULL;
    GPU_OK(pca_cuda_create(x, 2, 3, &p, &e), &e);
    assert_int_equal(pca_cuda_covariance(p, rows, 2, 8, mean, cov, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "sample row 1 = 3"));
    assert_int_equal(pca_cuda_project(p, mean, x, 4, x, &e), NMP_ERR_INVALID);
    pca_cuda_destroy(p);
}
#endif

int main(void)
{
#ifdef NOMAD_CUDA
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pca_parity), cmocka_unit_test(test_pca_bad_args)};
    return GPU_TEST_MAIN("pca", tests);
#else
    printf("test_pca: skipped (exit 77): built without NOMAD_CUDA\n");
    return GPU_SKIP;
#endif
}
