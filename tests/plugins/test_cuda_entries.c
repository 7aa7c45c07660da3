/* The CUDA entries (extension NMP_EXT_CUDA) of kmeans, exact_cell, rank_exp, binary and pca
 * against the same plugins' CPU ops, on the same small generated inputs.
 *
 * Tolerances (CPU ops vs CUDA entry):
 *   kmeans      cells, empty cells and iterations equal; cell_of equal except near ties (a
 *               point placed differently is within KM_TIE relative of equally far, in
 *               double, from the two CPU centroids); centroids within KM_CENTROID x the
 *               largest abs coordinate. tol = 0 makes both run max_iter iterations, so a
 *               stop one iteration apart cannot pass for a difference.
 *   exact_cell  same row lengths; sorted distances within KNN_TOL x max(1, |k-th distance|);
 *               a neighbour in one list only lies within that of the k-th distance (a tie).
 *   rank_exp, binary   offsets, index and weight bit for bit.
 *   pca         each layout column equal up to its sign within PCA_TOL x the largest abs value.
 *
 * Built without NOMAD_CUDA, or with no usable GPU, it checks what needs no device (which
 * plugins have a CUDA entry; exact_cell's refusals of what the GPU top-k cannot keep) and
 * exits 77. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/rng.h"
#include "test_host.h"
#ifdef NOMAD_CUDA
#include "cuda_check.h"
#endif

#define KM_TIE 1e-4
#define KM_CENTROID 1e-5
#define KNN_TOL 1e-4
#define PCA_TOL 1e-4

static const struct {
    nmp_kind kind;
    const char *name;
} WITH_ENTRY[] = {
    {NMP_KIND_PARTITIONER, "kmeans"}, {NMP_KIND_ANN, "exact_cell"}, {NMP_KIND_AFFINITY, "rank_exp"},
    {NMP_KIND_AFFINITY, "binary"},    {NMP_KIND_INIT, "pca"},
};

/* The plugin's CUDA entry, found by name as the host finds it, or NULL. */
static const void *cuda_entry(const nmp_plugin *p) { return p->extension ? p->extension(NMP_EXT_CUDA) : NULL; }

/* ------------------------------------------------------------------ without a GPU */

#ifdef NOMAD_CUDA
/* The CUDA entry of these kinds is the kind's own ops struct, call included. */
static void assert_entry_ops(nmp_kind kind, const void *ops)
{
    switch (kind) {
    case NMP_KIND_PARTITIONER:
        assert_int_equal(((const nmp_partitioner_ops *)ops)->struct_size, sizeof(nmp_partitioner_ops));
        assert_non_null(((const nmp_partitioner_ops *)ops)->partition);
        break;
    case NMP_KIND_ANN:
        assert_int_equal(((const nmp_ann_ops *)ops)->struct_size, sizeof(nmp_ann_ops));
        assert_non_null(((const nmp_ann_ops *)ops)->build);
        break;
    case NMP_KIND_AFFINITY:
        assert_int_equal(((const nmp_affinity_ops *)ops)->struct_size, sizeof(nmp_affinity_ops));
        assert_non_null(((const nmp_affinity_ops *)ops)->weigh);
        break;
    case NMP_KIND_INIT:
        assert_int_equal(((const nmp_init_ops *)ops)->struct_size, sizeof(nmp_init_ops));
        assert_non_null(((const nmp_init_ops *)ops)->init);
        break;
    default:
        fail_msg("kind %d has no CUDA entry of its own ops type", (int)kind);
    }
}
#endif

/* Graph stages without an entry of their own: on device: cuda the host runs their CPU ops, so
 * they must not offer those as a CUDA entry (ABI 2 refuses that aliasing). */
static const struct {
    nmp_kind kind;
    const char *name;
} WITHOUT_ENTRY[] = {
    {NMP_KIND_PARTITIONER, "single"}, {NMP_KIND_PARTITIONER, "random"}, {NMP_KIND_INIT, "random"},
    {NMP_KIND_ANN, "nndescent"},
};

static void test_which_plugins_have_an_entry(void **unused)
{
    for (size_t i = 0; i < sizeof WITH_ENTRY / sizeof *WITH_ENTRY; i++) {
        const nmp_plugin *p = test_plugin_find(WITH_ENTRY[i].kind, WITH_ENTRY[i].name);
#ifdef NOMAD_CUDA
        const void *entry = cuda_entry(p);
        if (!entry) fail_msg("%s: no CUDA entry in a NOMAD_CUDA build", p->name);
        assert_ptr_not_equal(entry, p->ops);
        assert_ptr_equal(cuda_entry(p), entry); /* the same data on every call */
        assert_entry_ops(p->kind, entry);
        assert_null(p->extension("nomad.no_such_extension"));
#else
        assert_null(cuda_entry(p));
#endif
    }
    for (size_t i = 0; i < sizeof WITHOUT_ENTRY / sizeof *WITHOUT_ENTRY; i++)
        assert_null(cuda_entry(test_plugin_find(WITHOUT_ENTRY[i].kind, WITHOUT_ENTRY[i].name)));
}

/* Everything below calls the CUDA entries, which only NOMAD_CUDA builds have. */
#ifdef NOMAD_CUDA
static nmp_status cuda_build(nmp_host *h, const char *const *kv, const nmp_matrix *x, const nmp_cells *cells, int32_t k,
                             nmp_graph *g)
{
    test_instance t = test_plugin_create(h, NMP_KIND_ANN, "exact_cell", kv);
    memset(g, 0, sizeof *g);
    nmp_status s = ((const nmp_ann_ops *)cuda_entry(t.plugin))->build(t.state, x, cells, k, NMP_METRIC_L2, g);
    test_plugin_destroy(&t);
    return s;
}

/* The GPU top-k keeps at most 128 per point: exact_cell refuses more, naming the parameter,
 * before it touches the device. */
static void test_exact_cell_refuses_what_the_gpu_cannot_keep(void **unused)
{
    enum { N = 300, D = 16 };
    float *x = test_blobs(N, D, 3, 7, NULL);
    nmp_matrix m = {N, D, x};
    nmp_host *h = test_host_new(2, 1);
    nmp_graph g;
    assert_int_equal(cuda_build(h, NULL, &m, NULL, 129, &g), NMP_ERR_UNSUPPORTED);
    assert_non_null(strstr(test_host_error(h), "ann.k"));
    const char *kv[] = {"pca=4", "refine=20", NULL};
    assert_int_equal(cuda_build(h, kv, &m, NULL, 10, &g), NMP_ERR_UNSUPPORTED);
    assert_non_null(strstr(test_host_error(h), "ann.refine"));
    test_host_free(h);
    free(x);
}

/* ------------------------------------------------------------------ kmeans */

typedef struct {
    nmp_status status;
    nmp_partition part;
} km_result;

static km_result km_run_entry(nmp_host *h, const test_instance *t, const void *ops, const nmp_matrix *x, int32_t cells)
{
    km_result r = {.part = {.cells = cells}};
    r.part.cell_of = malloc((size_t)x->n * sizeof *r.part.cell_of);
    r.part.centroids = malloc((size_t)cells * (size_t)x->d * sizeof *r.part.centroids);
    r.status = ((const nmp_partitioner_ops *)ops)->partition(t->state, x, &r.part);
    if (r.status != NMP_OK) fail_msg("%s: %s", t->plugin->name, test_host_error(h));
    return r;
}

static double dist2_double(const float *a, const float *b, int64_t d)
{
    double s = 0.0;
    for (int64_t j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

static void assert_same_partition(const nmp_matrix *x, const km_result *cpu, const km_result *gpu)
{
    assert_int_equal(cpu->part.cells, gpu->part.cells);
    assert_int_equal(cpu->part.empty_cells, gpu->part.empty_cells);
    assert_int_equal(cpu->part.iterations, gpu->part.iterations);
    int64_t d = x->d, cells = cpu->part.cells, moved = 0;
    for (int64_t i = 0; i < x->n; i++) {
        int32_t a = cpu->part.cell_of[i], b = gpu->part.cell_of[i];
        if (a == b) continue;
        assert_true(b >= 0 && b < cells);
        double da = dist2_double(x->x + i * d, cpu->part.centroids + a * d, d);
        double db = dist2_double(x->x + i * d, cpu->part.centroids + (int64_t)b * d, d);
        if (fabs(da - db) > KM_TIE * fmax(fmax(da, db), 1e-30))
            fail_msg("point %lld: cell %d (cpu, %.9g) vs %d (cuda, %.9g) is no tie", (long long)i, a, da, b, db);
        moved++;
    }
    double big = 0.0;
    for (int64_t v = 0; v < cells * d; v++) big = fmax(big, fabs(cpu->part.centroids[v]));
    for (int64_t v = 0; v < cells * d; v++)
        if (fabs(cpu->part.centroids[v] - gpu->part.centroids[v]) > KM_CENTROID * big)
            fail_msg("centroid value %lld: %.9g (cpu) vs %.9g (cuda)", (long long)v, cpu->part.centroids[v],
                     gpu->part.centroids[v]);
    if (moved) printf("kmeans: %lld near-tie points placed differently\n", (long long)moved);
}

static void check_kmeans(const nmp_matrix *x, int32_t cells, const char *const *kv)
{
    nmp_host *h = test_host_new(2, 5);
    test_instance t = test_plugin_create(h, NMP_KIND_PARTITIONER, "kmeans", kv);
    km_result cpu = km_run_entry(h, &t, t.plugin->ops, x, cells);
    km_result gpu = km_run_entry(h, &t, cuda_entry(t.plugin), x, cells);
    assert_same_partition(x, &cpu, &gpu);
    test_plugin_destroy(&t);
    test_host_free(h);
    free(cpu.part.cell_of), free(cpu.part.centroids), free(gpu.part.cell_of), free(gpu.part.centroids);
}

/* Lloyd on every point (one upload) and on a sample (the sample, then every point). One cell
 * per well-separated blob: no point is near a tie, so one point placed differently by
 * rounding cannot move a centroid past the tolerance (the kernel's own test covers ties). */
static void test_kmeans_blobs(void **unused)
{
    enum { N = 4000, D = 24, BLOBS = 6 };
    float *x = test_blobs(N, D, BLOBS, 3, NULL);
    nmp_matrix m = {N, D, x};
    const char *all[] = {"tol=0", "max_iter=25", "seeding=kmeans++", NULL};
    const char *sampled[] = {"tol=0", "max_iter=25", "sample=1000", "seeding=kmeans++", NULL};
    check_kmeans(&m, BLOBS, all);
    check_kmeans(&m, BLOBS, sampled);
    free(x);
}

/* 10 distinct rows, 30 copies each, 20 random seeds: some seeds coincide and leave cells empty,
 * so reseeding (the device's assignment replaced) and dropping both run. */
static void test_kmeans_empty_cells(void **unused)
{
    enum { N = 300, D = 4, DISTINCT = 10 };
    float *x = malloc(N * D * sizeof *x);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)(int)(100.0 * nmp_rng_uniform(11, 3, (uint64_t)((i % DISTINCT) * D + j)));
    nmp_matrix m = {N, D, x};
    const char *reseed[] = {"tol=0", "max_iter=10", "seeding=random", NULL};
    const char *drop[] = {"tol=0", "max_iter=10", "seeding=random", "empty=drop", NULL};
    check_kmeans(&m, 20, reseed);
    check_kmeans(&m, 20, drop);
    free(x);
}

/* ------------------------------------------------------------------ exact_cell */

static nmp_graph knn_entry(nmp_host *h, const test_instance *t, const void *ops, const nmp_matrix *x,
                           const nmp_cells *cells, int32_t k, nmp_metric metric)
{
    nmp_graph g;
    memset(&g, 0, sizeof g);
    nmp_status s = ((const nmp_ann_ops *)ops)->build(t->state, x, cells, k, metric, &g);
    if (s != NMP_OK) fail_msg("exact_cell: %s", test_host_error(h));
    return g;
}

static int row_has(const int32_t *ids, int64_t len, int32_t id)
{
    for (int64_t j = 0; j < len; j++)
        if (ids[j] == id) return 1;
    return 0;
}

/* Ids of a's row i missing from b's row lie at a's k-th distance (ties). */
static void assert_only_ties_differ(const nmp_graph *a, const nmp_graph *b, int64_t i, double tol)
{
    int64_t at = a->offsets[i], len = a->offsets[i + 1] - at;
    float kth = a->dist[at + len - 1];
    for (int64_t j = 0; j < len; j++)
        if (!row_has(b->index + b->offsets[i], len, a->index[at + j]) && a->dist[at + j] < kth - tol)
            fail_msg("row %lld: neighbour %d at %.9g (k-th %.9g) is in one list only", (long long)i, a->index[at + j],
                     a->dist[at + j], kth);
}

static void assert_same_knn(const nmp_graph *cpu, const nmp_graph *gpu)
{
    assert_int_equal(cpu->n, gpu->n);
    assert_memory_equal(cpu->offsets, gpu->offsets, (size_t)(cpu->n + 1) * sizeof *cpu->offsets);
    for (int64_t i = 0; i < cpu->n; i++) {
        int64_t at = cpu->offsets[i], len = cpu->offsets[i + 1] - at;
        if (len == 0) continue;
        double tol = KNN_TOL * fmax(1.0, fabs(cpu->dist[at + len - 1]));
        for (int64_t j = 0; j < len; j++)
            if (fabs(cpu->dist[at + j] - gpu->dist[at + j]) > tol)
                fail_msg("row %lld, rank %lld: distance %.9g (cpu) vs %.9g (cuda)", (long long)i, (long long)j,
                         cpu->dist[at + j], gpu->dist[at + j]);
        assert_only_ties_differ(cpu, gpu, i, tol);
        assert_only_ties_differ(gpu, cpu, i, tol);
    }
}

static void check_exact_cell(const nmp_matrix *x, const nmp_cells *cells, int32_t k, nmp_metric metric,
                             const char *const *kv)
{
    nmp_host *h = test_host_new(2, 9);
    test_instance t = test_plugin_create(h, NMP_KIND_ANN, "exact_cell", kv);
    nmp_graph cpu = knn_entry(h, &t, t.plugin->ops, x, cells, k, metric);
    nmp_graph gpu = knn_entry(h, &t, cuda_entry(t.plugin), x, cells, k, metric);
    assert_same_knn(&cpu, &gpu);
    test_graph_free(&cpu), test_graph_free(&gpu);
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* Cells with interleaved members (gathered rows), every metric, the GEMM (d = 32) and the
 * direct (d = 6) distance paths, one global group in several query blocks. */
static void test_exact_cell_search(void **unused)
{
    enum { N = 3000, BLOBS = 5 };
    int32_t *labels;
    for (int64_t d = 6; d <= 32; d += 26) {
        float *x = test_blobs(N, d, BLOBS, 4, &labels);
        nmp_matrix m = {N, d, x};
        nmp_cells cells = test_cells_make(labels, N, BLOBS, NULL, d);
        for (int metric = 0; metric < 3; metric++) check_exact_cell(&m, &cells, 12, (nmp_metric)metric, NULL);
        const char *blocks[] = {"query_block=700", NULL};
        check_exact_cell(&m, NULL, 10, NMP_METRIC_L2, blocks);
        test_cells_free(&cells);
        free(x), free(labels);
    }
}

/* Search in 4 principal components of 5 blobs (a wide gap to the 5th, so both devices find the
 * same subspace), with and without the refine pass. */
static void test_exact_cell_pca(void **unused)
{
    enum { N = 3000, D = 32, BLOBS = 5 };
    int32_t *labels;
    float *x = test_blobs(N, D, BLOBS, 6, &labels);
    nmp_matrix m = {N, D, x};
    for (int64_t i = 0; i < N; i++) labels[i] %= 2; /* two cells, each with points of every blob */
    nmp_cells cells = test_cells_make(labels, N, 2, NULL, D);
    const char *refine[] = {"pca=4", "refine=3", NULL};
    const char *projected[] = {"pca=4", "refine=1", NULL};
    check_exact_cell(&m, &cells, 10, NMP_METRIC_L2, refine);
    check_exact_cell(&m, &cells, 10, NMP_METRIC_L2, projected);
    test_cells_free(&cells);
    free(x), free(labels);
}

/* ------------------------------------------------------------------ affinity */

/* A kNN-shaped graph: rows of 0..15 distinct neighbours (no self), increasing distances. */
static nmp_graph knn_like(int64_t n, uint64_t seed)
{
    nmp_graph g = {.n = n};
    g.offsets = malloc((size_t)(n + 1) * sizeof *g.offsets);
    g.offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) g.offsets[i + 1] = g.offsets[i] + (int64_t)nmp_rng_below(seed, 1, (uint64_t)i, 16);
    int64_t nnz = g.offsets[n];
    g.index = malloc((size_t)(nnz ? nnz : 1) * sizeof *g.index);
    g.dist = malloc((size_t)(nnz ? nnz : 1) * sizeof *g.dist);
    for (int64_t i = 0; i < n; i++) {
        float dist = 0.0f;
        for (int64_t e = g.offsets[i]; e < g.offsets[i + 1]; e++) {
            int32_t j;
            uint64_t c = (uint64_t)e;
            do j = (int32_t)nmp_rng_below(seed, 2, c++ * 7919, (uint64_t)n);
            while (j == i || row_has(g.index + g.offsets[i], e - g.offsets[i], j));
            g.index[e] = j;
            dist += (float)nmp_rng_uniform(seed, 3, (uint64_t)e);
            g.dist[e] = dist;
        }
    }
    return g;
}

static nmp_graph weigh_entry(nmp_host *h, const test_instance *t, const void *ops, const nmp_graph *knn)
{
    nmp_graph out;
    memset(&out, 0, sizeof out);
    if (((const nmp_affinity_ops *)ops)->weigh(t->state, knn, &out) != NMP_OK)
        fail_msg("%s: %s", t->plugin->name, test_host_error(h));
    return out;
}

static void check_affinity(const char *name, const char *const *kv, const nmp_graph *knn)
{
    nmp_host *h = test_host_new(3, 2);
    test_instance t = test_plugin_create(h, NMP_KIND_AFFINITY, name, kv);
    nmp_graph cpu = weigh_entry(h, &t, t.plugin->ops, knn), gpu = weigh_entry(h, &t, cuda_entry(t.plugin), knn);
    assert_int_equal(cpu.n, gpu.n);
    assert_memory_equal(cpu.offsets, gpu.offsets, (size_t)(cpu.n + 1) * sizeof *cpu.offsets);
    size_t nnz = (size_t)cpu.offsets[cpu.n];
    if (nnz) {
        assert_memory_equal(cpu.index, gpu.index, nnz * sizeof *cpu.index);
        assert_memory_equal(cpu.weight, gpu.weight, nnz * sizeof *cpu.weight);
    }
    test_graph_free(&cpu), test_graph_free(&gpu);
    test_plugin_destroy(&t);
    test_host_free(h);
}

static void test_affinity_bit_for_bit(void **unused)
{
    nmp_graph knn = knn_like(700, 13);
    const char *t1[] = {"temperature=1.0", NULL}, *t0[] = {"temperature=0", NULL}, *t3[] = {"temperature=3.5", NULL};
    check_affinity("rank_exp", t1, &knn);
    check_affinity("rank_exp", t0, &knn);
    check_affinity("rank_exp", t3, &knn);
    static const char *const sym[] = {"none", "max", "mean"}, *const norm[] = {"rows", "global", "none"};
    char s_kv[64], n_kv[64];
    for (int s = 0; s < 3; s++)
        for (int q = 0; q < 3; q++) {
            snprintf(s_kv, sizeof s_kv, "symmetrize=%s", sym[s]);
            snprintf(n_kv, sizeof n_kv, "normalize=%s", norm[q]);
            const char *kv[] = {s_kv, n_kv, NULL};
            check_affinity("binary", kv, &knn);
        }
    test_graph_free(&knn);
}

/* ------------------------------------------------------------------ pca */

static double gaussian(uint64_t seed, uint64_t i)
{
    double u1 = nmp_rng_uniform(seed, 9, 2 * i) + 1e-300, u2 = nmp_rng_uniform(seed, 9, 2 * i + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void assert_same_layout_up_to_sign(const float *cpu, const float *gpu, int64_t n, int dims)
{
    double big = 0.0;
    for (int64_t v = 0; v < n * dims; v++) big = fmax(big, fabs(cpu[v]));
    for (int c = 0; c < dims; c++) {
        double dot = 0.0;
        for (int64_t i = 0; i < n; i++) dot += (double)cpu[i * dims + c] * gpu[i * dims + c];
        double sign = dot < 0.0 ? -1.0 : 1.0;
        for (int64_t i = 0; i < n; i++)
            if (fabs(cpu[i * dims + c] - sign * gpu[i * dims + c]) > PCA_TOL * big)
                fail_msg("point %lld, component %d: %.9g (cpu) vs %.9g (cuda, sign %+.0f)", (long long)i, c,
                         cpu[i * dims + c], gpu[i * dims + c], sign);
    }
}

static void check_pca(const nmp_matrix *x, int dims, const char *const *kv)
{
    nmp_host *h = test_host_new(2, 17);
    test_instance t = test_plugin_create(h, NMP_KIND_INIT, "pca", kv);
    float *cpu = malloc((size_t)(x->n * dims) * sizeof *cpu), *gpu = malloc((size_t)(x->n * dims) * sizeof *gpu);
    if (((const nmp_init_ops *)t.plugin->ops)->init(t.state, x, NULL, dims, cpu) != NMP_OK ||
        ((const nmp_init_ops *)cuda_entry(t.plugin))->init(t.state, x, NULL, dims, gpu) != NMP_OK)
        fail_msg("pca: %s", test_host_error(h));
    assert_same_layout_up_to_sign(cpu, gpu, x->n, dims);
    free(cpu), free(gpu);
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* Variances 100, 25, 4 along three directions and 0.25 elsewhere: well apart, so each
 * component is defined up to its sign. */
static void test_pca_layout(void **unused)
{
    enum { N = 6000, D = 20 };
    const double scale[3] = {10.0, 5.0, 2.0};
    float *x = malloc(N * D * sizeof *x);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double v = 3.0 + 0.5 * gaussian(2, (uint64_t)(i * D + j));
            for (int c = 0; c < 3; c++) /* direction c: coordinates c, c + 3, c + 6, ... */
                if (j % 3 == c && j < 18) v += scale[c] * gaussian(3 + (uint64_t)c, (uint64_t)i) / sqrt(6.0);
            x[i * D + j] = (float)v;
        }
    nmp_matrix m = {N, D, x};
    const char *sampled[] = {"sample=2000", "block_rows=300", NULL};
    check_pca(&m, 2, NULL);
    check_pca(&m, 3, sampled);
    free(x);
}

#endif /* NOMAD_CUDA */

int main(void)
{
    const struct CMUnitTest always[] = {
        cmocka_unit_test(test_which_plugins_have_an_entry),
#ifdef NOMAD_CUDA
        cmocka_unit_test(test_exact_cell_refuses_what_the_gpu_cannot_keep),
#endif
    };
    int failed = cmocka_run_group_tests_name("CUDA entries: descriptors and refusals", always, NULL, NULL);
    if (failed) return failed;
#ifndef NOMAD_CUDA
    printf("skipped: built without NOMAD_CUDA\n");
    return 77;
#else
    if (!nmp_cuda_available()) {
        char why[256];
        nmp_cuda_describe(why, sizeof why);
        printf("skipped: no usable GPU (%s)\n", why);
        return 77;
    }
    const struct CMUnitTest gpu[] = {
        cmocka_unit_test(test_kmeans_blobs),         cmocka_unit_test(test_kmeans_empty_cells),
        cmocka_unit_test(test_exact_cell_search),    cmocka_unit_test(test_exact_cell_pca),
        cmocka_unit_test(test_affinity_bit_for_bit), cmocka_unit_test(test_pca_layout),
    };
    return cmocka_run_group_tests_name("CUDA entries against the CPU ops", gpu, NULL, NULL);
#endif
}
