/* The byte path of exact kNN (kernels/knn_u8.h): tiles equal to the exact integer distances,
 * the byte test, and knn_topk_cpu / knn_topk_rank_cpu on byte data against an exact integer
 * reference, neighbours, distances and ranks all equal (ties by id included), and equal to the
 * float path bit for bit where float sums are exact too. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "knn_cpu.h"
#include "knn_u8.h"
#include "nomad/rng.h"

/* Bytes, with rows repeated (every fifth row copies the one before it): exact ties. */
static float *byte_matrix(int64_t n, int64_t d, uint64_t seed)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < d; t++)
            x[i * d + t] = i % 5 == 4 ? x[(i - 1) * d + t] : (float)nmp_rng_below(seed, 7, (uint64_t)(i * d + t), 256);
    return x;
}

static int64_t exact_distance(const float *a, const float *b, int64_t d, int l2)
{
    int64_t s = 0;
    for (int64_t t = 0; t < d; t++) {
        const int64_t u = (int64_t)a[t], v = (int64_t)b[t];
        s += l2 ? (u - v) * (u - v) : -u * v;
    }
    return s;
}

/* Every value of a tile at any 16-aligned offset is its exact integer, rounded once. */
static void test_tile_exact(void **state)
{
    (void)state;
    if (!knn_u8_available()) skip();        /* no AVX-512 VNNI here: knn_cpu.c never calls the kernel */
    const int64_t nq = 50, nb = 77, d = 37; /* d off the groups of 4, rows off the panels of 16 */
    float *q = byte_matrix(nq, d, 1), *b = byte_matrix(nb, d, 2);
    knn_u8_rows q8, b8;
    assert_true(knn_u8_pack(q, nq, d, 1, &q8));
    assert_true(knn_u8_pack(b, nb, d, 0, &b8));
    float *tile = malloc((size_t)(nq * nb) * sizeof *tile);
    for (int l2 = 0; l2 <= 1; l2++)
        for (int64_t q0 = 0; q0 < nq; q0 += 16)
            for (int64_t b0 = 0; b0 < nb; b0 += 32) {
                const int64_t qn = nq - q0, bn = nb - b0;
                knn_u8_tile(&q8, q0, qn, &b8, b0, bn, l2, tile);
                for (int64_t i = 0; i < qn; i++)
                    for (int64_t j = 0; j < bn; j++)
                        assert_true(tile[i * bn + j] ==
                                    (float)exact_distance(q + (q0 + i) * d, b + (b0 + j) * d, d, l2));
            }
    knn_u8_free(&q8), knn_u8_free(&b8);
    free(tile), free(q), free(b);
    /* the widest rows the kernel takes (16384: 2 d 255^2 just fits an int32), the extremes among
     * them (all 255 against all 0), distances past 2^24 rounded once as the reference rounds */
    const int64_t wd = 16384, wn = 17;
    float *w = byte_matrix(wn, wd, 3);
    for (int64_t t = 0; t < wd; t++) w[t] = 255.0f, w[wd + t] = 0.0f;
    tile = malloc((size_t)(wn * wn) * sizeof *tile);
    assert_true(knn_u8_pack(w, wn, wd, 1, &q8));
    assert_true(knn_u8_pack(w, wn, wd, 0, &b8));
    for (int l2 = 0; l2 <= 1; l2++) {
        knn_u8_tile(&q8, 0, wn, &b8, 0, wn, l2, tile);
        for (int64_t i = 0; i < wn; i++)
            for (int64_t j = 0; j < wn; j++)
                assert_true(tile[i * wn + j] == (float)exact_distance(w + i * wd, w + j * wd, wd, l2));
    }
    knn_u8_free(&q8), knn_u8_free(&b8);
    free(tile), free(w);
}

static void test_is_bytes(void **state)
{
    (void)state;
    float x[40];
    for (int i = 0; i < 40; i++) x[i] = (float)(i * 6);
    assert_true(knn_u8_is_bytes(x, 4, 10));
    knn_u8_rows r;
    for (int query = 0; query <= 1; query++) {
        assert_true(knn_u8_pack(x, 4, 10, query, &r));
        knn_u8_free(&r);
    }
    const float bad[4] = {0.5f, 256.0f, -1.0f, NAN};
    for (int t = 0; t < 4; t++) {
        const float keep = x[37];
        x[37] = bad[t]; /* in the last row: the pack's own check, past its first row's */
        assert_false(knn_u8_is_bytes(x, 4, 10));
        for (int query = 0; query <= 1; query++) {
            assert_false(knn_u8_pack(x, 4, 10, query, &r));
            assert_null(r.panel);
        }
        x[37] = keep;
    }
    float *wide = calloc(16385, sizeof *wide); /* 2 d 255^2 must fit an int32: 16384 does, 16385 not */
    assert_true(knn_u8_pack(wide, 1, 16384, 0, &r));
    knn_u8_free(&r);
    assert_false(knn_u8_pack(wide, 1, 16385, 0, &r));
    assert_false(knn_u8_is_bytes(wide, 1, 16385));
    free(wide);
}

/* Reference: rows of query q in (exact distance, id) order, the query's own id skipped. */
typedef struct {
    int64_t dist;
    int32_t id;
} exact_cand;

static int exact_compare(const void *a, const void *b)
{
    const exact_cand *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* knn_topk_rank_cpu on bytes: the k nearest and their distances exactly the reference's, each
 * probe's rank exactly its place in the reference order (no slack: the distances are exact).
 * qrow: the base row each query copies (its id skipped; a third of the queries probe it
 * too), or NULL; bid: base ids (NULL: row numbers). */
static void check_exact(const float *q, int64_t nq, const float *b, int64_t nb, int64_t d, int32_t k, int l2,
                        const int32_t *qrow, const int32_t *bid)
{
    const int32_t m = 3;
    int32_t *idx = malloc((size_t)(nq * k) * sizeof *idx), *probe = malloc((size_t)(nq * m) * sizeof *probe);
    int32_t *qid = malloc((size_t)nq * sizeof *qid);
    float *dist = malloc((size_t)(nq * k) * sizeof *dist);
    int64_t *rank = malloc((size_t)(nq * m) * sizeof *rank);
    exact_cand *ref = malloc((size_t)nb * sizeof *ref);
#define ID(j) (bid ? bid[j] : (int32_t)(j))
    for (int64_t i = 0; i < nq * m; i++) /* even rows (the queries' own are odd), distinct: one third of b each */
        probe[i] =
            2 * (int32_t)nmp_rng_below(3, 9, (uint64_t)i, (uint64_t)nb / 6) + (int32_t)(i % m) * (int32_t)(nb / 3);
    for (int64_t i = 1; nb > 2050 && i < nq; i += 4) /* row 2050: its exact tie, row 10, lies in another base block */
        probe[i * m + 2] = 2050;
    for (int64_t i = 0; qrow && i < nq; i++) {
        qid[i] = ID(qrow[i]);
        if (i % 3 == 0) probe[i * m + 1] = qrow[i]; /* the query itself, ranked among the rest */
    }
    const nmp_metric metric = l2 ? NMP_METRIC_L2 : NMP_METRIC_IP;
    assert_int_equal(knn_topk_rank_cpu(q, nq, b, nb, d, k, metric, qrow ? qid : NULL, bid, idx, dist, probe, m, rank),
                     NMP_OK);
    for (int64_t i = 0; i < nq; i++) {
        int64_t n = 0;
        for (int64_t j = 0; j < nb; j++)
            if (!qrow || qrow[i] != (int32_t)j)
                ref[n++] = (exact_cand){exact_distance(q + i * d, b + j * d, d, l2), ID(j)};
        qsort(ref, (size_t)n, sizeof *ref, exact_compare);
        for (int32_t t = 0; t < k; t++) {
            assert_int_equal(idx[i * k + t], ref[t].id);
            assert_true(dist[i * k + t] == (float)ref[t].dist);
        }
        for (int32_t t = 0; t < m; t++) { /* 1 + the rows (the query's own left out) before it */
            const int32_t p = probe[i * m + t];
            const exact_cand at = {exact_distance(q + i * d, b + (int64_t)p * d, d, l2), ID(p)};
            int64_t before = 0;
            for (int64_t j = 0; j < n; j++) before += exact_compare(&ref[j], &at) < 0;
            assert_int_equal(rank[i * m + t], before + 1);
        }
    }
#undef ID
    free(idx), free(probe), free(qid), free(dist), free(rank), free(ref);
}

static void test_topk_exact_on_bytes(void **state)
{
    (void)state;
    if (!knn_u8_available()) skip();          /* the float path is test_knn_cpu's */
    const int64_t nq = 60, nb = 2100, d = 50; /* two base blocks of knn_cpu.c */
    float *q = byte_matrix(nq, d, 4), *b = byte_matrix(nb, d, 5);
    int32_t qrow[60], *bid = malloc((size_t)nb * sizeof *bid);
    memcpy(b + 2050 * d, b + 10 * d, (size_t)d * sizeof *b); /* a tie across knn_cpu.c's base blocks */
    for (int i = 0; i < 60; i++) qrow[i] = 34 * i + 1; /* queries copied from the base (odd rows) */
    for (int64_t i = 0; i < nq; i++) memcpy(q + i * d, b + (int64_t)qrow[i] * d, (size_t)d * sizeof *q);
    for (int64_t j = 0; j < nb; j++) bid[j] = (int32_t)(3 * (nb - 1 - j) + 2); /* ids against the rows' order */
    for (int l2 = 0; l2 <= 1; l2++) {
        check_exact(q, nq, b, nb, d, 9, l2, qrow, NULL);
        check_exact(q, nq, b, nb, d, 9, l2, qrow, bid);
        check_exact(q, nq, b, nb, d, 9, l2, NULL, NULL);
    }
    free(q), free(b), free(bid);
}

/* A set's own kNN (the self search's tiles, 1100 rows: 9 blocks of 128) equal to the float
 * path bit for bit: with d = 50 every float sum of these bytes is exact too (< 2^24). */
static void test_self_search_matches_float(void **state)
{
    (void)state;
    if (!knn_u8_available()) skip(); /* both runs would take the float path */
    const int64_t n = 1100, d = 50;
    const int32_t k = 12;
    float *x = byte_matrix(n, d, 6);
    int32_t *i1 = malloc((size_t)(n * k) * sizeof *i1), *i2 = malloc((size_t)(n * k) * sizeof *i2);
    float *d1 = malloc((size_t)(n * k) * sizeof *d1), *d2 = malloc((size_t)(n * k) * sizeof *d2);
    assert_int_equal(knn_topk_cpu(x, n, x, n, d, k, NMP_METRIC_L2, NULL, NULL, i1, d1), NMP_OK);
    setenv("NOMAD_KNN_U8", "0", 1);
    assert_false(knn_u8_available());
    assert_int_equal(knn_topk_cpu(x, n, x, n, d, k, NMP_METRIC_L2, NULL, NULL, i2, d2), NMP_OK);
    unsetenv("NOMAD_KNN_U8");
    assert_memory_equal(i1, i2, (size_t)(n * k) * sizeof *i1);
    assert_memory_equal(d1, d2, (size_t)(n * k) * sizeof *d1);
    free(x), free(i1), free(i2), free(d1), free(d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tile_exact),
        cmocka_unit_test(test_is_bytes),
        cmocka_unit_test(test_topk_exact_on_bytes),
        cmocka_unit_test(test_self_search_matches_float),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
