/* sgd_step_cpu (kernels/sgd_step_cpu.c), the CPU reference of the fused GPU step, against the
 * host's CPU path: the loss plugins' own gradients (infonce, neg, umap with clipping and
 * still negatives) scattered as core/src/optimizer.c does, and their loss, for per-target,
 * shared and row-shared (ABI 1.1) negatives with approximate terms. Then the update against
 * update_range's formula and the cell means. Tolerance: 1e-5 of the largest gradient
 * coordinate (both sides compute in double and round each pair's gradient to float; only
 * the order of the float additions differs), loss 1e-10 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "nomad/rng.h"
#include "sgd_step_cpu.h"

#define N 300
#define DMAX 3
#define K 5
#define B 64
#define NEG 10
#define CELLS 4

/* A layout, a graph of K random neighbours per point, CELLS cells, a batch with repeats. */
typedef struct {
    int dims;
    float y[N * DMAX];
    int64_t offsets[N + 1];
    int32_t index[N * K];
    float weight[N * K];
    int32_t cell_of[N];
    float mass[CELLS], cell_mean[CELLS * DMAX];
    int32_t target[B], neg_index[B * NEG], row_start[B + 1];
    float neg_weight[B * NEG], approx_weight[B * CELLS];
    /* the host's view of the step */
    int64_t edge_offset[B + 1];
    int32_t pos[B * K];
    float pos_weight[B * K];
    sgd_problem p;
    sgd_batch b;
} sgd_case;

static double u01(uint64_t stream, uint64_t i)
{
    return nmp_rng_uniform(77, stream, i);
}

/* mode 0: a row per target; 1: one shared row; 2: rows of 1..4 consecutive targets. */
static void case_init(sgd_case *c, int dims, int mode)
{
    memset(c, 0, sizeof *c);
    c->dims = dims;
    for (int i = 0; i < N * dims; i++) c->y[i] = (float)(6.0 * u01(1, (uint64_t)i) - 3.0);
    for (int i = 0; i < N; i++) {
        c->offsets[i + 1] = (int64_t)(i + 1) * K;
        c->cell_of[i] = i % CELLS;
        c->mass[i % CELLS] += 1.0f;
        for (int j = 0; j < K; j++) {
            c->index[i * K + j] = (int32_t)((i + 1 + nmp_rng_below(77, 2, (uint64_t)(i * K + j), N - 1)) % N);
            c->weight[i * K + j] = (float)(0.05 + u01(3, (uint64_t)(i * K + j)));
        }
    }
    int32_t rows = mode == 1 ? 1 : 0;
    for (int t = 0; t < B; t++) {
        c->target[t] = (int32_t)nmp_rng_below(77, 4, (uint64_t)t, N / 2); /* repeats likely */
        if (mode == 2 && (t == 0 || nmp_rng_below(77, 8, (uint64_t)t, 3) == 0)) c->row_start[rows++] = t;
    }
    c->row_start[rows] = B;
    for (int s = 0; s < B * NEG; s++) {
        c->neg_index[s] = (int32_t)nmp_rng_below(77, 5, (uint64_t)s, N);
        c->neg_weight[s] = (float)(0.5 + u01(6, (uint64_t)s));
    }
    for (int s = 0; s < B * CELLS; s++)
        c->approx_weight[s] = s % 7 == 3 ? 0.0f : (float)(0.1 + 2 * u01(7, (uint64_t)s));
    c->p = (sgd_problem){N, dims, c->offsets, c->index, c->weight, CELLS, c->cell_of, c->mass};
    c->b = (sgd_batch){B,
                       c->target,
                       NEG,
                       mode == 1,
                       mode == 2 ? rows : 0,
                       mode == 2 ? c->row_start : NULL,
                       c->neg_index,
                       c->neg_weight,
                       CELLS,
                       NULL,
                       c->approx_weight};
    assert_null(sgd_batch_problem(&c->p, &c->b));
    assert_int_equal(sgd_cell_means_cpu(&c->p, c->y, c->cell_mean), NMP_OK);
}

/* The host path: the loss plugin's grad() on the same step, scattered as optimizer.c does. */
static double plugin_grad(sgd_case *c, test_instance *t, double exaggeration, float *grad)
{
    nmp_step st = {.step = 3,
                   .y = c->y,
                   .batch = B,
                   .target = c->target,
                   .edge_offset = c->edge_offset,
                   .pos = c->pos,
                   .pos_weight = c->pos_weight,
                   .cell_mean = c->cell_mean,
                   .cell_mass = c->mass};
    int64_t e = 0;
    for (int b = 0; b < B; b++) {
        c->edge_offset[b] = e;
        for (int64_t j = c->offsets[c->target[b]]; j < c->offsets[c->target[b] + 1]; j++, e++)
            c->pos[e] = c->index[j], c->pos_weight[e] = c->weight[j];
    }
    c->edge_offset[B] = e;
    nmp_negatives neg = {.per_target = NEG,
                         .shared = c->b.shared,
                         .index = c->neg_index,
                         .weight = c->neg_weight,
                         .approx_count = CELLS,
                         .approx_y = c->cell_mean,
                         .approx_weight = c->approx_weight,
                         .rows = c->b.rows,
                         .row_start = c->b.row_start};
    int64_t rows = c->b.rows > 0 ? c->b.rows : c->b.shared ? 1 : B;
    int D = c->dims;
    float *gt = calloc(B * DMAX, sizeof *gt), *gp = calloc(B * K * DMAX, sizeof *gp);
    float *gn = calloc((size_t)(rows * NEG * DMAX), sizeof *gn);
    nmp_grads out = {gt, gp, gn, 0.0};
    nmp_fit_info fit = {.n = N, .dims = D, .batch = B, .steps_per_epoch = 1, .epochs = 1};
    const nmp_loss_ops *ops = t->plugin->ops;
    if (ops->prepare) assert_int_equal(ops->prepare(t->state, &fit), NMP_OK);
    assert_int_equal(ops->grad(t->state, &st, &neg, exaggeration, &out), NMP_OK);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < D; k++) grad[c->target[b] * D + k] += gt[b * D + k];
    for (int64_t j = 0; j < e; j++)
        for (int k = 0; k < D; k++) grad[c->pos[j] * D + k] += gp[j * D + k];
    for (int64_t s = 0; s < rows * NEG; s++)
        for (int k = 0; k < D; k++) grad[c->neg_index[s] * D + k] += gn[s * D + k];
    free(gt), free(gp), free(gn);
    return out.loss;
}

static void compare(sgd_case *c, const char *loss_name, const char *const *kv, const sgd_loss *l)
{
    nmp_host *h = test_host_new(2, 5);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, loss_name, kv);
    float *want = calloc(N * DMAX, sizeof *want), *got = calloc(N * DMAX, sizeof *got);
    double lw = plugin_grad(c, &t, l->exaggeration, want), lg = 0.0;
    assert_int_equal(sgd_grad_cpu(&c->p, &c->b, l, c->y, c->cell_mean, got, &lg), NMP_OK);
    double big = 0.0;
    for (int v = 0; v < N * c->dims; v++) big = fmax(big, fabs(want[v]));
    assert_true(big > 0.0);
    for (int v = 0; v < N * c->dims; v++)
        if (!(fabs(got[v] - want[v]) <= 1e-5 * big))
            fail_msg("%s: grad[%d] reference %.9g plugin %.9g (largest %.3g)", loss_name, v, got[v], want[v], big);
    if (!(fabs(lg - lw) <= 1e-10 * fabs(lw))) fail_msg("%s: loss reference %.15g plugin %.15g", loss_name, lg, lw);
    free(want), free(got);
    test_plugin_destroy(&t);
    test_host_free(h);
}

static void test_grad_matches_loss_plugins(void **state)
{
    (void)state;
    static const char *const neg_kv[] = {"c=2.5", NULL};
    static const char *const umap_kv[] = {"a=1.577", "b=0.895", "gamma=1.3", "clip=4", "move_negatives=true", NULL};
    static const char *const umap_still[] = {"a=1.577", "b=0.895", "clip=0.5", NULL};
    sgd_case *c = malloc(sizeof *c);
    for (int dims = 2; dims <= 3; dims++)
        for (int mode = 0; mode < 3; mode++) {
            case_init(c, dims, mode);
            sgd_loss inf = {
                .kind = SGD_LOSS_INFONCE, .exaggeration = mode == 1 ? 4.0 : 1.0, .move_negatives = 1, .want_loss = 1};
            compare(c, "infonce", NULL, &inf);
            sgd_loss neg = {.kind = SGD_LOSS_NEG, .exaggeration = 1.5, .c = 2.5, .move_negatives = 1, .want_loss = 1};
            compare(c, "neg", neg_kv, &neg);
            sgd_loss um = {.kind = SGD_LOSS_UMAP,
                           .exaggeration = 1.0,
                           .a = 1.577,
                           .b = 0.895,
                           .gamma = 1.3,
                           .eps = 0.001,
                           .clip = 4.0,
                           .move_negatives = 1,
                           .want_loss = 1};
            compare(c, "umap", umap_kv, &um);
            um.gamma = 1.0, um.clip = 0.5, um.move_negatives = 0;
            compare(c, "umap", umap_still, &um);
        }
    free(c);
}

/* Skipping the loss's logarithms leaves the gradient bit for bit. */
static void test_want_loss_only_skips_the_value(void **state)
{
    (void)state;
    sgd_case *c = malloc(sizeof *c);
    case_init(c, 2, 0);
    float *g1 = calloc(N * 2, sizeof *g1), *g2 = calloc(N * 2, sizeof *g2);
    sgd_loss l = {.kind = SGD_LOSS_INFONCE, .exaggeration = 1.0, .move_negatives = 1, .want_loss = 1};
    double l1, l2;
    assert_int_equal(sgd_grad_cpu(&c->p, &c->b, &l, c->y, c->cell_mean, g1, &l1), NMP_OK);
    l.want_loss = 0;
    assert_int_equal(sgd_grad_cpu(&c->p, &c->b, &l, c->y, c->cell_mean, g2, &l2), NMP_OK);
    assert_memory_equal(g1, g2, N * 2 * sizeof *g1);
    assert_true(l1 > 0.0 && l2 == 0.0);
    c->neg_index[17] = N; /* refused, nothing written */
    assert_int_equal(sgd_grad_cpu(&c->p, &c->b, &l, c->y, c->cell_mean, g2, &l2), NMP_ERR_INVALID);
    assert_string_equal(sgd_batch_problem(&c->p, &c->b), "a negative is not a point id");
    free(g1), free(g2), free(c);
}

/* update_range's arithmetic, element by element, and the new cell means. */
static void test_update(void **state)
{
    (void)state;
    sgd_case *c = malloc(sizeof *c);
    case_init(c, 2, 0);
    float y0[N * 2], v[N * 2], g[N * 2], vel[N * 2];
    for (int i = 0; i < N * 2; i++) {
        y0[i] = c->y[i];
        vel[i] = v[i] = (float)(u01(9, (uint64_t)i) - 0.5);
        g[i] = (float)(200.0 * u01(10, (uint64_t)i) - 100.0);
    }
    sgd_update u = {.lr = 0.7, .momentum = 0.8, .inv_batch = 1.0 / 64, .clip = 1.0};
    int bad = -1;
    assert_int_equal(sgd_update_cpu(&c->p, &u, c->y, vel, g, c->cell_mean, &bad), NMP_OK);
    assert_int_equal(bad, 0);
    for (int i = 0; i < N * 2; i++) {
        float gi = (float)(200.0 * u01(10, (uint64_t)i) - 100.0) * (float)(1.0 / 64);
        gi = gi > 1.0f ? 1.0f : gi < -1.0f ? -1.0f : gi;
        float vi = 0.8f * v[i] + gi;
        assert_true(vel[i] == vi);
        assert_true(c->y[i] == y0[i] - 0.7f * vi);
        assert_true(g[i] == 0.0f);
    }
    for (int cell = 0; cell < CELLS; cell++) {
        double s = 0.0;
        for (int i = cell; i < N; i += CELLS) s += c->y[i * 2];
        assert_float_equal(c->cell_mean[cell * 2], s / c->mass[cell], 1e-6);
    }
    g[5] = INFINITY;
    assert_int_equal(sgd_update_cpu(&c->p, &u, c->y, vel, g, c->cell_mean, &bad), NMP_OK);
    assert_int_equal(bad, 0); /* clipped to 1: still finite */
    u.clip = 0.0, g[5] = INFINITY;
    assert_int_equal(sgd_update_cpu(&c->p, &u, c->y, vel, g, c->cell_mean, &bad), NMP_OK);
    assert_int_equal(bad, 1);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_grad_matches_loss_plugins),
                                       cmocka_unit_test(test_want_loss_only_skips_the_value),
                                       cmocka_unit_test(test_update)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
