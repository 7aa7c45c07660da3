/* The MPI comm back end under mpirun (-np 1, 2, 4): every collective moves the right bytes
 * in rank order, floating sums are the same bits on every rank, byte counts follow the
 * payload, the agreement hands every rank the lowest failing rank's message, and the host
 * services reach other ranks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "host.h"
#include "test_host.h"

static nmp_comm *g_comm;

static int setup(void **st)
{
    nmp_err err = {0};
    if (nmp_comm_open(NMP_BACKEND_MPI, 20.0, &g_comm, &err) != NMP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **st)
{
    nmp_comm_close(g_comm);
    return 0;
}

static void size_matches_launcher(void **st)
{
    assert_string_equal(nmp_comm_backend_name(g_comm), "mpi");
    assert_int_equal(nmp_comm_size(g_comm), nmp_comm_launcher_size());
    assert_in_range(nmp_comm_rank(g_comm), 0, nmp_comm_size(g_comm) - 1);
}

static void allgather_in_rank_order(void **st)
{
    int r = nmp_comm_rank(g_comm), n = nmp_comm_size(g_comm);
    nmp_err err = {0};
    int64_t mine[2] = {r, 100 + r}, *all = calloc((size_t)(2 * n), sizeof *all);
    assert_int_equal(nmp_comm_allgather(g_comm, mine, all, sizeof mine, &err), NMP_OK);
    for (int p = 0; p < n; p++) {
        assert_int_equal(all[2 * p], p);
        assert_int_equal(all[2 * p + 1], 100 + p);
    }
    free(all);
}

static void allreduce_sums_and_agrees_bitwise(void **st)
{
    int r = nmp_comm_rank(g_comm), n = nmp_comm_size(g_comm);
    nmp_err err = {0};
    enum { COUNT = 1000 };
    double *d = malloc(COUNT * sizeof *d), *all = malloc((size_t)n * COUNT * sizeof *all);
    for (int i = 0; i < COUNT; i++) d[i] = 0.1 * (r + 1) + 1e-9 * i; /* sums that round */
    assert_int_equal(nmp_comm_allreduce_sum(g_comm, d, d, COUNT, NMP_DTYPE_F64, &err), NMP_OK);
    double want = 0.1 * n * (n + 1) / 2;
    assert_float_equal(d[0], want, 1e-12);
    assert_int_equal(nmp_comm_allgather(g_comm, d, all, COUNT * sizeof *d, &err), NMP_OK);
    for (int p = 1; p < n; p++) assert_memory_equal(all, all + (size_t)p * COUNT, COUNT * sizeof *d);

    float f[3] = {1.0f, (float)r, 0.25f}, fr[3];
    assert_int_equal(nmp_comm_allreduce_sum(g_comm, f, fr, 3, NMP_DTYPE_F32, &err), NMP_OK);
    assert_true(fr[0] == (float)n && fr[1] == (float)(n * (n - 1) / 2) && fr[2] == 0.25f * (float)n);
    int64_t i[2] = {(int64_t)1 << 40, -r}, ir[2];
    assert_int_equal(nmp_comm_allreduce_sum(g_comm, i, ir, 2, NMP_DTYPE_I64, &err), NMP_OK);
    assert_true(ir[0] == ((int64_t)n << 40) && ir[1] == -(int64_t)(n * (n - 1) / 2));
    free(d), free(all);
}

static void broadcast_from_every_root(void **st)
{
    int r = nmp_comm_rank(g_comm), n = nmp_comm_size(g_comm);
    nmp_err err = {0};
    for (int root = 0; root < n; root++) {
        char buf[64];
        snprintf(buf, sizeof buf, "from rank %d of %d", r, n);
        assert_int_equal(nmp_comm_broadcast(g_comm, buf, sizeof buf, root, &err), NMP_OK);
        char want[64];
        snprintf(want, sizeof want, "from rank %d of %d", root, n);
        assert_string_equal(buf, want);
    }
}

/* Rank r sends (p + 1) * (r + 1) bytes of value 16 r + p to rank p. */
static void alltoallv_moves_blocks(void **st)
{
    int r = nmp_comm_rank(g_comm), n = nmp_comm_size(g_comm);
    nmp_err err = {0};
    size_t *sb = calloc((size_t)n, sizeof *sb), *rb = calloc((size_t)n, sizeof *rb), total = 0;
    for (int p = 0; p < n; p++) total += (sb[p] = (size_t)((p + 1) * (r + 1)));
    unsigned char *send = malloc(total), *at = send;
    for (int p = 0; p < n; p++, at += sb[p - 1]) memset(at, 16 * r + p, sb[p]);
    assert_int_equal(nmp_comm_exchange_counts(g_comm, sb, rb, &err), NMP_OK);
    size_t rtotal = 0;
    for (int p = 0; p < n; p++) {
        assert_int_equal(rb[p], (size_t)((r + 1) * (p + 1)));
        rtotal += rb[p];
    }
    unsigned char *recv = malloc(rtotal), *got = recv;
    assert_int_equal(nmp_comm_alltoallv(g_comm, send, sb, recv, rb, &err), NMP_OK);
    for (int p = 0; p < n; p++)
        for (size_t b = 0; b < rb[p]; b++) assert_int_equal(*got++, 16 * p + r);
    free(sb), free(rb), free(send), free(recv);
}

static void bytes_follow_the_payload(void **st)
{
    int n = nmp_comm_size(g_comm);
    nmp_err err = {0};
    nmp_comm_stats before = *nmp_comm_stats_get(g_comm);
    double v[10] = {0};
    assert_int_equal(nmp_comm_allreduce_sum(g_comm, v, v, 10, NMP_DTYPE_F64, &err), NMP_OK);
    assert_int_equal(nmp_comm_barrier(g_comm, &err), NMP_OK);
    const nmp_comm_stats *after = nmp_comm_stats_get(g_comm);
    assert_int_equal(after->calls - before.calls, 2);
    assert_int_equal(after->bytes_sent - before.bytes_sent, n > 1 ? 80 : 0);
    assert_int_equal(after->bytes_received - before.bytes_received, n > 1 ? 80 : 0);
    assert_true(after->seconds >= before.seconds);
}

static void agreement_takes_lowest_failing_rank(void **st)
{
    int r = nmp_comm_rank(g_comm), n = nmp_comm_size(g_comm);
    nmp_err err = {0};
    assert_int_equal(nmp_comm_agree(g_comm, NMP_OK, &err), NMP_OK);
    /* the last rank fails alone */
    nmp_status mine = r == n - 1 ? nmp_fail(&err, NMP_ERR_IO, "data.npy: no such file") : NMP_OK;
    nmp_status s = nmp_comm_agree(g_comm, mine, &err);
    if (n == 1) {
        assert_int_equal(s, NMP_ERR_IO);
        assert_string_equal(err.msg, "data.npy: no such file");
        return;
    }
    assert_int_equal(s, NMP_ERR_IO);
    char want[64];
    snprintf(want, sizeof want, "rank %d: data.npy: no such file", n - 1);
    assert_string_equal(err.msg, want);
    /* every rank but 0 fails: rank 1's message wins everywhere */
    memset(&err, 0, sizeof err);
    mine = r > 0 ? nmp_fail(&err, r == 1 ? NMP_ERR_RUNTIME : NMP_ERR_NOMEM, "failure %d", r) : NMP_OK;
    assert_int_equal(nmp_comm_agree(g_comm, mine, &err), NMP_ERR_RUNTIME);
    assert_string_equal(err.msg, "rank 1: failure 1");
    /* agreed again at the stage boundary: the message keeps its one prefix */
    assert_int_equal(nmp_comm_agree(g_comm, NMP_ERR_RUNTIME, &err), NMP_ERR_RUNTIME);
    assert_string_equal(err.msg, "rank 1: failure 1");
    assert_int_equal(nmp_comm_agree(g_comm, NMP_OK, &err), NMP_OK); /* and the channel is clean after */
}

static void host_services_reach_other_ranks(void **st)
{
    int r = nmp_comm_rank(g_comm), n = nmp_comm_size(g_comm);
    nmp_host_config hc = {.threads = 1, .quiet = 1, .seed = 1, .rank = r, .ranks = n, .comm = g_comm};
    nmp_host_configure(&hc);
    nmp_host *h = nmp_host_new("test");
    assert_int_equal(h->rank, r);
    assert_int_equal(h->ranks, n);
    int64_t v = r + 1;
    assert_int_equal(h->allreduce(h, &v, &v, 1, NMP_DTYPE_I64), NMP_OK);
    assert_int_equal(v, n * (n + 1) / 2);
    int32_t mine = 7 * r, *all = calloc((size_t)n, sizeof *all);
    assert_int_equal(h->allgather(h, &mine, all, sizeof mine), NMP_OK);
    for (int p = 0; p < n; p++) assert_int_equal(all[p], 7 * p);
    free(all);
    nmp_host_free(h);
    hc.comm = NULL, hc.rank = 0, hc.ranks = 1;
    nmp_host_configure(&hc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(size_matches_launcher),
        cmocka_unit_test(allgather_in_rank_order),
        cmocka_unit_test(allreduce_sums_and_agrees_bitwise),
        cmocka_unit_test(broadcast_from_every_root),
        cmocka_unit_test(alltoallv_moves_blocks),
        cmocka_unit_test(bytes_follow_the_payload),
        cmocka_unit_test(agreement_takes_lowest_failing_rank),
        cmocka_unit_test(host_services_reach_other_ranks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
