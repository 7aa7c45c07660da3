/* The CPU step engine (core/fit/step_engine.c) with the real loss plugins, against an oracle
 * written here in double from docs/losses.md (not from nomad/loss_math.h, so a wrong formula
 * there shows): infonce, neg, nce and umap (clipped, negatives moving or still), 2-D and 3-D,
 * tsne (its first step, and with a pooled Z that half the targets' own Z_i exceed),
 * negatives per target, shared or in runs, weights random or one per row, approximate terms
 * with zeros, spread or not, rows longer than a tile. Tolerances: gradient 1e-4 of its
 * largest coordinate (float32 tiles against double), loss and NCE's statistic 1e-5 relative. Then determinism. */
#include <math.h>
#include <stdio.h>

#include "step_case.h"

typedef enum { ORACLE_INFONCE, ORACLE_NEG, ORACLE_UMAP, ORACLE_TSNE } oracle_kind;

typedef struct {
    oracle_kind kind;
    double ex, c;            /* exaggeration; neg's constant */
    double a, b, gamma, eps; /* umap */
    double clip;
    int move;
    double zbar; /* tsne: the pooled Z of the steps before (0: none, each target its own) */
} oracle_loss;

static double sq(const float *p, const float *q, int D)
{
    double s = 0.0;
    for (int k = 0; k < D; k++) s += ((double)p[k] - q[k]) * ((double)p[k] - q[k]);
    return s;
}

/* dL/d(d2) per unit weight of a positive, and its loss; infonce needs Z and adds to S. */
static double attract(const oracle_loss *l, double d2, double p, double z, double *s, double *loss, double *dlogc)
{
    double q = 1.0 / (1.0 + d2);
    if (l->kind == ORACLE_INFONCE) {
        *loss += p * (l->ex * log1p(d2) + log(q + z));
        *s += p / (q + z);
        return l->ex * q - q * q / (q + z);
    }
    if (l->kind == ORACLE_TSNE) {
        *loss += p * l->ex * log1p(d2);
        return l->ex * q;
    }
    if (l->kind == ORACLE_NEG) {
        double u = 1.0 + l->c * (1.0 + d2);
        *loss += l->ex * p * log(u);
        *dlogc += l->ex * p * (1.0 - 1.0 / u);
        return l->ex * l->c / u;
    }
    if (!(d2 > 0.0)) return 0.0;
    double sb = pow(d2, l->b);
    *loss += l->ex * p * log1p(l->a * sb);
    return l->ex * l->a * l->b * (sb / d2) / (1.0 + l->a * sb);
}

/* A repulsive term of weight w: its dL/d(d2) per unit weight (infonce: times S later). */
static double repel(const oracle_loss *l, double d2, double w, double *loss, double *dlogc)
{
    double q = 1.0 / (1.0 + d2);
    if (l->kind == ORACLE_INFONCE || l->kind == ORACLE_TSNE) return -q * q;
    if (l->kind == ORACLE_NEG) {
        *loss += w * log1p(q / l->c);
        *dlogc -= w * q / (q + l->c);
        return -q * q / (q + l->c);
    }
    if (!(d2 > 0.0)) return 0.0;
    double as = l->a * pow(d2, l->b);
    *loss += l->gamma * w * log((1.0 + as) / (as + l->eps));
    return -l->gamma * l->b / ((l->eps + d2) * (1.0 + as));
}

/* Adds w v, v = 2 c (y_i - y_z) clipped, to y_i's gradient and (other) its opposite to y_z's. */
static void apply(const oracle_loss *l, const float *yi, const float *yz, double c, double w, int D, double *gi,
                  double *other)
{
    for (int k = 0; k < D; k++) {
        double v = 2.0 * c * ((double)yi[k] - yz[k]);
        if (l->clip > 0.0) v = v > l->clip ? l->clip : (v < -l->clip ? -l->clip : v);
        gi[k] += w * v;
        if (other) other[k] -= w * v;
    }
}

/* Approximate term r's spread s2: its distance reads d2 + s2 (docs/losses.md). */
static double spread(const step_case *c, int r)
{
    return c->spread ? c->spread[r] : 0.0;
}

/* Target b's coupling sum Z_i: sum of w q over its repulsive terms. */
static double target_z(const step_case *c, int b)
{
    const int D = c->dims, m = c->per_target, A = c->cells;
    const float *yi = c->y + (int64_t)c->target[b] * D;
    const int64_t row = nmp_negatives_row_of(&c->neg, b);
    const int32_t *idx = c->neg_index + row * m;
    const float *nw = c->neg_weight + row * m, *aw = c->approx_weight + (int64_t)b * A;
    double z = 0.0;
    for (int j = 0; j < m; j++) z += nw[j] / (1.0 + sq(yi, c->y + (int64_t)idx[j] * D, D));
    for (int r = 0; r < A; r++) z += aw[r] / (1.0 + sq(yi, c->cell_mean + r * D, D) + spread(c, r));
    return z;
}

/* The step's dense gradient and loss, target by target; *dlogc gets neg's dL/d log c. */
static double oracle(const step_case *c, const oracle_loss *l, double *grad, double *dlogc)
{
    const int D = c->dims, m = c->per_target, A = c->cells;
    double total = 0.0;
    for (int b = 0; b < c->batch; b++) {
        const float *yi = c->y + (int64_t)c->target[b] * D;
        const int64_t row = nmp_negatives_row_of(&c->neg, b);
        const int32_t *idx = c->neg_index + row * m;
        const float *nw = c->neg_weight + row * m, *aw = c->approx_weight + (int64_t)b * A;
        double z = target_z(c, b), s = 0.0, loss = 0.0, gi[3] = {0};
        for (int64_t e = c->edge_offset[b]; e < c->edge_offset[b + 1]; e++) {
            const float *yj = c->y + (int64_t)c->pos[e] * D;
            double coef = attract(l, sq(yi, yj, D), c->pos_weight[e], z, &s, &loss, dlogc);
            apply(l, yi, yj, coef, c->pos_weight[e], D, gi, grad + (int64_t)c->pos[e] * D);
        }
        double scale = l->kind == ORACLE_INFONCE ? s : 1.0;
        if (l->kind == ORACLE_TSNE) { /* t-SNE's 1 / Z, or the target's own 1 / Z_i where that is larger */
            scale = 1.0 / fmax(l->zbar, z);
            loss += log(l->zbar > 0.0 ? l->zbar : z);
        }
        for (int r = 0; r < A; r++) {
            double coef = scale * repel(l, sq(yi, c->cell_mean + r * D, D) + spread(c, r), aw[r], &loss, dlogc);
            apply(l, yi, c->cell_mean + r * D, coef, aw[r], D, gi, NULL);
        }
        for (int j = 0; j < m; j++) {
            const float *yz = c->y + (int64_t)idx[j] * D;
            double coef = scale * repel(l, sq(yi, yz, D), nw[j], &loss, dlogc);
            apply(l, yi, yz, coef, nw[j], D, gi, l->move ? grad + (int64_t)idx[j] * D : NULL);
        }
        for (int k = 0; k < D; k++) grad[(int64_t)c->target[b] * D + k] += gi[k];
        total += loss;
    }
    return total;
}

/* Engine (through plugin `name` with parameters kv) against the oracle on case c, once with
 * the formula the plugin names inlined and once through its repel() calls. */
static void compare_path(const step_case *c, const char *name, const char *const *kv, const oracle_loss *l,
                         int generic)
{
    nmp_host *h = test_host_new(2, 5);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, name, kv);
    const int64_t len = c->n * c->dims;
    float *got = calloc((size_t)len, sizeof *got);
    double *want = calloc((size_t)len, sizeof *want), dlogc = 0.0;
    nmp_engine_out out = step_case_engine_path(c, &t, l->ex, 2, generic, got);
    double lw = oracle(c, l, want, &dlogc), big = 0.0;
    for (int64_t v = 0; v < len; v++) big = fmax(big, fabs(want[v]));
    assert_true(big > 0.0);
    for (int64_t v = 0; v < len; v++)
        if (!(fabs(got[v] - want[v]) <= 1e-4 * big))
            fail_msg("%s (%s, zbar %g, dims %d, m %d): grad[%lld] engine %.9g oracle %.9g (largest %.3g)", name,
                     generic ? "repel() calls" : "inlined", l->zbar, c->dims, c->per_target, (long long)v, got[v], want[v], big);
    if (!(fabs(out.loss - lw) <= 1e-5 * fabs(lw))) fail_msg("%s: loss engine %.12g oracle %.12g", name, out.loss, lw);
    /* the statistic needs z, which an inlined uncoupled formula does not sum: nce names none */
    if (l->kind == ORACLE_NEG && (generic || strcmp(name, "nce") == 0) &&
        !(fabs(out.stat - dlogc) <= 1e-5 * fabs(dlogc) + 1e-6))
        fail_msg("%s: dL/dlog c engine %.9g oracle %.9g", name, out.stat, dlogc);
    assert_int_equal(out.pairs, (int64_t)c->batch * (c->per_target + c->cells) + c->edge_offset[c->batch]);
    free(got), free(want);
    test_plugin_destroy(&t);
    test_host_free(h);
}

static void compare(const step_case *c, const char *name, const char *const *kv, const oracle_loss *l)
{
    compare_path(c, name, kv, l, 0);
    compare_path(c, name, kv, l, 1);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* tsne on its first step (each target normalised by its own Z_i), then with a pooled Z at the
 * median Z_i: half the targets are repelled by 1 / Z, the others by their own 1 / Z_i. */
static void compare_tsne(step_case *c, int mode)
{
    const double ex = mode == CASE_SHARED ? 4.0 : 1.0;
    compare(c, "tsne", NULL, &(oracle_loss){.kind = ORACLE_TSNE, .ex = ex, .move = 1});
    double *zi = malloc((size_t)c->batch * sizeof *zi);
    for (int b = 0; b < c->batch; b++) zi[b] = target_z(c, b);
    qsort(zi, (size_t)c->batch, sizeof *zi, by_value);
    const double zbar = zi[c->batch / 2];
    free(zi);
    c->stat_before = zbar * c->batch; /* end_step pools the mean: Z = zbar */
    compare(c, "tsne", NULL, &(oracle_loss){.kind = ORACLE_TSNE, .ex = ex, .move = 1, .zbar = zbar});
    c->stat_before = 0.0;
}

static void every_loss(step_case *c, int mode)
{
    static const char *const neg_kv[] = {"c=2.5", NULL};
    static const char *const nce_kv[] = {"log_z_init=-1.5", NULL};
    static const char *const umap_kv[] = {"a=1.577", "b=0.895", "gamma=1.3", "clip=4", "move_negatives=true", NULL};
    static const char *const umap_still[] = {"a=1.577", "b=0.895", "clip=0.5", NULL};
    compare(c, "infonce", NULL, &(oracle_loss){.kind = ORACLE_INFONCE, .ex = mode == CASE_SHARED ? 4.0 : 1.0, .move = 1});
    compare(c, "neg", neg_kv, &(oracle_loss){.kind = ORACLE_NEG, .ex = 1.5, .c = 2.5, .move = 1});
    /* nce: neg's terms with c = m exp(log Z) */
    compare(c, "nce", nce_kv,
            &(oracle_loss){.kind = ORACLE_NEG, .ex = 1.0, .c = (double)(float)(c->per_target * exp(-1.5)), .move = 1});
    oracle_loss um = {.kind = ORACLE_UMAP, .ex = 1.0, .a = 1.577, .b = 0.895, .gamma = 1.3, .eps = 0.001, .clip = 4.0,
                      .move = 1};
    compare(c, "umap", umap_kv, &um);
    um.gamma = 1.0, um.clip = 0.5, um.move = 0;
    compare(c, "umap", umap_still, &um);
    compare_tsne(c, mode);
}

static void matches_oracle(void **state)
{
    (void)state;
    for (int dims = 2; dims <= 3; dims++)
        for (int mode = 0; mode < 3; mode++)
            for (int same = 0; same < 2; same++) {
                step_case *c = step_case_new(300, dims, 5, 4, 61, 10, (step_case_rows)mode, same, 3.0, 77 + mode);
                every_loss(c, mode);
                step_case_free(c);
            }
}

/* Rows and approximate terms longer than a tile (256 terms; 1024 with an inlined formula), a
 * batch that is not a multiple of a block (8 targets). */
static void matches_oracle_across_tiles(void **state)
{
    (void)state;
    for (int mode = 0; mode < 3; mode++) {
        step_case *c = step_case_new(900, 2, 7, 300, 21, 1300, (step_case_rows)mode, mode == 2, 5.0, 91);
        every_loss(c, mode);
        step_case_free(c);
    }
}

/* Spread approximate terms (a cell's cloud: d2 + s2) on both paths, every loss, across tiles. */
static void matches_oracle_spread(void **state)
{
    (void)state;
    for (int mode = 0; mode < 3; mode++) {
        step_case *c = step_case_new(900, 2 + (mode == 1), 7, 300, 21, 40, (step_case_rows)mode, 0, 5.0, 93);
        step_case_spread(c, 5);
        every_loss(c, mode);
        step_case_free(c);
    }
}

/* Rows whose targets weigh the approximate terms alike, which the engine folds into the row's
 * negatives (their zero weights left out): small rows, and rows longer than a tile, so that a
 * tile holds both negatives and folded terms. */
static void matches_oracle_folded_approx(void **state)
{
    (void)state;
    for (int mode = CASE_SHARED; mode <= CASE_RUNS; mode++)
        for (int dims = 2; dims <= 3; dims++) {
            step_case *c = step_case_new(300, dims, 5, 4, 61, 10, (step_case_rows)mode, mode == CASE_RUNS, 3.0, 41);
            step_case_row_approx(c);
            every_loss(c, mode);
            step_case_free(c);
            c = step_case_new(900, dims, 7, 300, 21, 900, (step_case_rows)mode, 1, 5.0, 43);
            step_case_row_approx(c);
            every_loss(c, mode);
            step_case_free(c);
        }
}

/* Same step twice: the same bytes; 1 and 2 workers agree to rounding. */
static void deterministic(void **state)
{
    (void)state;
    step_case *c = step_case_new(300, 2, 5, 4, 64, 40, CASE_SHARED, 0, 3.0, 13);
    nmp_host *h = test_host_new(2, 5);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "infonce", NULL);
    float *g1 = calloc(600, sizeof *g1), *g2 = calloc(600, sizeof *g2), *g3 = calloc(600, sizeof *g3);
    nmp_engine_out a = step_case_engine(c, &t, 1.0, 2, g1), b = step_case_engine(c, &t, 1.0, 2, g2);
    assert_memory_equal(g1, g2, 600 * sizeof *g1);
    assert_true(a.loss == b.loss);
    step_case_engine(c, &t, 1.0, 1, g3);
    for (int v = 0; v < 600; v++) assert_float_equal(g1[v], g3[v], 1e-4 * (1.0 + fabs(g1[v])));
    free(g1), free(g2), free(g3);
    test_plugin_destroy(&t);
    test_host_free(h);
    step_case_free(c);
}

/* The loss infonce (l = 0) or umap moving its negatives (1), and a 300-point case of row shape
 * `mode` for it: what the tests below run two ways. */
static const char *const two_way_loss[] = {"infonce", "umap"};
static step_case *two_way_case(nmp_host *h, int mode, int l, uint64_t seed, test_instance *t)
{
    *t = test_plugin_create(h, NMP_KIND_LOSS, two_way_loss[l],
                            (const char *const[]){l ? "move_negatives=true" : NULL, NULL});
    return step_case_new(300, 2, 5, 4, 64, 40, (step_case_rows)mode, 0, 3.0, seed);
}

/* Gradients straight into the workers' dense arrays (the eager update's way) equal the slots,
 * scattered, to float rounding (another order of the adds); for every row shape. */
static void dense_sink_matches_slots(void **state)
{
    (void)state;
    nmp_host *h = test_host_new(2, 5);
    for (int mode = 0; mode < 3; mode++)
        for (int l = 0; l < 2; l++) {
            test_instance t;
            step_case *c = two_way_case(h, mode, l, 17, &t);
            float *slots = calloc(600, sizeof *slots), *dense = calloc(600, sizeof *dense);
            step_case_engine_sink(c, &t, 1.0, 2, 0, 0, slots);
            step_case_engine_sink(c, &t, 1.0, 2, 0, 1, dense);
            double big = 0.0;
            for (int v = 0; v < 600; v++) big = fmax(big, fabs(slots[v]));
            for (int v = 0; v < 600; v++)
                if (!(fabs(slots[v] - dense[v]) <= 1e-5 * big))
                    fail_msg("%s mode %d: grad[%d] slots %.9g dense %.9g", two_way_loss[l], mode, v, slots[v],
                             dense[v]);
            free(slots), free(dense);
            test_plugin_destroy(&t);
            step_case_free(c);
        }
    test_host_free(h);
}

/* Positives read where their graph rows lie (the optimiser's way when no plugin reads the
 * step's edges) give the very bytes of the step's laid-out copy: the same edges in the same
 * order, for every row shape, slots and dense sink, a coupled and a clipped loss. */
static void graph_rows_match_laid_out_edges(void **state)
{
    (void)state;
    nmp_host *h = test_host_new(2, 5);
    for (int mode = 0; mode < 3; mode++)
        for (int l = 0; l < 2; l++)
            for (int dense = 0; dense < 2; dense++) {
                test_instance t;
                step_case *c = two_way_case(h, mode, l, 23, &t);
                float *copied = calloc(600, sizeof *copied), *rows = calloc(600, sizeof *rows);
                nmp_engine_out a = step_case_engine_sink(c, &t, 1.0, 2, 0, dense, copied);
                step_case_from_graph(c);
                nmp_engine_out b = step_case_engine_sink(c, &t, 1.0, 2, 0, dense, rows);
                assert_memory_equal(copied, rows, 600 * sizeof *rows);
                assert_true(a.loss == b.loss && a.pairs == b.pairs);
                free(copied), free(rows);
                test_plugin_destroy(&t);
                step_case_free(c);
            }
    test_host_free(h);
}

static void refuses_other_dims(void **state)
{
    (void)state;
    nmp_engine *e = (nmp_engine *)1;
    nmp_err err = {0};
    nmp_loss_shape shape = {0};
    assert_int_equal(nmp_engine_new(&e, NULL, NULL, &shape, 4, &err), NMP_ERR_UNSUPPORTED);
    assert_null(e);
    assert_non_null(strstr(err.msg, "2 or 3 dimensions, not 4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(matches_oracle),
                                       cmocka_unit_test(matches_oracle_across_tiles),
                                       cmocka_unit_test(matches_oracle_spread),
                                       cmocka_unit_test(matches_oracle_folded_approx),
                                       cmocka_unit_test(deterministic),
                                       cmocka_unit_test(dense_sink_matches_slots),
                                       cmocka_unit_test(graph_rows_match_laid_out_edges),
                                       cmocka_unit_test(refuses_other_dims)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
