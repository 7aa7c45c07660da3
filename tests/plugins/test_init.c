/* Tests of the init plugins (pca, random, spectral): recovered directions and clusters, the
 * first-coordinate std, determinism, lifecycle and bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/rng.h"
#include "test_host.h"

#define assert_near(a, b, eps)                                                                      \
    do {                                                                                            \
        double a_ = (a), b_ = (b);                                                                  \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.12g, expected %.12g (+- %g)", #a, a_, b_, (double)(eps)); \
    } while (0)

static const char *const INITS[] = {"pca", "random", "spectral"};

static nmp_status run_init(nmp_host *h, const char *name, const char *const *kv, const nmp_matrix *x,
                           const nmp_graph *g, int32_t dims, float *y)
{
    test_instance t = test_plugin_create(h, NMP_KIND_INIT, name, kv);
    nmp_status s = ((const nmp_init_ops *)t.plugin->ops)->init(t.state, x, g, dims, y);
    test_plugin_destroy(&t);
    return s;
}

/* Population std of column c of y (n x dims). */
static double column_std(const float *y, int64_t n, int dims, int c)
{
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < n; i++) mean += y[i * dims + c];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (y[i * dims + c] - mean) * (y[i * dims + c] - mean);
    return sqrt(var / (double)n);
}

static double gaussian(uint64_t seed, uint64_t i)
{
    double u1 = nmp_rng_uniform(seed, 9, 2 * i) + 1e-300, u2 = nmp_rng_uniform(seed, 9, 2 * i + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void test_descriptors_and_lifecycle(void **unused)
{
    nmp_host *h = test_host_new(2, 1);
    for (size_t p = 0; p < sizeof INITS / sizeof *INITS; p++) {
        const nmp_plugin *pl = test_plugin_find(NMP_KIND_INIT, INITS[p]);
        assert_int_equal(pl->abi_major, NMP_ABI_MAJOR);
        assert_true(pl->struct_size >= sizeof(nmp_plugin));
        assert_non_null(((const nmp_init_ops *)pl->ops)->init);
        for (uint32_t i = 0; i < pl->n_params; i++) assert_non_null(pl->params[i].doc);
        test_instance t = test_plugin_create(h, NMP_KIND_INIT, INITS[p], NULL);
        assert_non_null(t.state);
        test_plugin_destroy(&t);
    }
    test_host_free(h);
}

/* Data = offset + 10 t v + noise(0.5) in 6-D: the first component must be v (up to the sign
 * convention, which makes v's largest loading, coordinate 4, positive). */
static void check_pca_direction(const char *const *kv)
{
    enum { N = 4000, D = 6 };
    const double dir[D] = {1, 2, -1, 0.5, 3, 0};
    double norm = 0.0, v[D], w[D] = {0}, mean[D] = {0};
    for (int j = 0; j < D; j++) norm += dir[j] * dir[j];
    for (int j = 0; j < D; j++) v[j] = dir[j] / sqrt(norm);
    float *x = malloc(N * D * sizeof *x), *y = malloc(N * 2 * sizeof *y), *y2 = malloc(N * 2 * sizeof *y2);
    for (int i = 0; i < N; i++) {
        double t = gaussian(1, (uint64_t)i);
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)(5.0 + 10.0 * t * v[j] + 0.5 * gaussian(2, (uint64_t)(i * D + j)));
    }
    nmp_matrix m = {N, D, x};
    nmp_host *h = test_host_new(3, 11);
    assert_int_equal(run_init(h, "pca", kv, &m, NULL, 2, y), NMP_OK);
    assert_near(column_std(y, N, 2, 0), 1e-4, 1e-9);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += x[i * D + j] / (double)N;
    for (int i = 0; i < N; i++) /* X_c^T y0 is proportional to the first loading vector */
        for (int j = 0; j < D; j++) w[j] += (x[i * D + j] - mean[j]) * y[i * 2];
    double wn = 0.0, cosine = 0.0;
    for (int j = 0; j < D; j++) wn += w[j] * w[j];
    for (int j = 0; j < D; j++) cosine += w[j] * v[j] / sqrt(wn);
    assert_true(cosine > 0.999); /* > 0, not just |cos|: the sign convention holds */
    assert_true(column_std(y, N, 2, 1) < 0.1e-4); /* the noise direction is much narrower */
    assert_int_equal(run_init(h, "pca", kv, &m, NULL, 2, y2), NMP_OK);
    assert_memory_equal(y, y2, N * 2 * sizeof *y);
    test_host_free(h);
    free(x), free(y), free(y2);
}

static void test_pca_recovers_direction(void **unused) { check_pca_direction(NULL); }

static void test_pca_sampled(void **unused)
{
    const char *kv[] = {"sample=500", "block_rows=64", NULL};
    check_pca_direction(kv);
}

static void test_pca_bad_dims(void **unused)
{
    float x[] = {1, 2, 3, 4, 5, 7};
    float y[9];
    nmp_matrix m = {3, 2, x};
    nmp_host *h = test_host_new(1, 1);
    assert_int_equal(run_init(h, "pca", NULL, &m, NULL, 3, y), NMP_ERR_INVALID);
    assert_non_null(strstr(test_host_error(h), "dims = 3"));
    test_host_free(h);
}

static void test_random_std_and_determinism(void **unused)
{
    enum { N = 20000 };
    float *y = malloc(N * 2 * sizeof *y), *y2 = malloc(N * 2 * sizeof *y2), *y3 = malloc(N * 2 * sizeof *y3);
    nmp_matrix m = {N, 4, NULL};
    nmp_host *h = test_host_new(3, 5), *h1 = test_host_new(1, 5), *other = test_host_new(3, 6);
    assert_int_equal(run_init(h, "random", NULL, &m, NULL, 2, y), NMP_OK);
    for (int c = 0; c < 2; c++) assert_near(column_std(y, N, 2, c), 1e-4, 3e-6); /* ~ 4 sigma of the estimate */
    assert_int_equal(run_init(h1, "random", NULL, &m, NULL, 2, y2), NMP_OK);
    assert_memory_equal(y, y2, N * 2 * sizeof *y); /* counter-based: thread count does not matter */
    assert_int_equal(run_init(other, "random", NULL, &m, NULL, 2, y3), NMP_OK);
    assert_memory_not_equal(y, y3, N * 2 * sizeof *y);
    test_host_free(h), test_host_free(h1), test_host_free(other);
    free(y), free(y2), free(y3);
}

/* Cliques {0..5} and {6..11} (all pairs, weight 1), a bridge 0 -> 6 of weight `bridge` (none
 * if 0), plus `extra` isolated points. Arrays malloc'd. */
static nmp_graph two_cliques(double bridge, int extra)
{
    int64_t n = 12 + extra;
    nmp_graph g = {.n = n};
    g.offsets = calloc((size_t)n + 1, sizeof *g.offsets);
    g.index = malloc(64 * 6 * sizeof *g.index);
    g.weight = malloc(64 * 6 * sizeof *g.weight);
    int64_t e = 0;
    for (int i = 0; i < 12; i++) {
        for (int j = 0; j < 12; j++)
            if (j != i && j / 6 == i / 6) g.index[e] = j, g.weight[e++] = 1.0f;
        if (i == 0 && bridge > 0) g.index[e] = 6, g.weight[e++] = (float)bridge;
        g.offsets[i + 1] = e;
    }
    for (int64_t i = 12; i < n; i++) g.offsets[i + 1] = e;
    return g;
}

static void test_spectral_separates_cliques(void **unused)
{
    nmp_graph g = two_cliques(0.01, 0);
    float y[24], y2[24];
    nmp_host *h = test_host_new(2, 3);
    assert_int_equal(run_init(h, "spectral", NULL, NULL, &g, 2, y), NMP_OK);
    for (int i = 1; i < 12; i++) {
        int same = (i / 6) == 0;
        assert_true(same ? y[i * 2] * y[0] > 0 : y[i * 2] * y[0] < 0);
    }
    assert_near(column_std(y, 12, 2, 0), 1e-4, 1e-9);
    assert_int_equal(run_init(h, "spectral", NULL, NULL, &g, 2, y2), NMP_OK);
    assert_memory_equal(y, y2, sizeof y);
    test_graph_free(&g);
    test_host_free(h);
}

/* Without the bridge and with two isolated points the graph has four components: the
 * regularisation still gives a finite layout. */
static void test_spectral_disconnected_is_finite(void **unused)
{
    nmp_graph g = two_cliques(0, 2);
    float y[14 * 2];
    nmp_host *h = test_host_new(2, 3);
    assert_int_equal(run_init(h, "spectral", NULL, NULL, &g, 2, y), NMP_OK);
    for (int v = 0; v < 28; v++) assert_true(isfinite(y[v]));
    assert_near(column_std(y, 14, 2, 0), 1e-4, 1e-9);
    const char *no_reg[] = {"regularization=0", NULL};
    assert_int_equal(run_init(h, "spectral", no_reg, NULL, &g, 2, y), NMP_ERR_INVALID);
    assert_non_null(strstr(test_host_error(h), "isolated"));
    test_graph_free(&g);
    test_host_free(h);
}

/* A path graph (edges i ~ i+1, i ~ i+2): the first nontrivial eigenvector is monotone along it,
 * close to cos(pi i / (n - 1)). */
static void test_spectral_path_is_ordered(void **unused)
{
    enum { N = 40 };
    nmp_graph g = {.n = N};
    g.offsets = calloc(N + 1, sizeof *g.offsets);
    g.index = malloc(N * 2 * sizeof *g.index);
    g.weight = malloc(N * 2 * sizeof *g.weight);
    int64_t e = 0;
    for (int i = 0; i < N; i++) {
        for (int s = 1; s <= 2; s++)
            if (i + s < N) g.index[e] = i + s, g.weight[e++] = 1.0f;
        g.offsets[i + 1] = e;
    }
    float y[N * 2];
    nmp_host *h = test_host_new(3, 9);
    const char *kv[] = {"iterations=2000", "tol=1e-12", NULL};
    assert_int_equal(run_init(h, "spectral", kv, NULL, &g, 2, y), NMP_OK);
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (int i = 0; i < N; i++) {
        double c = cos(M_PI * i / (N - 1));
        sxy += c * y[i * 2], sxx += c * c, syy += (double)y[i * 2] * y[i * 2];
    }
    assert_true(fabs(sxy) / sqrt(sxx * syy) > 0.99);
    /* y is an eigenvector of D^-1/2 W D^-1/2 (as umap-learn's); y / sqrt(degree) is the random-
     * walk eigenvector, which is monotone. Degrees: 2, 3, 4, ..., 4, 3, 2 neighbours. */
    double f[N];
    for (int i = 0; i < N; i++) f[i] = y[i * 2] / sqrt(i == 0 || i == N - 1 ? 2.0 : i == 1 || i == N - 2 ? 3.0 : 4.0);
    for (int i = 1; i < N; i++) assert_true((f[i] - f[i - 1]) * (f[N - 1] - f[0]) > 0);
    test_graph_free(&g);
    test_host_free(h);
}

static void test_spectral_bad_input(void **unused)
{
    float y[8];
    nmp_host *h = test_host_new(1, 1);
    assert_int_equal(run_init(h, "spectral", NULL, NULL, NULL, 2, y), NMP_ERR_INVALID);
    nmp_graph g = two_cliques(0.01, 0);
    nmp_matrix m = {5, 3, NULL};
    assert_int_equal(run_init(h, "spectral", NULL, &m, &g, 2, y), NMP_ERR_INVALID);
    assert_non_null(strstr(test_host_error(h), "12 points"));
    test_graph_free(&g);
    test_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptors_and_lifecycle),
        cmocka_unit_test(test_pca_recovers_direction),
        cmocka_unit_test(test_pca_sampled),
        cmocka_unit_test(test_pca_bad_dims),
        cmocka_unit_test(test_random_std_and_determinism),
        cmocka_unit_test(test_spectral_separates_cliques),
        cmocka_unit_test(test_spectral_disconnected_is_finite),
        cmocka_unit_test(test_spectral_path_is_ordered),
        cmocka_unit_test(test_spectral_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
