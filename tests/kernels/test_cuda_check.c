/* The CUDA error path (kernels/cuda_check.h): messages carry kernels/<file>:<line> and the
 * reason; GPU out of memory is NMP_ERR_NOMEM naming the bytes asked; no device is
 * NMP_ERR_UNSUPPORTED. The host-only checks run wherever CUDA is built; exit 77 without a GPU. */
#include "gpu_parity.h"

#ifdef NOMAD_CUDA
/* The prefix is the path from kernels/, whatever the build machine's checkout path. */
static void test_fail_formats_place(void **state)
{
    (void)state;
    nmp_gpu_err e = {0};
    assert_int_equal(nmp_gpu_fail(&e, NMP_ERR_INVALID, "/x/y/kernels/kmeans.cu", 42, "k = %d", 0), NMP_ERR_INVALID);
    assert_int_equal(e.status, NMP_ERR_INVALID);
    assert_string_equal(e.msg, "kernels/kmeans.cu:42: k = 0");
    assert_int_equal(nmp_gpu_fail(NULL, NMP_ERR_RUNTIME, "a.cu", 1, "x"), NMP_ERR_RUNTIME); /* NULL err: status only */
}

/* Without a device, the first allocation says so as UNSUPPORTED, never crashes. */
static void test_no_device_is_unsupported(void **state)
{
    (void)state;
    nmp_gpu_err e = {0};
    nmp_status s = nmp_cuda_try_alloc(1024, "a probe", &e);
    if (s != NMP_ERR_UNSUPPORTED) fail_msg("status %d (want UNSUPPORTED): %s", (int)s, e.msg);
    assert_non_null(strstr(e.msg, "kernels/cuda_check.cu:"));
    assert_non_null(strstr(e.msg, "cudaMalloc failed"));
}

/* 1 PiB cannot be had on any GPU: the message names what, the bytes and the free memory. */
static void test_oom_names_bytes(void **state)
{
    (void)state;
    nmp_gpu_err e = {0};
    assert_int_equal(nmp_cuda_try_alloc(1024, "a probe", &e), NMP_OK);
    nmp_status s = nmp_cuda_try_alloc((size_t)1 << 50, "the test's layout", &e);
    assert_int_equal(s, NMP_ERR_NOMEM);
    assert_int_equal(e.status, NMP_ERR_NOMEM);
    assert_non_null(strstr(e.msg, "kernels/cuda_check.cu:"));
    assert_non_null(strstr(e.msg, "GPU out of memory: the test's layout needs 1125899906842624 bytes"));
    assert_non_null(strstr(e.msg, "MiB free of"));
    /* the failure left nothing sticky behind: the next allocation works */
    assert_int_equal(nmp_cuda_try_alloc(1 << 20, "a probe", &e), NMP_OK);
}
#endif

int main(void)
{
#ifdef NOMAD_CUDA
    const struct CMUnitTest host_only[] = {cmocka_unit_test(test_fail_formats_place)};
    int failed = cmocka_run_group_tests_name("cuda_check (host)", host_only, NULL, NULL);
    if (failed) return failed;
    if (!nmp_cuda_available()) {
        const struct CMUnitTest no_gpu[] = {cmocka_unit_test(test_no_device_is_unsupported)};
        failed = cmocka_run_group_tests_name("cuda_check (no device)", no_gpu, NULL, NULL);
        return failed ? failed : GPU_SKIP;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom_names_bytes)};
    return GPU_TEST_MAIN("cuda_check", tests);
#else
    printf("test_cuda_check: skipped (exit 77): built without NOMAD_CUDA\n");
    return GPU_SKIP;
#endif
}
