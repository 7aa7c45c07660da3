/* The CPU references of the GPU fit's update (kernels/sgd_step_cpu.c): the momentum update
 * element by element, the cell means, and the batch checks. The gradient kernel's reference
 * is the step engine (tests/unit/test_step_engine.c tests it). */
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

/* A bad id is refused by name before any kernel could read it. */
static void test_batch_checks(void **state)
{
    (void)state;
    sgd_case *c = malloc(sizeof *c);
    case_init(c, 2, 0);
    c->neg_index[17] = N;
    assert_string_equal(sgd_batch_problem(&c->p, &c->b), "a negative is not a point id");
    c->neg_index[17] = 0, c->target[3] = -1;
    assert_string_equal(sgd_batch_problem(&c->p, &c->b), "a target is not a point id");
    free(c);
}

/* The update's arithmetic, element by element, and the new cell means. */
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
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_batch_checks), cmocka_unit_test(test_update)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
