/* Shared by the CUDA parity tests: the skip rule (exit 77 without a CUDA build or a GPU),
 * deterministic inputs, and the message check of a failed `_cuda` call. */
#ifndef NOMAD_GPU_PARITY_H
#define NOMAD_GPU_PARITY_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_host.h"

#include "nomad/rng.h"

#define GPU_SKIP 77

/* n values uniform in [lo, hi) from (seed, counter): the same on every machine. */
static inline float *gpu_test_uniform(int64_t n, double lo, double hi, uint64_t seed)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * nmp_rng_uniform(seed, 11, (uint64_t)i));
    return x;
}

/* |a - b| <= tol * max(1, |b|): the relative-with-floor tolerance the parity tests state. */
static inline int gpu_test_close(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1.0, fabs(b));
}

#ifdef NOMAD_CUDA
#include <string.h>

#include "cuda_check.h"

/* Fails the test with the kernel's own message when a `_cuda` call did not return NMP_OK. */
#define GPU_OK(call, err)                                                                                              \
    do {                                                                                                               \
        nmp_status gpu_ok_s_ = (call);                                                                                 \
        if (gpu_ok_s_ != NMP_OK) fail_msg("%s -> status %d: %s", #call, (int)gpu_ok_s_, (err)->msg);                   \
    } while (0)

/* Runs `tests` when a GPU is here; otherwise says why and returns 77. */
static inline int gpu_test_main(const char *name, const struct CMUnitTest *tests, size_t count)
{
    char info[256];
    nmp_cuda_describe(info, sizeof info);
    if (!nmp_cuda_available()) {
        printf("%s: skipped (exit 77): %s\n", name, info);
        return GPU_SKIP;
    }
    printf("%s: on %s\n", name, info);
    return _cmocka_run_group_tests(name, tests, count, NULL, NULL);
}
#define GPU_TEST_MAIN(name, tests) gpu_test_main(name, tests, sizeof(tests) / sizeof((tests)[0]))
#endif

#endif
