/* Parity of the fused step (kernels/sgd_step.cu) with sgd_step_cpu (kernels/sgd_step_cpu.c).
 * Tolerances (both sides compute pair terms in double and round each pair's gradient to
 * float; the GPU adds them with float atomics in a varying order):
 *   gradient: 1e-5 x the largest |coordinate|; loss: 1e-9 relative;
 *   update given the same gradient: y and velocity bit for bit; cell means 1e-6 relative
 *     (double sums in another order);
 *   30 full steps: y within 1e-4 x the largest |y| (float rounding compounds over steps).
 * Exit 77 without a CUDA build or a GPU. */
#include "gpu_parity.h"

#ifdef NOMAD_CUDA
#include <string.h>

#include "sgd_step_cpu.h"
#include "sgd_step_cuda.h"

/* A problem of n points with k neighbours each, `cells` cells, and one step's batch. */
typedef struct {
    int64_t n;
    int dims, k, cells, batch, per_target, rows;
    float *y, *weight, *mass, *neg_weight, *approx_weight, *cell_mean;
    int64_t *offsets;
    int32_t *index, *cell_of, *target, *neg_index, *row_start;
    sgd_problem p;
    sgd_batch b;
} step_case;

static void case_batch(step_case *c, int mode, uint64_t seed)
{
    int64_t slots = (int64_t)c->batch * c->per_target;
    c->rows = 0;
    for (int t = 0; t < c->batch; t++) {
        c->target[t] = (int32_t)nmp_rng_below(seed, 4, (uint64_t)t, (uint64_t)c->n);
        if (mode == 2 && (t == 0 || nmp_rng_below(seed, 8, (uint64_t)t, 4) == 0)) c->row_start[c->rows++] = t;
    }
    c->row_start[c->rows] = c->batch;
    for (int64_t s = 0; s < slots; s++) {
        c->neg_index[s] = (int32_t)nmp_rng_below(seed, 5, (uint64_t)s, (uint64_t)c->n);
        c->neg_weight[s] = (float)(0.25 + nmp_rng_uniform(seed, 6, (uint64_t)s));
    }
    for (int64_t s = 0; s < (int64_t)c->batch * c->cells; s++)
        c->approx_weight[s] = s % 5 == 2 ? 0.0f : (float)(0.01 + 0.1 * nmp_rng_uniform(seed, 7, (uint64_t)s));
    c->b = (sgd_batch){
        c->batch,     c->target,     c->per_target, mode == 1, mode == 2 ? c->rows : 0, mode == 2 ? c->row_start : NULL,
        c->neg_index, c->neg_weight, c->cells,      NULL,      c->approx_weight};
}

static step_case *case_new(int64_t n, int dims, int k, int cells, int batch, int per_target, double scale)
{
    step_case *c = calloc(1, sizeof *c);
    *c = (step_case){.n = n, .dims = dims, .k = k, .cells = cells, .batch = batch, .per_target = per_target};
    c->y = gpu_test_uniform(n * dims, -scale, scale, 61);
    c->weight = gpu_test_uniform(n * k, 0.05, 1.0, 62);
    c->mass = calloc((size_t)cells, sizeof *c->mass);
    c->cell_mean = calloc((size_t)(cells * dims), sizeof *c->cell_mean);
    c->offsets = malloc((size_t)(n + 1) * sizeof *c->offsets);
    c->index = malloc((size_t)(n * k) * sizeof *c->index);
    c->cell_of = malloc((size_t)n * sizeof *c->cell_of);
    c->target = malloc((size_t)batch * sizeof *c->target);
    c->row_start = malloc((size_t)(batch + 1) * sizeof *c->row_start);
    c->neg_index = malloc((size_t)(batch * per_target + 1) * sizeof *c->neg_index);
    c->neg_weight = malloc((size_t)(batch * per_target + 1) * sizeof *c->neg_weight);
    c->approx_weight = malloc((size_t)(batch * cells) * sizeof *c->approx_weight);
    c->offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        c->offsets[i + 1] = c->offsets[i] + k - (i % 7 == 0); /* some rows one short */
        for (int64_t e = c->offsets[i]; e < c->offsets[i + 1]; e++)
            c->index[e] = (int32_t)((i + 1 + (int64_t)nmp_rng_below(63, 1, (uint64_t)e, (uint64_t)n - 1)) % n);
        c->cell_of[i] = (int32_t)nmp_rng_below(64, 1, (uint64_t)i, (uint64_t)cells);
        c->mass[c->cell_of[i]] += 1.0f;
    }
    c->p = (sgd_problem){n, dims, c->offsets, c->index, c->weight, cells, c->cell_of, c->mass};
    assert_int_equal(sgd_cell_means_cpu(&c->p, c->y, c->cell_mean), NMP_OK);
    case_batch(c, 0, 65);
    return c;
}

static void case_free(step_case *c)
{
    free(c->y), free(c->weight), free(c->mass), free(c->cell_mean), free(c->offsets), free(c->index);
    free(c->cell_of), free(c->target), free(c->row_start), free(c->neg_index), free(c->neg_weight);
    free(c->approx_weight), free(c);
}

static sgd_loss loss_of(int kind, double exaggeration)
{
    sgd_loss l = {.kind = (sgd_loss_kind)kind, .exaggeration = exaggeration, .move_negatives = 1, .want_loss = 1};
    if (kind == SGD_LOSS_NEG) l.c = 2.5;
    if (kind == SGD_LOSS_UMAP) l.a = 1.577, l.b = 0.895, l.gamma = 1.0, l.eps = 1e-3, l.clip = 4.0;
    return l;
}

/* One gradient on both sides from the same state; returns the largest |coordinate|. */
static double check_grad(step_case *c, const sgd_loss *l, const char *what)
{
    int64_t nd = c->n * c->dims;
    float *gc = calloc((size_t)nd, sizeof *gc), *gg = malloc((size_t)nd * sizeof *gg);
    double lc = 0.0, lg = 0.0;
    assert_int_equal(sgd_grad_cpu(&c->p, &c->b, l, c->y, c->cell_mean, gc, &lc), NMP_OK);
    nmp_gpu_err e = {0};
    sgd_cuda *s = NULL;
    GPU_OK(sgd_cuda_create(&c->p, c->y, &s, &e), &e);
    GPU_OK(sgd_cuda_grad(s, &c->b, l, &e), &e);
    GPU_OK(sgd_cuda_get_state(s, NULL, NULL, gg, NULL, &e), &e);
    GPU_OK(sgd_cuda_take_loss(s, &lg, &e), &e);
    sgd_cuda_destroy(s);
    double big = 0.0, worst = 0.0;
    for (int64_t v = 0; v < nd; v++) big = fmax(big, fabs(gc[v]));
    for (int64_t v = 0; v < nd; v++) worst = fmax(worst, fabs(gg[v] - gc[v]));
    printf("  %s: gradient worst %.3g of the largest %.3g, loss gpu %.12g cpu %.12g\n", what, worst / big, big, lg, lc);
    assert_true(big > 0.0 && worst <= 1e-5 * big);
    if (l->want_loss) assert_true(fabs(lg - lc) <= 1e-9 * fabs(lc));
    free(gc), free(gg);
    return big;
}

static void test_grad_parity(void **state)
{
    (void)state;
    static const char *names[] = {"infonce", "neg", "umap"}, *modes[] = {"per target", "shared", "rows"};
    int dims_list[] = {2, 3, 5};
    for (int di = 0; di < 3; di++) {
        step_case *c = case_new(5003, dims_list[di], 15, 8, 512, 70, 3.0);
        for (int mode = 0; mode < 3; mode++) {
            case_batch(c, mode, 70 + (uint64_t)mode);
            for (int kind = 0; kind < 3; kind++) {
                char what[96];
                snprintf(what, sizeof what, "%s, %s, dims %d", names[kind], modes[mode], c->dims);
                sgd_loss l = loss_of(kind, mode == 1 ? 12.0 : 1.0);
                check_grad(c, &l, what);
            }
        }
        case_free(c);
    }
    step_case *c = case_new(2000, 2, 10, 3000, 256, 40, 1e-4); /* init scale; cells x dims beyond shared sums */
    sgd_loss l = loss_of(SGD_LOSS_INFONCE, 1.0);
    check_grad(c, &l, "infonce at init scale, 3000 cells");
    l = loss_of(SGD_LOSS_UMAP, 1.0);
    l.move_negatives = 0, l.clip = 0.5;
    check_grad(c, &l, "umap, still negatives, clip 0.5");
    case_free(c);
}

/* Given the same gradient the update is the same float arithmetic: identical bits. */
static void test_update_bits(void **state)
{
    (void)state;
    int cells_list[] = {8, 3000};
    for (int ci = 0; ci < 2; ci++) {
        step_case *c = case_new(7001, 2, 5, cells_list[ci], 16, 4, 3.0);
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
        assert_int_equal(sgd_update_cpu(&c->p, &u, yc, vc, gc, mc, &bad), NMP_OK);
        nmp_gpu_err e = {0};
        sgd_cuda *s = NULL;
        GPU_OK(sgd_cuda_create(&c->p, c->y, &s, &e), &e);
        GPU_OK(sgd_cuda_set_state(s, NULL, v, g, &e), &e);
        GPU_OK(sgd_cuda_update(s, &u, &e), &e);
        GPU_OK(sgd_cuda_get_state(s, yg, vg, gg, mg, &e), &e);
        GPU_OK(sgd_cuda_take_nonfinite(s, &bad_g, &e), &e);
        assert_memory_equal(yg, yc, (size_t)nd * sizeof *yc);
        assert_memory_equal(vg, vc, (size_t)nd * sizeof *vc);
        for (int64_t i = 0; i < nd; i++) assert_true(gg[i] == 0.0f);
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
        case_free(c);
    }
}

/* 30 whole steps with fresh batches, the approximate terms reading each side's own cell means. */
static void test_trajectory(void **state)
{
    (void)state;
    step_case *c = case_new(4001, 2, 15, 8, 1024, 64, 1e-2);
    int64_t nd = c->n * 2;
    float *vc = calloc((size_t)nd, sizeof *vc), *gc = calloc((size_t)nd, sizeof *gc);
    float *yg = malloc((size_t)nd * sizeof *yg);
    sgd_loss l = loss_of(SGD_LOSS_INFONCE, 4.0);
    sgd_update u = {.lr = 400.0, .momentum = 0.8, .inv_batch = 1.0 / 1024, .clip = 0.0};
    nmp_gpu_err e = {0};
    sgd_cuda *s = NULL;
    GPU_OK(sgd_cuda_create(&c->p, c->y, &s, &e), &e);
    double loss_c = 0.0, loss_g = 0.0;
    for (int step = 0; step < 30; step++) {
        case_batch(c, step % 3, 100 + (uint64_t)step);
        double lc = 0.0;
        int bad = 0;
        assert_int_equal(sgd_grad_cpu(&c->p, &c->b, &l, c->y, c->cell_mean, gc, &lc), NMP_OK);
        assert_int_equal(sgd_update_cpu(&c->p, &u, c->y, vc, gc, c->cell_mean, &bad), NMP_OK);
        loss_c += lc;
        GPU_OK(sgd_cuda_step(s, &c->b, &l, &u, &e), &e);
    }
    GPU_OK(sgd_cuda_take_loss(s, &loss_g, &e), &e);
    GPU_OK(sgd_cuda_get_state(s, yg, NULL, NULL, NULL, &e), &e);
    double big = 0.0, worst = 0.0;
    for (int64_t v = 0; v < nd; v++) big = fmax(big, fabs(c->y[v])), worst = fmax(worst, fabs(yg[v] - c->y[v]));
    printf("  30 steps: y worst %.3g of the largest |y| %.3g; loss gpu %.12g cpu %.12g\n", worst / big, big, loss_g,
           loss_c);
    assert_true(worst <= 1e-4 * big);
    assert_true(fabs(loss_g - loss_c) <= 1e-6 * fabs(loss_c));
    sgd_cuda_destroy(s);
    free(vc), free(gc), free(yg);
    case_free(c);
}

static void test_bad_batch(void **state)
{
    (void)state;
    step_case *c = case_new(100, 2, 3, 4, 8, 2, 1.0);
    nmp_gpu_err e = {0};
    sgd_cuda *s = NULL;
    GPU_OK(sgd_cuda_create(&c->p, c->y, &s, &e), &e);
    c->target[3] = 100;
    sgd_loss l = loss_of(SGD_LOSS_INFONCE, 1.0);
    assert_int_equal(sgd_cuda_grad(s, &c->b, &l, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "a target is not a point id"));
    c->target[3] = 1;
    l = loss_of(SGD_LOSS_NEG, 1.0);
    l.c = 0.0;
    assert_int_equal(sgd_cuda_grad(s, &c->b, &l, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "kernels/sgd_step.cu:"));
    sgd_cuda_destroy(s);
    case_free(c);
}
#endif

int main(void)
{
#ifdef NOMAD_CUDA
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_grad_parity), cmocka_unit_test(test_update_bits),
                                       cmocka_unit_test(test_trajectory), cmocka_unit_test(test_bad_batch)};
    return GPU_TEST_MAIN("sgd_step", tests);
#else
    printf("test_sgd_step: skipped (exit 77): built without NOMAD_CUDA\n");
    return GPU_SKIP;
#endif
}
