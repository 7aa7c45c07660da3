/* Parity of the fused step (kernels/sgd_step.cu) with its CPU references: the gradient and
 * loss with the CPU step engine run through the real loss plugins (tests/support/step_case.h),
 * the update with sgd_update_cpu. Both sides compute in float32 from nomad/loss_math.h; they
 * differ in the order of their float sums (lanes and atomics against tiles and doubles) and
 * in fused multiply-adds (nvcc contracts; the host compiler may, -march=native). A host
 * emulation of the kernel (its device functions, lanes in turn) was within 5e-7 of the
 * largest coordinate and 3e-9 of the loss on these cases. Tolerances:
 *   gradient: 2e-5 x the largest |coordinate|;
 *   loss: 1e-6 relative, with every target sampled or one in 3 (the same ones on both sides);
 *   update given the same gradient: y and velocity within 1e-6 x max(1, |value|) (one
 *     rounding of a fused multiply-add against two), cell means 1e-6 relative (double sums in
 *     another order);
 *   30 full steps (a layout that spreads 15-fold without chaos: the emulation drifted 2.5e-6):
 *     y within 1e-4 x the largest |y|, the summed loss 1e-6 relative;
 *   tsne's pooled Z after a step (the batch's mean Z_i, on the device): 1e-6 relative.
 * Exit 77 without a CUDA build or a GPU. */
#include "gpu_parity.h"

#ifdef NOMAD_CUDA
#include <string.h>

#include "sgd_step_cpu.h"
#include "sgd_step_cuda.h"
#include "step_case.h"

/* A shipped loss twice: the plugin the engine runs (name, parameters) and the kernel's
 * selector with the same parameters. */
typedef struct {
    const char *what, *plugin;
    const char *const *kv;
    sgd_loss l;
} loss_case;

static const char *const neg_kv[] = {"c=2.5", NULL};
static const char *const umap_kv[] = {"a=1.577", "b=0.895", "gamma=1.3", "clip=4", "move_negatives=true", NULL};
static const char *const umap_still_kv[] = {"a=1.577", "b=0.895", "clip=0.5", NULL};
static const char *const tsne_kv[] = {"z_decay=0", "z_max=true", NULL};
static const char *const tsne_decay_kv[] = {"z_decay=0.5", "z_max=false", NULL};
static const loss_case losses[] = {
    {"infonce", "infonce", NULL, {.kind = SGD_LOSS_INFONCE, .move_negatives = 1}},
    {"neg", "neg", neg_kv, {.kind = SGD_LOSS_NEG, .c = 2.5, .move_negatives = 1}},
    {"umap", "umap", umap_kv,
     {.kind = SGD_LOSS_UMAP, .a = 1.577, .b = 0.895, .gamma = 1.3, .eps = 1e-3, .clip = 4.0, .move_negatives = 1}},
    {"umap, still negatives, clip 0.5", "umap", umap_still_kv,
     {.kind = SGD_LOSS_UMAP, .a = 1.577, .b = 0.895, .gamma = 1.0, .eps = 1e-3, .clip = 0.5}},
    {"tsne", "tsne", tsne_kv, {.kind = SGD_LOSS_TSNE, .move_negatives = 1, .z_decay = 0.0, .z_max = 1}},
    {"tsne, z_decay 0.5, 1 / Z", "tsne", tsne_decay_kv,
     {.kind = SGD_LOSS_TSNE, .move_negatives = 1, .z_decay = 0.5, .z_max = 0}},
};
#define N_LOSSES (sizeof losses / sizeof losses[0])

static sgd_problem case_problem(const step_case *c)
{
    return (sgd_problem){.n = c->n, .dims = c->dims, .offsets = c->offsets, .index = c->index, .weight = c->weight,
                         .cells = c->cells, .cell_of = c->cell_of, .cell_mass = c->mass};
}

/* The case's step as the kernel reads it; approx_y NULL: the device's cell means. */
static sgd_batch case_batch(const step_case *c, const float *approx_y)
{
    const nmp_negatives *ng = &c->neg;
    return (sgd_batch){.batch = c->batch, .target = c->target, .per_target = ng->per_target, .shared = ng->shared,
                       .rows = ng->rows, .row_start = ng->row_start, .neg_index = ng->index, .neg_weight = ng->weight,
                       .approx_count = ng->approx_count, .approx_y = approx_y, .approx_weight = ng->approx_weight};
}

/* The engine's dense gradient of c (added to grad), its loss and its stat sum (tsne: the sum
 * of the targets' Z_i), through loss lc. */
static double engine_grad(step_case *c, const loss_case *lc, double exaggeration, int every, float *grad,
                          double *stat)
{
    nmp_host *h = test_host_new(2, 5);
    test_instance t = test_plugin_create(h, NMP_KIND_LOSS, lc->plugin, lc->kv);
    c->step.loss_every = every;
    nmp_engine_out out = step_case_engine(c, &t, exaggeration, 2, grad);
    test_plugin_destroy(&t);
    test_host_free(h);
    if (stat) *stat = out.stat;
    return out.loss;
}

/* One step on both sides from the same state, the approximate points being the case's own
 * means; `every`: the loss of one target in this many (0: none on the GPU). */
static void check_grad(step_case *c, const loss_case *lc, double exaggeration, int every, const char *what)
{
    const int64_t len = c->n * c->dims;
    float *want = calloc((size_t)len, sizeof *want), *got = malloc((size_t)len * sizeof *got);
    double stat = 0.0, lw = engine_grad(c, lc, exaggeration, every > 0 ? every : 1, want, &stat), lg = -1.0;
    sgd_loss l = lc->l;
    l.exaggeration = exaggeration, l.loss_every = every;
    const sgd_problem p = case_problem(c);
    const sgd_batch b = case_batch(c, c->cell_mean);
    nmp_gpu_err e = {0};
    nmp_gpu_buf pooled = {0};
    /* tsne: the Z the plugin pooled from stat_before (its first end_step takes the mean whatever
     * the decay), and no sums yet */
    const double z0 = c->stat_before > 0.0 ? c->stat_before / c->batch : 0.0;
    if (l.kind == SGD_LOSS_TSNE) {
        double z[1 + SGD_POOL_PARTS] = {z0};
        GPU_OK(nmp_gpu_buf_put(&pooled, z, sizeof z, "the pooled Z", &e), &e);
        l.pooled = pooled.p;
    }
    sgd_cuda *s = NULL;
    GPU_OK(sgd_cuda_create(&p, c->y, &s, &e), &e);
    GPU_OK(sgd_cuda_grad(s, &b, &l, &e), &e);
    GPU_OK(sgd_cuda_get_state(s, NULL, NULL, got, NULL, &e), &e);
    GPU_OK(sgd_cuda_take_loss(s, &lg, &e), &e);
    sgd_cuda_destroy(s);
    if (l.kind == SGD_LOSS_TSNE) { /* the kernel pooled this step's mean Z_i, as end_step would */
        double z[1 + SGD_POOL_PARTS], left = 0.0;
        GPU_OK(nmp_gpu_buf_get(&pooled, z, sizeof z, &e), &e);
        nmp_gpu_buf_free(&pooled);
        for (int k = 1; k <= SGD_POOL_PARTS; k++) left += fabs(z[k]);
        const double mean = stat / c->batch, d = l.z_decay, want = z0 > 0.0 ? d * z0 + (1.0 - d) * mean : mean;
        if (!(fabs(z[0] - want) <= 1e-6 * want) || left != 0.0)
            fail_msg("%s, %s: pooled Z gpu %.12g cpu %.12g, sums left %g", lc->what, what, z[0], want, left);
    }
    double big = 0.0, worst = 0.0;
    for (int64_t v = 0; v < len; v++) big = fmax(big, fabs(want[v]));
    for (int64_t v = 0; v < len; v++) worst = fmax(worst, fabs((double)got[v] - want[v]));
    printf("  %s, %s: gradient worst %.3g of the largest %.3g; loss gpu %.12g cpu %.12g\n", lc->what, what, worst / big,
           big, lg, lw);
    assert_true(big > 0.0 && worst <= 2e-5 * big);
    if (every > 0 && !(fabs(lg - lw) <= 1e-6 * fabs(lw)))
        fail_msg("%s, %s: loss gpu %.12g cpu %.12g", lc->what, what, lg, lw);
    if (every == 0) assert_true(lg == 0.0);
    free(want), free(got);
}

/* tsne with a pooled Z from a step before: the first step's mean Z_i, so that some targets'
 * own Z_i exceed it (z_max: repelled by 1 / Z_i) and the others do not (1 / Z); each tsne case
 * of the table (the decay's pooling, 1 / Z alone). */
static void check_tsne_pooled(step_case *c, double exaggeration, const char *what)
{
    for (size_t k = 0; k < N_LOSSES; k++) {
        const loss_case *lc = &losses[k];
        if (lc->l.kind != SGD_LOSS_TSNE) continue;
        float *scratch = calloc((size_t)(c->n * c->dims), sizeof *scratch);
        double stat = 0.0;
        engine_grad(c, lc, exaggeration, 1, scratch, &stat);
        free(scratch);
        char with[128];
        snprintf(with, sizeof with, "%s, pooled Z %.6g", what, stat / c->batch);
        c->stat_before = stat;
        check_grad(c, lc, exaggeration, 1, with);
        c->stat_before = 0.0;
    }
}

/* The first tsne case of the table. */
static const loss_case *tsne_case(void)
{
    for (size_t k = 0; k < N_LOSSES; k++)
        if (losses[k].l.kind == SGD_LOSS_TSNE) return &losses[k];
    return NULL;
}

/* Every loss on every kind of negative rows (per target, shared, runs; weights random or one
 * per row), 2-D and 3-D, approximate terms with zeros. */
static void test_grad_parity(void **state)
{
    (void)state;
    static const char *modes[] = {"per target", "shared", "runs"};
    for (int dims = 2; dims <= 3; dims++)
        for (int mode = 0; mode < 3; mode++)
            for (int same = 0; same < 2; same++) {
                step_case *c = step_case_new(3000, dims, 8, 6, 257, 70, (step_case_rows)mode, same, 3.0, 70 + mode);
                char what[96];
                snprintf(what, sizeof what, "%s%s, dims %d", modes[mode], same ? " (one weight a row)" : "", dims);
                for (size_t k = 0; k < N_LOSSES; k++)
                    check_grad(c, &losses[k], mode == CASE_SHARED ? 4.0 : 1.0, 1, what);
                check_tsne_pooled(c, mode == CASE_SHARED ? 4.0 : 1.0, what);
                step_case_free(c);
            }
}

/* Rows and approximate terms longer than a warp's lanes many times over; the layout at its
 * starting scale; the loss of one target in 3, or none. */
static void test_grad_long_rows(void **state)
{
    (void)state;
    step_case *c = step_case_new(5000, 2, 15, 300, 129, 600, CASE_RUNS, 1, 5.0, 91);
    for (size_t k = 0; k < N_LOSSES; k++) check_grad(c, &losses[k], 1.0, 3, "600 negatives, 300 cells, loss 1 in 3");
    check_grad(c, &losses[0], 1.0, 0, "no loss value");
    step_case_free(c);
    c = step_case_new(2000, 2, 10, 3000, 256, 40, CASE_PER_TARGET, 0, 1e-4, 92);
    for (size_t k = 0; k < N_LOSSES; k++) check_grad(c, &losses[k], 12.0, 1, "init scale, 3000 cells");
    step_case_free(c);
}

/* Given the same gradient the update is the same float arithmetic, up to fused multiply-adds. */
static void test_update(void **state)
{
    (void)state;
    int cells_list[] = {8, 3000};
    for (int ci = 0; ci < 2; ci++) {
        step_case *c = step_case_new(7001, 2, 5, cells_list[ci], 16, 4, CASE_PER_TARGET, 0, 3.0, 66);
        const sgd_problem p = case_problem(c);
        int64_t nd = c->n * 2;
        float *g = gpu_test_uniform(nd, -50, 50, 66), *v = gpu_test_uniform(nd, -1, 1, 67);
        float *yc = malloc((size_t)nd * sizeof *yc), *vc = malloc((size_t)nd * sizeof *vc);
        float *gc = malloc((size_t)nd * sizeof *gc), *yg = malloc((size_t)nd * sizeof *yg);
        float *vg = malloc((size_t)nd * sizeof *vg), *gg = malloc((size_t)nd * sizeof *gg);
        float *mc = malloc((size_t)(c->cells * 2) * sizeof *mc), *mg = malloc((size_t)(c->cells * 2) * sizeof *mg);
        memcpy(yc, c->y, (size_t)nd * sizeof *yc), memcpy(vc, v, (size_t)nd * sizeof *vc);
        memcpy(gc, g, (size_t)nd * sizeof *gc);
        sgd_update u = {.lr = 0.37, .momentum = 0.8, .inv_batch = 1.0 / 16, .clip = ci ? 0.0 : 2.0};
        int bad = -1, bad_g = -1;
        assert_int_equal(sgd_update_cpu(&p, &u, yc, vc, gc, mc, &bad), NMP_OK);
        nmp_gpu_err e = {0};
        sgd_cuda *s = NULL;
        GPU_OK(sgd_cuda_create(&p, c->y, &s, &e), &e);
        GPU_OK(sgd_cuda_set_state(s, NULL, v, g, &e), &e);
        GPU_OK(sgd_cuda_update(s, &u, &e), &e);
        GPU_OK(sgd_cuda_get_state(s, yg, vg, gg, mg, &e), &e);
        GPU_OK(sgd_cuda_take_nonfinite(s, &bad_g, &e), &e);
        for (int64_t i = 0; i < nd; i++) {
            if (!gpu_test_close(yg[i], yc[i], 1e-6) || !gpu_test_close(vg[i], vc[i], 1e-6))
                fail_msg("coordinate %lld: y gpu %.9g cpu %.9g, velocity gpu %.9g cpu %.9g", (long long)i, yg[i], yc[i],
                         vg[i], vc[i]);
            assert_true(gg[i] == 0.0f);
        }
        for (int64_t i = 0; i < c->cells * 2; i++) assert_true(gpu_test_close(mg[i], mc[i], 1e-6));
        assert_int_equal(bad_g, bad);
        g[9] = INFINITY; /* a non-finite result is flagged */
        u.clip = 0.0;
        GPU_OK(sgd_cuda_set_state(s, NULL, NULL, g, &e), &e);
        GPU_OK(sgd_cuda_update(s, &u, &e), &e);
        GPU_OK(sgd_cuda_take_nonfinite(s, &bad_g, &e), &e);
        assert_int_equal(bad_g, 1);
        sgd_cuda_destroy(s);
        free(g), free(v), free(yc), free(vc), free(gc), free(yg), free(vg), free(gg), free(mc), free(mg);
        step_case_free(c);
    }
}

/* 30 whole steps, the kinds of negative rows in turn (three cases of one seed: the same layout,
 * graph and cells), the approximate terms reading each side's own cell means. A larger lr or
 * exaggeration makes the early layout chaotic (lr 400, exaggeration 4 from scale 1e-2: a
 * 1e-7 difference grew to 40 % in 30 steps), which would test the weather, not the kernel. */
static void test_trajectory(void **state)
{
    (void)state;
    step_case *cs[3];
    for (int mode = 0; mode < 3; mode++)
        cs[mode] = step_case_new(4001, 2, 15, 8, 1024, 64, (step_case_rows)mode, 0, 3.0, 17);
    step_case *c0 = cs[0];
    const sgd_problem p = case_problem(c0);
    int64_t nd = c0->n * 2;
    float *vc = calloc((size_t)nd, sizeof *vc), *gc = calloc((size_t)nd, sizeof *gc);
    float *yg = malloc((size_t)nd * sizeof *yg);
    sgd_loss l = losses[0].l;
    l.exaggeration = 1.0, l.loss_every = 1;
    sgd_update u = {.lr = 100.0, .momentum = 0.8, .inv_batch = 1.0 / 1024, .clip = 0.0};
    nmp_gpu_err e = {0};
    sgd_cuda *s = NULL;
    GPU_OK(sgd_cuda_create(&p, c0->y, &s, &e), &e);
    GPU_OK(sgd_cuda_get_state(s, NULL, NULL, NULL, c0->cell_mean, &e), &e); /* both sides start from the same means */
    double loss_c = 0.0, loss_g = 0.0;
    for (int step = 0; step < 30; step++) {
        step_case *c = cs[step % 3];
        c->step.y = c0->y, c->neg.approx_y = c0->cell_mean; /* the layout and means as they move */
        loss_c += engine_grad(c, &losses[0], l.exaggeration, 1, gc, NULL);
        int bad = 0;
        assert_int_equal(sgd_update_cpu(&p, &u, c0->y, vc, gc, c0->cell_mean, &bad), NMP_OK);
        assert_int_equal(bad, 0);
        const sgd_batch b = case_batch(c, NULL);
        GPU_OK(sgd_cuda_step(s, &b, &l, &u, &e), &e);
    }
    GPU_OK(sgd_cuda_take_loss(s, &loss_g, &e), &e);
    GPU_OK(sgd_cuda_get_state(s, yg, NULL, NULL, NULL, &e), &e);
    double big = 0.0, worst = 0.0;
    for (int64_t v = 0; v < nd; v++) big = fmax(big, fabs(c0->y[v])), worst = fmax(worst, fabs(yg[v] - c0->y[v]));
    printf("  30 steps: y worst %.3g of the largest |y| %.3g; loss gpu %.12g cpu %.12g\n", worst / big, big, loss_g,
           loss_c);
    assert_true(worst <= 1e-4 * big);
    assert_true(fabs(loss_g - loss_c) <= 1e-6 * fabs(loss_c));
    sgd_cuda_destroy(s);
    free(vc), free(gc), free(yg);
    for (int mode = 0; mode < 3; mode++) step_case_free(cs[mode]);
}

static void test_bad_input(void **state)
{
    (void)state;
    step_case *c = step_case_new(100, 2, 3, 4, 8, 2, CASE_PER_TARGET, 0, 1.0, 3);
    const sgd_problem p = case_problem(c);
    const sgd_batch b = case_batch(c, NULL);
    nmp_gpu_err e = {0};
    sgd_cuda *s = NULL;
    GPU_OK(sgd_cuda_create(&p, c->y, &s, &e), &e);
    c->target[3] = 100;
    sgd_loss l = losses[0].l;
    l.loss_every = 1;
    assert_int_equal(sgd_cuda_grad(s, &b, &l, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "a target is not a point id"));
    c->target[3] = 1;
    l = losses[1].l;
    l.c = 0.0;
    assert_int_equal(sgd_cuda_grad(s, &b, &l, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "kernels/sgd_step.cu:"));
    l = tsne_case()->l; /* tsne without its pooled Z on the device, then with a decay out of range */
    assert_int_equal(sgd_cuda_grad(s, &b, &l, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "tsne needs its pooled Z"));
    nmp_gpu_buf pooled = {0};
    const double zeros[1 + SGD_POOL_PARTS] = {0.0};
    GPU_OK(nmp_gpu_buf_put(&pooled, zeros, sizeof zeros, "the pooled Z", &e), &e);
    l.pooled = pooled.p, l.z_decay = 1.0;
    assert_int_equal(sgd_cuda_grad(s, &b, &l, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "0 <= z_decay < 1"));
    nmp_gpu_buf_free(&pooled);
    /* a plugin's call that asks for the loss value without a sum to add it to */
    sgd_cuda_arrays dev;
    sgd_cuda_arrays_of(s, &dev);
    const sgd_dev_fit f = {.n = c->n, .dims = 2, .y = dev.y, .grad = dev.grad, .offsets = dev.offsets,
                           .index = dev.index, .weight = dev.weight, .cell_mean = dev.cell_mean, .loss_sum = NULL};
    l = losses[0].l;
    l.loss_every = 8;
    assert_int_equal(sgd_cuda_grad_dev(&f, &b, &l, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "without a loss sum"));
    sgd_cuda_destroy(s);
    step_case_free(c);
}
#endif

int main(void)
{
#ifdef NOMAD_CUDA
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_grad_parity), cmocka_unit_test(test_grad_long_rows),
                                       cmocka_unit_test(test_update), cmocka_unit_test(test_trajectory),
                                       cmocka_unit_test(test_bad_input)};
    return GPU_TEST_MAIN("sgd_step", tests);
#else
    printf("test_sgd_step: skipped (exit 77): built without NOMAD_CUDA\n");
    return GPU_SKIP;
#endif
}
