/* The fit on the GPU (nmp_optimize_cuda, with the plugins' CUDA entries) against the CPU fit
 * (nmp_optimize) on the same problem and seed: both draw the same batches and negatives and
 * compute in float32 with the same formulas, so the layouts differ by rounding only (float
 * sums in another order, fused multiply-adds, the CPU's lazy moves). On the CPU a 4e-7
 * relative nudge of the start grew to at most 1e-5 of the layout's scale over these 10
 * epochs. Tolerances: every layout coordinate within 1e-3 of the largest absolute coordinate;
 * each epoch's loss within 1e-3 relative (loss_every 1: every step and target on both sides).
 * With loss_every 8 the GPU samples one step in 3 and one target in 8: in the first 4 epochs
 * every target's loss is the same to 1e-5 (the layout is still a point), so the scaled-up
 * sample must match the CPU's full sum within 1e-3 (a wrong scale is off by 3x or 8x). The
 * pair terms counted are equal (the same batches and negatives).
 * Exits 77 without CUDA in the build or without a GPU. */
#include <stdio.h>

#include "opt_fixture.h"

#ifdef NOMAD_CUDA
#include "cuda_check.h"

static void use_cuda_entries(fixture *f)
{
    f->neg.ops = nmp_plugin_cuda_ops(f->neg.ref->desc);
    f->loss.ops = nmp_plugin_cuda_ops(f->loss.ref->desc);
    assert_non_null(f->neg.ops);
    assert_non_null(f->loss.ops);
}

/* f's negatives plugin made again with the parameters of a YAML map. */
static void negatives_with(fixture *f, const char *negatives, const char *yaml)
{
    nmp_err err = {0};
    nmp_cfg_node *root = NULL;
    const nmp_plugin_ref *ref;
    nmp_params p = {0};
    assert_int_equal(nmp_cfg_parse_string("negatives", yaml, &root, &err), NMP_OK);
    nmp_instance_destroy(&f->neg);
    assert_int_equal(nmp_registry_resolve(&f->reg, NMP_KIND_NEGATIVES, negatives, root, &ref, &p, &err), NMP_OK);
    assert_int_equal(nmp_instance_create(ref, "negatives", &p, &f->neg, &err), NMP_OK);
    nmp_cfg_free(root);
}

/* One problem: cpu and gpu fits from the same start; `cells2`: two interleaved cells;
 * neg_yaml: the negatives' parameters (NULL: defaults); the GPU's loss_every, and the epochs
 * whose loss is compared. */
static void compare(const char *negatives, const char *neg_yaml, const char *loss, int cells2, int gpu_loss_every,
                    int64_t loss_epochs)
{
    fixture a, b;
    nmp_opt_settings s = (nmp_opt_settings){.epochs = 10, .batch = 64, .lr = 20, .momentum = 0.8, .hold = 0.3,
                                            .dims = 2, .seed = 7, .early_exaggeration = 1, .late_exaggeration = 1,
                                            .late_start = 1, .loss_every = 1};
    nmp_opt_result ra, rb;
    nmp_err err = {0};
    uint8_t local[2] = {1, 1};
    setup_fit(&a, 7, negatives, loss), setup_fit(&b, 7, negatives, loss);
    if (cells2) two_cells(&a, 0), two_cells(&b, 0);
    if (neg_yaml) negatives_with(&a, negatives, neg_yaml), negatives_with(&b, negatives, neg_yaml);
    use_cuda_entries(&b);
    assert_int_equal(nmp_optimize(&(nmp_fit_request){&s, a.y, &a.graph, &a.cells.view, local, &a.neg, &a.loss, NULL, NULL}, &ra, &err),
                     NMP_OK);
    s.loss_every = gpu_loss_every;
    nmp_status st = nmp_optimize_cuda(&(nmp_fit_request){&s, b.y, &b.graph, &b.cells.view, local, &b.neg, &b.loss, NULL, NULL}, &rb, &err);
    if (st != NMP_OK) fail_msg("%s + %s on cuda: %s", negatives, loss, err.msg);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < 400; i++) scale = fmax(scale, fabs(a.y[i]));
    for (int64_t i = 0; i < 400; i++) worst = fmax(worst, fabs((double)a.y[i] - b.y[i]));
    printf("%s + %s (%d cells): largest |y| %.4g, largest cpu-gpu difference %.3g\n", negatives, loss, cells2 ? 2 : 1,
           scale, worst);
    assert_true(worst <= 1e-3 * scale);
    assert_int_equal(rb.pairs, ra.pairs); /* the same batches and negatives */
    for (int64_t e = 0; e < loss_epochs; e++)
        if (!(fabs(ra.loss[e] - rb.loss[e]) <= 1e-3 * fabs(ra.loss[e])))
            fail_msg("epoch %lld: loss %.6g on cpu, %.6g on cuda", (long long)e, ra.loss[e], rb.loss[e]);
    free(ra.loss), free(ra.epoch_seconds), free(rb.loss), free(rb.epoch_seconds);
    teardown_fit(&a), teardown_fit(&b);
}

static void uniform_infonce(void **st) { (void)st, compare("uniform", NULL, "infonce", 0, 1, 10); }
static void cluster_mean_infonce_two_cells(void **st) { (void)st, compare("cluster_mean", NULL, "infonce", 1, 1, 10); }
/* approx_cells: all copies the host's cell means each step: the fit then refreshes them */
static void cluster_mean_all_means(void **st)
{
    (void)st, compare("cluster_mean", "{approx_cells: all, weighting: mass}", "infonce", 1, 1, 10);
}
static void uniform_neg(void **st) { (void)st, compare("uniform", NULL, "neg", 0, 1, 10); }
static void uniform_umap(void **st) { (void)st, compare("uniform", NULL, "umap", 0, 1, 10); }
static void sampled_loss(void **st) { (void)st, compare("uniform", NULL, "infonce", 0, 8, 4); }

static void nan_stops(void **st)
{
    (void)st;
    fixture f;
    nmp_opt_settings s = {.epochs = 3, .batch = 64, .lr = INFINITY, .momentum = 0.8, .dims = 2, .seed = 7,
                          .early_exaggeration = 1, .late_exaggeration = 1, .late_start = 1};
    nmp_opt_result r;
    nmp_err err = {0};
    setup_fit(&f, 7, "uniform", "infonce");
    use_cuda_entries(&f);
    assert_int_equal(
        nmp_optimize_cuda(&(nmp_fit_request){&s, f.y, &f.graph, &f.cells.view, &f.local, &f.neg, &f.loss, NULL, NULL}, &r, &err),
        NMP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "NaN or Inf during epoch 0"));
    free(r.loss), free(r.epoch_seconds);
    teardown_fit(&f);
}
#endif

int main(void)
{
#ifndef NOMAD_CUDA
    puts("skip: built without CUDA");
    return 77;
#else
    if (!nmp_cuda_available()) {
        char why[256];
        nmp_cuda_describe(why, sizeof why);
        printf("skip: %s\n", why);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uniform_infonce), cmocka_unit_test(cluster_mean_infonce_two_cells),
        cmocka_unit_test(cluster_mean_all_means),
        cmocka_unit_test(uniform_neg),     cmocka_unit_test(uniform_umap),
        cmocka_unit_test(sampled_loss),    cmocka_unit_test(nan_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
