/* The comm layer with the local back end: every collective is an exact copy, byte counts
 * stay 0 with one rank, argument errors are caught, agreement passes the own status
 * through, and the host's all-reduce / all-gather services route through it. */
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "host.h"
#include "test_host.h"

static nmp_comm *open_local(void)
{
    nmp_comm *c = NULL;
    nmp_err err = {0};
    assert_int_equal(nmp_comm_open(NMP_BACKEND_LOCAL, 5.0, &c, &err), NMP_OK);
    assert_non_null(c);
    return c;
}

static void local_is_one_rank(void **st)
{
    nmp_comm *c = open_local();
    assert_int_equal(nmp_comm_rank(c), 0);
    assert_int_equal(nmp_comm_size(c), 1);
    assert_string_equal(nmp_comm_backend_name(c), "local");
    nmp_comm_close(c);
    nmp_comm_close(NULL); /* safe */
}

static void collectives_copy(void **st)
{
    nmp_comm *c = open_local();
    nmp_err err = {0};
    char send[5] = "abcd", recv[5] = {0};
    assert_int_equal(nmp_comm_allgather(c, send, recv, 5, &err), NMP_OK);
    assert_string_equal(recv, "abcd");

    double d[3] = {1.5, -2.25, 1e300}, dr[3] = {0};
    assert_int_equal(nmp_comm_allreduce_sum(c, d, dr, 3, NMP_DTYPE_F64, &err), NMP_OK);
    assert_memory_equal(d, dr, sizeof d);
    float f[2] = {3.0f, 0.5f};
    assert_int_equal(nmp_comm_allreduce_sum(c, f, f, 2, NMP_DTYPE_F32, &err), NMP_OK); /* in place */
    assert_true(f[0] == 3.0f && f[1] == 0.5f);
    int64_t i[2] = {INT64_MAX, -7}, ir[2];
    assert_int_equal(nmp_comm_allreduce_sum(c, i, ir, 2, NMP_DTYPE_I64, &err), NMP_OK);
    assert_true(ir[0] == INT64_MAX && ir[1] == -7);

    int v = 42;
    assert_int_equal(nmp_comm_broadcast(c, &v, sizeof v, 0, &err), NMP_OK);
    assert_int_equal(v, 42);

    const char data[6] = "xyzuv";
    char out[6] = {0};
    size_t n = 6, got = 0;
    assert_int_equal(nmp_comm_exchange_counts(c, &n, &got, &err), NMP_OK);
    assert_int_equal(got, 6);
    assert_int_equal(nmp_comm_alltoallv(c, data, &n, out, &got, &err), NMP_OK);
    assert_string_equal(out, "xyzuv");
    assert_int_equal(nmp_comm_barrier(c, &err), NMP_OK);

    const nmp_comm_stats *s = nmp_comm_stats_get(c);
    assert_int_equal(s->calls, 8);      /* exchange_counts is one all-to-all */
    assert_int_equal(s->bytes_sent, 0); /* nothing leaves a single rank */
    assert_int_equal(s->bytes_received, 0);
    nmp_comm_close(c);
}

static void bad_arguments(void **st)
{
    nmp_comm *c = open_local();
    nmp_err err = {0};
    int v = 0;
    assert_int_equal(nmp_comm_broadcast(c, &v, sizeof v, 1, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "broadcast from rank 1 of 1"));
    assert_int_equal(nmp_comm_allreduce_sum(c, &v, &v, 1, (nmp_dtype)99, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown element type"));
    size_t send = 4, recv = 8;
    char buf[8];
    assert_int_equal(nmp_comm_alltoallv(c, buf, &send, buf, &recv, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "sends itself 4 bytes but expects 8"));
    assert_int_equal(nmp_comm_allgather(c, NULL, buf, 4, &err), NMP_ERR_INVALID);
    nmp_comm_close(c);
}

static void agree_keeps_own_status(void **st)
{
    nmp_comm *c = open_local();
    nmp_err err = {0};
    assert_int_equal(nmp_comm_agree(c, NMP_OK, &err), NMP_OK);
    nmp_fail(&err, NMP_ERR_IO, "data.npy: cannot open");
    assert_int_equal(nmp_comm_agree(c, NMP_ERR_IO, &err), NMP_ERR_IO);
    assert_string_equal(err.msg, "data.npy: cannot open"); /* one rank: no "rank 0:" prefix */
    nmp_comm_close(c);
}

static void local_under_a_launcher_is_refused(void **st)
{
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    nmp_comm *c = NULL;
    nmp_err err = {0};
    nmp_status s = nmp_comm_open(NMP_BACKEND_LOCAL, 5.0, &c, &err);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    assert_int_equal(s, NMP_ERR_INVALID);
    assert_null(c);
    assert_non_null(strstr(err.msg, "distributed.backend: local, but mpirun started 3 copies"));
    assert_int_equal(nmp_comm_launcher_size(), 1);
}

static void missing_backends_are_config_errors(void **st)
{
    nmp_comm *c = NULL;
    nmp_err err = {0};
#ifndef NOMAD_HAVE_MPI
    assert_int_equal(nmp_comm_open(NMP_BACKEND_MPI, 5.0, &c, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "distributed.backend: mpi: this nomad was built without MPI"));
#endif
#ifndef NOMAD_HAVE_NCCL
    assert_int_equal(nmp_comm_open(NMP_BACKEND_NCCL, 5.0, &c, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "distributed.backend: nccl: this nomad was built without NCCL"));
#endif
    assert_null(c);
    assert_int_equal(nmp_comm_open((nmp_cfg_backend)7, 5.0, &c, &err), NMP_ERR_INVALID);
    assert_int_equal(nmp_exit_code(NMP_ERR_INVALID), 2);
}

static void host_services_route_through_comm(void **st)
{
    nmp_comm *c = open_local();
    nmp_host_config hc = {.threads = 1, .quiet = 1, .seed = 1, .rank = 0, .ranks = 1, .comm = c};
    nmp_host_configure(&hc);
    nmp_host *h = nmp_host_new("test");
    assert_true(h->struct_size > offsetof(nmp_host, allreduce));
    assert_non_null(h->allreduce);
    double v[2] = {2.0, 3.0};
    assert_int_equal(h->allreduce(h, v, v, 2, NMP_DTYPE_F64), NMP_OK);
    assert_true(v[0] == 2.0 && v[1] == 3.0);
    assert_int_equal(h->allreduce(h, v, v, 2, (nmp_dtype)0), NMP_ERR_INVALID);
    assert_non_null(strstr(nmp_host_error(h), "unknown element type"));
    int64_t a = 5, b = 0;
    assert_int_equal(h->allgather(h, &a, &b, sizeof a), NMP_OK);
    assert_int_equal(b, 5);
    assert_int_equal(nmp_comm_stats_get(c)->calls, 2); /* both went through the comm layer */
    nmp_host_free(h);
    hc.comm = NULL;
    nmp_host_configure(&hc);
    nmp_comm_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(local_is_one_rank),
        cmocka_unit_test(collectives_copy),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(agree_keeps_own_status),
        cmocka_unit_test(local_under_a_launcher_is_refused),
        cmocka_unit_test(missing_backends_are_config_errors),
        cmocka_unit_test(host_services_route_through_comm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
