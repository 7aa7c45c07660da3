/* plugins/common/neg_common.c's systematic rows against the plain walk they replace (one
 * position at a time, the cells walked once): the same points for every slot, over groups of
 * side-by-side cells, scattered cells, empty cells, rows shorter and longer than the group,
 * with members in fit order (identity) and shuffled. */
#include <stdlib.h>
#include <string.h>

#include "test_host.h"

#include "neg_common.h"
#include "nomad/rng.h"

/* The walk: position floor(u + l stride), clamped, found by walking the group's cells. */
static void reference_row(const neg_cellsets *s, const nmp_cells *cells, int32_t g, uint64_t seed, int64_t step,
                          uint64_t slot, int32_t m, int32_t *out)
{
    const int64_t *cum = s->cum + s->start[g] + g, len = s->start[g + 1] - s->start[g], total = cum[len];
    const double stride = (double)total / m;
    const double u = stride * nmp_rng_uniform(seed, NMP_STREAM_NEGATIVES, nmp_rng_counter2((uint64_t)step, slot));
    int64_t k = 0;
    for (int32_t l = 0; l < m; l++) {
        int64_t pos = (int64_t)(u + l * stride);
        if (pos >= total) pos = total - 1;
        while (cum[k + 1] <= pos) k++;
        const int64_t at = cells->start[s->cell[s->start[g] + k]] + (pos - cum[k]);
        out[l] = cells->member[at];
    }
}

enum { CELLS = 7, N = 200 };

static void test_systematic_rows(void **state)
{
    (void)state;
    /* cell sizes: two empty cells, one of a single point */
    static const int64_t size[CELLS] = {40, 0, 57, 1, 0, 63, 39};
    int64_t start[CELLS + 1] = {0};
    for (int c = 0; c < CELLS; c++) start[c + 1] = start[c] + size[c];
    int32_t member[N], cell_of[N];
    /* groups: side by side (2, 3), scattered with empty ones (0, 1, 5, 4, 6), one cell (6), side
     * by side from an empty cell (4, 5), scattered from an empty cell (1, 5, 3), and scattered
     * between empty cells (4, 0, 1) */
    static const int32_t group_cells[] = {2, 3, 0, 1, 5, 4, 6, 6, 4, 5, 1, 5, 3, 4, 0, 1};
    static const int64_t group_start[] = {0, 2, 7, 8, 10, 13, 16};
    enum { GROUPS = 6 };
    nmp_host *h = test_host_new(1, 1);
    for (int shuffled = 0; shuffled < 2; shuffled++) {
        for (int i = 0; i < N; i++) member[i] = shuffled ? (int32_t)((i * 37 + 11) % N) : i;
        for (int c = 0; c < CELLS; c++)
            for (int64_t i = start[c]; i < start[c + 1]; i++) cell_of[member[i]] = c;
        nmp_cells cells = {CELLS, N, 0, cell_of, start, member, NULL};
        neg_cellsets s;
        assert_int_equal(neg_cellsets_alloc(&s, h, GROUPS, 16), NMP_OK);
        memcpy(s.start, group_start, sizeof group_start);
        memcpy(s.cell, group_cells, sizeof group_cells);
        neg_cellsets_finish(&s, &cells);
        assert_int_equal(s.identity, !shuffled);
        assert_true(s.flat[0] >= 0 && s.flat[1] < 0 && s.flat[3] >= 0 && s.flat[4] < 0 && s.flat[5] < 0);
        static const int32_t rows[] = {1, 2, 7, 60, 97, 160, 512};
        for (int32_t g = 0; g < GROUPS; g++)
            for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
                for (uint64_t slot = 0; slot < 40; slot++) {
                    int32_t got[512], want[512];
                    neg_cellsets_systematic(&s, &cells, g, 9, 3, slot, rows[r], got);
                    reference_row(&s, &cells, g, 9, 3, slot, rows[r], want);
                    assert_memory_equal(got, want, (size_t)rows[r] * sizeof *got);
                }
        neg_cellsets_free(&s);
    }
    test_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_systematic_rows)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
