/* The optimiser: lr and exaggeration schedules, a fit with the real uniform + infonce
 * plugins (loss falls, same seed gives the same bytes), and the NaN stop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static nmp_opt_settings settings(void)
{
    return (nmp_opt_settings){.epochs = 60, .batch = 64, .lr = 20, .momentum = 0.8, .hold = 0.3, .dims = 2,
                              .seed = 7, .early_exaggeration = 1, .late_exaggeration = 1, .late_start = 1};
}

static void fit_lowers_loss_and_is_deterministic(void **st)
{
    (void)st;
    fixture a, b;
    nmp_opt_settings s = settings();
    nmp_opt_result ra, rb;
    nmp_err err = {0};
    setup_fit(&a, 7, "uniform", "infonce");
    assert_int_equal(nmp_optimize(&s, a.y, &a.graph, &a.cells.view, &a.local, &a.neg, &a.loss, NULL, NULL, &ra, &err), NMP_OK);
    assert_true(ra.loss[s.epochs - 1] < 0.8 * ra.loss[0]);
    for (int64_t i = 0; i < 400; i++) assert_true(isfinite(a.y[i]));
    setup_fit(&b, 7, "uniform", "infonce");
    assert_int_equal(nmp_optimize(&s, b.y, &b.graph, &b.cells.view, &b.local, &b.neg, &b.loss, NULL, NULL, &rb, &err), NMP_OK);
    assert_memory_equal(a.y, b.y, 400 * sizeof(float));
    free(ra.loss), free(ra.epoch_seconds), free(rb.loss), free(rb.epoch_seconds);
    teardown_fit(&a);
    teardown_fit(&b);
}

/* The optimiser works in cell order internally: a partition with interleaved ids gives,
 * bit for bit, the layout of the same problem handed over already sorted, in input order. */
static void fit_order_is_transparent(void **st)
{
    (void)st;
    fixture a, b;
    nmp_opt_settings s = settings();
    s.epochs = 10;
    nmp_opt_result ra, rb;
    nmp_err err = {0};
    uint8_t local[2] = {1, 1};
    setup_fit(&a, 7, "uniform", "infonce"), setup_fit(&b, 7, "uniform", "infonce");
    two_cells(&a, 0), two_cells(&b, 1);
    assert_int_equal(nmp_optimize(&s, a.y, &a.graph, &a.cells.view, local, &a.neg, &a.loss, NULL, NULL, &ra, &err), NMP_OK);
    assert_int_equal(nmp_optimize(&s, b.y, &b.graph, &b.cells.view, local, &b.neg, &b.loss, NULL, NULL, &rb, &err), NMP_OK);
    for (int64_t i = 0; i < 200; i++) {
        int64_t to = i % 2 ? 100 + i / 2 : i / 2;
        assert_memory_equal(a.y + 2 * i, b.y + 2 * to, 2 * sizeof(float));
    }
    free(ra.loss), free(ra.epoch_seconds), free(rb.loss), free(rb.epoch_seconds);
    teardown_fit(&a);
    teardown_fit(&b);
}

static void nan_stops_with_epoch(void **st)
{
    (void)st;
    fixture f;
    nmp_opt_settings s = settings();
    s.lr = INFINITY; /* the first update makes the layout non-finite */
    nmp_opt_result r;
    nmp_err err = {0};
    setup_fit(&f, 7, "uniform", "infonce");
    assert_int_equal(nmp_optimize(&s, f.y, &f.graph, &f.cells.view, &f.local, &f.neg, &f.loss, NULL, NULL, &r, &err),
                     NMP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "NaN or Inf at epoch 0"));
    assert_non_null(strstr(err.msg, "SGD update"));
    free(r.loss), free(r.epoch_seconds);
    teardown_fit(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lr_schedule_holds_then_anneals),
        cmocka_unit_test(exaggeration_schedule),
        cmocka_unit_test(fit_lowers_loss_and_is_deterministic),
        cmocka_unit_test(fit_order_is_transparent),
        cmocka_unit_test(nan_stops_with_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
