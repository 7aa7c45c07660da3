/* The ann plugins (exact, exact_cell, nndescent, precomputed): CSR shape, sorted rows, no
 * self edges, exact against a naive reference, exact_cell = exact restricted to the cell,
 * nndescent recall and determinism, precomputed round trip and each file error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_host.h"

#include "nomad/rng.h"

static float *random_matrix(int64_t n, int64_t d, uint64_t seed)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)(2.0 * nmp_rng_uniform(seed, 5, (uint64_t)i) - 1.0);
    return x;
}

/* Creates the plugin, builds once, destroys it. Returns the status; the graph is the host's. */
static nmp_status build(const char *name, const char *const *kv, int threads, uint64_t seed, const float *x,
                        int64_t n, int64_t d, const nmp_cells *cells, int32_t k, nmp_metric metric, nmp_graph *g,
                        char *error, size_t error_len)
{
    nmp_host *h = test_host_new(threads, seed);
    test_instance t = test_plugin_create(h, NMP_KIND_ANN, name, kv);
    nmp_matrix m = {n, d, x};
    memset(g, 0, sizeof *g);
    nmp_status s = ((const nmp_ann_ops *)t.plugin->ops)->build(t.state, &m, cells, k, metric, g);
    if (error) snprintf(error, error_len, "%s", test_host_error(h));
    test_plugin_destroy(&t);
    test_host_free(h);
    return s;
}

/* CSR invariants: row i has want[i] entries (or k when want is NULL), ids in range, no self,
 * no repeats, sorted by distance. */
static void assert_graph(const nmp_graph *g, int64_t n, int32_t k, const int64_t *want)
{
    assert_int_equal(g->n, n);
    assert_int_equal(g->offsets[0], 0);
    for (int64_t i = 0; i < n; i++) {
        int64_t a = g->offsets[i], b = g->offsets[i + 1];
        assert_int_equal(b - a, want ? want[i] : k);
        for (int64_t e = a; e < b; e++) {
            assert_true(g->index[e] >= 0 && g->index[e] < n && g->index[e] != i);
            if (e > a) assert_true(g->dist[e - 1] <= g->dist[e]);
            for (int64_t f = a; f < e; f++) assert_int_not_equal(g->index[f], g->index[e]);
        }
    }
}

static double naive_distance(const float *a, const float *b, int64_t d, nmp_metric metric)
{
    double dot = 0, aa = 0, bb = 0, l2 = 0;
    for (int64_t t = 0; t < d; t++) {
        dot += (double)a[t] * b[t], aa += (double)a[t] * a[t], bb += (double)b[t] * b[t];
        l2 += ((double)a[t] - b[t]) * ((double)a[t] - b[t]);
    }
    if (metric == NMP_METRIC_L2) return l2;
    if (metric == NMP_METRIC_IP) return -dot;
    return 1.0 - dot / sqrt(aa * bb);
}

/* exact on random data equals a naive double-precision search, for every metric. */
static void test_exact_vs_naive(void **state)
{
    (void)state;
    const int64_t n = 300, d = 10;
    const int32_t k = 7;
    float *x = random_matrix(n, d, 1);
    double *dist = malloc((size_t)n * sizeof *dist);
    for (int metric = 0; metric < 3; metric++) {
        nmp_graph g;
        assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, k, (nmp_metric)metric, &g, NULL, 0), NMP_OK);
        assert_graph(&g, n, k, NULL);
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < n; j++)
                dist[j] = j == i ? INFINITY : naive_distance(x + i * d, x + j * d, d, metric);
            for (int32_t e = 0; e < k; e++) {
                int64_t best = 0; /* the e-th nearest: smallest not yet taken */
                for (int64_t j = 1; j < n; j++) if (dist[j] < dist[best]) best = j;
                assert_int_equal(g.index[i * k + e], best);
                assert_true(fabs(g.dist[i * k + e] - dist[best]) < 1e-4 * fmax(1.0, fabs(dist[best])));
                dist[best] = INFINITY;
            }
        }
        test_graph_free(&g);
    }
    free(x), free(dist);
}

/* 400 points: 396 in 5 random cells, a cell of 3 (rows of 2) and a cell of 1 (empty row). */
static nmp_cells mixed_cells(int64_t n)
{
    int32_t *cell_of = malloc((size_t)n * sizeof *cell_of);
    for (int64_t i = 0; i < n; i++)
        cell_of[i] = i < n - 4 ? (int32_t)nmp_rng_below(3, 9, (uint64_t)i, 5) : (i < n - 1 ? 5 : 6);
    nmp_cells c = test_cells_make(cell_of, n, 7, NULL, 0);
    free(cell_of);
    return c;
}

/* The cell tests' set-up: 400 random points in d dimensions over mixed_cells. */
typedef struct {
    int64_t n, d;
    float *x;
    nmp_cells cells;
} cells_case;

static cells_case cells_case_make(int64_t d, uint64_t seed)
{
    cells_case c = {.n = 400, .d = d, .x = random_matrix(400, d, seed)};
    c.cells = mixed_cells(c.n);
    return c;
}

static void cells_case_free(cells_case *c)
{
    test_cells_free(&c->cells);
    free(c->x);
}

static void test_exact_cell_is_exact_within_cells(void **state)
{
    (void)state;
    cells_case cc = cells_case_make(24, 2);
    const int64_t n = cc.n, d = cc.d;
    const int32_t k = 8;
    const float *x = cc.x;
    const nmp_cells *cells = &cc.cells;
    nmp_graph all, per_cell, no_cells;
    assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, (int32_t)(n - 1), NMP_METRIC_L2, &all, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", NULL, 2, 1, x, n, d, cells, k, NMP_METRIC_L2, &per_cell, NULL, 0), NMP_OK);
    int64_t *want = malloc((size_t)n * sizeof *want);
    for (int64_t i = 0; i < n; i++) {
        int32_t c = cells->cell_of[i];
        int64_t size = cells->start[c + 1] - cells->start[c];
        want[i] = size - 1 < k ? size - 1 : k;
    }
    assert_graph(&per_cell, n, k, want);
    for (int64_t i = 0; i < n; i++) { /* the global order, filtered to the cell, cut at k */
        int64_t e = per_cell.offsets[i];
        for (int64_t f = all.offsets[i]; f < all.offsets[i + 1] && e < per_cell.offsets[i + 1]; f++) {
            if (cells->cell_of[all.index[f]] != cells->cell_of[i]) continue;
            assert_int_equal(per_cell.index[e], all.index[f]);
            assert_true(fabsf(per_cell.dist[e] - all.dist[f]) < 1e-4f);
            e++;
        }
        assert_int_equal(e, per_cell.offsets[i + 1]);
    }
    /* no partition: one cell of everything, the same graph as exact */
    nmp_graph ex;
    assert_int_equal(build("exact_cell", NULL, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &no_cells, NULL, 0), NMP_OK);
    assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &ex, NULL, 0), NMP_OK);
    assert_memory_equal(no_cells.index, ex.index, (size_t)(n * k) * sizeof(int32_t));
    test_graph_free(&all), test_graph_free(&per_cell), test_graph_free(&no_cells), test_graph_free(&ex);
    cells_case_free(&cc);
    free(want);
}

/* Fraction of exact neighbours that g found (rows of k). */
static double recall(const nmp_graph *g, const nmp_graph *exact, int64_t n, int32_t k)
{
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++)
        for (int32_t a = 0; a < k; a++)
            for (int32_t b = 0; b < k; b++) hit += g->index[i * k + a] == exact->index[i * k + b];
    return (double)hit / (double)(n * k);
}

/* The refine on pixel data (integers in [0, 255]) reads the rows as bytes: with every point a
 * candidate it must give the exact graph, ids and distances alike (ties included: both order
 * by distance, then id). One value off the byte grid (0.5 or 256) sends it the float way,
 * which must agree too. */
static void test_exact_cell_refine_bytes(void **state)
{
    (void)state;
    const int64_t n = 300, d = 40;
    const int32_t k = 8;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            double centre = 255.0 * nmp_rng_uniform(31, 1, (uint64_t)((i % 5) * d + j));
            double v = floor(centre + 40.0 * (nmp_rng_uniform(31, 2, (uint64_t)(i * d + j)) - 0.5));
            x[i * d + j] = (float)(v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : v);
        }
    static const char *const kv[] = {"pca=2", "refine=40", NULL};
    const float off_grid[2] = {0.5f, 256.0f};
    for (int t = 0; t < 3; t++) {
        if (t > 0) x[7 * d + 3] = off_grid[t - 1];
        nmp_graph ex, r;
        assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &ex, NULL, 0), NMP_OK);
        assert_int_equal(build("exact_cell", kv, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &r, NULL, 0), NMP_OK);
        assert_graph(&r, n, k, NULL);
        for (int64_t e = 0; e < n * k; e++) {
            const int64_t i = e / k;
            assert_int_equal(r.index[e], ex.index[e]);
            const double want = naive_distance(x + i * d, x + (int64_t)r.index[e] * d, d, NMP_METRIC_L2);
            assert_true(r.dist[e] == (float)want); /* exact: every sum here is an integer below 2^24 */
        }
        test_graph_free(&ex), test_graph_free(&r);
    }
    free(x);
}

/* exact_cell's projected search: data on a 3-d subspace of 24-d keep their distances in 3
 * principal components, so pca = 3 finds the exact graph; pca = 1 alone does not, and
 * refine with every point a candidate brings it back to exact, input-space distances too. */
static void test_exact_cell_pca_refine(void **state)
{
    (void)state;
    const int64_t n = 400, d = 24;
    const int32_t k = 6;
    float *basis = random_matrix(3, d, 21), *coef = random_matrix(n, 3, 22), *x = calloc((size_t)(n * d), sizeof *x);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            for (int c = 0; c < 3; c++) x[i * d + j] += coef[i * 3 + c] * basis[c * d + j];
    nmp_graph ex, p3, p1, p1r;
    assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &ex, NULL, 0), NMP_OK);
    static const char *const kv3[] = {"pca=3", "refine=0", NULL}, *const kv1[] = {"pca=1", "refine=0", NULL},
                             *const kv1r[] = {"pca=1", "refine=100", NULL}, *const kvip[] = {"pca=3", NULL};
    assert_int_equal(build("exact_cell", kv3, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &p3, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", kv1, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &p1, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", kv1r, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &p1r, NULL, 0), NMP_OK);
    assert_graph(&p3, n, k, NULL), assert_graph(&p1, n, k, NULL), assert_graph(&p1r, n, k, NULL);
    assert_true(recall(&p3, &ex, n, k) > 0.99);
    assert_true(recall(&p1, &ex, n, k) < 0.9);
    assert_true(recall(&p1r, &ex, n, k) > 0.99);
    for (int64_t e = 0; e < n * k; e++) /* refined distances are the input space's */
        assert_float_equal(p1r.dist[e], ex.dist[e], 1e-3 * (1.0 + ex.dist[e]));
    nmp_graph bad;
    char error[512];
    assert_int_equal(build("exact_cell", kvip, 1, 1, x, n, d, NULL, k, NMP_METRIC_IP, &bad, error, sizeof error),
                     NMP_ERR_INVALID);
    assert_non_null(strstr(error, "l2 only"));
    test_graph_free(&ex), test_graph_free(&p3), test_graph_free(&p1), test_graph_free(&p1r);
    free(basis), free(coef), free(x);
}

/* exact_cell's inverted lists: probing every list is the exact search; probing 2 of 8 keeps
 * much of it on uniform data (no cluster to hide the lists' borders), 4 of 8 more, the same graph whatever the thread count, and with the refine
 * pass (whose visiting order the lists set) too; list_size sets the lists from the group's size;
 * tiny cells are searched whole; ip refused;
 * scope=global searches across cells. */
static void test_exact_cell_lists(void **state)
{
    (void)state;
    const int64_t n = 3000, d = 16;
    const int32_t k = 12;
    float *x = random_matrix(n, d, 31);
    nmp_graph ex, all, two, two1, ref, refl;
    static const char *const kv_all[] = {"lists=8", "probe=8", NULL}, *const kv_two[] = {"lists=8", "probe=2", NULL},
                             *const kv_ref[] = {"pca=8", "refine=3", NULL},
                             *const kv_refl[] = {"pca=8", "refine=3", "lists=8", "probe=8", NULL};
    assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &ex, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", kv_all, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &all, NULL, 0), NMP_OK);
    assert_graph(&all, n, k, NULL);
    assert_memory_equal(all.index, ex.index, (size_t)(n * k) * sizeof(int32_t));
    for (int64_t e = 0; e < n * k; e++) assert_float_equal(all.dist[e], ex.dist[e], 1e-4 * (1.0 + ex.dist[e]));
    assert_int_equal(build("exact_cell", kv_two, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &two, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", kv_two, 1, 1, x, n, d, NULL, k, NMP_METRIC_L2, &two1, NULL, 0), NMP_OK);
    assert_graph(&two, n, k, NULL);
    double r = recall(&two, &ex, n, k);
    print_message("exact_cell lists=8 probe=2 recall@%d on %lld x %lld uniform: %.4f\n", k, (long long)n,
                  (long long)d, r);
    assert_true(r >= 0.6 && r < 1.0);
    static const char *const kv_four[] = {"lists=8", "probe=4", NULL};
    nmp_graph four;
    assert_int_equal(build("exact_cell", kv_four, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &four, NULL, 0), NMP_OK);
    assert_true(recall(&four, &ex, n, k) > r + 0.1);
    test_graph_free(&four);
    /* list_size: 3,000 points in lists of 375 are 8 lists whatever `lists` asks below that,
     * and a list_size above the group's share changes nothing */
    static const char *const kv_size[] = {"lists=2", "list_size=375", "probe=2", NULL},
                             *const kv_big[] = {"lists=8", "list_size=3000", "probe=2", NULL};
    nmp_graph sized, big;
    assert_int_equal(build("exact_cell", kv_size, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &sized, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", kv_big, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &big, NULL, 0), NMP_OK);
    assert_memory_equal(sized.index, two.index, (size_t)(n * k) * sizeof(int32_t));
    assert_memory_equal(big.index, two.index, (size_t)(n * k) * sizeof(int32_t));
    test_graph_free(&sized), test_graph_free(&big);
    assert_memory_equal(two.index, two1.index, (size_t)(n * k) * sizeof(int32_t));
    assert_memory_equal(two.dist, two1.dist, (size_t)(n * k) * sizeof(float));
    assert_int_equal(build("exact_cell", kv_ref, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &ref, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", kv_refl, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &refl, NULL, 0), NMP_OK);
    assert_memory_equal(ref.index, refl.index, (size_t)(n * k) * sizeof(int32_t));
    test_graph_free(&ex), test_graph_free(&all), test_graph_free(&two), test_graph_free(&two1);
    test_graph_free(&ref), test_graph_free(&refl);
    free(x);
    /* cells: the big ones split into lists, the cells of 3 and 1 searched whole */
    const int64_t m = 400;
    float *y = random_matrix(m, d, 4);
    nmp_cells cells = mixed_cells(m);
    nmp_graph pc, pl, bad, pg, pe;
    static const char *const kv_cells[] = {"lists=4", "probe=4", NULL}, *const kv_global[] = {"scope=global", NULL};
    assert_int_equal(build("exact_cell", NULL, 2, 1, y, m, d, &cells, 6, NMP_METRIC_L2, &pc, NULL, 0), NMP_OK);
    assert_int_equal(build("exact_cell", kv_cells, 2, 1, y, m, d, &cells, 6, NMP_METRIC_L2, &pl, NULL, 0), NMP_OK);
    assert_memory_equal(pc.offsets, pl.offsets, (size_t)(m + 1) * sizeof(int64_t));
    assert_memory_equal(pc.index, pl.index, (size_t)pc.offsets[m] * sizeof(int32_t));
    /* scope=global: the cells are ignored, the graph is exact's */
    assert_int_equal(build("exact_cell", kv_global, 2, 1, y, m, d, &cells, 6, NMP_METRIC_L2, &pg, NULL, 0), NMP_OK);
    assert_int_equal(build("exact", NULL, 2, 1, y, m, d, NULL, 6, NMP_METRIC_L2, &pe, NULL, 0), NMP_OK);
    assert_graph(&pg, m, 6, NULL);
    assert_memory_equal(pg.index, pe.index, (size_t)(m * 6) * sizeof(int32_t));
    test_graph_free(&pg), test_graph_free(&pe);
    char error[512];
    assert_int_equal(build("exact_cell", kv_two, 1, 1, y, m, d, NULL, 6, NMP_METRIC_IP, &bad, error, sizeof error),
                     NMP_ERR_INVALID);
    assert_non_null(strstr(error, "lists = 8 works with ann.metric l2 only"));
    test_graph_free(&pc), test_graph_free(&pl);
    test_cells_free(&cells);
    free(y);
}

static void test_nndescent_recall_and_determinism(void **state)
{
    (void)state;
    const int64_t n = 5000, d = 32;
    const int32_t k = 10;
    float *x = test_blobs(n, d, 10, 7, NULL);
    nmp_graph ex, a, b, c;
    assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &ex, NULL, 0), NMP_OK);
    assert_int_equal(build("nndescent", NULL, 2, 5, x, n, d, NULL, k, NMP_METRIC_L2, &a, NULL, 0), NMP_OK);
    assert_graph(&a, n, k, NULL);
    double r = recall(&a, &ex, n, k);
    print_message("nndescent recall@%d on %lld x %lld blobs: %.4f\n", k, (long long)n, (long long)d, r);
    assert_true(r >= 0.9);
    /* same seed: the same graph, whatever the thread count */
    assert_int_equal(build("nndescent", NULL, 1, 5, x, n, d, NULL, k, NMP_METRIC_L2, &b, NULL, 0), NMP_OK);
    assert_memory_equal(a.index, b.index, (size_t)(n * k) * sizeof(int32_t));
    assert_memory_equal(a.dist, b.dist, (size_t)(n * k) * sizeof(float));
    assert_int_equal(build("nndescent", NULL, 2, 6, x, n, d, NULL, k, NMP_METRIC_L2, &c, NULL, 0), NMP_OK);
    assert_graph(&c, n, k, NULL);
    test_graph_free(&ex), test_graph_free(&a), test_graph_free(&b), test_graph_free(&c);
    free(x);
}

/* Per cell: rows stay inside their cell (tiny cells exact); scope=global ignores cells. */
static void test_nndescent_cells_and_scope(void **state)
{
    (void)state;
    cells_case cc = cells_case_make(8, 3);
    const int64_t n = cc.n, d = cc.d;
    const int32_t k = 6;
    const float *x = cc.x;
    const nmp_cells *cells = &cc.cells;
    nmp_graph ec, nc, ng, ex;
    assert_int_equal(build("exact_cell", NULL, 2, 1, x, n, d, cells, k, NMP_METRIC_COSINE, &ec, NULL, 0), NMP_OK);
    assert_int_equal(build("nndescent", NULL, 2, 1, x, n, d, cells, k, NMP_METRIC_COSINE, &nc, NULL, 0), NMP_OK);
    assert_memory_equal(ec.offsets, nc.offsets, (size_t)(n + 1) * sizeof(int64_t));
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = nc.offsets[i]; e < nc.offsets[i + 1]; e++) {
            assert_int_equal(cells->cell_of[nc.index[e]], cells->cell_of[i]);
            for (int64_t f = ec.offsets[i]; f < ec.offsets[i + 1]; f++) hit += ec.index[f] == nc.index[e];
        }
    assert_true((double)hit >= 0.95 * (double)nc.offsets[n]);
    const char *global[] = {"scope=global", NULL};
    assert_int_equal(build("nndescent", global, 2, 1, x, n, d, cells, k, NMP_METRIC_L2, &ng, NULL, 0), NMP_OK);
    assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &ex, NULL, 0), NMP_OK);
    assert_graph(&ng, n, k, NULL);
    assert_true(recall(&ng, &ex, n, k) >= 0.95);
    test_graph_free(&ec), test_graph_free(&nc), test_graph_free(&ng), test_graph_free(&ex);
    cells_case_free(&cc);
}

/* ------------------------------------------------------------------ precomputed */

static char tmp_dir[256];

static void tmp_path(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", tmp_dir, name); }

/* Writes a version-1 .npy of rows x cols values of `descr` ("<i8", "<f4", ...). */
static void write_npy(const char *path, const char *descr, int64_t rows, int64_t cols, const void *data)
{
    char dict[128];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }", descr,
                       (long long)rows, (long long)cols);
    int pad = 64 - (10 + len + 1) % 64;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned short hlen = (unsigned short)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hlen, 2, 1, f);
    fwrite(dict, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(data, (size_t)(descr[2] - '0'), (size_t)(rows * cols), f);
    fclose(f);
}

/* Round trip: exact's graph written with K = k + 2 columns, read back with k. */
static void test_precomputed_round_trip(void **state)
{
    (void)state;
    const int64_t n = 200, d = 6;
    const int32_t k = 5, K = 7;
    float *x = random_matrix(n, d, 4);
    nmp_graph ex, g, r;
    assert_int_equal(build("exact", NULL, 2, 1, x, n, d, NULL, K, NMP_METRIC_L2, &ex, NULL, 0), NMP_OK);
    int64_t *idx = malloc((size_t)(n * K) * sizeof *idx);
    double *dist = malloc((size_t)(n * K) * sizeof *dist);
    for (int64_t e = 0; e < n * K; e++) idx[e] = ex.index[e], dist[e] = ex.dist[e];
    char pi[512], pd[512], a0[600], a1[600];
    tmp_path(pi, sizeof pi, "idx.npy"), tmp_path(pd, sizeof pd, "dist.npy");
    write_npy(pi, "<i8", n, K, idx), write_npy(pd, "<f8", n, K, dist);
    snprintf(a0, sizeof a0, "indices=%s", pi), snprintf(a1, sizeof a1, "distances=%s", pd);
    const char *both[] = {a0, a1, NULL}, *only[] = {a0, NULL};
    assert_int_equal(build("precomputed", both, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &g, NULL, 0), NMP_OK);
    assert_graph(&g, n, k, NULL);
    assert_int_equal(build("precomputed", only, 2, 1, x, n, d, NULL, k, NMP_METRIC_L2, &r, NULL, 0), NMP_OK);
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < k; j++) {
            assert_int_equal(g.index[i * k + j], ex.index[i * K + j]);
            assert_true(g.dist[i * k + j] == ex.dist[i * K + j]);
            assert_int_equal(r.index[i * k + j], ex.index[i * K + j]);
            assert_true(r.dist[i * k + j] == (float)(j + 1)); /* no distances: ranks */
        }
    test_graph_free(&ex), test_graph_free(&g), test_graph_free(&r);
    free(x), free(idx), free(dist);
}

/* Writes an int32 (rows x cols) index file where entry (i, j) = (i + j + 1) % n, then
 * applies one defect; builds with k = 3 and checks the status and that the error names the
 * file and says `why`. */
static void check_error(const char *name, int64_t rows, int64_t cols, int defect, nmp_status want, const char *why)
{
    const int64_t n = 20, d = 2;
    float *x = random_matrix(n, d, 5);
    int32_t *idx = malloc((size_t)(rows * cols) * sizeof *idx);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) idx[i * cols + j] = (int32_t)((i + j + 1) % n);
    if (defect == 1) idx[5 * cols + 1] = (int32_t)n;  /* out of range */
    if (defect == 2) idx[7 * cols + 2] = 7;           /* self */
    char path[512], arg[600], error[2048];
    tmp_path(path, sizeof path, name);
    if (defect != 3) write_npy(path, defect == 4 ? "<f4" : "<i4", rows, cols, idx); /* 3: missing; 4: floats */
    snprintf(arg, sizeof arg, "indices=%s", path);
    const char *kv[] = {arg, NULL};
    nmp_graph g;
    assert_int_equal(build("precomputed", kv, 1, 1, x, n, d, NULL, 3, NMP_METRIC_L2, &g, error, sizeof error), want);
    assert_null(g.offsets); /* nothing left allocated on failure */
    assert_non_null(strstr(error, path));
    if (!strstr(error, why)) fail_msg("error \"%s\" does not say \"%s\"", error, why);
    free(x), free(idx);
}

static void test_precomputed_errors(void **state)
{
    (void)state;
    check_error("missing.npy", 20, 4, 3, NMP_ERR_IO, "cannot open");
    check_error("rows.npy", 21, 4, 0, NMP_ERR_INVALID, "rows");
    check_error("narrow.npy", 20, 2, 0, NMP_ERR_INVALID, "columns");
    check_error("range.npy", 20, 4, 1, NMP_ERR_INVALID, "out of range");
    check_error("self.npy", 20, 4, 2, NMP_ERR_INVALID, "itself");
    check_error("float.npy", 20, 4, 4, NMP_ERR_INVALID, "expected dtype");
    nmp_host *h = test_host_new(1, 1);
    test_instance t;
    assert_int_equal(test_plugin_try_create(h, NMP_KIND_ANN, "precomputed", NULL, &t), NMP_ERR_INVALID);
    assert_null(t.state);
    assert_non_null(strstr(test_host_error(h), "indices"));
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* Rows whose distances are out of order come back sorted, ids moving with them. */
static void test_precomputed_sorts_rows(void **state)
{
    (void)state;
    const int64_t n = 4;
    int32_t idx[4 * 3] = {1, 2, 3, 2, 3, 0, 3, 0, 1, 0, 1, 2};
    float dist[4 * 3] = {3, 1, 2, 1, 2, 3, 5, 5, 4, 0, 0, 0};
    float x[4] = {0};
    char pi[512], pd[512], a0[600], a1[600];
    tmp_path(pi, sizeof pi, "sort_idx.npy"), tmp_path(pd, sizeof pd, "sort_dist.npy");
    write_npy(pi, "<i4", n, 3, idx), write_npy(pd, "<f4", n, 3, dist);
    snprintf(a0, sizeof a0, "indices=%s", pi), snprintf(a1, sizeof a1, "distances=%s", pd);
    const char *kv[] = {a0, a1, NULL};
    nmp_graph g;
    assert_int_equal(build("precomputed", kv, 1, 1, x, n, 1, NULL, 3, NMP_METRIC_L2, &g, NULL, 0), NMP_OK);
    assert_graph(&g, n, 3, NULL);
    int32_t want[12] = {2, 3, 1, 2, 3, 0, 1, 0, 3, 0, 1, 2};
    assert_memory_equal(g.index, want, sizeof want);
    test_graph_free(&g);
}

static int make_tmp(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/nomad_test_ann_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_vs_naive),
        cmocka_unit_test(test_exact_cell_pca_refine),
        cmocka_unit_test(test_exact_cell_refine_bytes),
        cmocka_unit_test(test_exact_cell_is_exact_within_cells),
        cmocka_unit_test(test_exact_cell_lists),
        cmocka_unit_test(test_nndescent_recall_and_determinism),
        cmocka_unit_test(test_nndescent_cells_and_scope),
        cmocka_unit_test(test_precomputed_round_trip),
        cmocka_unit_test(test_precomputed_errors),
        cmocka_unit_test(test_precomputed_sorts_rows),
    };
    return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
