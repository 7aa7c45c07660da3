/* The local comm back end: one rank, so every collective is a copy (or nothing). */
#include <stdlib.h>
#include <string.h>

#include "comm_internal.h"

static nmp_status local_allgather(nmp_comm *c, const void *send, void *recv, size_t bytes, nmp_err *err)
{
    if (send != recv) memmove(recv, send, bytes);
    return NMP_OK;
}

static nmp_status local_allreduce(nmp_comm *c, const void *send, void *recv, size_t count, nmp_dtype type, nmp_err *err)
{
    if (send != recv) memmove(recv, send, count * (type == NMP_DTYPE_F32 ? 4 : 8));
    return NMP_OK;
}

static nmp_status local_broadcast(nmp_comm *c, void *buf, size_t bytes, int root, nmp_err *err)
{
    return NMP_OK;
}

static nmp_status local_alltoallv(nmp_comm *c, const void *send, const size_t *send_bytes, const size_t *send_off,
                                  void *recv, const size_t *recv_bytes, const size_t *recv_off, nmp_err *err)
{
    if (send_bytes[0]) memmove((char *)recv + recv_off[0], (const char *)send + send_off[0], send_bytes[0]);
    return NMP_OK;
}

static nmp_status local_barrier(nmp_comm *c, nmp_err *err)
{
    return NMP_OK;
}

static int local_control_min(nmp_comm *c, int value, int *out, double timeout)
{
    *out = value;
    return 0;
}

static void local_control_broadcast(nmp_comm *c, void *buf, size_t bytes, int root) {}

static void local_abort(nmp_comm *c, int exit_code)
{
    exit(exit_code);
}

static const nmp_comm_ops local_ops = {
    .name = "local",
    .allgather = local_allgather,
    .allreduce_sum = local_allreduce,
    .broadcast = local_broadcast,
    .alltoallv = local_alltoallv,
    .barrier = local_barrier,
    .control_min = local_control_min,
    .control_broadcast = local_control_broadcast,
    .abort = local_abort,
    .close = NULL,
};

nmp_status nmp_comm_local_open(nmp_comm *c, nmp_err *err)
{
    c->ops = &local_ops;
    c->rank = 0;
    c->size = 1;
    return NMP_OK;
}
