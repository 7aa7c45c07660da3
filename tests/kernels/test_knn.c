/* Parity of knn_topk_cuda (kernels/knn.cu) with knn_topk_cpu (kernels/knn_cpu.c).
 * Comparison per query row, with tol = 1e-4 x max(1, |the CPU's k-th distance|):
 *   - the sorted distances agree within tol, position by position;
 *   - every neighbour strictly closer than the k-th distance minus tol on one side is in the
 *     other side's list (only ties at the boundary may differ), padding (-1) agrees;
 *   - integer-valued data (exact dot products) and d <= 8 (direct distances summed as the CPU
 *     does) must give identical lists, ties by id included.
 * f16 / bf16 inputs: recall of the CPU's f32 neighbour sets is reported and held to a floor.
 * Exit 77 without a CUDA build or a GPU. */
#include "gpu_parity.h"

#ifdef NOMAD_CUDA
#include <string.h>

#include "knn_cpu.h"
#include "knn_cuda.h"

typedef struct {
    int64_t identical_rows, rows;
} knn_cmp;

static int in_list(const int32_t *idx, int32_t k, int32_t id)
{
    for (int32_t t = 0; t < k; t++)
        if (idx[t] == id) return 1;
    return 0;
}

/* Every id of (ia, da) closer than its k-th distance minus tol is in ib. */
static void strict_subset(const int32_t *ia, const float *da, const int32_t *ib, int32_t k, double tol, int64_t q)
{
    double kth = da[k - 1];
    for (int32_t t = 0; t < k; t++) {
        if (ia[t] < 0 || !(da[t] < kth - tol)) continue;
        if (!in_list(ib, k, ia[t]))
            fail_msg("query %lld: neighbour %d (dist %.9g, k-th %.9g) missing on the other side", (long long)q, ia[t],
                     da[t], kth);
    }
}

static knn_cmp compare(const int32_t *ci, const float *cd, const int32_t *gi, const float *gd, int64_t nq, int32_t k,
                       double rel)
{
    knn_cmp r = {0, nq};
    for (int64_t q = 0; q < nq; q++) {
        const int32_t *a = ci + q * k, *b = gi + q * k;
        const float *da = cd + q * k, *db = gd + q * k;
        double tol = rel * fmax(1.0, isfinite(da[k - 1]) ? fabs(da[k - 1]) : 1.0);
        for (int32_t t = 0; t < k; t++) {
            if ((a[t] < 0) != (b[t] < 0)) fail_msg("query %lld slot %d: padding differs", (long long)q, t);
            if (a[t] < 0) continue;
            if (!(fabs((double)da[t] - db[t]) <= tol))
                fail_msg("query %lld slot %d: cpu %d %.9g gpu %d %.9g", (long long)q, t, a[t], da[t], b[t], db[t]);
        }
        strict_subset(a, da, b, k, tol, q);
        strict_subset(b, db, a, k, tol, q);
        r.identical_rows += memcmp(a, b, (size_t)k * sizeof *a) == 0;
    }
    return r;
}

/* Both sides' nq x k lists on the same input: the CPU's (ci, cd) in f32, the GPU's (gi, gd)
 * from `prec` inputs; malloc'd, free with knn_lists_free. */
typedef struct {
    int32_t *ci, *gi;
    float *cd, *gd;
} knn_lists;

static knn_lists knn_both(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                          nmp_metric metric, const int32_t *qid, const int32_t *bid, knn_cuda_precision prec)
{
    size_t m = (size_t)(nq * k);
    knn_lists l = {malloc(m * sizeof *l.ci), malloc(m * sizeof *l.gi), malloc(m * sizeof *l.cd),
                   malloc(m * sizeof *l.gd)};
    nmp_gpu_err e = {0};
    assert_int_equal(knn_topk_cpu(query, nq, base, nb, d, k, metric, qid, bid, l.ci, l.cd), NMP_OK);
    GPU_OK(knn_topk_cuda(query, nq, base, nb, d, k, metric, qid, bid, prec, l.gi, l.gd, &e), &e);
    return l;
}

static void knn_lists_free(knn_lists *l)
{
    free(l->ci), free(l->gi), free(l->cd), free(l->gd);
}

/* Runs both sides on the same input; returns the comparison (or asserts identity). */
static knn_cmp run_pair(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                        nmp_metric metric, const int32_t *qid, const int32_t *bid, int must_be_identical)
{
    size_t m = (size_t)(nq * k);
    knn_lists l = knn_both(query, nq, base, nb, d, k, metric, qid, bid, KNN_CUDA_F32);
    knn_cmp r = compare(l.ci, l.cd, l.gi, l.gd, nq, k, 1e-4);
    if (must_be_identical) {
        assert_memory_equal(l.gi, l.ci, m * sizeof *l.ci);
        assert_memory_equal(l.gd, l.cd, m * sizeof *l.cd);
    }
    printf("  nq=%lld nb=%lld d=%lld k=%d metric=%d: %lld of %lld rows identical\n", (long long)nq, (long long)nb,
           (long long)d, k, (int)metric, (long long)r.identical_rows, (long long)r.rows);
    knn_lists_free(&l);
    return r;
}

/* The base queried by a subset of itself (self edges skipped by id), over several query and
 * base tiles (9000 queries > one 8192-row tile; 20000 base rows > one 8192-row tile). */
static void test_l2_self_tiles(void **state)
{
    (void)state;
    int64_t nb = 20000, nq = 9000, d = 50;
    float *base = gpu_test_uniform(nb * d, -1, 1, 21);
    int32_t *qid = malloc((size_t)nq * sizeof *qid);
    for (int64_t q = 0; q < nq; q++) qid[q] = (int32_t)(q * 2);
    float *query = malloc((size_t)(nq * d) * sizeof *query);
    for (int64_t q = 0; q < nq; q++) memcpy(query + q * d, base + (int64_t)qid[q] * d, (size_t)d * sizeof(float));
    knn_cmp r = run_pair(query, nq, base, nb, d, 15, NMP_METRIC_L2, qid, NULL, 0);
    assert_true(r.identical_rows * 100 >= r.rows * 95);
    free(base), free(query), free(qid);
}

/* k over one, two and four registers per lane; base ids mapped and a short base. */
static void test_k_sizes_and_ids(void **state)
{
    (void)state;
    int64_t nb = 3001, nq = 700, d = 33;
    float *base = gpu_test_uniform(nb * d, -1, 1, 22), *query = gpu_test_uniform(nq * d, -1, 1, 23);
    int32_t *bid = malloc((size_t)nb * sizeof *bid), *qid = malloc((size_t)nq * sizeof *qid);
    for (int64_t b = 0; b < nb; b++) bid[b] = (int32_t)(100000 - 7 * b);
    for (int64_t q = 0; q < nq; q++) qid[q] = bid[q * 3]; /* each query skips one base row */
    int32_t ks[] = {1, 31, 32, 33, 64, 100, 128};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++)
        run_pair(query, nq, base, nb, d, ks[t], NMP_METRIC_L2, qid, bid, 0);
    run_pair(query, 5, base, 20, d, 30, NMP_METRIC_L2, qid, bid, 0); /* fewer candidates than k: padded */
    free(base), free(query), free(bid), free(qid);
}

/* Inner product and cosine (with zero rows, whose cosine distance is 1 to everything). */
static void test_ip_cosine(void **state)
{
    (void)state;
    int64_t nb = 5000, nq = 600, d = 24;
    float *base = gpu_test_uniform(nb * d, -1, 1, 24), *query = gpu_test_uniform(nq * d, -1, 1, 25);
    memset(base + 17 * d, 0, (size_t)d * sizeof(float));
    memset(query + 3 * d, 0, (size_t)d * sizeof(float));
    run_pair(query, nq, base, nb, d, 10, NMP_METRIC_IP, NULL, NULL, 0);
    run_pair(query, nq, base, nb, d, 10, NMP_METRIC_COSINE, NULL, NULL, 0);
    run_pair(query, nq, base, nb, 5, 10, NMP_METRIC_COSINE, NULL, NULL, 0); /* direct path */
    free(base), free(query);
}

/* Exact arithmetic both sides: small integers (dot products exact in f32 whatever the
 * order) and the direct d <= 8 path; many exact ties, broken by id alike. */
static void test_identical_when_exact(void **state)
{
    (void)state;
    int64_t nb = 4000, nq = 500;
    float *base = malloc((size_t)(nb * 20) * sizeof *base);
    for (int64_t v = 0; v < nb * 20; v++) base[v] = (float)nmp_rng_below(26, 3, (uint64_t)v, 4);
    run_pair(base, nq, base, nb, 20, 12, NMP_METRIC_L2, NULL, NULL, 1);
    run_pair(base, nq, base, nb, 20, 12, NMP_METRIC_IP, NULL, NULL, 1);
    float *small = gpu_test_uniform(nb * 2, -1e-4, 1e-4, 27); /* a 2-D layout at init scale */
    run_pair(small, nq, small, nb, 2, 15, NMP_METRIC_L2, NULL, NULL, 1);
    free(base), free(small);
}

/* Reduced-precision inputs: how many of the CPU's f32 neighbours they find. */
static void check_recall(knn_cuda_precision prec, const char *name, double floor)
{
    int64_t nb = 20000, nq = 2000, d = 64;
    int32_t k = 15;
    float *x = test_blobs(nb, d, 20, 28, NULL);
    knn_lists l = knn_both(x, nq, x, nb, d, k, NMP_METRIC_L2, NULL, NULL, prec);
    int64_t hit = 0;
    for (int64_t q = 0; q < nq; q++)
        for (int32_t t = 0; t < k; t++) hit += in_list(l.gi + q * k, k, l.ci[q * k + t]);
    double recall = (double)hit / (double)(nq * k);
    printf("  %s inputs: recall of the f32 CPU neighbours %.4f (floor %.2f)\n", name, recall, floor);
    assert_true(recall >= floor);
    for (int64_t q = 0; q < nq; q++) assert_int_equal(l.gi[q * k], (int32_t)q); /* itself first, at distance 0 */
    free(x);
    knn_lists_free(&l);
}

static void test_reduced_precision(void **state)
{
    (void)state;
    check_recall(KNN_CUDA_F16, "f16", 0.90);
    check_recall(KNN_CUDA_BF16, "bf16", 0.70);
}

static void test_limits(void **state)
{
    (void)state;
    float x[8] = {0};
    int32_t idx[200];
    float dist[200];
    nmp_gpu_err e = {0};
    assert_int_equal(
        knn_topk_cuda(x, 1, x, 1, 8, KNN_CUDA_MAX_K + 1, NMP_METRIC_L2, NULL, NULL, KNN_CUDA_F32, idx, dist, &e),
        NMP_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "kernels/knn.cu:"));
    assert_int_equal(knn_topk_cuda(x, 1, x, 1, 0, 1, NMP_METRIC_L2, NULL, NULL, KNN_CUDA_F32, idx, dist, &e),
                     NMP_ERR_INVALID);
}
#endif

int main(void)
{
#ifdef NOMAD_CUDA
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l2_self_tiles),     cmocka_unit_test(test_k_sizes_and_ids),
        cmocka_unit_test(test_ip_cosine),         cmocka_unit_test(test_identical_when_exact),
        cmocka_unit_test(test_reduced_precision), cmocka_unit_test(test_limits),
    };
    return GPU_TEST_MAIN("knn_topk", tests);
#else
    printf("test_knn: skipped (exit 77): built without NOMAD_CUDA\n");
    return GPU_SKIP;
#endif
}
