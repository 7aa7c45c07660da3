/* The comm layer's front: checks arguments, counts bytes and time, and agrees on errors at
 * stage boundaries (see comm.h); comm_open.c picks the back end. */
#include "comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm_internal.h"
#include "proc.h"

static int launcher_env(const char *const *vars, int count, int none)
{
    for (int i = 0; i < count; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) >= 0 && *v) return atoi(v);
    }
    return none;
}

int nmp_comm_launcher_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    int n = launcher_env(vars, 3, 1);
    return n > 0 ? n : 1;
}

int nmp_comm_launcher_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
    return launcher_env(vars, 3, 0);
}

void nmp_comm_close(nmp_comm *c)
{
    if (!c) return;
    if (c->ops && c->ops->close) c->ops->close(c);
    free(c);
}

int nmp_comm_rank(const nmp_comm *c)
{
    return c ? c->rank : 0;
}
int nmp_comm_size(const nmp_comm *c)
{
    return c ? c->size : 1;
}
const char *nmp_comm_backend_name(const nmp_comm *c)
{
    return c ? c->ops->name : "local";
}
const nmp_comm_stats *nmp_comm_stats_get(const nmp_comm *c)
{
    return &c->stats;
}

static size_t dtype_size(nmp_dtype t)
{
    switch (t) {
    case NMP_DTYPE_F32:
        return 4;
    case NMP_DTYPE_F64:
    case NMP_DTYPE_I64:
        return 8;
    }
    return 0;
}

/* Adds one call's payload and wall time to the rank's totals. */
static nmp_status account(nmp_comm *c, double t0, size_t sent, size_t received, nmp_status s)
{
    c->stats.calls++;
    c->stats.bytes_sent += sent;
    c->stats.bytes_received += received;
    c->stats.seconds += nmp_now() - t0;
    return s;
}

nmp_status nmp_comm_allgather(nmp_comm *c, const void *send, void *recv, size_t bytes, nmp_err *err)
{
    if (bytes && (!send || !recv))
        return nmp_fail(err, NMP_ERR_INVALID, "comm: all-gather of %zu bytes without buffers", bytes);
    double t0 = nmp_now();
    nmp_status s = bytes ? c->ops->allgather(c, send, recv, bytes, err) : NMP_OK;
    size_t others = (size_t)(c->size - 1);
    return account(c, t0, others ? bytes : 0, others * bytes, s);
}

nmp_status nmp_comm_allreduce_sum(nmp_comm *c, const void *send, void *recv, size_t count, nmp_dtype type, nmp_err *err)
{
    size_t size = dtype_size(type), bytes = size * count;
    if (!size) return nmp_fail(err, NMP_ERR_INVALID, "comm: all-reduce of unknown element type %d", (int)type);
    if (count && (!send || !recv))
        return nmp_fail(err, NMP_ERR_INVALID, "comm: all-reduce of %zu values without buffers", count);
    double t0 = nmp_now();
    nmp_status s = count ? c->ops->allreduce_sum(c, send, recv, count, type, err) : NMP_OK;
    return account(c, t0, c->size > 1 ? bytes : 0, c->size > 1 ? bytes : 0, s);
}

nmp_status nmp_comm_broadcast(nmp_comm *c, void *buf, size_t bytes, int root, nmp_err *err)
{
    if (root < 0 || root >= c->size)
        return nmp_fail(err, NMP_ERR_INVALID, "comm: broadcast from rank %d of %d", root, c->size);
    if (bytes && !buf) return nmp_fail(err, NMP_ERR_INVALID, "comm: broadcast of %zu bytes without a buffer", bytes);
    double t0 = nmp_now();
    nmp_status s = bytes && c->size > 1 ? c->ops->broadcast(c, buf, bytes, root, err) : NMP_OK;
    int sender = c->rank == root, many = c->size > 1;
    return account(c, t0, many && sender ? bytes : 0, many && !sender ? bytes : 0, s);
}

nmp_status nmp_comm_alltoallv(nmp_comm *c, const void *send, const size_t *send_bytes, void *recv,
                              const size_t *recv_bytes, nmp_err *err)
{
    size_t *off = malloc(2 * (size_t)c->size * sizeof *off);
    if (!off) return nmp_fail(err, NMP_ERR_NOMEM, "comm: out of memory for %d all-to-all offsets", c->size);
    size_t *send_off = off, *recv_off = off + c->size, st = 0, rt = 0, sent = 0, received = 0;
    for (int p = 0; p < c->size; p++) {
        send_off[p] = st, recv_off[p] = rt;
        st += send_bytes[p], rt += recv_bytes[p];
        if (p != c->rank) sent += send_bytes[p], received += recv_bytes[p];
    }
    nmp_status s = NMP_OK;
    if ((st && !send) || (rt && !recv))
        s = nmp_fail(err, NMP_ERR_INVALID, "comm: all-to-all of %zu/%zu bytes without buffers", st, rt);
    if (s == NMP_OK && send_bytes[c->rank] != recv_bytes[c->rank])
        s = nmp_fail(err, NMP_ERR_INVALID, "comm: all-to-all: rank %d sends itself %zu bytes but expects %zu", c->rank,
                     send_bytes[c->rank], recv_bytes[c->rank]);
    double t0 = nmp_now();
    if (s == NMP_OK) s = c->ops->alltoallv(c, send, send_bytes, send_off, recv, recv_bytes, recv_off, err);
    free(off);
    return account(c, t0, sent, received, s);
}

nmp_status nmp_comm_exchange_counts(nmp_comm *c, const size_t *send, size_t *recv, nmp_err *err)
{
    size_t *one = malloc((size_t)c->size * sizeof *one);
    if (!one) return nmp_fail(err, NMP_ERR_NOMEM, "comm: out of memory for %d counts", c->size);
    for (int p = 0; p < c->size; p++) one[p] = sizeof *send;
    nmp_status s = nmp_comm_alltoallv(c, send, one, recv, one, err);
    free(one);
    return s;
}

nmp_status nmp_comm_barrier(nmp_comm *c, nmp_err *err)
{
    double t0 = nmp_now();
    return account(c, t0, 0, 0, c->size > 1 ? c->ops->barrier(c, err) : NMP_OK);
}

/* What the lowest failing rank tells the others. */
typedef struct {
    int32_t status;
    char msg[NMP_ERR_MSG_MAX];
} agreed_error;

nmp_status nmp_comm_agree(nmp_comm *c, nmp_status local, nmp_err *err)
{
    if (!c || c->size == 1) return local;
    int failed = local != NMP_OK, first = c->size;
    const char *why = err && err->msg[0] ? err->msg : "failed without a message";
    if (c->ops->control_min(c, failed ? c->rank : c->size, &first, failed ? c->abort_timeout : 0.0)) {
        char msg[NMP_ERR_MSG_MAX + 256];
        snprintf(msg, sizeof msg,
                 "rank %d: %.2000s (the other ranks did not reach the end of the stage within "
                 "distributed.abort_timeout = %g s; aborting all %d ranks)",
                 c->rank, why, c->abort_timeout, c->size);
        nmp_comm_abort(c, nmp_exit_code(local), msg);
    }
    if (first == c->size) return NMP_OK;
    agreed_error *m = calloc(1, sizeof *m);
    if (!m) nmp_comm_abort(c, 1, "out of memory agreeing on an error");
    if (c->rank == first) {
        m->status = (int32_t)local;
        if (strcmp(why, c->agreed) == 0) /* agreed inside the stage already: it names its rank */
            snprintf(m->msg, sizeof m->msg, "%s", why);
        else
            snprintf(m->msg, sizeof m->msg, "rank %d: %.2000s", c->rank, why); /* room for the prefix */
    }
    c->ops->control_broadcast(c, m, sizeof *m, first);
    memcpy(c->agreed, m->msg, sizeof c->agreed);
    nmp_status s = m->status != NMP_OK ? (nmp_status)m->status : NMP_ERR_RUNTIME;
    nmp_fail(err, s, "%s", m->msg);
    free(m);
    return s;
}

void nmp_comm_abort(nmp_comm *c, int exit_code, const char *msg)
{
    fprintf(stderr, "nomad: error: %s\n", msg);
    fflush(stderr);
    if (c && c->ops && c->ops->abort) c->ops->abort(c, exit_code ? exit_code : 1);
    exit(exit_code ? exit_code : 1);
}
