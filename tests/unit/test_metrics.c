/* eval/metrics: hand-checkable cases, the sampling protocol, input checks, and agreement
 * with numpy + scikit-learn (tests/unit/metrics_agreement.py) on Gaussian blobs. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "metrics.h"
#include "nomad/rng.h"

static nmp_eval_result run_eval(const float *x, int64_t n, int64_t d, const float *y, int64_t dy,
                                const int32_t *labels, int32_t k, int64_t triplets)
{
    nmp_matrix mx = {n, d, x}, my = {n, dy, y};
    nmp_eval_opts o = nmp_eval_opts_default();
    o.k = k;
    o.queries = n;
    o.triplets = triplets;
    nmp_eval_result r;
    char err[256] = "";
    assert_int_equal(nmp_eval_run(&mx, &my, labels, &o, &r, err, sizeof err), NMP_OK);
    assert_int_equal(r.queries_used, n);
    return r;
}

static float *uniform(int64_t count, uint64_t seed)
{
    float *v = malloc((size_t)count * sizeof *v);
    for (int64_t i = 0; i < count; i++)
        v[i] = (float)nmp_rng_uniform(seed, 1, (uint64_t)i);
    return v;
}

/* The layout is the data: every metric is perfect. */
static void test_identical_layout(void **state)
{
    (void)state;
    float *x = uniform(300 * 2, 1);
    nmp_eval_result r = run_eval(x, 300, 2, x, 2, NULL, 10, 5000);
    assert_true(r.np.value == 1.0 && r.trust.value == 1.0 && r.cont.value == 1.0 && r.triplet.value == 1.0);
    assert_true(r.np.ci95 == 0.0 && !r.has_labels);
    free(x);
}

/* A 1-D layout in the reverse order (y = -x) is an isometry: still perfect. */
static void test_reversed_line(void **state)
{
    (void)state;
    const int64_t n = 400;
    float *x = uniform(n, 2), *y = malloc((size_t)(2 * n) * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        y[2 * i] = -x[i];
        y[2 * i + 1] = 0.0f;
    }
    nmp_eval_result r = run_eval(x, n, 1, y, 2, NULL, 7, 5000);
    assert_true(r.np.value == 1.0 && r.trust.value == 1.0 && r.cont.value == 1.0 && r.triplet.value == 1.0);
    free(x);
    free(y);
}

/* x = {0, 1, 3, 7}, y = {0, 4, 5, 7}, k = 1. Nearest in x: 1, 0, 1, 2; in y: 1, 2, 1, 2.
 * Point 1 loses its neighbour: NP = 3/4. Its layout neighbour 2 has input rank 2, so
 * T = 1 - 2/(4*1*(8-3-1)) * (2-1) = 7/8; its input neighbour 0 has layout rank 3, so
 * C = 1 - (1/8) * 2 = 3/4. Labels {0,0,1,1}: points 1 and 2 see the other label: 1/2.
 * Of the 12 (i, {j, l}) comparisons 9 keep their order, so triplets -> 3/4. */
static void test_hand_checked(void **state)
{
    (void)state;
    const float x[4] = {0, 1, 3, 7}, y[4] = {0, 4, 5, 7};
    const int32_t labels[4] = {0, 0, 1, 1};
    nmp_eval_result r = run_eval(x, 4, 1, y, 1, labels, 1, 200000);
    assert_true(fabs(r.np.value - 0.75) < 1e-12);
    assert_true(fabs(r.trust.value - 0.875) < 1e-12);
    assert_true(fabs(r.cont.value - 0.75) < 1e-12);
    assert_true(r.has_labels && fabs(r.knn_acc.value - 0.5) < 1e-12);
    assert_true(fabs(r.triplet.value - 0.75) < 0.01 && r.triplet.ci95 > 0.0 && r.triplet.ci95 < 0.01);
}

/* Positions 0, 1, -1.1, 10, 11 with labels 1, 1, 3, 0, 0 and k = 2: points 0, 1, 3 and 4
 * see a 1:1 tie, which the smallest label wins (right for all four); point 2 sees {1, 1}.
 * Largest-label ties would score 0. */
static void test_label_ties_smallest(void **state)
{
    (void)state;
    const float y[5] = {0, 1, -1.1f, 10, 11};
    const int32_t labels[5] = {1, 1, 3, 0, 0};
    nmp_eval_result r = run_eval(y, 5, 1, y, 1, labels, 2, 10);
    assert_true(fabs(r.knn_acc.value - 0.8) < 1e-12);
}

/* Well separated blobs kept apart by the layout: every point's neighbours share its label. */
static void test_separated_labels(void **state)
{
    (void)state;
    int32_t *labels;
    const int64_t n = 600, d = 8;
    float *x = test_blobs(n, d, 3, 7, &labels), *y = malloc((size_t)(2 * n) * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        y[2 * i] = 100.0f * (float)labels[i] + x[i * d];
        y[2 * i + 1] = x[i * d + 1];
    }
    nmp_eval_result r = run_eval(x, n, d, y, 2, labels, 10, 1000);
    assert_true(r.knn_acc.value == 1.0);
    free(x);
    free(y);
    free(labels);
}

/* Metrics depend on distance order only: a layout (and data) scaled by 1e30 or 1e-30, still
 * finite in float, measures the same as the unscaled one (the kernels square distances in
 * float, which overflowed: NP@10 0.033 for 0.169 and continuity above 1 before). */
static void test_scale_invariant(void **state)
{
    (void)state;
    int32_t *labels;
    const int64_t n = 500, d = 6;
    float *x = test_blobs(n, d, 4, 11, &labels), *y = uniform(n * 2, 5);
    for (int64_t i = 0; i < n; i++)
        y[2 * i] += 0.3f * x[i * d];
    float *xs = malloc((size_t)(n * d) * sizeof *xs), *ys = malloc((size_t)(n * 2) * sizeof *ys);
    nmp_eval_result base = run_eval(x, n, d, y, 2, labels, 10, 3000);
    assert_true(base.np.value > 0.05 && base.np.value < 0.95 && base.cont.value < 1.0);
    const float scales[] = {1e30f, 1e-30f, 1e19f};
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < n * 2; i++)
            ys[i] = y[i] * scales[s];
        for (int64_t i = 0; i < n * d; i++)
            xs[i] = x[i] * (s == 2 ? scales[s] : 1.0f);
        nmp_eval_result r = run_eval(xs, n, d, ys, 2, labels, 10, 3000);
        assert_true(fabs(r.np.value - base.np.value) < 1e-12);
        assert_true(fabs(r.trust.value - base.trust.value) < 1e-12);
        assert_true(fabs(r.cont.value - base.cont.value) < 1e-12);
        assert_true(fabs(r.knn_acc.value - base.knn_acc.value) < 1e-12);
        assert_true(fabs(r.triplet.value - base.triplet.value) < 1e-12);
    }
    free(x);
    free(y);
    free(xs);
    free(ys);
    free(labels);
}

/* All input points equal: every triplet is a tie, and ties count as wrong. */
static void test_triplet_ties_are_wrong(void **state)
{
    (void)state;
    float x[20 * 3] = {0}, *y = uniform(20 * 2, 3);
    nmp_eval_result r = run_eval(x, 20, 3, y, 2, NULL, 3, 2000);
    assert_true(r.triplet.value == 0.0 && r.triplet.ci95 == 0.0);
    free(y);
}

static void test_sampling(void **state)
{
    (void)state;
    int32_t *a, *b, *c;
    int64_t na, nb, nc;
    assert_int_equal(nmp_eval_sample_queries(100000, 5000, 9, &a, &na), NMP_OK);
    assert_int_equal(nmp_eval_sample_queries(100000, 5000, 9, &b, &nb), NMP_OK);
    assert_int_equal(nmp_eval_sample_queries(100000, 5000, 10, &c, &nc), NMP_OK);
    assert_int_equal(na, 5000);
    assert_memory_equal(a, b, (size_t)na * sizeof *a); /* deterministic */
    assert_true(memcmp(a, c, (size_t)na * sizeof *a) != 0);
    int64_t low_half = 0;
    for (int64_t i = 0; i < na; i++) {
        assert_true(a[i] >= 0 && a[i] < 100000 && (i == 0 || a[i] > a[i - 1])); /* distinct, sorted */
        low_half += a[i] < 50000;
    }
    assert_true(low_half > 2300 && low_half < 2700); /* roughly uniform */
    free(a), free(b), free(c);
    assert_int_equal(nmp_eval_sample_queries(50, 5000, 9, &a, &na), NMP_OK);
    assert_int_equal(na, 50);
    for (int64_t i = 0; i < na; i++)
        assert_int_equal(a[i], i);
    free(a);
    for (int64_t t = 0; t < 10000; t++) {
        int32_t ids[3];
        nmp_eval_triplet(3 + t % 5, 4, t, ids);
        assert_true(ids[0] != ids[1] && ids[0] != ids[2] && ids[1] != ids[2]);
        assert_true(ids[0] >= 0 && ids[1] >= 0 && ids[2] >= 0);
        assert_true(ids[0] < 3 + t % 5 && ids[1] < 3 + t % 5 && ids[2] < 3 + t % 5);
    }
}

static void test_invalid_inputs(void **state)
{
    (void)state;
    float x[40] = {0}, y[40] = {0};
    nmp_matrix mx = {20, 2, x}, my = {19, 2, y};
    nmp_eval_opts o = nmp_eval_opts_default();
    nmp_eval_result r;
    char err[256] = "";
    assert_int_equal(nmp_eval_run(&mx, &my, NULL, &o, &r, err, sizeof err), NMP_ERR_INVALID);
    assert_non_null(strstr(err, "19"));
    my.n = 20;
    o.k = 10; /* not below half of 20 */
    assert_int_equal(nmp_eval_run(&mx, &my, NULL, &o, &r, err, sizeof err), NMP_ERR_INVALID);
    assert_non_null(strstr(err, "eval.k"));
}

/* Writes a little-endian, C-order .npy of rows x cols values (cols = 0: a 1-D array). */
static void write_npy(const char *dir, const char *name, const char *descr, const void *data, size_t item,
                      int64_t rows, int64_t cols)
{
    char path[512], header[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int len = cols ? snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }",
                              descr, (long long)rows, (long long)cols)
                   : snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }",
                              descr, (long long)rows);
    const int pad = (64 - (10 + len + 1) % 64) % 64; /* data starts on a 64-byte boundary */
    const uint16_t header_len = (uint16_t)(len + pad + 1);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&header_len, sizeof header_len, 1, f); /* x86-64 and arm64 hosts are little-endian */
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, item, (size_t)(rows * (cols ? cols : 1)), f);
    assert_int_equal(fclose(f), 0);
}

/* The first interpreter that has numpy and scikit-learn (pyenv shims may hide Debian's). */
static const char *find_python(void)
{
    static const char *const candidates[] = {"python3", "/usr/bin/python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy, sklearn' >/dev/null 2>&1", candidates[i]);
        if (system(cmd) == 0)
            return candidates[i];
    }
    return NULL;
}

/* Gaussian blobs z in 2-D; data x = z A + noise in d dims (A a fixed random 2 x d map),
 * layout y = z + noise, so NP@10 is neither near 0 nor near 1. */
static void blobs_and_layout(int64_t n, int64_t d, float **x, float **y)
{
    float *z = test_blobs(n, 2, 5, 11, NULL);
    *x = malloc((size_t)(n * d) * sizeof **x);
    *y = malloc((size_t)(2 * n) * sizeof **y);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t t = 0; t < d; t++) {
            double v = 0.3 * (2.0 * nmp_rng_uniform(17, 3, (uint64_t)(i * d + t)) - 1.0);
            for (int64_t c = 0; c < 2; c++)
                v += z[i * 2 + c] * (2.0 * nmp_rng_uniform(17, 4, (uint64_t)(c * d + t)) - 1.0);
            (*x)[i * d + t] = (float)v;
        }
        for (int64_t c = 0; c < 2; c++)
            (*y)[i * 2 + c] = z[i * 2 + c] + (float)(0.3 * (2.0 * nmp_rng_uniform(17, 5, (uint64_t)(i * 2 + c)) - 1.0));
    }
    free(z);
}

/* Runs the protocol on all points and on a 500-point sample, writes data, query sample,
 * triplets and results to a temporary folder, and has metrics_agreement.py recompute them. */
static void test_agreement_with_sklearn(void **state)
{
    (void)state;
    const char *python = find_python();
    if (!python)
        fail_msg("python3 with numpy and scikit-learn is needed: apt-get install -y python3-numpy python3-sklearn");
    const int64_t n = 2000, d = 20, ntrip = 5000, nsample = 500;
    const int32_t k = 10;
    const uint64_t seed = 42;
    float *x, *y;
    blobs_and_layout(n, d, &x, &y);
    nmp_matrix mx = {n, d, x}, my = {n, 2, y};
    nmp_eval_opts o = {.k = k, .queries = n, .triplets = ntrip, .seed = seed, .metric = NMP_METRIC_L2};
    nmp_eval_result all, part;
    char err[256] = "", dir[] = "/tmp/nomad_metrics_XXXXXX";
    assert_int_equal(nmp_eval_run(&mx, &my, NULL, &o, &all, err, sizeof err), NMP_OK);
    o.queries = nsample;
    assert_int_equal(nmp_eval_run(&mx, &my, NULL, &o, &part, err, sizeof err), NMP_OK);
    int32_t *sample, *triplets = malloc((size_t)(3 * ntrip) * sizeof *triplets);
    int64_t got;
    assert_int_equal(nmp_eval_sample_queries(n, nsample, seed, &sample, &got), NMP_OK);
    for (int64_t t = 0; t < ntrip; t++)
        nmp_eval_triplet(n, seed, t, triplets + 3 * t);
    assert_non_null(mkdtemp(dir));
    write_npy(dir, "x.npy", "<f4", x, sizeof *x, n, d);
    write_npy(dir, "y.npy", "<f4", y, sizeof *y, n, 2);
    write_npy(dir, "queries_sample.npy", "<i4", sample, sizeof *sample, got, 0);
    write_npy(dir, "triplets.npy", "<i4", triplets, sizeof *triplets, ntrip, 3);
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/results.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "k %d\nnp_all %.17g\ntrust_all %.17g\ncont_all %.17g\ntriplet %.17g\n", k, all.np.value,
            all.trust.value, all.cont.value, all.triplet.value);
    fprintf(f, "np_sample %.17g\ntrust_sample %.17g\ncont_sample %.17g\n", part.np.value, part.trust.value,
            part.cont.value);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s/tests/unit/metrics_agreement.py %s", python, NOMAD_SOURCE_DIR, dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(x), free(y), free(sample), free(triplets);
    if (rc != 0)
        fail_msg("metrics disagree with scikit-learn (see the table above)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_layout),     cmocka_unit_test(test_reversed_line),
        cmocka_unit_test(test_hand_checked),         cmocka_unit_test(test_label_ties_smallest),
        cmocka_unit_test(test_separated_labels),     cmocka_unit_test(test_triplet_ties_are_wrong),
        cmocka_unit_test(test_scale_invariant),
        cmocka_unit_test(test_sampling),             cmocka_unit_test(test_invalid_inputs),
        cmocka_unit_test(test_agreement_with_sklearn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
