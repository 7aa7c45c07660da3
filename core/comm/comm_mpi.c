/* The MPI comm back end: CPU ranks started by mpirun. Data collectives run on one duplicate
 * of MPI_COMM_WORLD, the error agreement on another, so a pending agreement never mixes with
 * a collective of the stage. Sizes above 1 GiB go in pieces (MPI counts are int). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm_internal.h"
#include "proc.h"

#define CHUNK_BYTES ((size_t)1 << 30)

typedef struct {
    MPI_Comm data, control;
} mpi_impl;

/* One MPI call: on failure an error naming the call, the file:line and MPI's reason. */
static nmp_status mpi_check(int rc, const char *call, const char *file, int line, nmp_err *err)
{
    if (rc == MPI_SUCCESS) return NMP_OK;
    char why[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, why, &len);
    return nmp_fail(err, NMP_ERR_RUNTIME, "%s:%d: %s failed: %s", file, line, call, why);
}
#define MPI_CHECK(call, err) mpi_check((call), #call, __FILE__, __LINE__, err)

static MPI_Comm data_comm(nmp_comm *c)
{
    return ((mpi_impl *)c->impl)->data;
}

static nmp_status mpi_broadcast(nmp_comm *c, void *buf, size_t bytes, int root, nmp_err *err)
{
    nmp_status s = NMP_OK;
    for (size_t at = 0; at < bytes && s == NMP_OK; at += CHUNK_BYTES) {
        int len = (int)(bytes - at < CHUNK_BYTES ? bytes - at : CHUNK_BYTES);
        s = MPI_CHECK(MPI_Bcast((char *)buf + at, len, MPI_BYTE, root, data_comm(c)), err);
    }
    return s;
}

static nmp_status mpi_allgather(nmp_comm *c, const void *send, void *recv, size_t bytes, nmp_err *err)
{
    char *own = (char *)recv + (size_t)c->rank * bytes;
    if (bytes <= CHUNK_BYTES) {
        const void *src = send == own ? MPI_IN_PLACE : send;
        return MPI_CHECK(MPI_Allgather(src, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, data_comm(c)), err);
    }
    if (send != own) memmove(own, send, bytes);
    nmp_status s = NMP_OK; /* large blocks: one broadcast per rank, each in pieces */
    for (int r = 0; r < c->size && s == NMP_OK; r++)
        s = mpi_broadcast(c, (char *)recv + (size_t)r * bytes, bytes, r, err);
    return s;
}

static MPI_Datatype mpi_type(nmp_dtype t)
{
    return t == NMP_DTYPE_F32 ? MPI_FLOAT : t == NMP_DTYPE_F64 ? MPI_DOUBLE : MPI_INT64_T;
}

/* Floating sums go through rank 0 and back (reduce + broadcast), so every rank holds the same
 * bits even where MPI_Allreduce would round differently per rank; integer sums are exact. */
static nmp_status mpi_allreduce(nmp_comm *c, const void *send, void *recv, size_t count, nmp_dtype type, nmp_err *err)
{
    const size_t size = type == NMP_DTYPE_F32 ? 4 : 8, chunk = CHUNK_BYTES / size;
    MPI_Datatype t = mpi_type(type);
    nmp_status s = NMP_OK;
    for (size_t at = 0; at < count && s == NMP_OK; at += chunk) {
        int len = (int)(count - at < chunk ? count - at : chunk);
        const char *in = (const char *)send + at * size;
        char *out = (char *)recv + at * size;
        const void *src = in == out ? MPI_IN_PLACE : in;
        if (type == NMP_DTYPE_I64) {
            s = MPI_CHECK(MPI_Allreduce(src, out, len, t, MPI_SUM, data_comm(c)), err);
            continue;
        }
        if (c->rank != 0 && in == out) src = in; /* MPI_IN_PLACE is for the root of a reduce only */
        s = MPI_CHECK(MPI_Reduce(src, c->rank == 0 ? out : NULL, len, t, MPI_SUM, 0, data_comm(c)), err);
        if (s == NMP_OK) s = MPI_CHECK(MPI_Bcast(out, len, t, 0, data_comm(c)), err);
    }
    return s;
}

/* Pairwise non-blocking sends and receives (no int displacements, so no 2 GiB limit). */
static nmp_status mpi_alltoallv(nmp_comm *c, const void *send, const size_t *send_bytes, const size_t *send_off,
                                void *recv, const size_t *recv_bytes, const size_t *recv_off, nmp_err *err)
{
    size_t n_req = 0;
    for (int p = 0; p < c->size; p++)
        if (p != c->rank)
            n_req += (send_bytes[p] + CHUNK_BYTES - 1) / CHUNK_BYTES + (recv_bytes[p] + CHUNK_BYTES - 1) / CHUNK_BYTES;
    MPI_Request *req = malloc((n_req + 1) * sizeof *req);
    if (!req) return nmp_fail(err, NMP_ERR_NOMEM, "comm: out of memory for %zu MPI requests", n_req);
    nmp_status s = NMP_OK;
    size_t k = 0;
    for (int p = 0; p < c->size && s == NMP_OK; p++) {
        if (p == c->rank) continue;
        for (size_t at = 0, tag = 0; at < recv_bytes[p] && s == NMP_OK; at += CHUNK_BYTES, tag++) {
            int len = (int)(recv_bytes[p] - at < CHUNK_BYTES ? recv_bytes[p] - at : CHUNK_BYTES);
            s = MPI_CHECK(
                MPI_Irecv((char *)recv + recv_off[p] + at, len, MPI_BYTE, p, (int)tag, data_comm(c), &req[k++]), err);
        }
    }
    for (int p = 0; p < c->size && s == NMP_OK; p++) {
        if (p == c->rank) continue;
        for (size_t at = 0, tag = 0; at < send_bytes[p] && s == NMP_OK; at += CHUNK_BYTES, tag++) {
            int len = (int)(send_bytes[p] - at < CHUNK_BYTES ? send_bytes[p] - at : CHUNK_BYTES);
            s = MPI_CHECK(
                MPI_Isend((const char *)send + send_off[p] + at, len, MPI_BYTE, p, (int)tag, data_comm(c), &req[k++]),
                err);
        }
    }
    if (send_bytes[c->rank])
        memmove((char *)recv + recv_off[c->rank], (const char *)send + send_off[c->rank], send_bytes[c->rank]);
    if (s == NMP_OK && k) s = MPI_CHECK(MPI_Waitall((int)k, req, MPI_STATUSES_IGNORE), err);
    free(req);
    return s;
}

static nmp_status mpi_barrier(nmp_comm *c, nmp_err *err)
{
    return MPI_CHECK(MPI_Barrier(data_comm(c)), err);
}

/* Non-blocking, polled with short sleeps: waiting ranks leave the cores to the busy ones. */
static int mpi_control_min(nmp_comm *c, int value, int *out, double timeout)
{
    mpi_impl *m = c->impl;
    MPI_Request req;
    int in = value, done = 0;
    MPI_Iallreduce(&in, out, 1, MPI_INT, MPI_MIN, m->control, &req);
    const double t0 = nmp_now();
    const struct timespec nap = {0, 200000};
    for (;;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) return 0;
        if (timeout > 0 && nmp_now() - t0 > timeout) return 1;
        nanosleep(&nap, NULL);
    }
}

static void mpi_control_broadcast(nmp_comm *c, void *buf, size_t bytes, int root)
{
    MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, ((mpi_impl *)c->impl)->control);
}

static void mpi_abort(nmp_comm *c, int exit_code)
{
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    exit(exit_code); /* MPI_Abort does not return; this keeps noreturn honest */
}

static void mpi_close(nmp_comm *c)
{
    mpi_impl *m = c->impl;
    if (!m) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        if (m->data != MPI_COMM_NULL) MPI_Comm_free(&m->data);
        if (m->control != MPI_COMM_NULL) MPI_Comm_free(&m->control);
    }
    free(m);
    c->impl = NULL;
}

static const nmp_comm_ops mpi_ops = {
    .name = "mpi",
    .allgather = mpi_allgather,
    .allreduce_sum = mpi_allreduce,
    .broadcast = mpi_broadcast,
    .alltoallv = mpi_alltoallv,
    .barrier = mpi_barrier,
    .control_min = mpi_control_min,
    .control_broadcast = mpi_control_broadcast,
    .abort = mpi_abort,
    .close = mpi_close,
};

static void finalize_at_exit(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
}

nmp_status nmp_comm_mpi_open(nmp_comm *c, nmp_err *err)
{
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) { /* once per process; a later run (nomad sweep) reuses it */
        int provided = 0;
        nmp_status s = MPI_CHECK(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided), err);
        if (s != NMP_OK) return s;
        atexit(finalize_at_exit);
    }
    mpi_impl *m = calloc(1, sizeof *m);
    if (!m) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory opening MPI");
    m->data = m->control = MPI_COMM_NULL;
    c->impl = m;
    c->ops = &mpi_ops;
    nmp_status s = MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &m->data), err);
    if (s == NMP_OK) s = MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &m->control), err);
    if (s == NMP_OK) s = MPI_CHECK(MPI_Comm_set_errhandler(m->data, MPI_ERRORS_RETURN), err);
    if (s == NMP_OK) s = MPI_CHECK(MPI_Comm_rank(m->data, &c->rank), err);
    if (s == NMP_OK) s = MPI_CHECK(MPI_Comm_size(m->data, &c->size), err);
    if (s != NMP_OK) mpi_close(c);
    return s;
}
