/* affinity_cpu (kernels/affinity_cpu.c): NOMAD's rank weights against their formula, uniform
 * weights, row normalisation (zero rows left alone), and that ranges of rows compose. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "affinity_cpu.h"

/* Rows of 3, 0, 1 and 5 edges. */
static const int64_t offsets[] = {0, 3, 3, 4, 9};

static void test_rank_exp_formula(void **state)
{
    (void)state;
    double term[5], norm[6];
    float w[9];
    affinity_rank_exp_table_cpu(1.0, 5, term, norm);
    assert_true(norm[0] == 0.0);
    for (int r = 1; r <= 5; r++) assert_true(fabs(term[r - 1] - exp(1.0 / r)) <= 1e-15 * exp(1.0 / r));
    affinity_rank_exp_cpu(offsets, 0, 2, term, norm, w); /* two ranges = one pass */
    affinity_rank_exp_cpu(offsets, 2, 4, term, norm, w);
    double z3 = exp(1.0) + exp(0.5) + exp(1.0 / 3.0);
    assert_float_equal(w[0], exp(1.0) / z3, 1e-7);
    assert_float_equal(w[2], exp(1.0 / 3.0) / z3, 1e-7);
    assert_float_equal(w[3], 1.0, 0.0); /* a single neighbour takes all */
    double sum = 0.0;
    for (int e = 4; e < 9; e++) sum += w[e];
    assert_float_equal(sum, 1.0, 1e-6);
    for (int e = 5; e < 9; e++) assert_true(w[e] < w[e - 1]); /* nearer ranks weigh more */
    affinity_rank_exp_table_cpu(0.0, 5, term, norm);          /* temperature 0: uniform 1/k */
    affinity_rank_exp_cpu(offsets, 0, 4, term, norm, w);
    for (int e = 4; e < 9; e++) assert_float_equal(w[e], 0.2, 1e-7);
}

static void test_uniform_and_normalize(void **state)
{
    (void)state;
    float w[9];
    affinity_uniform_cpu(offsets, 0, 4, w);
    assert_true(w[0] == (float)(1.0 / 3.0) && w[3] == 1.0f && w[8] == 0.2f);
    float v[9] = {1, 1, 2, 7, 0, 0, 0, 0, 0};
    affinity_normalize_rows_cpu(offsets, 0, 4, v);
    assert_true(v[0] == 0.25f && v[2] == 0.5f && v[3] == 1.0f);
    for (int e = 4; e < 9; e++) assert_true(v[e] == 0.0f); /* a zero row stays zero, no NaN */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rank_exp_formula),
                                       cmocka_unit_test(test_uniform_and_normalize)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
