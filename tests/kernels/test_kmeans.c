/* Parity of kernels/kmeans.cu with kmeans_cpu (kernels/kmeans_cpu.c). Tolerances:
 *   assignment: equal to the CPU's, except where the two chosen centroids are within 1e-4
 *     (relative, floor 1) of each other in exact distance (the GEMMs round differently);
 *   dist2: within 1e-4 relative (floor 1) of the CPU's where the assignment is equal;
 *   update: counts equal, centroids within 1e-6 relative (floor 1) (both sum in double,
 *     in different orders), empty cells keep their row bit for bit.
 * Exit 77 without a CUDA build or a GPU. */
#include "gpu_parity.h"

#ifdef NOMAD_CUDA
#include <string.h>

#include "kmeans_cpu.h"
#include "kmeans_cuda.h"

static double dist2_exact(const float *a, const float *b, int64_t d)
{
    double s = 0.0;
    for (int64_t j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

static void check_assign(int64_t n, int64_t d, int32_t k, double spread)
{
    float *x = gpu_test_uniform(n * d, -spread, spread, 1), *c = gpu_test_uniform((int64_t)k * d, -1, 1, 2);
    float *d_cpu = malloc((size_t)n * sizeof *d_cpu), *d_gpu = malloc((size_t)n * sizeof *d_gpu);
    int32_t *a_cpu = malloc((size_t)n * sizeof *a_cpu), *a_gpu = malloc((size_t)n * sizeof *a_gpu);
    nmp_gpu_err e = {0};
    assert_int_equal(kmeans_assign_cpu(x, n, d, c, k, a_cpu, d_cpu), NMP_OK);
    GPU_OK(kmeans_assign_cuda(x, n, d, c, k, a_gpu, d_gpu, &e), &e);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(a_gpu[i] >= 0 && a_gpu[i] < k);
        if (a_gpu[i] == a_cpu[i]) {
            if (!gpu_test_close(d_gpu[i], d_cpu[i], 1e-4))
                fail_msg("row %lld: dist2 gpu %.9g cpu %.9g", (long long)i, d_gpu[i], d_cpu[i]);
            continue;
        }
        differ++;
        double dg = dist2_exact(x + i * d, c + (int64_t)a_gpu[i] * d, d);
        double dc = dist2_exact(x + i * d, c + (int64_t)a_cpu[i] * d, d);
        if (!gpu_test_close(dg, dc, 1e-4))
            fail_msg("row %lld: gpu cell %d (%.9g) vs cpu cell %d (%.9g) is no near tie", (long long)i, a_gpu[i], dg,
                     a_cpu[i], dc);
    }
    printf("  assign n=%lld d=%lld k=%d: %lld near-tie differences\n", (long long)n, (long long)d, k,
           (long long)differ);
    assert_true(differ * 1000 <= n); /* near ties are rare on random data */
    free(x), free(c), free(d_cpu), free(d_gpu), free(a_cpu), free(a_gpu);
}

static void test_assign_parity(void **state)
{
    (void)state;
    check_assign(20011, 37, 13, 1.0);
    check_assign(5003, 784, 8, 1.0);
    check_assign(3001, 3, 1100, 1.0); /* k > 32: several centroids per lane */
    check_assign(7, 64, 1, 1.0);
    check_assign(4099, 2, 5, 1e-3); /* tiny layout-scale values */
}

/* Duplicate centroids: the smaller id wins; a point on a centroid far from 0 has dist2 0. */
static void test_assign_ties_and_clamp(void **state)
{
    (void)state;
    float c[3 * 4] = {5, 5, 5, 5, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    float x[2 * 4] = {1000, 1000, 1000, 1000, 5, 5, 5, 5}, d2[2];
    int32_t a[2] = {-1, -1};
    nmp_gpu_err e = {0};
    GPU_OK(kmeans_assign_cuda(x, 2, 4, c, 3, a, d2, &e), &e);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[1], 0);
    assert_true(d2[0] == 0.0f && d2[1] == 0.0f);
}

static void test_update_parity(void **state)
{
    (void)state;
    int64_t n = 30011, d = 53;
    int32_t k = 17;
    float *x = gpu_test_uniform(n * d, -3, 3, 3), *c0 = gpu_test_uniform((int64_t)k * d, -1, 1, 4);
    int32_t *assign = malloc((size_t)n * sizeof *assign);
    for (int64_t i = 0; i < n; i++) assign[i] = (int32_t)(nmp_rng_below(5, 5, (uint64_t)i, (uint64_t)k - 1));
    assign[n - 1] = 0; /* cell k - 1 stays empty */
    float *c_cpu = malloc((size_t)(k * d) * sizeof *c_cpu), *c_gpu = malloc((size_t)(k * d) * sizeof *c_gpu);
    memcpy(c_cpu, c0, (size_t)(k * d) * sizeof *c0);
    memcpy(c_gpu, c0, (size_t)(k * d) * sizeof *c0);
    int64_t cnt_cpu[17], cnt_gpu[17];
    nmp_gpu_err e = {0};
    assert_int_equal(kmeans_update_cpu(x, n, d, assign, k, c_cpu, cnt_cpu), NMP_OK);
    GPU_OK(kmeans_update_cuda(x, n, d, assign, k, c_gpu, cnt_gpu, &e), &e);
    double worst = 0.0;
    for (int32_t c = 0; c < k; c++) {
        assert_int_equal(cnt_gpu[c], cnt_cpu[c]);
        for (int64_t j = 0; j < d; j++) {
            double g = c_gpu[c * d + j], r = c_cpu[c * d + j];
            worst = fmax(worst, fabs(g - r) / fmax(1.0, fabs(r)));
            if (!gpu_test_close(g, r, 1e-6)) fail_msg("centroid %d col %lld: gpu %.9g cpu %.9g", c, (long long)j, g, r);
        }
    }
    assert_int_equal(cnt_gpu[k - 1], 0);
    assert_memory_equal(c_gpu + (k - 1) * d, c0 + (k - 1) * d, (size_t)d * sizeof(float));
    printf("  update n=%lld d=%lld k=%d: worst relative difference %.3g\n", (long long)n, (long long)d, k, worst);
    /* a bad cell id is refused with its place, not written out of bounds */
    assign[7] = k;
    assert_int_equal(kmeans_update_cuda(x, n, d, assign, k, c_gpu, cnt_gpu, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "assign[7] = 17"));
    free(x), free(c0), free(assign), free(c_cpu), free(c_gpu);
}

/* Lloyd iterations on one device context agree with the CPU's step by step. */
static void test_lloyd_context(void **state)
{
    (void)state;
    int64_t n = 6007, d = 16;
    int32_t k = 9;
    float *x = test_blobs(n, d, k, 9, NULL);
    float *c_cpu = malloc((size_t)(k * d) * sizeof *c_cpu), *c_gpu = malloc((size_t)(k * d) * sizeof *c_gpu);
    for (int32_t c = 0; c < k; c++) memcpy(c_cpu + c * d, x + (int64_t)c * 601 * d, (size_t)d * sizeof(float));
    memcpy(c_gpu, c_cpu, (size_t)(k * d) * sizeof(float));
    int32_t *a_cpu = malloc((size_t)n * sizeof *a_cpu), *a_gpu = malloc((size_t)n * sizeof *a_gpu);
    float *d2 = malloc((size_t)n * sizeof *d2);
    int64_t cnt_cpu[9], cnt_gpu[9];
    nmp_gpu_err e = {0};
    kmeans_cuda *km = NULL;
    GPU_OK(kmeans_cuda_create(x, n, d, k, &km, &e), &e);
    for (int it = 0; it < 5; it++) {
        assert_int_equal(kmeans_assign_cpu(x, n, d, c_cpu, k, a_cpu, d2), NMP_OK);
        assert_int_equal(kmeans_update_cpu(x, n, d, a_cpu, k, c_cpu, cnt_cpu), NMP_OK);
        GPU_OK(kmeans_cuda_assign(km, c_gpu, a_gpu, NULL, &e), &e);
        GPU_OK(kmeans_cuda_update(km, c_gpu, cnt_gpu, &e), &e);
        assert_memory_equal(a_gpu, a_cpu, (size_t)n * sizeof *a_cpu); /* blobs: no near ties */
        for (int32_t c = 0; c < k; c++) assert_int_equal(cnt_gpu[c], cnt_cpu[c]);
        for (int64_t v = 0; v < k * d; v++) assert_true(gpu_test_close(c_gpu[v], c_cpu[v], 1e-6));
    }
    kmeans_cuda_destroy(km);
    free(x), free(c_cpu), free(c_gpu), free(a_cpu), free(a_gpu), free(d2);
}

/* A request no GPU can hold fails as NMP_ERR_NOMEM naming the bytes, before reading x. */
static void test_oom_and_bad_args(void **state)
{
    (void)state;
    float x[4] = {0}, c[4] = {0};
    int32_t a[1];
    float d2[1];
    nmp_gpu_err e = {0};
    int64_t n = INT32_MAX, d = (int64_t)1 << 20;
    assert_int_equal(kmeans_assign_cuda(x, n, d, c, 1, a, d2, &e), NMP_ERR_NOMEM);
    char want[128];
    snprintf(want, sizeof want, "GPU out of memory: the k-means rows needs %lld bytes", (long long)(n * d * 4));
    if (!strstr(e.msg, want)) fail_msg("message: %s", e.msg);
    assert_non_null(strstr(e.msg, "kernels/kmeans.cu:"));
    assert_int_equal(kmeans_assign_cuda(x, 1, 4, c, 0, a, d2, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "k >= 1"));
}
#endif

int main(void)
{
#ifdef NOMAD_CUDA
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_parity),    cmocka_unit_test(test_assign_ties_and_clamp),
        cmocka_unit_test(test_update_parity),    cmocka_unit_test(test_lloyd_context),
        cmocka_unit_test(test_oom_and_bad_args),
    };
    return GPU_TEST_MAIN("kmeans", tests);
#else
    printf("test_kmeans: skipped (exit 77): built without NOMAD_CUDA\n");
    return GPU_SKIP;
#endif
}
