/* Parity of kernels/affinity.cu with kernels/affinity_cpu.c: rank_exp, uniform and row
 * normalisation must match bit for bit (the same double arithmetic, one row per thread).
 * Exit 77 without a CUDA build or a GPU. */
#include "gpu_parity.h"

#ifdef NOMAD_CUDA
#include <string.h>

#include "affinity_cpu.h"
#include "affinity_cuda.h"

/* n rows of 0..kmax edges (a few empty). */
static int64_t *random_offsets(int64_t n, int64_t kmax, uint64_t seed)
{
    int64_t *off = malloc((size_t)(n + 1) * sizeof *off);
    off[0] = 0;
    for (int64_t i = 0; i < n; i++)
        off[i + 1] = off[i] + (int64_t)nmp_rng_below(seed, 1, (uint64_t)i, (uint64_t)kmax + 1);
    return off;
}

static void test_rank_exp_bits(void **state)
{
    (void)state;
    int64_t n = 50001, kmax = 40;
    int64_t *off = random_offsets(n, kmax, 31);
    size_t m = (size_t)off[n];
    float *wc = malloc(m * sizeof *wc), *wg = malloc(m * sizeof *wg);
    double term[40], norm[41], temps[] = {1.0, 0.0, 3.7};
    nmp_gpu_err e = {0};
    for (int t = 0; t < 3; t++) {
        affinity_rank_exp_table_cpu(temps[t], kmax, term, norm);
        affinity_rank_exp_cpu(off, 0, n, term, norm, wc);
        GPU_OK(affinity_rank_exp_cuda(off, n, temps[t], wg, &e), &e);
        assert_memory_equal(wg, wc, m * sizeof *wc);
    }
    free(off), free(wc), free(wg);
}

static void test_uniform_normalize_bits(void **state)
{
    (void)state;
    int64_t n = 30011;
    int64_t *off = random_offsets(n, 25, 32);
    size_t m = (size_t)off[n];
    float *wc = malloc(m * sizeof *wc), *wg = malloc(m * sizeof *wg);
    nmp_gpu_err e = {0};
    affinity_uniform_cpu(off, 0, n, wc);
    GPU_OK(affinity_uniform_cuda(off, n, 0, wg, &e), &e);
    assert_memory_equal(wg, wc, m * sizeof *wc);
    affinity_normalize_rows_cpu(off, 0, n, wc);
    GPU_OK(affinity_uniform_cuda(off, n, 1, wg, &e), &e);
    assert_memory_equal(wg, wc, m * sizeof *wc);
    float *v = gpu_test_uniform((int64_t)m, 0, 2, 33);
    memcpy(wc, v, m * sizeof *v);
    memset(v, 0, (size_t)(off[1] - off[0]) * sizeof *v); /* a zero row stays zero */
    memset(wc, 0, (size_t)(off[1] - off[0]) * sizeof *wc);
    affinity_normalize_rows_cpu(off, 0, n, wc);
    GPU_OK(affinity_normalize_rows_cuda(off, n, v, &e), &e);
    assert_memory_equal(v, wc, m * sizeof *wc);
    off[5] = off[6] + 1; /* decreasing offsets are refused with the row */
    assert_int_equal(affinity_uniform_cuda(off, n, 0, wg, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "row 5"));
    free(off), free(wc), free(wg), free(v);
}
#endif

int main(void)
{
#ifdef NOMAD_CUDA
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rank_exp_bits),
                                       cmocka_unit_test(test_uniform_normalize_bits)};
    return GPU_TEST_MAIN("affinity", tests);
#else
    printf("test_affinity: skipped (exit 77): built without NOMAD_CUDA\n");
    return GPU_SKIP;
#endif
}
