/* The NCCL comm back end: one GPU per rank. Collectives take device buffers as they are
 * and host buffers through a device staging area. MPI (when built) starts the ranks, hands
 * out NCCL's unique id, picks each rank's GPU and carries the error agreement. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm_internal.h"

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;
    nmp_comm *boot; /* MPI: control channel and bootstrap; NULL when one rank runs alone */
    char *stage;    /* device scratch for host buffers */
    size_t stage_cap;
    int device;
} nccl_impl;

static nmp_status cuda_check(cudaError_t rc, const char *call, const char *file, int line, nmp_err *err)
{
    if (rc == cudaSuccess) return NMP_OK;
    return nmp_fail(err, NMP_ERR_RUNTIME, "%s:%d: %s failed: %s", file, line, call, cudaGetErrorString(rc));
}
static nmp_status nccl_check(ncclResult_t rc, const char *call, const char *file, int line, nmp_err *err)
{
    if (rc == ncclSuccess) return NMP_OK;
    return nmp_fail(err, NMP_ERR_RUNTIME, "%s:%d: %s failed: %s", file, line, call, ncclGetErrorString(rc));
}
#define CUDA_CHECK(call, err) cuda_check((call), #call, __FILE__, __LINE__, err)
#define NCCL_CHECK(call, err) nccl_check((call), #call, __FILE__, __LINE__, err)

static int on_device(const void *p)
{
    struct cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        cudaGetLastError(); /* plain host memory on old runtimes: clear the sticky error */
        return 0;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/* Device views of one call's buffers: the caller's own when both are on the device, else
 * the staging area (send copied in; recv copied back by unstage). */
typedef struct {
    const void *send;
    void *recv;
    void *host_recv; /* non-NULL: copy recv back here */
    size_t recv_bytes;
} staged;

static nmp_status stage(nccl_impl *m, const void *send, size_t send_bytes, void *recv, size_t recv_bytes, staged *st,
                        nmp_err *err)
{
    memset(st, 0, sizeof *st);
    if ((!send_bytes || on_device(send)) && (!recv_bytes || on_device(recv))) {
        st->send = send, st->recv = recv;
        return NMP_OK;
    }
    int in_place = send == recv;
    size_t send_room = in_place ? 0 : (send_bytes + 255) / 256 * 256, need = send_room + recv_bytes + 1;
    if (need > m->stage_cap) {
        cudaFree(m->stage);
        m->stage = NULL, m->stage_cap = 0;
        nmp_status s = CUDA_CHECK(cudaMalloc((void **)&m->stage, need), err);
        if (s != NMP_OK) return s;
        m->stage_cap = need;
    }
    st->recv = m->stage + send_room;
    st->send = in_place ? st->recv : m->stage;
    st->host_recv = recv, st->recv_bytes = recv_bytes;
    if (!send_bytes) return NMP_OK;
    return CUDA_CHECK(cudaMemcpyAsync((void *)st->send, send, send_bytes, cudaMemcpyHostToDevice, m->stream), err);
}

static nmp_status unstage(nccl_impl *m, const staged *st, nmp_err *err)
{
    nmp_status s = NMP_OK;
    if (st->host_recv && st->recv_bytes)
        s = CUDA_CHECK(cudaMemcpyAsync(st->host_recv, st->recv, st->recv_bytes, cudaMemcpyDeviceToHost, m->stream),
                       err);
    nmp_status sync = CUDA_CHECK(cudaStreamSynchronize(m->stream), err);
    return s != NMP_OK ? s : sync;
}

static nmp_status nccl_allgather(nmp_comm *c, const void *send, void *recv, size_t bytes, nmp_err *err)
{
    nccl_impl *m = c->impl;
    staged st;
    nmp_status s = stage(m, send, bytes, recv, bytes * (size_t)c->size, &st, err);
    if (s == NMP_OK) s = NCCL_CHECK(ncclAllGather(st.send, st.recv, bytes, ncclChar, m->comm, m->stream), err);
    nmp_status u = unstage(m, &st, err);
    return s != NMP_OK ? s : u;
}

static nmp_status nccl_allreduce(nmp_comm *c, const void *send, void *recv, size_t count, nmp_dtype type, nmp_err *err)
{
    nccl_impl *m = c->impl;
    ncclDataType_t t = type == NMP_DTYPE_F32 ? ncclFloat32 : type == NMP_DTYPE_F64 ? ncclFloat64 : ncclInt64;
    size_t bytes = count * (type == NMP_DTYPE_F32 ? 4 : 8);
    staged st;
    nmp_status s = stage(m, send, bytes, recv, bytes, &st, err);
    if (s == NMP_OK) s = NCCL_CHECK(ncclAllReduce(st.send, st.recv, count, t, ncclSum, m->comm, m->stream), err);
    nmp_status u = unstage(m, &st, err);
    return s != NMP_OK ? s : u;
}

static nmp_status nccl_broadcast(nmp_comm *c, void *buf, size_t bytes, int root, nmp_err *err)
{
    nccl_impl *m = c->impl;
    staged st;
    nmp_status s = stage(m, buf, bytes, buf, bytes, &st, err);
    if (s == NMP_OK) s = NCCL_CHECK(ncclBroadcast(st.send, st.recv, bytes, ncclChar, root, m->comm, m->stream), err);
    nmp_status u = unstage(m, &st, err);
    return s != NMP_OK ? s : u;
}

static nmp_status nccl_alltoallv(nmp_comm *c, const void *send, const size_t *send_bytes, const size_t *send_off,
                                 void *recv, const size_t *recv_bytes, const size_t *recv_off, nmp_err *err)
{
    nccl_impl *m = c->impl;
    int last = c->size - 1;
    staged st;
    nmp_status s = stage(m, send, send_off[last] + send_bytes[last], recv, recv_off[last] + recv_bytes[last], &st, err);
    if (s == NMP_OK) s = NCCL_CHECK(ncclGroupStart(), err);
    for (int p = 0; p < c->size && s == NMP_OK; p++) {
        if (p == c->rank) continue;
        if (send_bytes[p])
            s = NCCL_CHECK(
                ncclSend((const char *)st.send + send_off[p], send_bytes[p], ncclChar, p, m->comm, m->stream), err);
        if (s == NMP_OK && recv_bytes[p])
            s = NCCL_CHECK(ncclRecv((char *)st.recv + recv_off[p], recv_bytes[p], ncclChar, p, m->comm, m->stream),
                           err);
    }
    nmp_status g = NCCL_CHECK(ncclGroupEnd(), err);
    if (s == NMP_OK) s = g;
    if (s == NMP_OK && send_bytes[c->rank])
        s = CUDA_CHECK(cudaMemcpyAsync((char *)st.recv + recv_off[c->rank], (const char *)st.send + send_off[c->rank],
                                       send_bytes[c->rank], cudaMemcpyDeviceToDevice, m->stream),
                       err);
    nmp_status u = unstage(m, &st, err);
    return s != NMP_OK ? s : u;
}

static nmp_status nccl_barrier(nmp_comm *c, nmp_err *err)
{
    nccl_impl *m = c->impl;
    nmp_status s = CUDA_CHECK(cudaStreamSynchronize(m->stream), err);
    if (s == NMP_OK && m->boot) s = nmp_comm_barrier(m->boot, err);
    return s;
}

static int nccl_control_min(nmp_comm *c, int value, int *out, double timeout)
{
    nccl_impl *m = c->impl;
    if (!m->boot) {
        *out = value;
        return 0;
    }
    return m->boot->ops->control_min(m->boot, value, out, timeout);
}

static void nccl_control_broadcast(nmp_comm *c, void *buf, size_t bytes, int root)
{
    nccl_impl *m = c->impl;
    if (m->boot) m->boot->ops->control_broadcast(m->boot, buf, bytes, root);
}

static void nccl_abort(nmp_comm *c, int exit_code)
{
    nccl_impl *m = c->impl;
    if (m->comm) ncclCommAbort(m->comm);
    if (m->boot) m->boot->ops->abort(m->boot, exit_code);
    exit(exit_code);
}

static void nccl_close(nmp_comm *c)
{
    nccl_impl *m = c->impl;
    if (!m) return;
    if (m->comm) ncclCommDestroy(m->comm);
    if (m->stream) cudaStreamDestroy(m->stream);
    cudaFree(m->stage);
    nmp_comm_close(m->boot);
    free(m);
    c->impl = NULL;
}

static const nmp_comm_ops nccl_ops = {
    .name = "nccl",
    .allgather = nccl_allgather,
    .allreduce_sum = nccl_allreduce,
    .broadcast = nccl_broadcast,
    .alltoallv = nccl_alltoallv,
    .barrier = nccl_barrier,
    .control_min = nccl_control_min,
    .control_broadcast = nccl_control_broadcast,
    .abort = nccl_abort,
    .close = nccl_close,
};

/* This rank's index among the ranks of its node (the launcher says), for the GPU choice. */
static int local_rank(int rank)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return atoi(getenv(vars[i]));
    return rank;
}

static nmp_status pick_device(nccl_impl *m, int rank, nmp_err *err)
{
    int devices = 0;
    cudaError_t rc = cudaGetDeviceCount(&devices);
    if (rc != cudaSuccess || devices < 1)
        return nmp_fail(err, NMP_ERR_UNSUPPORTED, "distributed.backend: nccl: no CUDA device on this node (%s)",
                        rc != cudaSuccess ? cudaGetErrorString(rc) : "0 devices");
    m->device = local_rank(rank) % devices;
    nmp_status s = CUDA_CHECK(cudaSetDevice(m->device), err);
    if (s == NMP_OK) s = CUDA_CHECK(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking), err);
    return s;
}

nmp_status nmp_comm_nccl_open(nmp_comm *c, nmp_comm *boot, nmp_err *err)
{
    nccl_impl *m = calloc(1, sizeof *m);
    if (!m) {
        nmp_comm_close(boot);
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory opening NCCL");
    }
    c->impl = m, c->ops = &nccl_ops, c->rank = 0, c->size = 1;
    m->boot = boot;
    nmp_status s = NMP_OK;
    if (boot)
        c->rank = boot->rank, c->size = boot->size;
    else if (nmp_comm_launcher_size() > 1)
        s = nmp_fail(
            err, NMP_ERR_INVALID,
            "distributed.backend: nccl with %d ranks needs MPI to start them; this nomad was built without MPI",
            nmp_comm_launcher_size());
    if (s == NMP_OK) s = pick_device(m, c->rank, err);
    if (m->boot) s = nmp_comm_agree(m->boot, s, err); /* every rank has its GPU, or all stop */
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (s == NMP_OK && c->rank == 0) s = NCCL_CHECK(ncclGetUniqueId(&id), err);
    if (m->boot && s == NMP_OK) s = nmp_comm_agree(m->boot, s, err);
    if (m->boot && s == NMP_OK) s = nmp_comm_broadcast(m->boot, &id, sizeof id, 0, err);
    if (s == NMP_OK) s = NCCL_CHECK(ncclCommInitRank(&m->comm, c->size, id, c->rank), err);
    if (s != NMP_OK) nccl_close(c);
    return s;
}
