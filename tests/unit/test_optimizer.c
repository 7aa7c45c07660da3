/* The optimiser: lr and exaggeration schedules, the lazy update's closed forms, a fit with
 * the real uniform + infonce plugins (loss falls, same seed gives the same bytes), eager and
 * lazy updates agreeing, the NaN stop, the per-point arrays' memory, and the cell spreads. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lazy_sgd.h"
#include "proc.h"
#include "opt_fixture.h"

static void lr_schedule_holds_then_anneals(void **st)
{
    (void)st;
    nmp_opt_settings s = {.lr = 10.0, .hold = 0.3, .final_lr_fraction = 0.1};
    assert_float_equal(nmp_opt_lr(&s, 0, 100), 10.0, 1e-12);
    assert_float_equal(nmp_opt_lr(&s, 30, 100), 10.0, 1e-12);
    assert_float_equal(nmp_opt_lr(&s, 65, 100), 10.0 * (0.5 + 0.5 * 0.1), 1e-9); /* halfway down */
    assert_float_equal(nmp_opt_lr(&s, 100, 100), 1.0, 1e-9);
}

static void exaggeration_schedule(void **st)
{
    (void)st;
    nmp_opt_settings s = {.epochs = 100, .early_exaggeration = 4, .early_epochs = 10, .late_exaggeration = 2,
                          .late_start = 0.8};
    assert_float_equal(nmp_opt_exaggeration(&s, 0), 4, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 9), 4, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 10), 1, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 79), 1, 0);
    assert_float_equal(nmp_opt_exaggeration(&s, 80), 2, 0);
}

/* The carry of k untouched steps, sum_{j=1..k} lr(last + j) mu^j, against the sum itself,
 * across the end of the held part and for k past mu^k's underflow. */
static void lazy_carry_matches_the_sum(void **st)
{
    (void)st;
    nmp_lazy_sgd s;
    nmp_err err = {0};
    const double mus[] = {0.0, 0.5, 0.8, 0.95};
    for (int m = 0; m < 4; m++) {
        assert_int_equal(nmp_lazy_sgd_init(&s, 7.0, mus[m], 0.3, 0.05, 5000, &err), NMP_OK);
        const int64_t cases[][2] = {{0, 1}, {0, 7}, {1000, 499}, {1400, 200}, {1499, 3}, {1500, 40}, {3000, 1999}, {10, 4980}};
        for (int c = 0; c < 8; c++) {
            int64_t last = cases[c][0], k = cases[c][1];
            double want = 0.0, p = 1.0;
            for (int64_t j = 1; j <= k; j++) p *= mus[m], want += nmp_lazy_lr(&s, last + j) * p;
            double got = nmp_lazy_carry(&s, last, k);
            if (!(fabs(got - want) <= 1e-12 * (fabs(want) + 1e-300) + 1e-300))
                fail_msg("mu %g, last %lld, k %lld: carry %.17g, sum %.17g", mus[m], (long long)last, (long long)k, got, want);
        }
        assert_true(nmp_lazy_mu_pow(&s, 3) == mus[m] * mus[m] * mus[m]);
        nmp_lazy_sgd_free(&s);
    }
}

static nmp_opt_settings settings(int64_t epochs)
{
    return (nmp_opt_settings){.epochs = epochs, .batch = 64, .lr = 20, .momentum = 0.8, .hold = 0.3, .dims = 2,
                              .seed = 7, .early_exaggeration = 1, .late_exaggeration = 1, .late_start = 1};
}

/* f's problem fitted with settings s, the cells marked by `local`; fails the test on error */
static nmp_opt_result fit(fixture *f, const nmp_opt_settings *s, const uint8_t *local)
{
    nmp_opt_result r;
    nmp_err err = {0};
    nmp_fit_request req = {s, f->y, &f->graph, &f->cells.view, local, &f->neg, &f->loss, NULL, NULL};
    if (nmp_optimize(&req, &r, &err) != NMP_OK) fail_msg("%s", err.msg);
    return r;
}

static void free_fit(fixture *f, nmp_opt_result *r)
{
    free(r->loss), free(r->epoch_seconds);
    teardown_fit(f);
}

static void fit_lowers_loss_and_is_deterministic(void **st)
{
    (void)st;
    fixture a, b;
    nmp_opt_settings s = settings(60);
    setup_fit(&a, 7, "uniform", "infonce");
    nmp_opt_result ra = fit(&a, &s, &a.local);
    assert_true(ra.loss[s.epochs - 1] < 0.8 * ra.loss[0]);
    for (int64_t i = 0; i < 400; i++) assert_true(isfinite(a.y[i]));
    setup_fit(&b, 7, "uniform", "infonce");
    nmp_opt_result rb = fit(&b, &s, &b.local);
    assert_memory_equal(a.y, b.y, 400 * sizeof(float));
    free_fit(&a, &ra), free_fit(&b, &rb);
}

/* The optimiser works in cell order internally: a partition with interleaved ids gives,
 * bit for bit, the layout of the same problem handed over already sorted, in input order. */
static void fit_order_is_transparent(void **st)
{
    (void)st;
    fixture a, b;
    nmp_opt_settings s = settings(10);
    uint8_t local[2] = {1, 1};
    setup_fit(&a, 7, "uniform", "infonce"), setup_fit(&b, 7, "uniform", "infonce");
    two_cells(&a, 0), two_cells(&b, 1);
    nmp_opt_result ra = fit(&a, &s, local), rb = fit(&b, &s, local);
    for (int64_t i = 0; i < 200; i++) {
        int64_t to = i % 2 ? 100 + i / 2 : i / 2;
        assert_memory_equal(a.y + 2 * i, b.y + 2 * to, 2 * sizeof(float));
    }
    free_fit(&a, &ra), free_fit(&b, &rb);
}

/* optimizer.update: a lazy fit (points move only when touched, caught up exactly when read)
 * ends where the eager one does, to float rounding; both are deterministic. */
static void lazy_matches_eager(void **st)
{
    (void)st;
    fixture a, b;
    nmp_opt_settings s = settings(10);
    setup_fit(&a, 7, "uniform", "infonce"), setup_fit(&b, 7, "uniform", "infonce");
    s.update = NMP_UPDATE_EAGER;
    nmp_opt_result ra = fit(&a, &s, &a.local);
    s.update = NMP_UPDATE_LAZY;
    nmp_opt_result rb = fit(&b, &s, &b.local);
    assert_true(ra.eager == 1 && rb.eager == 0);
    double big = 0.0;
    for (int64_t i = 0; i < 400; i++) big = fmax(big, fabs(a.y[i]));
    for (int64_t i = 0; i < 400; i++)
        if (!(fabs(a.y[i] - b.y[i]) <= 1e-3 * big)) fail_msg("y[%lld]: eager %.8g, lazy %.8g", (long long)i, a.y[i], b.y[i]);
    for (int64_t e = 0; e < s.epochs; e++) assert_float_equal(ra.loss[e], rb.loss[e], 1e-3 * ra.loss[e]);
    free_fit(&a, &ra), free_fit(&b, &rb);
}

/* A negatives plugin's sample() that counts the steps handed to it with and without edges. */
static nmp_status (*real_sample)(void *, const nmp_step *, nmp_negatives *);
static int64_t steps_with_edges, steps_without;
static nmp_status spy_sample(void *state, const nmp_step *step, nmp_negatives *out)
{
    if (step->pos && step->pos_weight)
        steps_with_edges++;
    else if (!step->pos && !step->pos_weight)
        steps_without++;
    return real_sample(state, step, out);
}

/* Where no plugin reads the step's edges (uniform and infonce say so) the engine reads each
 * target's row in the graph and the host lays no edges out (after the first step, which
 * chooses the update); a negatives plugin that may read them (no_edges 0, as every plugin
 * built before ABI 2.2) gets them every step. The same bytes either way. */
static void edges_laid_out_only_when_read(void **st)
{
    (void)st;
    fixture f[2];
    nmp_opt_result r[2];
    nmp_negatives_ops spy[2];
    nmp_opt_settings s = settings(10);
    s.update = NMP_UPDATE_EAGER;
    for (int reads = 0; reads < 2; reads++) {
        setup_fit(&f[reads], 7, "uniform", "infonce");
        spy[reads] = *(const nmp_negatives_ops *)f[reads].neg.ops;
        assert_int_equal(spy[reads].no_edges, 1);
        real_sample = spy[reads].sample, spy[reads].sample = spy_sample, spy[reads].no_edges = !reads;
        f[reads].neg.ops = &spy[reads];
        steps_with_edges = steps_without = 0;
        r[reads] = fit(&f[reads], &s, &f[reads].local);
        assert_true(r[reads].eager == 1);
        assert_int_equal(steps_with_edges, reads ? r[reads].steps : 1);
        assert_int_equal(steps_without, reads ? 0 : r[reads].steps - 1);
    }
    assert_memory_equal(f[0].y, f[1].y, 400 * sizeof(float));
    for (int64_t e = 0; e < s.epochs; e++) assert_true(r[0].loss[e] == r[1].loss[e]);
    free_fit(&f[0], &r[0]), free_fit(&f[1], &r[1]);
}

static void nan_stops_with_epoch(void **st)
{
    (void)st;
    fixture f;
    nmp_opt_settings s = settings(60);
    s.lr = INFINITY; /* the first update makes the layout non-finite */
    nmp_opt_result r;
    nmp_err err = {0};
    setup_fit(&f, 7, "uniform", "infonce");
    assert_int_equal(nmp_optimize(&(nmp_fit_request){&s, f.y, &f.graph, &f.cells.view, &f.local, &f.neg, &f.loss, NULL, NULL}, &r, &err),
                     NMP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "NaN or Inf at epoch 0"));
    assert_non_null(strstr(err.msg, "SGD update"));
    free_fit(&f, &r);
}

/* The cell spreads (nmp_step.cell_spread) the CPU fit and the GPU fit's host copies take: each
 * cell's mean squared distance from its mean, summed over any split of the points into ranges. */
static void cell_spreads_from_any_split(void **state)
{
    (void)state;
    enum { N = 7, C = 3, D = 2 };
    /* fit order: cells are ranges [0, 3), [3, 3) (empty), [3, 7) */
    const int32_t cell_of[N] = {0, 0, 0, 2, 2, 2, 2};
    const int64_t start[C + 1] = {0, 3, 3, 7};
    const nmp_cells cells = {.count = C, .n = N, .d = D, .cell_of = cell_of, .start = start};
    const float y[N * D] = {0, 0, 2, 0, 1, 3, -1, -1, 1, 1, 3, -1, 1, 5};
    const float mean[C * D] = {1, 1, 9, 9, 1, 1}, mass[C] = {3, 0, 4};
    /* cell 0: (1 + 1) + (1 + 1) + (0 + 4) = 8; cell 2: 8 + 0 + 8 + 16 = 32 */
    const float want[C] = {8.0f / 3, 0.0f, 8.0f};
    for (int64_t cut = 0; cut <= N; cut++) { /* two workers' ranges, summed as the fits sum them */
        double acc[2][C] = {{0}};
        nmp_opt_spread_sums(&cells, y, mean, D, 0, cut, acc[0]);
        nmp_opt_spread_sums(&cells, y, mean, D, cut, N, acc[1]);
        for (int c = 0; c < C; c++) acc[0][c] += acc[1][c];
        float spread[C];
        nmp_opt_spreads(acc[0], mass, C, spread);
        for (int c = 0; c < C; c++) assert_float_equal(spread[c], want[c], 1e-6);
    }
}

/* The per-point arrays' memory: zeroed on request, whole huge pages from an aligned start
 * when large (so the kernel can back them with 2 MiB pages), plain malloc when small. */
static void huge_arrays_are_zeroed_and_aligned(void **state)
{
    (void)state;
    const size_t big = ((size_t)5 << 20) + 12;
    unsigned char *p = nmp_alloc_huge(big, 1), *q = nmp_alloc_huge(100, 1), *r = nmp_alloc_huge(big, 0);
    assert_non_null(p), assert_non_null(q), assert_non_null(r);
    size_t nonzero = 0;
    for (size_t i = 0; i < big; i++) nonzero += p[i] != 0;
    for (size_t i = 0; i < 100; i++) nonzero += q[i] != 0;
    assert_int_equal(nonzero, 0);
#ifdef __linux__
    assert_int_equal((uintptr_t)p % ((uintptr_t)2 << 20), 0);
    assert_int_equal((uintptr_t)r % ((uintptr_t)2 << 20), 0);
#endif
    memset(r, 7, big); /* all of it is ours */
    assert_int_equal(r[big - 1], 7);
#ifndef __SANITIZE_ADDRESS__ /* ASan aborts on an impossible size rather than return NULL */
    assert_null(nmp_alloc_huge(SIZE_MAX - 4096, 0)); /* no wrap-around to a small block */
#endif
    free(p), free(q), free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lr_schedule_holds_then_anneals),     cmocka_unit_test(exaggeration_schedule),
        cmocka_unit_test(lazy_carry_matches_the_sum),         cmocka_unit_test(lazy_matches_eager),
        cmocka_unit_test(edges_laid_out_only_when_read),      cmocka_unit_test(fit_lowers_loss_and_is_deterministic),
        cmocka_unit_test(fit_order_is_transparent),           cmocka_unit_test(nan_stops_with_epoch),
        cmocka_unit_test(huge_arrays_are_zeroed_and_aligned), cmocka_unit_test(cell_spreads_from_any_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
