/* The comm layer: the few collectives a distributed run uses (all-gather, all-reduce,
 * broadcast, all-to-all-v, barrier) over one of three back ends (local, MPI, NCCL), and the
 * agreement on errors at stage boundaries that makes one failing rank stop every rank. */
#ifndef NOMAD_COMM_H
#define NOMAD_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "nomad/plugin.h"

typedef struct nmp_comm nmp_comm;

/* What this rank has moved through the comm layer so far (payload bytes as the caller
 * sees them, not the back end's protocol bytes). */
typedef struct {
    uint64_t bytes_sent;     /* bytes of this rank's send buffers (all-reduce: the vector once) */
    uint64_t bytes_received; /* bytes written into this rank's receive buffers from other ranks */
    uint64_t calls;
    double seconds; /* wall time inside collectives, including waits for slower ranks */
} nmp_comm_stats;

/* Opens the back end: local (one rank), mpi (MPI_Init on first use; the ranks mpirun
 * started) or nccl (one GPU per rank; MPI bootstraps it when built). `abort_timeout`:
 * seconds a failed rank waits in nmp_comm_agree for the others. A back end this build
 * lacks is NMP_ERR_INVALID naming distributed.backend. Release with nmp_comm_close. */
nmp_status nmp_comm_open(nmp_cfg_backend backend, double abort_timeout, nmp_comm **out, nmp_err *err);
/* Frees the communicator (MPI itself is finalised at process exit). Safe on NULL. */
void nmp_comm_close(nmp_comm *c);

int nmp_comm_rank(const nmp_comm *c);
int nmp_comm_size(const nmp_comm *c);
const char *nmp_comm_backend_name(const nmp_comm *c);
const nmp_comm_stats *nmp_comm_stats_get(const nmp_comm *c);

/* Every collective must be called by every rank in the same order with matching sizes.
 * Buffers are host memory for local and mpi; nccl takes device or host memory. Failures
 * of the transport itself are NMP_ERR_RUNTIME (MPI's default handler aborts the job first). */

/* recv (size x bytes) = every rank's `bytes` of send, in rank order. */
nmp_status nmp_comm_allgather(nmp_comm *c, const void *send, void *recv, size_t bytes, nmp_err *err);
/* recv[i] = sum over ranks of send[i], i < count; send == recv works in place. The sum is
 * taken in the same order on every rank, so every rank gets the same bits. */
nmp_status nmp_comm_allreduce_sum(nmp_comm *c, const void *send, void *recv, size_t count, nmp_dtype type,
                                  nmp_err *err);
/* buf (bytes) of rank `root` copied to every rank. */
nmp_status nmp_comm_broadcast(nmp_comm *c, void *buf, size_t bytes, int root, nmp_err *err);
/* Rank r sends send_bytes[p] bytes to rank p, packed in rank order in send, and receives
 * recv_bytes[p] from rank p, packed in rank order in recv. recv_bytes[p] must equal what p
 * sends to r (nmp_comm_exchange_counts gives it). */
nmp_status nmp_comm_alltoallv(nmp_comm *c, const void *send, const size_t *send_bytes, void *recv,
                              const size_t *recv_bytes, nmp_err *err);
/* recv[p] = send[r] of rank p (one count per pair): the receive sizes of an all-to-all-v. */
nmp_status nmp_comm_exchange_counts(nmp_comm *c, const size_t *send, size_t *recv, nmp_err *err);
nmp_status nmp_comm_barrier(nmp_comm *c, nmp_err *err);

/* The stage-boundary agreement. Every rank passes its own status (err holds its message
 * when not OK). Returns NMP_OK when every rank is OK; otherwise every rank returns the
 * status and the message ("rank R: ...") of the lowest failing rank. A failed rank whose
 * peers do not arrive within abort_timeout (they wait in a collective the failed rank
 * skipped) prints its message and aborts every rank (nmp_comm_abort). */
nmp_status nmp_comm_agree(nmp_comm *c, nmp_status local, nmp_err *err);
/* The last resort: prints "nomad: error: <msg>" on stderr and ends every rank with
 * exit_code (MPI_Abort); never returns. */
void nmp_comm_abort(nmp_comm *c, int exit_code, const char *msg) __attribute__((noreturn));

/* Size of the job mpirun (Open MPI, MPICH or any PMI launcher) started this process in,
 * from its environment: 1 when not launched by one. */
int nmp_comm_launcher_size(void);
/* This process's rank in that job (0 when not launched by one): lets errors found before
 * the comm layer opens (a bad config) be printed by rank 0 alone. */
int nmp_comm_launcher_rank(void);

#endif
