/* Helper of comm_fail.sh: rank 1 fails while the others go on, in two ways.
 *   clean: every rank reaches the stage-boundary agreement; all exit 2, rank 0 prints
 *          the one error line.
 *   stuck: the others wait in a collective rank 1 skipped; rank 1 gives up after the
 *          abort timeout (argv[2] seconds), prints its error and aborts every rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "clean") && strcmp(argv[1], "stuck"))) {
        fprintf(stderr, "usage: comm_fail clean|stuck TIMEOUT\n");
        return 2;
    }
    nmp_comm *c = NULL;
    nmp_err err = {0};
    if (nmp_comm_open(NMP_BACKEND_MPI, atof(argv[2]), &c, &err) != NMP_OK) {
        fprintf(stderr, "nomad: error: %s\n", err.msg);
        return 1;
    }
    int rank = nmp_comm_rank(c);
    nmp_status s = NMP_OK;
    if (rank == 1) s = nmp_fail(&err, NMP_ERR_INVALID, "data.npy: row 7, column 0 (from 0): value is NaN");
    if (rank != 1 && strcmp(argv[1], "stuck") == 0) nmp_comm_barrier(c, &err); /* never completes */
    s = nmp_comm_agree(c, s, &err);
    if (s != NMP_OK && rank == 0) fprintf(stderr, "nomad: error: %s\n", err.msg);
    nmp_comm_close(c);
    return nmp_exit_code(s);
}
