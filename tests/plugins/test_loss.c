/* Loss plugins: gradients against central finite differences of the reported loss
 * (infonce, neg, nce), UMAP forces against their formulas, and determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/rng.h"
#include "test_host.h"

#define N 14
#define D 2
#define B 3
#define E 6
#define NEG 3
#define SHARED 4
#define APPROX 2

/* A tiny batch: targets 0..2 with two positives each (point 4 is shared), negatives per
 * target (shared = 0), shared by all (1) or in rows {0, 1} {2} (2, ABI 1.1), weighted, and
 * two weighted approximate terms (one weight 0). */
typedef struct {
    float y[N * D];
    int32_t target[B];
    int64_t edge_offset[B + 1];
    int32_t pos[E];
    float pos_weight[E];
    int32_t neg_index[B * NEG], shared_index[SHARED], row_start[3];
    float neg_weight[B * NEG];
    float approx_y[APPROX * D], approx_weight[B * APPROX];
    nmp_step step;
    nmp_negatives neg;
    float g_target[B * D], g_pos[E * D], g_neg[B * NEG * D];
    nmp_grads grads;
} loss_case;

static void case_init(loss_case *c, int shared, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N * D; i++) c->y[i] = (float)(4.0 * nmp_rng_uniform(seed, 1, (uint64_t)i) - 2.0);
    static const int32_t pos[E] = {3, 4, 5, 6, 4, 7};
    static const int32_t negs[B * NEG] = {8, 9, 1, 10, 11, 0, 12, 13, 8};
    static const int32_t shared_negs[SHARED] = {8, 9, 2, 13};
    for (int b = 0; b < B; b++) c->target[b] = b, c->edge_offset[b + 1] = 2 * (b + 1);
    memcpy(c->pos, pos, sizeof pos);
    memcpy(c->neg_index, negs, sizeof negs);
    memcpy(c->shared_index, shared_negs, sizeof shared_negs);
    for (int e = 0; e < E; e++) c->pos_weight[e] = (float)(0.2 + nmp_rng_uniform(seed, 2, (uint64_t)e));
    for (int l = 0; l < B * NEG; l++) c->neg_weight[l] = (float)(0.5 + nmp_rng_uniform(seed, 3, (uint64_t)l));
    for (int i = 0; i < APPROX * D; i++) c->approx_y[i] = (float)(6.0 * nmp_rng_uniform(seed, 4, (uint64_t)i) - 3.0);
    for (int i = 0; i < B * APPROX; i++) /* slot 3 (target 1, term 1) is dropped */
        c->approx_weight[i] = i == 3 ? 0.0f : (float)(0.5 + 3 * nmp_rng_uniform(seed, 5, (uint64_t)i));
    c->step = (nmp_step){.epoch = 0, .step = 7, .y = c->y, .batch = B, .target = c->target,
                         .edge_offset = c->edge_offset, .pos = c->pos, .pos_weight = c->pos_weight};
    int all = shared == 1;
    c->neg = (nmp_negatives){.per_target = all ? SHARED : NEG, .shared = all,
                             .index = all ? c->shared_index : c->neg_index, .weight = all ? NULL : c->neg_weight,
                             .approx_count = APPROX, .approx_y = c->approx_y, .approx_weight = c->approx_weight};
    if (shared == 2) {
        c->row_start[0] = 0, c->row_start[1] = 2, c->row_start[2] = B;
        c->neg.rows = 2, c->neg.row_start = c->row_start;
    }
    c->grads = (nmp_grads){c->g_target, c->g_pos, c->g_neg, 0.0};
}

static void prepare(test_instance *t)
{
    nmp_fit_info fit = {.n = N, .dims = D, .batch = B, .steps_per_epoch = 1, .epochs = 1};
    const nmp_loss_ops *ops = t->plugin->ops;
    if (ops->prepare) assert_int_equal(ops->prepare(t->state, &fit), NMP_OK);
}

static double run_grad(test_instance *t, loss_case *c, double exaggeration)
{
    memset(c->g_target, 0, sizeof c->g_target), memset(c->g_pos, 0, sizeof c->g_pos);
    memset(c->g_neg, 0, sizeof c->g_neg);
    const nmp_loss_ops *ops = t->plugin->ops;
    assert_int_equal(ops->grad(t->state, &c->step, &c->neg, exaggeration, &c->grads), NMP_OK);
    return c->grads.loss;
}

/* dL/dy per point, as the host scatters the slots. */
static void scatter(const loss_case *c, double *g)
{
    memset(g, 0, N * D * sizeof *g);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < D; k++) g[c->target[b] * D + k] += c->g_target[b * D + k];
    for (int e = 0; e < E; e++)
        for (int k = 0; k < D; k++) g[c->pos[e] * D + k] += c->g_pos[e * D + k];
    int rows = c->neg.rows > 0 ? c->neg.rows : c->neg.shared ? 1 : B;
    for (int s = 0; s < rows * c->neg.per_target; s++)
        for (int k = 0; k < D; k++) g[c->neg.index[s] * D + k] += c->g_neg[s * D + k];
}

static void check_fd(const char *name, const char *const *kv, int shared, double exaggeration)
{
    nmp_host *h = test_host_new(2, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, name, kv);
    prepare(&t);
    loss_case c;
    case_init(&c, shared, 11 + (uint64_t)shared);
    run_grad(&t, &c, exaggeration);
    double g[N * D], gmax = 0.0;
    scatter(&c, g);
    for (int i = 0; i < N * D; i++) gmax = fmax(gmax, fabs(g[i]));
    assert_true(gmax > 0.0);
    const float hstep = 1e-3f;
    for (int i = 0; i < N * D; i++) {
        float y0 = c.y[i], yp = y0 + hstep, ym = y0 - hstep;
        c.y[i] = yp;
        double lp = run_grad(&t, &c, exaggeration);
        c.y[i] = ym;
        double lm = run_grad(&t, &c, exaggeration);
        c.y[i] = y0;
        double fd = (lp - lm) / ((double)yp - (double)ym);
        if (fabs(fd - g[i]) > 1e-3 * fabs(fd) + 1e-5 * gmax)
            fail_msg("%s shared=%d: dL/dy[%d] = %.8g, finite difference %.8g", name, shared, i, g[i], fd);
    }
    test_plugin_destroy(&t);
    test_host_free(h);
}

static void test_infonce_fd(void **st)
{
    (void)st;
    check_fd("infonce", NULL, 0, 1.7);
    check_fd("infonce", NULL, 1, 1.0);
    check_fd("infonce", NULL, 2, 1.2);
}

static void test_neg_fd(void **st)
{
    (void)st;
    static const char *const kv[] = {"c=0.7", NULL};
    check_fd("neg", kv, 0, 1.3);
    check_fd("neg", kv, 1, 1.0);
    check_fd("neg", kv, 2, 1.0);
}

static void test_nce_fd(void **st)
{
    (void)st;
    static const char *const kv[] = {"z_lr=0", "log_z_init=0.4", NULL};
    check_fd("nce", kv, 0, 2.0);
    check_fd("nce", kv, 1, 1.0);
    check_fd("nce", kv, 2, 1.0);
}

static double sqd(const float *a, const float *b) { return pow(a[0] - (double)b[0], 2) + pow(a[1] - (double)b[1], 2); }

/* The DESIGN.md section 1 loss, written out directly for the case; with every > 1, the
 * curve's estimate: targets b % every == 0 only, times every. */
static double infonce_by_hand(const loss_case *c, double a, int every)
{
    double total = 0.0;
    for (int b = 0; b < B; b += every) {
        const float *yi = c->y + c->target[b] * D;
        double z = 0.0;
        for (int l = 0; l < c->neg.per_target; l++) {
            int row = c->neg.rows ? (b >= c->neg.row_start[1]) : c->neg.shared ? 0 : b;
            int s = row * c->neg.per_target + l;
            z += (c->neg.weight ? c->neg.weight[s] : 1.0) / (1.0 + sqd(yi, c->y + c->neg.index[s] * D));
        }
        for (int r = 0; r < APPROX; r++) z += c->approx_weight[b * APPROX + r] / (1.0 + sqd(yi, c->approx_y + r * D));
        for (int e = (int)c->edge_offset[b]; e < c->edge_offset[b + 1]; e++) {
            double q = 1.0 / (1.0 + sqd(yi, c->y + c->pos[e] * D));
            total += -c->pos_weight[e] * (a * log(q) - log(q + z));
        }
    }
    return total * every;
}

static void test_infonce_value(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(3, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "infonce", NULL);
    prepare(&t);
    for (int shared = 0; shared <= 2; shared++) {
        loss_case c;
        case_init(&c, shared, 5);
        double got = run_grad(&t, &c, 1.9), want = infonce_by_hand(&c, 1.9, 1);
        assert_true(fabs(got - want) <= 1e-12 * fabs(want));
        float g_all[B * D];
        memcpy(g_all, c.g_target, sizeof g_all);
        c.step.loss_every = 2; /* the loss from targets 0 and 2, doubled; gradients unchanged */
        got = run_grad(&t, &c, 1.9), want = infonce_by_hand(&c, 1.9, 2);
        assert_true(fabs(got - want) <= 1e-12 * fabs(want));
        assert_memory_equal(g_all, c.g_target, sizeof g_all);
    }
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* Neg-t-SNE's value for one target, one positive and one negative, by hand. */
static void test_neg_value(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(1, 1);
    static const char *const kv[] = {"c=2.5", NULL};
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "neg", kv);
    prepare(&t);
    loss_case c;
    case_init(&c, 0, 9);
    c.step.batch = 1, c.neg.per_target = 1, c.neg.approx_count = 0, c.edge_offset[1] = 1;
    double got = run_grad(&t, &c, 1.5);
    double qj = 1.0 / (1.0 + sqd(c.y, c.y + c.pos[0] * D)), ql = 1.0 / (1.0 + sqd(c.y, c.y + c.neg_index[0] * D));
    double want = -1.5 * c.pos_weight[0] * log(qj / (qj + 2.5)) - c.neg_weight[0] * log(1.0 - ql / (ql + 2.5));
    assert_true(fabs(got - want) <= 1e-12 * fabs(want));
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* With z_lr > 0 log Z descends on the batch loss; two instances follow the same path. */
static void test_nce_learns_z(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(2, 1);
    static const char *const kv[] = {"z_lr=0.05", NULL};
    test_instance t1 = test_plugin_create(h, NMP_KIND_LOSS, "nce", kv);
    test_instance t2 = test_plugin_create(h, NMP_KIND_LOSS, "nce", kv);
    prepare(&t1), prepare(&t2);
    loss_case c;
    case_init(&c, 0, 3);
    double prev = INFINITY;
    for (int i = 0; i < 5; i++) {
        double l1 = run_grad(&t1, &c, 1.0), l2 = run_grad(&t2, &c, 1.0);
        assert_true(l1 == l2);
        assert_true(l1 < prev);
        prev = l1;
    }
    test_plugin_destroy(&t1), test_plugin_destroy(&t2);
    test_host_free(h);
}

/* Same input -> same bits; another thread count -> the same up to rounding. */
static void test_loss_determinism(void **st)
{
    (void)st;
    static const char *names[] = {"infonce", "neg", "nce", "umap"};
    for (int p = 0; p < 4; p++) {
        float first[B * D + E * D + SHARED * D];
        for (int threads = 1; threads <= 3; threads += 2)
            for (int rep = 0; rep < 2; rep++) {
                nmp_host *h = test_host_new(threads, 1);
                test_instance t = test_plugin_create(h, NMP_KIND_LOSS, names[p], NULL);
                prepare(&t);
                loss_case c;
                case_init(&c, 1, 21);
                run_grad(&t, &c, 1.0);
                float now[sizeof first / sizeof first[0]];
                memcpy(now, c.g_target, sizeof c.g_target), memcpy(now + B * D, c.g_pos, sizeof c.g_pos);
                memcpy(now + B * D + E * D, c.g_neg, SHARED * D * sizeof(float));
                if (threads == 1 && rep == 0) memcpy(first, now, sizeof now);
                for (size_t i = 0; i < sizeof now / sizeof now[0]; i++) {
                    if (threads == 1) assert_true(now[i] == first[i]);
                    else assert_true(fabsf(now[i] - first[i]) <= 1e-5f * (1.0f + fabsf(first[i])));
                }
                test_plugin_destroy(&t);
                test_host_free(h);
            }
    }
}

/* UMAP: one target at the origin, a positive at (0.6, 0.8) (d2 = 1) and a negative at
 * (0.3, -0.4) (d2 = 0.25), against umap-learn's force formulas. */
typedef struct {
    loss_case c;
    double att[D], rep[D]; /* gradients dL/dy_i of the pair (= -force), unclipped */
} umap_pair;

static void umap_pair_init(umap_pair *u, double a, double b, double gamma)
{
    case_init(&u->c, 0, 1);
    u->c.step.batch = 1, u->c.neg.per_target = 1, u->c.neg.weight = NULL, u->c.neg.approx_count = 0;
    u->c.edge_offset[1] = 1, u->c.pos_weight[0] = 1.0f;
    float *y = u->c.y;
    y[0] = 0, y[1] = 0, y[u->c.pos[0] * D] = 0.6f, y[u->c.pos[0] * D + 1] = 0.8f;
    y[u->c.neg_index[0] * D] = 0.3f, y[u->c.neg_index[0] * D + 1] = -0.4f;
    double d2p = sqd(y, y + u->c.pos[0] * D), d2n = sqd(y, y + u->c.neg_index[0] * D);
    double att = 2 * a * b * pow(d2p, b - 1) / (1 + a * pow(d2p, b)); /* -(force coefficient) */
    double rep = -2 * gamma * b / ((0.001 + d2n) * (1 + a * pow(d2n, b)));
    for (int k = 0; k < D; k++)
        u->att[k] = att * (y[k] - y[u->c.pos[0] * D + k]), u->rep[k] = rep * (y[k] - y[u->c.neg_index[0] * D + k]);
}

static void assert_close(double got, double want) { assert_true(fabs(got - want) <= 1e-5 * (1 + fabs(want))); }

static void test_umap_forces(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(1, 1);
    static const char *const kv[] = {"a=1.5", "b=0.9", "gamma=1.3", "clip=100", NULL};
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "umap", kv);
    prepare(&t);
    umap_pair u;
    umap_pair_init(&u, 1.5, 0.9, 1.3);
    run_grad(&t, &u.c, 1.0);
    for (int k = 0; k < D; k++) {
        assert_close(u.c.g_target[k], u.att[k] + u.rep[k]);
        assert_close(u.c.g_pos[k], -u.att[k]); /* move_other: the positive is pulled too */
        assert_true(u.c.g_neg[k] == 0.0f);     /* umap-learn leaves negatives still */
    }
    run_grad(&t, &u.c, 2.5); /* exaggeration scales only the attraction */
    for (int k = 0; k < D; k++) {
        assert_close(u.c.g_target[k], 2.5 * u.att[k] + u.rep[k]);
        assert_close(u.c.g_pos[k], -2.5 * u.att[k]);
    }
    test_plugin_destroy(&t);

    static const char *const kv_clip[] = {"a=1.5", "b=0.9", "gamma=1.3", "clip=0.5", "move_negatives=true", NULL};
    t = test_plugin_create(h, NMP_KIND_LOSS, "umap", kv_clip);
    prepare(&t);
    run_grad(&t, &u.c, 1.0);
    for (int k = 0; k < D; k++) {
        double ca = fmax(-0.5, fmin(0.5, u.att[k])), cr = fmax(-0.5, fmin(0.5, u.rep[k]));
        assert_true(fabs(u.rep[k]) > 0.5); /* the case does exercise the clip */
        assert_close(u.c.g_target[k], ca + cr);
        assert_close(u.c.g_neg[k], -cr);
    }
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* a = b = 0: fitted like umap-learn's find_ab_params(spread 1, min_dist 0.1) = (1.577, 0.8951). */
static void test_umap_fit_ab(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(1, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "umap", (const char *const[]){"clip=100", NULL});
    prepare(&t);
    umap_pair u;
    umap_pair_init(&u, 1.577, 0.8951, 1.0);
    run_grad(&t, &u.c, 1.0);
    for (int k = 0; k < D; k++) assert_true(fabs(u.c.g_pos[k] + u.att[k]) <= 2e-3 * fabs(u.att[k]));
    test_plugin_destroy(&t);
    test_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infonce_fd),       cmocka_unit_test(test_neg_fd),
        cmocka_unit_test(test_nce_fd),           cmocka_unit_test(test_infonce_value),
        cmocka_unit_test(test_neg_value),        cmocka_unit_test(test_nce_learns_z),
        cmocka_unit_test(test_loss_determinism), cmocka_unit_test(test_umap_forces),
        cmocka_unit_test(test_umap_fit_ab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
