/* Opening the comm layer: the back end distributed.backend names (local, MPI, NCCL with MPI
 * to start its ranks), or the one-line reason this build or launch cannot have it. */
#include <stdlib.h>

#include "comm.h"
#include "comm_internal.h"

static nmp_status open_backend(nmp_cfg_backend backend, nmp_comm *c, nmp_err *err)
{
    switch (backend) {
    case NMP_BACKEND_LOCAL:
        if (nmp_comm_launcher_size() > 1)
            return nmp_fail(err, NMP_ERR_INVALID,
                            "distributed.backend: local, but mpirun started %d copies of nomad; set "
                            "distributed.backend: mpi, or run nomad without mpirun",
                            nmp_comm_launcher_size());
        return nmp_comm_local_open(c, err);
    case NMP_BACKEND_MPI:
#ifdef NOMAD_HAVE_MPI
        return nmp_comm_mpi_open(c, err);
#else
        return nmp_fail(err, NMP_ERR_INVALID,
                        "distributed.backend: mpi: this nomad was built without MPI; install libopenmpi-dev and "
                        "rebuild (-DNOMAD_MPI=ON), or set distributed.backend: local");
#endif
    case NMP_BACKEND_NCCL:
#ifdef NOMAD_HAVE_NCCL
    {
        nmp_comm *boot = NULL; /* NCCL's ranks meet through MPI first (none: one rank) */
#ifdef NOMAD_HAVE_MPI
        nmp_status s = nmp_comm_open(NMP_BACKEND_MPI, c->abort_timeout, &boot, err);
        if (s != NMP_OK) return s;
#endif
        return nmp_comm_nccl_open(c, boot, err);
    }
#else
        return nmp_fail(err, NMP_ERR_INVALID,
                        "distributed.backend: nccl: this nomad was built without NCCL (it needs -DNOMAD_CUDA=ON and "
                        "nccl.h + libnccl); set distributed.backend: mpi or local");
#endif
    }
    return nmp_fail(err, NMP_ERR_INVALID, "distributed.backend: unknown back end %d", (int)backend);
}

nmp_status nmp_comm_open(nmp_cfg_backend backend, double abort_timeout, nmp_comm **out, nmp_err *err)
{
    *out = NULL;
    nmp_comm *c = calloc(1, sizeof *c);
    if (!c) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory opening the comm layer");
    c->abort_timeout = abort_timeout > 0 ? abort_timeout : 30.0;
    nmp_status s = open_backend(backend, c, err);
    if (s != NMP_OK) {
        free(c);
        return s;
    }
    *out = c;
    return NMP_OK;
}
