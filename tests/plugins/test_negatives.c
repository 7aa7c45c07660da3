/* Negatives plugins: in_batch draws from the pool, uniform covers the points, cluster_mean's
 * exact set E and approximate set R~ per approx_cells mode, mass weights, determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/rng.h"
#include "test_host.h"

#define N 60
#define C 4
#define B 4
#define D 2

/* Four cells of unequal size (10, 20, 12, 18) on a line: centroids 0, 1, 5, 6.5, so each
 * cell's nearest other cell is its neighbour on the same side (0-1, 2-3). */
static const int64_t cell_start[C + 1] = {0, 10, 30, 42, 60};
static const float centroid[C] = {0.0f, 1.0f, 5.0f, 6.5f};

typedef struct {
    nmp_cells cells;
    uint8_t local[C];
    nmp_fit_info fit;
    float y[N * D], cell_mean[C * D], cell_mass[C];
    int32_t target[B], pos[2 * B];
    int64_t edge_offset[B + 1];
    float pos_weight[2 * B];
    nmp_step step;
} world;

/* split: cells 2 and 3 live on another rank. */
static void world_init(world *w, int split)
{
    memset(w, 0, sizeof *w);
    int32_t cell_of[N];
    for (int c = 0; c < C; c++)
        for (int64_t i = cell_start[c]; i < cell_start[c + 1]; i++) cell_of[i] = c;
    w->cells = test_cells_make(cell_of, N, C, centroid, 1);
    for (int c = 0; c < C; c++)
        w->local[c] = !split || c < 2, w->cell_mass[c] = (float)(cell_start[c + 1] - cell_start[c]);
    w->fit = (nmp_fit_info){.n = N, .dims = D, .batch = B, .steps_per_epoch = 10, .epochs = 1, .cells = &w->cells,
                            .cell_local = w->local};
    for (int i = 0; i < N * D; i++) w->y[i] = (float)nmp_rng_uniform(3, 1, (uint64_t)i);
    for (int i = 0; i < C * D; i++) w->cell_mean[i] = (float)(i + 1) * 1.25f; /* distinct rows */
    static const int32_t targets[B] = {2, 20, 33, 50}, pos[2 * B] = {3, 7, 21, 40, 34, 35, 51, 1};
    memcpy(w->target, targets, sizeof targets), memcpy(w->pos, pos, sizeof pos);
    for (int b = 0; b <= B; b++) w->edge_offset[b] = 2 * b;
    for (int e = 0; e < 2 * B; e++) w->pos_weight[e] = 0.5f;
    w->step = (nmp_step){.epoch = 0, .step = 0, .y = w->y, .batch = B, .target = w->target,
                         .edge_offset = w->edge_offset, .pos = w->pos, .pos_weight = w->pos_weight,
                         .cell_mean = w->cell_mean, .cell_mass = w->cell_mass};
}

static int cell_of(const world *w, int32_t i) { return w->cells.cell_of[i]; }

/* Recuts the world's points into cells (cells_of: N cell ids), centroids as before. */
static void world_set_cells(world *w, const int32_t *cells_of)
{
    test_cells_free(&w->cells);
    w->cells = test_cells_make(cells_of, N, C, centroid, 1);
}

static test_instance make(nmp_host *h, world *w, const char *name, const char *const *kv)
{
    test_instance t = test_plugin_create(h, NMP_KIND_NEGATIVES, name, kv);
    const nmp_negatives_ops *ops = t.plugin->ops;
    if (ops->prepare) assert_int_equal(ops->prepare(t.state, &w->fit), NMP_OK);
    return t;
}

static nmp_negatives sample(test_instance *t, world *w, int64_t step)
{
    nmp_negatives out;
    w->step.step = step;
    const nmp_negatives_ops *ops = t->plugin->ops;
    assert_int_equal(ops->sample(t->state, &w->step, &out), NMP_OK);
    return out;
}

/* The cell whose mean approximate term r is (matched by coordinates). */
static int approx_cell(const world *w, const nmp_negatives *ng, int r)
{
    for (int c = 0; c < C; c++)
        if (memcmp(ng->approx_y + r * D, w->cell_mean + c * D, D * sizeof(float)) == 0) return c;
    fail_msg("approximate term %d is not a cell mean", r);
    return -1;
}

static int64_t copy_index(const nmp_negatives *ng, int32_t *dst)
{
    int64_t n = (int64_t)(ng->shared ? 1 : B) * ng->per_target;
    if (n > 0) memcpy(dst, ng->index, (size_t)n * sizeof *dst);
    return n;
}

/* Same step -> same draws; another step -> other draws; the thread count does not matter. */
static void check_determinism(world *w, const char *name, const char *const *kv)
{
    static int32_t a[B * 1000], b[B * 1000];
    nmp_host *h1 = test_host_new(1, 77), *h4 = test_host_new(4, 77);
    test_instance t1 = make(h1, w, name, kv), t4 = make(h4, w, name, kv);
    nmp_negatives n1 = sample(&t1, w, 5);
    int64_t k = copy_index(&n1, a);
    nmp_negatives n4 = sample(&t4, w, 5);
    assert_int_equal(copy_index(&n4, b), k);
    if (k > 0) { /* approx_cells: all draws nothing */
        assert_memory_equal(a, b, (size_t)k * sizeof *a);
        n1 = sample(&t1, w, 5);
        assert_memory_equal(a, n1.index, (size_t)k * sizeof *a);
        n1 = sample(&t1, w, 6);
        assert_true(memcmp(a, n1.index, (size_t)k * sizeof *a) != 0);
    }
    test_plugin_destroy(&t1), test_plugin_destroy(&t4);
    test_host_free(h1), test_host_free(h4);
}

static void test_in_batch(void **st)
{
    (void)st;
    world w;
    world_init(&w, 1);
    nmp_host *h = test_host_new(3, 1);
    static const char *const kv[] = {"n_noise=500", NULL};
    test_instance t = make(h, &w, "in_batch", kv);
    nmp_negatives ng = sample(&t, &w, 0);
    assert_int_equal(ng.shared, 1);
    assert_int_equal(ng.per_target, 500);
    assert_null(ng.weight);
    int hits[2 * B] = {0};
    for (int l = 0; l < ng.per_target; l++) {
        int found = 0;
        for (int e = 0; e < 2 * B; e++)
            if (w.pos[e] == ng.index[l]) found = 1, hits[e]++;
        assert_true(found); /* only from the batch's neighbour pool */
    }
    for (int e = 0; e < 2 * B; e++) assert_true(hits[e] > 0);
    assert_int_equal(ng.approx_count, 2); /* one term per cell on another rank */
    for (int r = 0; r < 2; r++) {
        assert_int_equal(approx_cell(&w, &ng, r), 2 + r);
        for (int b = 0; b < B; b++) assert_true(ng.approx_weight[b * 2 + r] == 1.0f);
    }
    test_plugin_destroy(&t);

    static const char *const kv_mass[] = {"n_noise=500", "weighting=mass", NULL};
    t = make(h, &w, "in_batch", kv_mass);
    ng = sample(&t, &w, 0);
    for (int r = 0; r < 2; r++) /* n_noise |c| / n */
        for (int b = 0; b < B; b++)
            assert_float_equal(ng.approx_weight[b * 2 + r], 500.0 * (double)w.cell_mass[2 + r] / N, 1e-4);
    test_plugin_destroy(&t);
    test_host_free(h);
    check_determinism(&w, "in_batch", kv);
    test_cells_free(&w.cells);
}

static void test_uniform(void **st)
{
    (void)st;
    world w;
    world_init(&w, 0);
    nmp_host *h = test_host_new(3, 1);
    static const char *const kv[] = {"m=1000", NULL};
    test_instance t = make(h, &w, "uniform", kv);
    nmp_negatives ng = sample(&t, &w, 0);
    assert_int_equal(ng.per_target, 1000);
    assert_int_equal(ng.shared, 0);
    assert_int_equal(ng.approx_count, 0);
    int count[N] = {0};
    for (int s = 0; s < B * 1000; s++) {
        assert_true(ng.index[s] >= 0 && ng.index[s] < N);
        count[ng.index[s]]++;
    }
    double expect = B * 1000.0 / N, chi2 = 0.0;
    for (int i = 0; i < N; i++) chi2 += (count[i] - expect) * (count[i] - expect) / expect;
    assert_true(chi2 < 150.0); /* 59 degrees of freedom: mean 59, sd 11 */
    test_plugin_destroy(&t);

    static const char *const kv_shared[] = {"m=7", "shared=true", NULL};
    t = make(h, &w, "uniform", kv_shared);
    ng = sample(&t, &w, 0);
    assert_int_equal(ng.shared, 1);
    assert_int_equal(ng.per_target, 7);
    test_plugin_destroy(&t);
    test_cells_free(&w.cells);

    world_init(&w, 1); /* with cells on another rank, only this rank's points are drawn */
    t = make(h, &w, "uniform", kv);
    ng = sample(&t, &w, 0);
    for (int s = 0; s < B * 1000; s++) assert_true(cell_of(&w, ng.index[s]) < 2);
    test_plugin_destroy(&t);
    test_host_free(h);
    check_determinism(&w, "uniform", kv);
    test_cells_free(&w.cells);
}

/* The exact set E of a target in cell `own` under each approx_cells mode. */
static void expected_exact(const char *mode, int own, const uint8_t *local, uint8_t *exact)
{
    for (int c = 0; c < C; c++) {
        if (strcmp(mode, "remote") == 0) exact[c] = local[c];
        else if (strcmp(mode, "all_but_own") == 0) exact[c] = c == own;
        else if (strcmp(mode, "all") == 0) exact[c] = 0;
        else if (strcmp(mode, "none") == 0) exact[c] = 1;
        else exact[c] = c == own || c == (own ^ 1); /* nearest_exact:2: the cell and its neighbour */
    }
}

/* Every exact draw lies in E and every cell of E is drawn; R~ is exactly the rest; the
 * weights are 1, or under mass: exact |r| / n per mean and |E| / n per exact sample. */
static void check_cluster_mean(const char *mode, int mass)
{
    world w;
    world_init(&w, strcmp(mode, "remote") == 0);
    char mode_kv[64];
    snprintf(mode_kv, sizeof mode_kv, "approx_cells=%s%s", mode, strcmp(mode, "nearest_exact") == 0 ? ":2" : "");
    const char *kv[] = {"exact=200", mode_kv, mass ? "weighting=mass" : "weighting=unweighted", NULL};
    nmp_host *h = test_host_new(3, 1);
    test_instance t = make(h, &w, "cluster_mean", kv);
    nmp_negatives ng = sample(&t, &w, 3);
    assert_int_equal(ng.shared, 0);
    assert_int_equal(ng.per_target, strcmp(mode, "all") == 0 ? 0 : 200);
    if (!mass) assert_null(ng.weight);
    for (int b = 0; b < B; b++) {
        uint8_t exact[C];
        int seen[C] = {0}, covered[C] = {0};
        expected_exact(mode, cell_of(&w, w.target[b]), w.local, exact);
        double exact_mass = 0.0;
        for (int c = 0; c < C; c++) exact_mass += exact[c] ? (double)w.cell_mass[c] : 0.0;
        for (int l = 0; l < ng.per_target; l++) {
            int s = b * ng.per_target + l, c = cell_of(&w, ng.index[s]);
            if (!exact[c]) fail_msg("%s: target %d drew point %d of cell %d", mode, b, ng.index[s], c);
            seen[c] = 1;
            if (mass) assert_float_equal(ng.weight[s], exact_mass / N, 1e-6);
        }
        for (int c = 0; c < C; c++) assert_true(!ng.per_target || seen[c] == exact[c]);
        for (int r = 0; r < ng.approx_count; r++) {
            float wt = ng.approx_weight[b * ng.approx_count + r];
            if (wt == 0.0f) continue;
            int c = approx_cell(&w, &ng, r);
            assert_false(exact[c]);
            assert_float_equal(wt, mass ? 200.0 * w.cell_mass[c] / N : 1.0, 1e-4);
            covered[c]++;
        }
        for (int c = 0; c < C; c++) assert_int_equal(covered[c], !exact[c]);
    }
    test_plugin_destroy(&t);
    test_host_free(h);
    if (mass) check_determinism(&w, "cluster_mean", kv);
    test_cells_free(&w.cells);
}

/* group: targets of one cell share a row of draws (ABI 1.1 rows), cut at cell changes and
 * after `group` targets; uniform cuts by count alone. */
static void test_group_rows(void **st)
{
    (void)st;
    world w;
    world_init(&w, 0);
    static const int32_t targets[B] = {2, 5, 20, 50}; /* cells 0, 0, 1, 3: grouped as the host hands them */
    memcpy(w.target, targets, sizeof targets);
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"exact=50", "approx_cells=all_but_own", "group=2", NULL};
    test_instance t = make(h, &w, "cluster_mean", kv);
    nmp_negatives ng = sample(&t, &w, 1);
    assert_int_equal(ng.rows, 3);
    static const int32_t want_start[4] = {0, 2, 3, 4}, want_cell[3] = {0, 1, 3};
    assert_memory_equal(ng.row_start, want_start, sizeof want_start);
    for (int r = 0; r < 3; r++)
        for (int l = 0; l < 50; l++) assert_int_equal(cell_of(&w, ng.index[r * 50 + l]), want_cell[r]);
    for (int b = 0; b < B; b++) /* R~ stays per target: every cell but its own */
        for (int c = 0; c < C; c++)
            assert_true((ng.approx_weight[b * C + c] == 0.0f) == (c == cell_of(&w, w.target[b])));
    test_plugin_destroy(&t);

    static const char *const kv_uniform[] = {"m=9", "group=3", NULL};
    t = make(h, &w, "uniform", kv_uniform);
    ng = sample(&t, &w, 1);
    assert_int_equal(ng.rows, 2);
    assert_int_equal(ng.row_start[1], 3);
    assert_int_equal(ng.row_start[2], B);
    test_plugin_destroy(&t);
    test_host_free(h);
    test_cells_free(&w.cells);
}

/* Distributed (ABI 1.1): mass weights use the sizes over all ranks from nmp_fit_info, not
 * this rank's cells->start, which holds only its own points. */
static void test_mass_uses_global_sizes(void **st)
{
    (void)st;
    world w;
    world_init(&w, 1);
    float global_mass[C] = {10, 20, 40, 50}; /* cells 2 and 3 are bigger elsewhere */
    w.fit.cell_mass = global_mass, w.fit.n_total = 120;
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"exact=30", "approx_cells=remote", "weighting=mass", NULL};
    test_instance t = make(h, &w, "cluster_mean", kv);
    nmp_negatives ng = sample(&t, &w, 2);
    for (int r = 0; r < ng.approx_count; r++) {
        int c = approx_cell(&w, &ng, r);
        assert_float_equal(ng.approx_weight[r], 30.0 * global_mass[c] / 120.0, 1e-4);
    }
    assert_float_equal(ng.weight[0], 30.0 / 120.0, 1e-6); /* |E| = cells 0 and 1: 30 points */
    test_plugin_destroy(&t);
    test_host_free(h);
    test_cells_free(&w.cells);
}

static void test_cluster_mean_modes(void **st)
{
    (void)st;
    static const char *modes[] = {"remote", "all_but_own", "all", "none", "nearest_exact"};
    for (int m = 0; m < 5; m++)
        for (int mass = 0; mass <= 1; mass++) check_cluster_mean(modes[m], mass);
}

/* weighting: mass with approx_cells: none is plain uniform negatives of weight 1. */
static void test_cluster_mean_none_is_uniform(void **st)
{
    (void)st;
    world w;
    world_init(&w, 0);
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"exact=5", "approx_cells=none", "weighting=mass", NULL};
    test_instance t = make(h, &w, "cluster_mean", kv);
    nmp_negatives ng = sample(&t, &w, 0);
    for (int s = 0; s < B * 5; s++) assert_true(ng.weight == NULL || ng.weight[s] == 1.0f);
    for (int s = 0; s < B * ng.approx_count; s++) assert_true(ng.approx_weight[s] == 0.0f);
    test_plugin_destroy(&t);
    nmp_status bad = test_plugin_try_create(h, NMP_KIND_NEGATIVES, "cluster_mean",
                                            (const char *const[]){"approx_cells=nearest_exact", NULL}, &t);
    assert_int_equal(bad, NMP_ERR_INVALID); /* nearest_exact needs :K */
    test_plugin_destroy(&t);
    test_host_free(h);
    test_cells_free(&w.cells);
}

/* Exact cells that are not consecutive ids and include an empty cell: draws come only from
 * the non-empty exact cells, both of them. */
static void test_cluster_mean_empty_cell(void **st)
{
    (void)st;
    world w;
    world_init(&w, 0);
    int32_t cells_of[N];
    for (int i = 0; i < N; i++) cells_of[i] = i < 10 ? 0 : i < 30 ? 2 : 3; /* cell 1 is empty */
    world_set_cells(&w, cells_of);
    w.local[2] = 0; /* exact: cells 0, 1, 3 */
    static const int32_t targets[B] = {0, 5, 40, 59};
    memcpy(w.target, targets, sizeof targets);
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"exact=300", NULL};
    test_instance t = make(h, &w, "cluster_mean", kv);
    nmp_negatives ng = sample(&t, &w, 0);
    int seen[C] = {0};
    for (int s = 0; s < B * 300; s++) seen[cell_of(&w, ng.index[s])]++;
    assert_true(seen[0] > 0 && seen[3] > 0);
    assert_int_equal(seen[1] + seen[2], 0);
    assert_true(abs(seen[3] - 3 * seen[0]) < 300); /* uniform over points: 30 vs 10 */
    test_plugin_destroy(&t);
    test_host_free(h);
    test_cells_free(&w.cells);
}

/* spread: each approximate term's spread is spread x its cell's layout spread, for per-target
 * (nearest_exact) and fixed (remote) means; none without it; an optimiser that keeps no
 * spreads (step.cell_spread NULL) gets an error, not point masses. */
static void test_cluster_mean_spread(void **st)
{
    (void)st;
    world w;
    world_init(&w, 1);
    static const float cell_spread[C] = {0.5f, 1.0f, 2.0f, 4.0f};
    w.step.cell_spread = cell_spread;
    nmp_host *h = test_host_new(2, 1);
    static const char *const modes[] = {"approx_cells=nearest_exact:1", "approx_cells=remote"};
    for (int m = 0; m < 2; m++) {
        const char *const kv[] = {"exact=5", modes[m], "spread=1.5", NULL};
        const char *const plain[] = {"exact=5", modes[m], NULL};
        test_instance t = make(h, &w, "cluster_mean", kv), p = make(h, &w, "cluster_mean", plain);
        nmp_negatives ng = sample(&t, &w, 0), np = sample(&p, &w, 0);
        assert_true(ng.approx_count > 0 && ng.approx_count == np.approx_count);
        assert_non_null(ng.approx_spread);
        assert_null(np.approx_spread);
        for (int r = 0; r < ng.approx_count; r++)
            assert_float_equal(ng.approx_spread[r], 1.5f * cell_spread[approx_cell(&w, &ng, r)], 1e-6);
        w.step.cell_spread = NULL;
        nmp_negatives out;
        const nmp_negatives_ops *ops = t.plugin->ops;
        assert_int_equal(ops->sample(t.state, &w.step, &out), NMP_ERR_UNSUPPORTED);
        w.step.cell_spread = cell_spread;
        test_plugin_destroy(&t), test_plugin_destroy(&p);
    }
    test_host_free(h);
    test_cells_free(&w.cells);
}

/* open_radii: a cell whose layout cloud reaches near a target's cell is drawn exactly for it,
 * not as a mean, and that is decided again when the spreads change (a new epoch). The means
 * of world_init lie 3.54 apart in a line; cell 1's rms radius 4 reaches cells 0 and 2. */
static void test_cluster_mean_open(void **st)
{
    (void)st;
    world w;
    world_init(&w, 0);
    float spread[C] = {0.01f, 16.0f, 0.01f, 0.01f};
    w.step.cell_spread = spread;
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"exact=400", "approx_cells=nearest_exact:1", "open_radii=1", "weighting=mass",
                                     NULL};
    test_instance t = make(h, &w, "cluster_mean", kv);
    static const int exact_cells[2][B][C] = {{{1, 1, 0, 0}, {1, 1, 1, 0}, {0, 1, 1, 0}, {0, 0, 0, 1}},
                                             {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}};
    for (int epoch = 0; epoch < 2; epoch++) {
        nmp_negatives ng = sample(&t, &w, epoch);
        assert_int_equal(ng.approx_count, C);
        for (int b = 0; b < B; b++) {
            const int *e = exact_cells[epoch][cell_of(&w, w.target[b])];
            int seen[C] = {0}, size = 0;
            for (int c = 0; c < C; c++) size += e[c] ? (int)(cell_start[c + 1] - cell_start[c]) : 0;
            for (int l = 0; l < ng.per_target; l++) {
                seen[cell_of(&w, ng.index[b * ng.per_target + l])]++;
                assert_float_equal(ng.weight[b * ng.per_target + l], (float)size / N, 1e-6); /* |E| / n */
            }
            for (int c = 0; c < C; c++) {
                assert_int_equal(seen[c] > 0, e[c]);                         /* drawn from, or not */
                assert_int_equal(ng.approx_weight[b * C + c] == 0.0f, e[c]); /* ... and never both */
            }
        }
        for (int c = 0; c < C; c++) spread[c] = 0.01f; /* the next epoch: every cell compact */
    }
    w.step.cell_spread = NULL; /* an optimiser that keeps no spreads */
    nmp_negatives out;
    const nmp_negatives_ops *ops = t.plugin->ops;
    assert_int_equal(ops->sample(t.state, &w.step, &out), NMP_ERR_UNSUPPORTED);
    test_plugin_destroy(&t);

    /* a cell with no points here (empty, or another rank's) cannot be drawn: it stays a mean */
    int32_t cells_of[N];
    for (int i = 0; i < N; i++) cells_of[i] = i < 30 ? 0 : i < 42 ? 2 : 3;
    world_set_cells(&w, cells_of);
    spread[1] = 16.0f, w.step.cell_spread = spread;
    static const char *const unweighted[] = {"exact=50", "approx_cells=nearest_exact:1", "open_radii=1", NULL};
    t = make(h, &w, "cluster_mean", unweighted);
    nmp_negatives ng = sample(&t, &w, 0);
    assert_true(ng.approx_weight[0 * C + 1] == 1.0f); /* target 2, cell 0: cell 1's mean kept */
    test_plugin_destroy(&t);
    /* a fixed R~ (remote) has no per-cell E to open: the same draws and terms as without */
    static const char *const fixed[] = {"exact=20", "approx_cells=remote", "open_radii=1", NULL};
    static const char *const plain[] = {"exact=20", "approx_cells=remote", NULL};
    w.local[2] = w.local[3] = 0; /* cells 2 and 3 on another rank: their means are R~ */
    test_instance f = make(h, &w, "cluster_mean", fixed), p = make(h, &w, "cluster_mean", plain);
    nmp_negatives nf = sample(&f, &w, 3), np = sample(&p, &w, 3);
    assert_int_equal(np.approx_count, 2);
    assert_int_equal(nf.approx_count, np.approx_count);
    assert_memory_equal(nf.index, np.index, (size_t)B * 20 * sizeof *nf.index);
    assert_memory_equal(nf.approx_weight, np.approx_weight, (size_t)B * (size_t)np.approx_count * sizeof(float));
    test_plugin_destroy(&f), test_plugin_destroy(&p);
    w.local[2] = w.local[3] = 1;
    test_host_free(h);
    test_cells_free(&w.cells);
}

/* nearest_exact under ranks: a near cell whose points live on another rank (none here) cannot
 * be drawn, so its mean stays, with its mass over all ranks; the exact samples weigh |E| / n
 * with only this rank's points of E. */
static void test_cluster_mean_remote_nearest(void **st)
{
    (void)st;
    world w;
    world_init(&w, 1);
    int32_t cells_of[N];
    for (int i = 0; i < N; i++) cells_of[i] = i < 30 ? 0 : i < 42 ? 2 : 3; /* cell 1's 20 points elsewhere */
    world_set_cells(&w, cells_of);
    const float mass[C] = {30.0f, 20.0f, 12.0f, 18.0f};
    w.fit.cell_mass = mass, w.fit.n_total = N + 20;
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"exact=80", "approx_cells=nearest_exact:2", "weighting=mass", NULL};
    test_instance t = make(h, &w, "cluster_mean", kv);
    nmp_negatives ng = sample(&t, &w, 0); /* target 2 (cell 0): E = {0, 1} */
    assert_float_equal(ng.approx_weight[1], 80.0f * 20.0f / 80.0f, 1e-5);
    assert_true(ng.approx_weight[0] == 0.0f);
    for (int l = 0; l < ng.per_target; l++) {
        assert_int_equal(cell_of(&w, ng.index[l]), 0);
        assert_float_equal(ng.weight[l], 30.0f / 80.0f, 1e-6);
    }
    test_plugin_destroy(&t);
    test_host_free(h);
    test_cells_free(&w.cells);
}

/* Draws map through cells->member: with cells interleaved (member is not the identity, as
 * outside the optimiser's cell order) every draw still lands in the target's own cell, and
 * all of its points are reached. */
static void test_draws_through_members(void **st)
{
    (void)st;
    world w;
    world_init(&w, 0);
    int32_t cells_of[N];
    for (int i = 0; i < N; i++) cells_of[i] = i % C;
    world_set_cells(&w, cells_of);
    assert_true(w.cells.member[1] != 1);
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"exact=300", "approx_cells=all_but_own", NULL};
    test_instance t = make(h, &w, "cluster_mean", kv);
    nmp_negatives ng = sample(&t, &w, 0);
    for (int b = 0; b < B; b++) {
        int hit[N] = {0};
        for (int l = 0; l < ng.per_target; l++) {
            int32_t i = ng.index[b * ng.per_target + l];
            assert_int_equal(i % C, w.target[b] % C);
            hit[i] = 1;
        }
        for (int i = w.target[b] % C; i < N; i += C) assert_true(hit[i]); /* 15 points, 300 draws */
    }
    test_plugin_destroy(&t);
    test_host_free(h);
    test_cells_free(&w.cells);
}

/* draw: systematic. With centroids that make each cell's nearest one not its numeric neighbour,
 * E = {0, 2} for cell 0 (a group whose cells are not side by side: the walk over them). A
 * row's draws lie in E, are distinct (m <= |E|), come from each cell of E in proportion
 * (floor or ceil of m |c| / |E|), and over many steps reach every point of E equally often,
 * as uniform draws do; with m > |E| every point comes floor or ceil of m / |E| times. */
static void check_systematic_row(const world *w, const nmp_negatives *ng, int b, const uint8_t *in_e, int e_size,
                                 int *hits)
{
    const int m = ng->per_target;
    int per_cell[C] = {0}, count[N] = {0};
    for (int l = 0; l < m; l++) {
        int32_t i = ng->index[b * m + l];
        if (!in_e[cell_of(w, i)]) fail_msg("target %d drew point %d of cell %d, not in E", b, i, cell_of(w, i));
        per_cell[cell_of(w, i)]++, count[i]++, hits[i]++;
        assert_float_equal(ng->weight[b * m + l], (double)e_size / N, 1e-6);
    }
    for (int c = 0; c < C; c++) {
        double want = in_e[c] ? (double)m * (double)(cell_start[c + 1] - cell_start[c]) / e_size : 0.0;
        if (!(per_cell[c] >= floor(want) && per_cell[c] <= ceil(want)))
            fail_msg("target %d: %d draws from cell %d, want %.2f", b, per_cell[c], c, want);
    }
    for (int i = 0; i < N; i++)
        if (in_e[cell_of(w, i)] && !(count[i] >= m / e_size && count[i] <= (m + e_size - 1) / e_size))
            fail_msg("target %d: point %d drawn %d times of %d from %d points", b, i, count[i], m, e_size);
}

static void test_cluster_mean_systematic(void **st)
{
    (void)st;
    static const float apart[C] = {0.0f, 5.0f, 1.0f, 6.5f}; /* nearest: 0-2, 1-3 */
    world w;
    world_init(&w, 0);
    int32_t cells_of[N];
    for (int i = 0; i < N; i++) cells_of[i] = w.cells.cell_of[i];
    test_cells_free(&w.cells);
    w.cells = test_cells_make(cells_of, N, C, apart, 1);
    nmp_host *h = test_host_new(2, 1);
    static const uint8_t e_of[C][C] = {{1, 0, 1, 0}, {0, 1, 0, 1}, {1, 0, 1, 0}, {0, 1, 0, 1}};
    const int e_size[C] = {22, 38, 22, 38}, steps = 3000;
    for (int big = 0; big < 2; big++) {
        const char *kv[] = {big ? "exact=50" : "exact=12", "approx_cells=nearest_exact:2", "weighting=mass",
                            "draw=systematic", NULL};
        test_instance t = make(h, &w, "cluster_mean", kv);
        static int hits[B][N];
        memset(hits, 0, sizeof hits);
        for (int s = 0; s < (big ? 1 : steps); s++) {
            nmp_negatives ng = sample(&t, &w, s);
            for (int b = 0; b < B; b++) {
                int c = cell_of(&w, w.target[b]);
                check_systematic_row(&w, &ng, b, e_of[c], e_size[c], hits[b]);
            }
        }
        for (int b = 0; b < B && !big; b++) { /* each point of E as often: chi-square, |E| - 1 degrees of freedom */
            int c = cell_of(&w, w.target[b]);
            double expect = steps * 12.0 / e_size[c], chi2 = 0.0;
            for (int i = 0; i < N; i++)
                if (e_of[c][cell_of(&w, i)]) chi2 += (hits[b][i] - expect) * (hits[b][i] - expect) / expect;
            if (!(chi2 < 3.0 * e_size[c])) fail_msg("target %d: chi2 %.1f over %d points", b, chi2, e_size[c]);
        }
        test_plugin_destroy(&t);
        if (!big) check_determinism(&w, "cluster_mean", kv);
    }
    test_host_free(h);
    test_cells_free(&w.cells);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_batch),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_cluster_mean_modes),
        cmocka_unit_test(test_cluster_mean_none_is_uniform),
        cmocka_unit_test(test_cluster_mean_empty_cell),
        cmocka_unit_test(test_group_rows),
        cmocka_unit_test(test_mass_uses_global_sizes),
        cmocka_unit_test(test_cluster_mean_spread),
        cmocka_unit_test(test_cluster_mean_open),
        cmocka_unit_test(test_cluster_mean_remote_nearest),
        cmocka_unit_test(test_draws_through_members),
        cmocka_unit_test(test_cluster_mean_systematic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
