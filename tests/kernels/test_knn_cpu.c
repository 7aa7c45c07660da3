/* knn_topk_cpu against a naive double-precision O(nq * nb) reference: all metrics, self
 * exclusion, id remapping, padding, sizes off the block grid, ties and determinism. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "test_host.h"

#include "knn_cpu.h"
#include "nomad/rng.h"

typedef struct {
    double dist;
    int32_t id;
} ref_cand;

static int ref_compare(const void *a, const void *b)
{
    const ref_cand *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Keeps ref[0 .. keep) the smallest (distance, id) of the `seen` + 1 candidates offered so
 * far, sorted: plain insertion, obviously right, and cheaper than sorting whole rows. */
static void ref_keep(ref_cand *ref, int64_t seen, int32_t keep, ref_cand c)
{
    int64_t i = seen < keep ? seen : keep;
    while (i > 0 && ref_compare(&c, &ref[i - 1]) < 0) {
        if (i < keep)
            ref[i] = ref[i - 1];
        i--;
    }
    if (i < keep)
        ref[i] = c;
}

static double ref_distance(const float *q, const float *b, int64_t d, nmp_metric metric)
{
    double dot = 0, qq = 0, bb = 0, l2 = 0;
    for (int64_t t = 0; t < d; t++) {
        dot += (double)q[t] * b[t];
        qq += (double)q[t] * q[t];
        bb += (double)b[t] * b[t];
        l2 += ((double)q[t] - b[t]) * ((double)q[t] - b[t]);
    }
    if (metric == NMP_METRIC_L2)
        return l2;
    if (metric == NMP_METRIC_IP)
        return -dot;
    return (qq > 0 && bb > 0) ? 1.0 - dot / sqrt(qq * bb) : 1.0;
}

static float *random_matrix(int64_t n, int64_t d, uint64_t seed)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n * d; i++)
        x[i] = (float)(2.0 * nmp_rng_uniform(seed, 99, (uint64_t)i) - 1.0);
    return x;
}

static double tolerance(double ref) { return 1e-3 * fmax(fabs(ref), 1.0); }

/* Checks one query's row: sorted distances match the reference's, ids are valid, distinct
 * and not the query itself, and the id set equals the reference's except across a tie. */
static void check_row(const ref_cand *ref, int64_t nref, int32_t k, const int32_t *idx, const float *dist)
{
    for (int32_t t = 0; t < k; t++) {
        if (t >= nref) {
            assert_int_equal(idx[t], -1);
            assert_true(isinf(dist[t]) && dist[t] > 0);
            continue;
        }
        assert_true(fabs(dist[t] - ref[t].dist) <= tolerance(ref[t].dist));
        for (int32_t u = 0; u < t; u++)
            assert_int_not_equal(idx[u], idx[t]);
        int found = 0;
        for (int32_t u = 0; u < k && u < nref; u++)
            found |= ref[u].id == idx[t];
        if (!found) { /* only allowed when the reference's k-th and (k+1)-th nearly tie */
            assert_true(nref > k);
            assert_true(ref[k].dist - ref[k - 1].dist <= tolerance(ref[k].dist));
        }
    }
}

/* Runs the kernel and the reference on the same input and compares every row. */
static void compare_with_reference(const float *q, int64_t nq, const float *b, int64_t nb, int64_t d, int32_t k,
                                   nmp_metric metric, const int32_t *query_id, const int32_t *base_id)
{
    int32_t *idx = malloc((size_t)(nq * k) * sizeof *idx);
    float *dist = malloc((size_t)(nq * k) * sizeof *dist);
    /* + k + 1: never read, but GCC's -Warray-bounds cannot see that nref <= nb bounds it */
    ref_cand *ref = malloc((size_t)(nb + k + 1) * sizeof *ref);
    assert_true(idx && dist && ref);
    assert_int_equal(knn_topk_cpu(q, nq, b, nb, d, k, metric, query_id, base_id, idx, dist), NMP_OK);
    for (int64_t i = 0; i < nq; i++) {
        int64_t nref = 0;
        for (int64_t j = 0; j < nb; j++) {
            int32_t id = base_id ? base_id[j] : (int32_t)j;
            if (query_id && query_id[i] == id)
                continue;
            ref_keep(ref, nref++, k + 1, (ref_cand){ref_distance(q + i * d, b + j * d, d, metric), id});
        }
        check_row(ref, nref, k, idx + i * k, dist + i * k);
    }
    free(idx);
    free(dist);
    free(ref);
}

static void test_metrics_gemm_path(void **state)
{
    (void)state;
    const int64_t nq = 1500, nb = 3001, d = 37; /* off every block boundary */
    float *q = random_matrix(nq, d, 1), *b = random_matrix(nb, d, 2);
    for (int metric = 0; metric <= 2; metric++)
        compare_with_reference(q, nq, b, nb, d, 10, (nmp_metric)metric, NULL, NULL);
    free(q);
    free(b);
}

static void test_metrics_direct_path(void **state)
{
    (void)state;
    const int64_t nq = 700, nb = 2500, d = 2;
    float *q = random_matrix(nq, d, 3), *b = random_matrix(nb, d, 4);
    for (int metric = 0; metric <= 2; metric++)
        compare_with_reference(q, nq, b, nb, d, 7, (nmp_metric)metric, NULL, NULL);
    free(q);
    free(b);
}

/* All-vs-all with self exclusion, once with row numbers and once with remapped ids. */
static void test_self_exclusion_and_ids(void **state)
{
    (void)state;
    const int64_t n = 2300;
    const int64_t dims[2] = {3, 24};
    int32_t *rows = malloc((size_t)n * sizeof *rows), *ids = malloc((size_t)n * sizeof *ids);
    for (int64_t i = 0; i < n; i++) {
        rows[i] = (int32_t)i;
        ids[i] = (int32_t)(7 * ((i * 13) % n) + 5); /* a permutation, scaled and shifted */
    }
    for (int t = 0; t < 2; t++) {
        float *x = random_matrix(n, dims[t], 5 + (uint64_t)t);
        for (int metric = 0; metric <= 2; metric++) {
            compare_with_reference(x, n, x, n, dims[t], 12, (nmp_metric)metric, rows, NULL);
            compare_with_reference(x, n, x, n, dims[t], 12, (nmp_metric)metric, ids, ids);
        }
        free(x);
    }
    free(rows);
    free(ids);
}

/* A set's own kNN (queries = base rows) goes the self way: each pair once, offered both ways,
 * in rounds of tiles. Block counts odd (9, 3) and even (16, 2), one block (fewer rows than k),
 * k large enough for the buffers to compact, ids remapped and self skipped or not (threads:
 * test_deterministic). */
static void test_self_search_blocks(void **state)
{
    (void)state;
    const int64_t sizes[5] = {1100, 2300, 100, 200, 300};
    const int32_t ks[5] = {40, 25, 150, 9, 9};
    for (int t = 0; t < 5; t++) {
        const int64_t n = sizes[t], d = 17;
        float *x = random_matrix(n, d, 20 + (uint64_t)t);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        for (int64_t i = 0; i < n; i++)
            ids[i] = (int32_t)(3 * ((i * 7) % n) + 1);
        for (int metric = 0; metric <= 2; metric++) {
            compare_with_reference(x, n, x, n, d, ks[t], (nmp_metric)metric, ids, ids);
            compare_with_reference(x, n, x, n, d, ks[t], (nmp_metric)metric, NULL, NULL);
        }
        free(x);
        free(ids);
    }
}

static void test_padding_and_large_k(void **state)
{
    (void)state;
    float *q = random_matrix(40, 16, 8), *b = random_matrix(5, 16, 9);
    int32_t qid[40];
    for (int i = 0; i < 40; i++)
        qid[i] = i % 7; /* some queries match a base row (skipped), some do not */
    compare_with_reference(q, 40, b, 5, 16, 8, NMP_METRIC_L2, NULL, NULL);
    compare_with_reference(q, 40, b, 5, 16, 8, NMP_METRIC_COSINE, qid, NULL);
    free(q);
    free(b);
    q = random_matrix(300, 12, 10);
    b = random_matrix(2600, 12, 11);
    compare_with_reference(q, 300, b, 2600, 12, 150, NMP_METRIC_L2, NULL, NULL);
    free(q);
    free(b);
    /* k = 180 (t-SNE's 3 x perplexity) over several base blocks: the first bar from a sample,
     * the buffer's compactions, negative distances (ip) in the key order */
    q = random_matrix(200, 20, 12);
    b = random_matrix(7000, 20, 13);
    for (int metric = 0; metric <= 2; metric++)
        compare_with_reference(q, 200, b, 7000, 20, 180, (nmp_metric)metric, NULL, NULL);
    free(q);
    free(b);
}

/* Duplicated base rows give exact ties (small integers: every product and sum is exact in
 * float, on the GEMM path too): the smaller id must come first. */
static void test_ties_by_smaller_id(void **state)
{
    (void)state;
    const int64_t nb = 3000;
    const int64_t dims[2] = {5, 20};
    for (int t = 0; t < 2; t++) {
        const int64_t d = dims[t];
        float *b = malloc((size_t)(nb * d) * sizeof *b), *proto = random_matrix(4, d, 12);
        for (int64_t i = 0; i < 4 * d; i++)
            proto[i] = roundf(2.0f * proto[i]);
        int32_t ids[3000];
        for (int64_t j = 0; j < nb; j++) {
            memcpy(b + j * d, proto + (j % 4) * d, (size_t)d * sizeof *b);
            ids[j] = (int32_t)(nb - j); /* ids decrease along the rows */
        }
        int32_t idx[300];
        float dist[300];
        /* rows 0, 4, 8, ... equal the query; among them the smallest ids are 4, 8, 12, ...; with
         * k = 300 more tie the first bar than the buffer holds */
        for (int32_t k = 5; k <= 300; k += 295) {
            assert_int_equal(knn_topk_cpu(proto, 1, b, nb, d, k, NMP_METRIC_L2, NULL, ids, idx, dist), NMP_OK);
            for (int r = 0; r < k; r++) {
                assert_int_equal(idx[r], 4 + 4 * r);
                assert_true(dist[r] == 0.0f);
            }
        }
        free(b);
        free(proto);
    }
}

static void deterministic_case(int64_t n)
{
    const int64_t d = 40;
    const int32_t k = 10;
    float *x = random_matrix(n, d, 13);
    int32_t *i1 = malloc((size_t)(n * k) * sizeof *i1), *i2 = malloc((size_t)(n * k) * sizeof *i2);
    float *d1 = malloc((size_t)(n * k) * sizeof *d1), *d2 = malloc((size_t)(n * k) * sizeof *d2);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(knn_topk_cpu(x, n, x, n, d, k, NMP_METRIC_L2, NULL, NULL, i1, d1), NMP_OK);
    omp_set_num_threads(threads > 1 ? threads : 2);
    assert_int_equal(knn_topk_cpu(x, n, x, n, d, k, NMP_METRIC_L2, NULL, NULL, i2, d2), NMP_OK);
    omp_set_num_threads(threads);
    assert_memory_equal(i1, i2, (size_t)(n * k) * sizeof *i1);
    assert_memory_equal(d1, d2, (size_t)(n * k) * sizeof *d1);
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(i1[i * k], (int32_t)i); /* own row first */
        for (int32_t t = 0; t < k; t++)
            assert_true(d1[i * k + t] >= 0.0f); /* |q|^2 + |b|^2 - 2 q.b rounds below 0: clamped */
    }
    free(x);
    free(i1);
    free(i2);
    free(d1);
    free(d2);
}

/* Same answer bit for bit with 1 and 2 threads and on a repeat, for a self search of an even
 * (16) and an odd (9) number of blocks. */
static void test_deterministic(void **state)
{
    (void)state;
    for (int64_t n = 2500; n >= 1100; n -= 1400)
        deterministic_case(n);
}
/* Reference rank of base row p for query q: 1 + rows (not self, not p) before it in the
 * (double distance, id) order; `slack` gets the rows within rounding of p's distance. */
static int64_t ref_rank(const float *q, const float *b, int64_t nb, int64_t d, nmp_metric metric, int32_t self,
                        const int32_t *base_id, int32_t p, int64_t *slack)
{
    double dp = ref_distance(q, b + (int64_t)p * d, d, metric);
    int32_t idp = base_id ? base_id[p] : p;
    int64_t before = 0;
    *slack = 0;
    for (int64_t j = 0; j < nb; j++) {
        int32_t id = base_id ? base_id[j] : (int32_t)j;
        if (j == p || id == self)
            continue;
        double dj = ref_distance(q, b + j * d, d, metric);
        before += dj < dp || (dj == dp && id < idp);
        *slack += fabs(dj - dp) <= 1e-5 * fmax(fabs(dp), 1.0);
    }
    return before + 1;
}

/* knn_topk_rank_cpu: neighbours as knn_topk_cpu, ranks of probes (near, far, none) as the
 * reference up to rows that tie with a probe within rounding. */
static void check_ranks(const float *x, int64_t n, int64_t d, nmp_metric metric, int32_t k, const int32_t *ids)
{
    const int32_t m = 6;
    const int64_t nq = 200;
    int32_t *qid = malloc((size_t)nq * sizeof *qid), *probe = malloc((size_t)(nq * m) * sizeof *probe);
    int32_t *idx = malloc((size_t)(nq * (k + 1)) * sizeof *idx), *idx2 = malloc((size_t)(nq * (k + 1)) * sizeof *idx2);
    float *dist = malloc((size_t)(nq * (k + 1)) * sizeof *dist), *dist2 = malloc((size_t)(nq * (k + 1)) * sizeof *dist2);
    int64_t *rank = malloc((size_t)(nq * m) * sizeof *rank);
    for (int64_t i = 0; i < nq; i++) {
        qid[i] = ids ? ids[i * 11] : (int32_t)(i * 11);
        for (int32_t t = 0; t < m; t++) /* distinct: t spreads them over disjoint ranges */
            probe[i * m + t] = t == 2 ? -1 : (int32_t)(t * (n / m) + (int64_t)nmp_rng_below(21, 5, (uint64_t)(i * m + t), (uint64_t)(n / m)));
    }
    float *q = malloc((size_t)(nq * d) * sizeof *q);
    for (int64_t i = 0; i < nq; i++)
        memcpy(q + i * d, x + i * 11 * d, (size_t)d * sizeof *q);
    assert_int_equal(knn_topk_rank_cpu(q, nq, x, n, d, k, metric, qid, ids, idx, dist, probe, m, rank), NMP_OK);
    if (k > 0) { /* the top-k part is unchanged by the probes */
        assert_int_equal(knn_topk_cpu(q, nq, x, n, d, k, metric, qid, ids, idx2, dist2), NMP_OK);
        assert_memory_equal(idx, idx2, (size_t)(nq * k) * sizeof *idx);
    }
    for (int64_t i = 0; i < nq; i++)
        for (int32_t t = 0; t < m; t++) {
            int32_t p = probe[i * m + t];
            if (p < 0) {
                assert_int_equal(rank[i * m + t], 0);
                continue;
            }
            int64_t slack, r = ref_rank(q + i * d, x, n, d, metric, qid[i], ids, p, &slack);
            assert_true(llabs(rank[i * m + t] - r) <= slack);
        }
    free(qid), free(probe), free(idx), free(idx2), free(dist), free(dist2), free(rank), free(q);
}

static void test_ranks(void **state)
{
    (void)state;
    const int64_t n = 2600;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int64_t i = 0; i < n; i++)
        ids[i] = (int32_t)(n - 1 - i);
    const int64_t dims[2] = {2, 30};
    for (int t = 0; t < 2; t++) {
        float *x = random_matrix(n, dims[t], 30 + (uint64_t)t);
        for (int metric = 0; metric <= 2; metric++)
            check_ranks(x, n, dims[t], (nmp_metric)metric, 10, NULL);
        check_ranks(x, n, dims[t], NMP_METRIC_L2, 0, ids);
        free(x);
    }
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_gemm_path),     cmocka_unit_test(test_metrics_direct_path),
        cmocka_unit_test(test_self_exclusion_and_ids), cmocka_unit_test(test_self_search_blocks),
        cmocka_unit_test(test_padding_and_large_k),
        cmocka_unit_test(test_ties_by_smaller_id),    cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
