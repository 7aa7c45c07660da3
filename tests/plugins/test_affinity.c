/* Tests of the affinity plugins (rank_exp, binary, perplexity, umap) against hand-computed
 * weights and CSR arrays, plus lifecycle, determinism and parameter errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#define assert_near(a, b, eps)                                                                      \
    do {                                                                                            \
        double a_ = (a), b_ = (b);                                                                  \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.12g, expected %.12g (+- %g)", #a, a_, b_, (double)(eps)); \
    } while (0)

static const char *const AFFINITIES[] = {"rank_exp", "binary", "perplexity", "umap"};

/* A graph over caller-owned arrays (nothing to free). */
static nmp_graph graph_of(int64_t n, int64_t *offsets, int32_t *index, float *dist)
{
    nmp_graph g = {.n = n, .offsets = offsets, .index = index, .dist = dist, .weight = NULL};
    return g;
}

/* Runs plugin `name` with parameters kv on knn; returns its status, output in *out. */
static nmp_status weigh(nmp_host *h, const char *name, const char *const *kv, const nmp_graph *knn, nmp_graph *out)
{
    test_instance t = test_plugin_create(h, NMP_KIND_AFFINITY, name, kv);
    memset(out, 0, sizeof *out);
    nmp_status s = ((const nmp_affinity_ops *)t.plugin->ops)->weigh(t.state, knn, out);
    test_plugin_destroy(&t);
    return s;
}

static void expect_csr(const nmp_graph *g, int64_t n, const int64_t *offsets, const int32_t *index,
                       const double *weight, double eps)
{
    assert_int_equal(g->n, n);
    for (int64_t i = 0; i <= n; i++) assert_int_equal(g->offsets[i], offsets[i]);
    for (int64_t e = 0; e < offsets[n]; e++) {
        assert_int_equal(g->index[e], index[e]);
        assert_near(g->weight[e], weight[e], eps);
    }
}

/* Exact kNN with squared L2 distances, rows sorted by distance (ties by id): malloc'd arrays. */
static nmp_graph brute_knn(const float *x, int64_t n, int64_t d, int k)
{
    nmp_graph g = {.n = n};
    g.offsets = malloc((size_t)(n + 1) * sizeof *g.offsets);
    g.index = malloc((size_t)(n * k) * sizeof *g.index);
    g.dist = malloc((size_t)(n * k) * sizeof *g.dist);
    for (int64_t i = 0; i <= n; i++) g.offsets[i] = i * k;
    for (int64_t i = 0; i < n; i++) {
        int32_t *idx = g.index + i * k;
        float *dd = g.dist + i * k;
        int m = 0;
        for (int64_t j = 0; j < n; j++) {
            if (j == i) continue;
            double s = 0.0;
            for (int64_t c = 0; c < d; c++) s += (double)(x[i * d + c] - x[j * d + c]) * (x[i * d + c] - x[j * d + c]);
            if (m == k && s >= dd[k - 1]) continue;
            int p = m < k ? m++ : k - 1;
            for (; p > 0 && dd[p - 1] > s; p--) idx[p] = idx[p - 1], dd[p] = dd[p - 1];
            idx[p] = (int32_t)j, dd[p] = (float)s;
        }
    }
    return g;
}

static void test_descriptors_and_lifecycle(void **unused)
{
    nmp_host *h = test_host_new(2, 1);
    for (size_t p = 0; p < sizeof AFFINITIES / sizeof *AFFINITIES; p++) {
        const nmp_plugin *pl = test_plugin_find(NMP_KIND_AFFINITY, AFFINITIES[p]);
        assert_int_equal(pl->abi_major, NMP_ABI_MAJOR);
        assert_true(pl->struct_size >= sizeof(nmp_plugin));
        assert_non_null(pl->summary);
        assert_non_null(((const nmp_affinity_ops *)pl->ops)->weigh);
        for (uint32_t i = 0; i < pl->n_params; i++) assert_non_null(pl->params[i].doc);
        test_instance t = test_plugin_create(h, NMP_KIND_AFFINITY, AFFINITIES[p], NULL);
        assert_non_null(t.state);
        test_plugin_destroy(&t);
    }
    test_host_free(h);
}

/* Rows of 3, 2 and 0 neighbours: p_r = exp(1/r) / sum_{s<=k_i} exp(1/s). */
static void test_rank_exp_weights(void **unused)
{
    int64_t off[] = {0, 3, 5, 5, 8};
    int32_t idx[] = {1, 2, 3, 2, 0, 0, 1, 2};
    nmp_graph knn = graph_of(4, off, idx, NULL), out;
    nmp_host *h = test_host_new(3, 1);
    assert_int_equal(weigh(h, "rank_exp", NULL, &knn, &out), NMP_OK);
    double k3[] = {0.471709733, 0.286106415, 0.242183852}, k2[] = {0.622459331, 0.377540669};
    double want[] = {k3[0], k3[1], k3[2], k2[0], k2[1], k3[0], k3[1], k3[2]};
    expect_csr(&out, 4, off, idx, want, 2e-7);
    assert_null(out.dist);
    test_graph_free(&out);

    const char *flat[] = {"temperature=0", NULL}; /* exp(0) for every rank: uniform 1/k */
    assert_int_equal(weigh(h, "rank_exp", flat, &knn, &out), NMP_OK);
    double uniform[] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3};
    expect_csr(&out, 4, off, idx, uniform, 1e-7);
    test_graph_free(&out);
    test_host_free(h);
}

static void test_rank_exp_rejects_bad_graph(void **unused)
{
    int64_t off[] = {0, 1, 2};
    int32_t idx[] = {1, 7};
    nmp_graph knn = graph_of(2, off, idx, NULL), out;
    nmp_host *h = test_host_new(1, 1);
    assert_int_equal(weigh(h, "rank_exp", NULL, &knn, &out), NMP_ERR_INVALID);
    assert_non_null(strstr(test_host_error(h), "row 1"));
    test_host_free(h);
}

/* The 4-node graph 0 -> {1, 2}, 1 -> {0}, 2 -> {3, 1, 0}, 3 -> {2} with weights 1/k_i. */
static int64_t HAND_OFF[] = {0, 2, 3, 6, 7};
static int32_t HAND_IDX[] = {1, 2, 0, 3, 1, 0, 2};

static void test_binary_symmetrize(void **unused)
{
    nmp_graph knn = graph_of(4, HAND_OFF, HAND_IDX, NULL), out;
    nmp_host *h = test_host_new(2, 1);
    int64_t off[] = {0, 2, 4, 7, 8};
    int32_t idx[] = {1, 2, 0, 2, 0, 1, 3, 2};

    const char *max_none[] = {"symmetrize=max", "normalize=none", NULL};
    assert_int_equal(weigh(h, "binary", max_none, &knn, &out), NMP_OK);
    double w_max[] = {1, 0.5, 1, 1.0 / 3, 0.5, 1.0 / 3, 1, 1};
    expect_csr(&out, 4, off, idx, w_max, 1e-7);
    test_graph_free(&out);

    const char *max_rows[] = {"symmetrize=max", NULL};
    assert_int_equal(weigh(h, "binary", max_rows, &knn, &out), NMP_OK);
    double w_max_rows[] = {2.0 / 3, 1.0 / 3, 0.75, 0.25, 3.0 / 11, 2.0 / 11, 6.0 / 11, 1};
    expect_csr(&out, 4, off, idx, w_max_rows, 1e-7);
    test_graph_free(&out);

    const char *mean_none[] = {"symmetrize=mean", "normalize=none", NULL};
    assert_int_equal(weigh(h, "binary", mean_none, &knn, &out), NMP_OK);
    double w_mean[] = {0.75, 5.0 / 12, 0.75, 1.0 / 6, 5.0 / 12, 1.0 / 6, 2.0 / 3, 2.0 / 3};
    expect_csr(&out, 4, off, idx, w_mean, 1e-7);
    test_graph_free(&out);

    const char *mean_global[] = {"symmetrize=mean", "normalize=global", NULL};
    assert_int_equal(weigh(h, "binary", mean_global, &knn, &out), NMP_OK);
    double total = 0.0; /* unnormalised total is 4 (each row of A sums to 1): unchanged */
    for (int64_t e = 0; e < 8; e++) total += out.weight[e];
    assert_near(total, 4.0, 1e-6);
    assert_near(out.weight[0], 0.75, 1e-7);
    test_graph_free(&out);

    assert_int_equal(weigh(h, "binary", NULL, &knn, &out), NMP_OK); /* directed, rows of 1/k_i */
    double w_dir[] = {0.5, 0.5, 1, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1};
    expect_csr(&out, 4, HAND_OFF, HAND_IDX, w_dir, 1e-7);
    test_graph_free(&out);
    test_host_free(h);
}

/* A duplicate edge in a row is merged (keeping the largest weight) before symmetrising. */
static void test_binary_duplicate_edges(void **unused)
{
    int64_t off[] = {0, 2, 3};
    int32_t idx[] = {1, 1, 0};
    nmp_graph knn = graph_of(2, off, idx, NULL), out;
    nmp_host *h = test_host_new(1, 1);
    const char *kv[] = {"symmetrize=max", "normalize=none", NULL};
    assert_int_equal(weigh(h, "binary", kv, &knn, &out), NMP_OK);
    int64_t want_off[] = {0, 1, 2};
    int32_t want_idx[] = {1, 0};
    double want_w[] = {1, 1};
    expect_csr(&out, 2, want_off, want_idx, want_w, 0);
    test_graph_free(&out);
    test_host_free(h);
}

/* Entropy of each conditional row hits log(perplexity) within the search tolerance (plus
 * float rounding of the stored weights); the symmetric P is symmetric and sums to n. */
static void test_perplexity_entropy(void **unused)
{
    float *x = test_blobs(300, 5, 3, 7, NULL);
    nmp_graph knn = brute_knn(x, 300, 5, 30), out, sym, again;
    nmp_host *h = test_host_new(3, 1);
    const char *cond[] = {"perplexity=10", "symmetrize=false", NULL};
    assert_int_equal(weigh(h, "perplexity", cond, &knn, &out), NMP_OK);
    for (int64_t i = 0; i < 300; i++) {
        double entropy = 0.0, sum = 0.0;
        for (int64_t e = out.offsets[i]; e < out.offsets[i + 1]; e++) {
            sum += out.weight[e];
            if (out.weight[e] > 0) entropy -= out.weight[e] * log(out.weight[e]);
        }
        assert_near(sum, 1.0, 1e-5);
        assert_near(entropy, log(10.0), 1e-5 + 2e-6);
    }
    const char *joint[] = {"perplexity=10", NULL};
    assert_int_equal(weigh(h, "perplexity", joint, &knn, &sym), NMP_OK);
    double total = 0.0;
    for (int64_t i = 0; i < 300; i++)
        for (int64_t e = sym.offsets[i]; e < sym.offsets[i + 1]; e++) {
            int32_t j = sym.index[e];
            total += sym.weight[e];
            int found = 0; /* w_ij == w_ji exactly: the mean is computed from the same two numbers */
            for (int64_t f = sym.offsets[j]; f < sym.offsets[j + 1]; f++)
                if (sym.index[f] == i) found = 1, assert_true(sym.weight[f] == sym.weight[e]);
            assert_true(found);
        }
    assert_near(total, 300.0, 1e-3);
    nmp_host *h1 = test_host_new(1, 1); /* rows are independent: same bits on 1 thread */
    assert_int_equal(weigh(h1, "perplexity", joint, &knn, &again), NMP_OK);
    assert_int_equal(again.offsets[300], sym.offsets[300]);
    assert_memory_equal(again.weight, sym.weight, (size_t)sym.offsets[300] * sizeof(float));
    assert_memory_equal(again.index, sym.index, (size_t)sym.offsets[300] * sizeof(int32_t));
    test_graph_free(&out), test_graph_free(&sym), test_graph_free(&again), test_graph_free(&knn);
    test_host_free(h), test_host_free(h1);
    free(x);
}

static void test_perplexity_errors(void **unused)
{
    float *x = test_blobs(60, 3, 2, 3, NULL);
    nmp_graph knn = brute_knn(x, 60, 3, 30), out;
    nmp_host *h = test_host_new(2, 1);
    const char *big[] = {"perplexity=45", NULL};
    assert_int_equal(weigh(h, "perplexity", big, &knn, &out), NMP_ERR_INVALID);
    assert_non_null(strstr(test_host_error(h), "perplexity 45"));
    assert_non_null(strstr(test_host_error(h), "k = 30"));
    assert_int_equal(weigh(h, "perplexity", NULL, &knn, &out), NMP_ERR_INVALID); /* 30 is not < 30 */
    float *dist = knn.dist;
    knn.dist = NULL;
    const char *ok[] = {"perplexity=5", NULL};
    assert_int_equal(weigh(h, "perplexity", ok, &knn, &out), NMP_ERR_INVALID);
    assert_non_null(strstr(test_host_error(h), "dist"));
    knn.dist = dist;
    test_graph_free(&knn);
    test_host_free(h);
    free(x);
}

/* Point 0 sees 1, 2, 3 at Euclidean 1, 2, 3 (squared 1, 4, 9); the others see nobody. Then
 * rho = 1 and 1 + u + u^2 = log2(3) with u = exp(-1/sigma); the union with empty reverse rows
 * keeps the memberships and mirrors them. */
static void test_umap_hand_weights(void **unused)
{
    int64_t off[] = {0, 3, 3, 3, 3};
    int32_t idx[] = {1, 2, 3};
    float dist[] = {1, 4, 9};
    nmp_graph knn = graph_of(4, off, idx, dist), out;
    nmp_host *h = test_host_new(2, 1);
    assert_int_equal(weigh(h, "umap", NULL, &knn, &out), NMP_OK);
    double target = log2(3.0), u = (-1.0 + sqrt(1.0 + 4.0 * (target - 1.0))) / 2.0; /* 0.413763 */
    int64_t want_off[] = {0, 3, 4, 5, 6};
    int32_t want_idx[] = {1, 2, 3, 0, 0, 0};
    double want_w[] = {1, u, u * u, 1, u, u * u};
    expect_csr(&out, 4, want_off, want_idx, want_w, 2e-5);
    assert_near(out.weight[0] + out.weight[1] + out.weight[2], target, 1e-5 + 1e-6);
    test_graph_free(&out);

    /* count_self (umap-learn's convention): target log2(4) = 2, so 1 + u + u^2 = 2 and u is
     * the golden ratio's inverse. */
    const char *self[] = {"count_self=true", NULL};
    assert_int_equal(weigh(h, "umap", self, &knn, &out), NMP_OK);
    double g = (sqrt(5.0) - 1.0) / 2.0;
    double want_self[] = {1, g, g * g, 1, g, g * g};
    expect_csr(&out, 4, want_off, want_idx, want_self, 2e-5);
    test_graph_free(&out);
    test_host_free(h);
}

/* Points without neighbours are legal input: every plugin returns an empty graph. */
static void test_empty_rows(void **unused)
{
    int64_t off[] = {0, 0, 0, 0};
    nmp_graph knn = graph_of(3, off, NULL, NULL), out;
    nmp_host *h = test_host_new(2, 1);
    const char *sym[] = {"symmetrize=max", NULL};
    const char *const *kvs[] = {NULL, sym, NULL};
    const char *names[] = {"rank_exp", "binary", "umap"};
    for (int p = 0; p < 3; p++) {
        assert_int_equal(weigh(h, names[p], kvs[p], &knn, &out), NMP_OK);
        assert_int_equal(out.n, 3);
        assert_int_equal(out.offsets[3], 0);
        test_graph_free(&out);
    }
    test_host_free(h);
}

/* Reference for one row: rho, then sigma by a long bisection, then memberships. */
static void umap_row_reference(const double *d, int k, double *w)
{
    double rho = d[0], lo = 0.0, hi = 1e6;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi), s = 0.0;
        for (int j = 0; j < k; j++) s += exp(-fmax(0.0, d[j] - rho) / mid);
        if (s > log2((double)k)) hi = mid;
        else lo = mid;
    }
    for (int j = 0; j < k; j++) w[j] = exp(-fmax(0.0, d[j] - rho) / (0.5 * (lo + hi)));
}

/* Points at 0, 1, 3, 6 on a line, k = 3 (everyone): compare to a direct computation of the
 * memberships and of the fuzzy union a + b - ab and intersection ab. */
static void test_umap_line(void **unused)
{
    const double pos[] = {0, 1, 3, 6};
    int64_t off[] = {0, 3, 6, 9, 12};
    int32_t idx[12];
    float dist[12];
    double a[4][4] = {{0}}, d[3], w[3];
    for (int i = 0; i < 4; i++) {
        int order[3], m = 0;
        for (int j = 0; j < 4; j++)
            if (j != i) order[m++] = j;
        for (int p = 1; p < 3; p++) /* sort the three others by distance */
            for (int q = p; q > 0 && fabs(pos[order[q]] - pos[i]) < fabs(pos[order[q - 1]] - pos[i]); q--) {
                int t = order[q];
                order[q] = order[q - 1], order[q - 1] = t;
            }
        for (int p = 0; p < 3; p++) {
            idx[i * 3 + p] = order[p];
            d[p] = fabs(pos[order[p]] - pos[i]);
            dist[i * 3 + p] = (float)(d[p] * d[p]);
        }
        umap_row_reference(d, 3, w);
        for (int p = 0; p < 3; p++) a[i][order[p]] = w[p];
    }
    nmp_graph knn = graph_of(4, off, idx, dist), out;
    nmp_host *h = test_host_new(2, 1);
    const char *mixes[2][2] = {{"set_op_mix_ratio=1", NULL}, {"set_op_mix_ratio=0", NULL}};
    for (int m = 0; m < 2; m++) {
        assert_int_equal(weigh(h, "umap", mixes[m], &knn, &out), NMP_OK);
        assert_int_equal(out.offsets[4], 12);
        for (int i = 0; i < 4; i++)
            for (int64_t e = out.offsets[i]; e < out.offsets[i + 1]; e++) {
                int j = out.index[e];
                double x = a[i][j], y = a[j][i], want = m == 0 ? x + y - x * y : x * y;
                assert_near(out.weight[e], want, 1e-4);
            }
        test_graph_free(&out);
    }
    test_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptors_and_lifecycle),
        cmocka_unit_test(test_rank_exp_weights),
        cmocka_unit_test(test_rank_exp_rejects_bad_graph),
        cmocka_unit_test(test_binary_symmetrize),
        cmocka_unit_test(test_binary_duplicate_edges),
        cmocka_unit_test(test_perplexity_entropy),
        cmocka_unit_test(test_perplexity_errors),
        cmocka_unit_test(test_umap_hand_weights),
        cmocka_unit_test(test_umap_line),
        cmocka_unit_test(test_empty_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
