/* Loss plugins on their own (ABI 2: the maths over tiles): every coefficient is the
 * derivative of the plugin's own loss value with respect to its pair's d2 (central finite
 * differences, coupling through z included), values by hand, NCE's statistic as dL/d log c
 * and its Z learning, and UMAP's coefficients against umap-learn's force formulas. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/rng.h"
#include "test_host.h"

#define NP 4 /* positives */
#define NN 5 /* exact negatives */
#define NA 3 /* approximate terms (one of weight 0) */

/* One target's terms: squared distances and weights. */
typedef struct {
    double d2_pos[NP], d2_neg[NN], d2_app[NA];
    float p[NP], w_neg[NN], w_app[NA];
    double exaggeration;
} one_target;

static void target_init(one_target *o, uint64_t seed, double exaggeration)
{
    for (int j = 0; j < NP; j++) {
        o->d2_pos[j] = 0.05 + 3.0 * nmp_rng_uniform(seed, 1, (uint64_t)j);
        o->p[j] = (float)(0.1 + nmp_rng_uniform(seed, 2, (uint64_t)j));
    }
    for (int l = 0; l < NN; l++) {
        o->d2_neg[l] = 0.1 + 20.0 * nmp_rng_uniform(seed, 3, (uint64_t)l);
        o->w_neg[l] = (float)(0.5 + nmp_rng_uniform(seed, 4, (uint64_t)l));
    }
    for (int c = 0; c < NA; c++) {
        o->d2_app[c] = 1.0 + 50.0 * nmp_rng_uniform(seed, 5, (uint64_t)c);
        o->w_app[c] = c == 1 ? 0.0f : (float)(2.0 * nmp_rng_uniform(seed, 6, (uint64_t)c));
    }
    o->exaggeration = exaggeration;
}

/* What the plugin says of the target: coefficients, z, scale and stat (its tile calls). */
typedef struct {
    float coef_pos[NP], coef_neg[NN], coef_app[NA];
    double z;
    float scale, stat;
    nmp_loss_shape shape;
} said;

static void prepare(test_instance *t, nmp_loss_shape *shape)
{
    nmp_fit_info fit = {.n = 100, .dims = 2, .batch = 1, .steps_per_epoch = 1, .epochs = 1, .n_total = 100};
    memset(shape, 0, sizeof *shape);
    assert_int_equal(((const nmp_loss_ops *)t->plugin->ops)->prepare(t->state, &fit, shape), NMP_OK);
}

/* z of a set of terms through repel (one row). */
static double repel_row(const nmp_loss_ops *ops, const void *state, const double *d2d, const float *w, int n,
                        float *coef)
{
    float d2[NN > NA ? NN : NA], z = 0.0f;
    for (int l = 0; l < n; l++) d2[l] = (float)d2d[l];
    const nmp_repel_tile tile = {1, n, d2, w, 0, coef, &z};
    ops->repel(state, &tile);
    return z;
}

/* The tiles of one step for the target (the fit already prepared). */
static void ask_step(test_instance *t, const one_target *o, said *s)
{
    const nmp_loss_ops *ops = t->plugin->ops;
    s->z = repel_row(ops, t->state, o->d2_neg, o->w_neg, NN, s->coef_neg) +
           repel_row(ops, t->state, o->d2_app, o->w_app, NA, s->coef_app);
    float d2[NP];
    for (int j = 0; j < NP; j++) d2[j] = (float)o->d2_pos[j];
    int64_t offset[2] = {0, NP};
    s->scale = 1.0f, s->stat = 0.0f;
    const nmp_attract_tile tile = {1, offset, d2, o->p, &s->z, (float)o->exaggeration, s->coef_pos, &s->scale, &s->stat};
    ops->attract(t->state, &tile);
}

/* A fresh fit's first step. */
static void ask(test_instance *t, const one_target *o, said *s)
{
    prepare(t, &s->shape);
    ask_step(t, o, s);
}

/* L_i as the plugin values it, z taken from its own repel calls (so the coupling is in it). */
static double value_of(test_instance *t, const one_target *o)
{
    const nmp_loss_ops *ops = t->plugin->ops;
    float coef[NN > NA ? NN : NA], d2p[NP], d2n[NN], d2a[NA];
    double z = repel_row(ops, t->state, o->d2_neg, o->w_neg, NN, coef) + repel_row(ops, t->state, o->d2_app, o->w_app, NA, coef);
    for (int j = 0; j < NP; j++) d2p[j] = (float)o->d2_pos[j];
    for (int l = 0; l < NN; l++) d2n[l] = (float)o->d2_neg[l];
    for (int c = 0; c < NA; c++) d2a[c] = (float)o->d2_app[c];
    const nmp_loss_terms terms = {NP, NN, NA, d2p, o->p, d2n, o->w_neg, d2a, o->w_app, z, o->exaggeration};
    return ops->value(t->state, &terms);
}

/* d value / d d2 of one term by central differences (float d2: a step well above its ulp). */
static double fd(test_instance *t, one_target *o, double *d2)
{
    double d0 = *d2, h = 1e-2 * d0;
    *d2 = d0 + h;
    double lp = value_of(t, o);
    *d2 = d0 - h;
    double lm = value_of(t, o);
    *d2 = d0;
    return (lp - lm) / (2.0 * h);
}

static void expect_near(const char *what, int i, double got, double want, double scale)
{
    if (!(fabs(got - want) <= 2e-3 * fabs(want) + 1e-5 * scale))
        fail_msg("%s[%d]: coefficient x weight %.8g, finite difference %.8g", what, i, got, want);
}

/* Every coefficient (times its weight, and the scale when coupled) is dL/d(d2) of the value. */
static void check_fd(const char *name, const char *const *kv, double exaggeration)
{
    nmp_host *h = test_host_new(1, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, name, kv);
    const nmp_loss_ops *ops = t.plugin->ops;
    nmp_step step = {.batch = 1};
    nmp_negatives neg = {.per_target = NN};
    if (ops->begin_step) assert_int_equal(ops->begin_step(t.state, &step, &neg), NMP_OK);
    one_target o;
    said s;
    target_init(&o, 11, exaggeration);
    ask(&t, &o, &s);
    const double k = s.shape.coupled ? s.scale : 1.0;
    double big = 0.0;
    for (int j = 0; j < NP; j++) big = fmax(big, fabs(o.p[j] * s.coef_pos[j]));
    for (int j = 0; j < NP; j++) expect_near(name, j, o.p[j] * s.coef_pos[j], fd(&t, &o, &o.d2_pos[j]), big);
    for (int l = 0; l < NN; l++) expect_near(name, NP + l, k * o.w_neg[l] * s.coef_neg[l], fd(&t, &o, &o.d2_neg[l]), big);
    for (int c = 0; c < NA; c++) expect_near(name, NP + NN + c, k * o.w_app[c] * s.coef_app[c], fd(&t, &o, &o.d2_app[c]), big);
    test_plugin_destroy(&t);
    test_host_free(h);
}

static void test_coefficients_are_derivatives(void **st)
{
    (void)st;
    check_fd("infonce", NULL, 1.0);
    check_fd("infonce", NULL, 4.0);
    check_fd("tsne", NULL, 1.0); /* first step: Z is the target's own */
    check_fd("tsne", NULL, 3.0);
    check_fd("neg", (const char *const[]){"c=0.7", NULL}, 1.3);
    check_fd("nce", (const char *const[]){"log_z_init=0.4", NULL}, 2.0); /* c = m Z from begin_step */
    check_fd("umap", (const char *const[]){"a=1.5", "b=0.9", "gamma=1.3", NULL}, 1.0);
    check_fd("umap", (const char *const[]){"a=1.577", "b=0.8951", "gamma=1.0", NULL}, 2.5);
}

/* InfoNCE's value, DESIGN.md section 1 written out for the target. */
static void test_infonce_value(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(1, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "infonce", NULL);
    one_target o;
    target_init(&o, 5, 1.9);
    nmp_loss_shape shape;
    prepare(&t, &shape);
    assert_true(shape.coupled && shape.move_negatives && shape.clip == 0.0f);
    double z = 0.0, want = 0.0;
    for (int l = 0; l < NN; l++) z += o.w_neg[l] / (1.0 + o.d2_neg[l]);
    for (int c = 0; c < NA; c++) z += o.w_app[c] / (1.0 + o.d2_app[c]);
    for (int j = 0; j < NP; j++) {
        double q = 1.0 / (1.0 + o.d2_pos[j]);
        want += -o.p[j] * (1.9 * log(q) - log(q + z));
    }
    double got = value_of(&t, &o);
    assert_true(fabs(got - want) <= 1e-6 * fabs(want)); /* z summed in float by repel */
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* Neg-t-SNE's value by hand: -a p log(q/(q + c)) - w log(1 - q/(q + c)). */
static void test_neg_value(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(1, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "neg", (const char *const[]){"c=2.5", NULL});
    one_target o;
    target_init(&o, 9, 1.5);
    double want = 0.0, c = 2.5;
    for (int j = 0; j < NP; j++) {
        double q = 1.0 / (1.0 + o.d2_pos[j]);
        want += -1.5 * o.p[j] * log(q / (q + c));
    }
    for (int l = 0; l < NN; l++) {
        double q = 1.0 / (1.0 + o.d2_neg[l]);
        want += -o.w_neg[l] * log(1.0 - q / (q + c));
    }
    for (int a = 0; a < NA; a++) {
        double q = 1.0 / (1.0 + o.d2_app[a]);
        want += -o.w_app[a] * log(1.0 - q / (q + c));
    }
    double got = value_of(&t, &o);
    assert_true(fabs(got - want) <= 1e-6 * fabs(want)); /* d2 reaches a loss as float */
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* NCE: attract's stat is dL/d log c (finite differences in log Z), and end_step moves log Z
 * against it, deterministically. */
static void test_nce_stat_and_z(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(1, 1);
    const char *const kv[] = {"z_lr=0.05", "log_z_init=0.2", NULL};
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "nce", kv);
    const nmp_loss_ops *ops = t.plugin->ops;
    one_target o;
    target_init(&o, 3, 1.0);
    nmp_step step = {.batch = 1};
    nmp_negatives neg = {.per_target = NN};
    double value[3];
    said s;
    for (int i = 0; i < 3; i++) { /* log Z = 0.2 - 1e-3, 0.2 + 1e-3, 0.2 by three instances' begin_step */
        test_instance u = test_plugin_create(h, NMP_KIND_LOSS, "nce",
                                             (const char *const[]){i == 0 ? "log_z_init=0.199" : i == 1 ? "log_z_init=0.201"
                                                                                                        : "log_z_init=0.2",
                                                                   NULL});
        assert_int_equal(ops->begin_step(u.state, &step, &neg), NMP_OK);
        value[i] = value_of(&u, &o);
        if (i == 2) ask(&u, &o, &s);
        test_plugin_destroy(&u);
    }
    double dlogc = (value[1] - value[0]) / 2e-3;
    assert_true(fabs(s.stat - dlogc) <= 1e-3 * fabs(dlogc) + 1e-6);
    assert_int_equal(ops->begin_step(t.state, &step, &neg), NMP_OK);
    ask(&t, &o, &s);
    double before = value_of(&t, &o);
    assert_int_equal(ops->end_step(t.state, &step, s.stat), NMP_OK);
    assert_int_equal(ops->begin_step(t.state, &step, &neg), NMP_OK);
    assert_true(value_of(&t, &o) < before); /* one SGD step on log Z lowers the loss */
    test_plugin_destroy(&t);
    test_host_free(h);
}

/* t-SNE: a target's stat is its Z_i; end_step pools them (batch mean, blended by z_decay) and
 * the next step repels each target by 1 / max(Z, Z_i). */
static void check_tsne_pooling(double decay, int z_max)
{
    nmp_host *h = test_host_new(1, 1);
    char kv0[64];
    snprintf(kv0, sizeof kv0, "z_decay=%g", decay);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "tsne",
                                         (const char *const[]){kv0, z_max ? "z_max=true" : "z_max=false", NULL});
    const nmp_loss_ops *ops = t.plugin->ops;
    nmp_step step = {.batch = 4};
    nmp_negatives neg = {.per_target = NN};
    one_target o;
    said s;
    target_init(&o, 5, 1.0);
    prepare(&t, &s.shape);
    assert_int_equal(ops->begin_step(t.state, &step, &neg), NMP_OK);
    ask_step(&t, &o, &s);
    assert_true(fabs(s.stat - s.z) <= 1e-6 * s.z);
    assert_true(fabs(s.scale - 1.0 / s.z) <= 1e-6 / s.z); /* no estimate yet: the target's own */
    /* A pooled Z above the target's own Z_i is used as it is; one below is not (its own, bounding
     * the kick of a near negative). */
    const double zi = s.z, z1 = 3.0 * zi, z2 = 0.2 * zi;
    assert_int_equal(ops->end_step(t.state, &step, 4 * z1), NMP_OK); /* mean Z_i over 4 targets */
    assert_int_equal(ops->begin_step(t.state, &step, &neg), NMP_OK);
    ask_step(&t, &o, &s);
    assert_true(fabs(s.scale - 1.0 / z1) <= 1e-6 / z1);
    assert_int_equal(ops->end_step(t.state, &step, 4 * z2), NMP_OK);
    assert_int_equal(ops->begin_step(t.state, &step, &neg), NMP_OK);
    ask_step(&t, &o, &s);
    const double pooled = decay * z1 + (1.0 - decay) * z2, want = z_max ? fmax(pooled, zi) : pooled;
    assert_true(fabs(s.scale - 1.0 / want) <= 1e-6 / want);
    test_plugin_destroy(&t);
    test_host_free(h);
}

static void test_tsne_pooled_z(void **st)
{
    (void)st;
    check_tsne_pooling(0.0, 1);
    check_tsne_pooling(0.9, 1);
    check_tsne_pooling(0.0, 0);
}

/* UMAP: a positive at d2 = 1 and a negative at d2 = 0.25, against umap-learn's force
 * coefficients 2ab d^(2(b-1))/(1 + a d^2b) and -2 gamma b/((eps + d^2)(1 + a d^2b)) (the
 * engine multiplies 2 c by y_i - y_z); shape: clipped, negatives still unless asked. */
static void test_umap_forces(void **st)
{
    (void)st;
    nmp_host *h = test_host_new(1, 1);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, "umap",
                                         (const char *const[]){"a=1.5", "b=0.9", "gamma=1.3", "clip=0.5", NULL});
    one_target o;
    said s;
    target_init(&o, 1, 2.5);
    o.d2_pos[0] = 1.0, o.d2_neg[0] = 0.25, o.d2_neg[1] = 0.0;
    ask(&t, &o, &s);
    double att = 2 * 1.5 * 0.9 * pow(1.0, 0.9 - 1) / (1 + 1.5 * pow(1.0, 0.9));
    double rep = -2 * 1.3 * 0.9 / ((0.001 + 0.25) * (1 + 1.5 * pow(0.25, 0.9)));
    assert_true(fabs(2.0 * s.coef_pos[0] - 2.5 * att) <= 1e-5 * fabs(att)); /* exaggeration scales attraction */
    assert_true(fabs(2.0 * s.coef_neg[0] - rep) <= 1e-5 * fabs(rep));
    assert_true(s.coef_neg[1] == 0.0f); /* no force at d2 = 0, as in umap-learn */
    assert_true(s.shape.clip == 0.5f && !s.shape.move_negatives && !s.shape.coupled);
    test_plugin_destroy(&t);
    /* a = b = 0: fitted like umap-learn's find_ab_params(spread 1, min_dist 0.1) = (1.577, 0.8951) */
    t = test_plugin_create(h, NMP_KIND_LOSS, "umap", (const char *const[]){"move_negatives=true", NULL});
    ask(&t, &o, &s);
    att = 2 * 1.577 * 0.8951 / (1 + 1.577);
    assert_true(fabs(2.0 * s.coef_pos[0] - 2.5 * att) <= 2e-3 * att);
    assert_true(s.shape.move_negatives && s.shape.clip == 4.0f);
    test_plugin_destroy(&t);
    test_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coefficients_are_derivatives), cmocka_unit_test(test_infonce_value),
        cmocka_unit_test(test_neg_value), cmocka_unit_test(test_nce_stat_and_z), cmocka_unit_test(test_umap_forces),
        cmocka_unit_test(test_tsne_pooled_z),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
