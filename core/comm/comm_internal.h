/* What a comm back end implements (comm_local.c, comm_mpi.c, comm_nccl.c); comm.c checks
 * arguments, counts bytes and time, and builds the agreement on these calls. */
#ifndef NOMAD_COMM_INTERNAL_H
#define NOMAD_COMM_INTERNAL_H

#include "comm.h"

typedef struct {
    const char *name;
    nmp_status (*allgather)(nmp_comm *c, const void *send, void *recv, size_t bytes, nmp_err *err);
    nmp_status (*allreduce_sum)(nmp_comm *c, const void *send, void *recv, size_t count, nmp_dtype type, nmp_err *err);
    nmp_status (*broadcast)(nmp_comm *c, void *buf, size_t bytes, int root, nmp_err *err);
    /* send_off/recv_off: byte offsets of each rank's block (prefix sums of the byte counts) */
    nmp_status (*alltoallv)(nmp_comm *c, const void *send, const size_t *send_bytes, const size_t *send_off, void *recv,
                            const size_t *recv_bytes, const size_t *recv_off, nmp_err *err);
    nmp_status (*barrier)(nmp_comm *c, nmp_err *err);
    /* Control channel (separate from the data collectives, host memory): *out = min over
     * ranks of value. timeout > 0: give up after that many seconds and return 1 (the
     * operation stays pending; the caller aborts). Returns 0 when done. */
    int (*control_min)(nmp_comm *c, int value, int *out, double timeout);
    void (*control_broadcast)(nmp_comm *c, void *buf, size_t bytes, int root);
    void (*abort)(nmp_comm *c, int exit_code); /* ends the process */
    void (*close)(nmp_comm *c);
} nmp_comm_ops;

struct nmp_comm {
    const nmp_comm_ops *ops;
    int rank, size;
    double abort_timeout;
    nmp_comm_stats stats;
    void *impl;                   /* the back end's state */
    char agreed[NMP_ERR_MSG_MAX]; /* the last error every rank agreed on (not prefixed twice) */
};

nmp_status nmp_comm_local_open(nmp_comm *c, nmp_err *err);
#ifdef NOMAD_HAVE_MPI
nmp_status nmp_comm_mpi_open(nmp_comm *c, nmp_err *err);
#endif
#ifdef NOMAD_HAVE_NCCL
/* boot: the MPI comm NCCL's ranks meet through (owned from here on; NULL: one rank). */
nmp_status nmp_comm_nccl_open(nmp_comm *c, nmp_comm *boot, nmp_err *err);
#endif

#endif
