/* The distributed run (distributed.backend mpi or nccl): each rank reads a slice of the
 * input rows, a K-Means over all ranks makes the cells, whole cells move to their rank, and
 * from then on every stage works on the rank's own points (see docs/architecture.md,
 * "Distributed runs"). Rank 0 gathers the layout, evaluates and writes the outputs. */
#ifndef NOMAD_DIST_H
#define NOMAD_DIST_H

#include "comm.h"
#include "run_state.h"

/* What one rank reports for run.json (gathered on rank 0 at the output stage). */
typedef struct {
    double stage_seconds[STAGE_COUNT];
    double stage_bytes[STAGE_COUNT];        /* bytes sent + received during the stage */
    double stage_comm_seconds[STAGE_COUNT]; /* time inside collectives during the stage */
    double bytes_sent, bytes_received, comm_seconds, comm_calls;
    double points, cells, peak_rss_bytes;
} nmp_dist_rank_stats;

/* The run mode for c (dist_mode.c): a run over ranks for distributed.backend mpi or nccl, or
 * when mpirun started this process; nmp_local_mode otherwise. */
const nmp_run_mode *nmp_dist_mode(const nmp_config *c);

/* Opens the comm layer for the config's back end and tells the host services about the
 * ranks (ranks other than 0 keep only warnings and errors on stderr). r->dist.comm stays
 * NULL for the local back end: the single-process path. */
nmp_status nmp_dist_open(nmp_run *r, nmp_err *err);
/* Closes the comm layer; the host keeps its rank so the CLI prints errors on rank 0 only. */
void nmp_dist_close(nmp_run *r);
/* Frees what the distributed stages allocated. */
void nmp_dist_free(nmp_dist *d);

/* stage_load for a distributed run: rows [n_total * rank / ranks, n_total * (rank + 1) /
 * ranks) of the input (memory-mapped .npy / raw f32; other formats are read whole, then
 * cut), checked finite, scaled; labels and the run directory on rank 0. */
nmp_status nmp_dist_load(nmp_run *r, nmp_err *err);
/* stage_partition for a distributed run: the partitioner plugin on rank 0 over a sample of
 * all ranks' rows seeds the centroids (one broadcast), Lloyd over all rows with all-reduced
 * sums and counts refines them, cells are placed on ranks and rows exchanged so that each
 * rank holds exactly its cells' rows, numbered cell by cell. */
nmp_status nmp_dist_partition(nmp_run *r, nmp_err *err);
/* The optimiser's settings for a distributed run: points over all ranks, global cell
 * masses, and the per-step all-reduce of cell sums. */
void nmp_dist_opt_settings(nmp_run *r, nmp_opt_settings *s);
/* After a failed fit: when the fit stopped because a NaN or Inf reached the all-reduced
 * cell sums from another rank, returns NMP_OK on this (innocent) rank, so the agreement at the
 * stage's end reports the rank where it started; otherwise returns `st`. Collective when the
 * fit stopped on a non-finite sum (every rank stops at that same step). */
nmp_status nmp_dist_fit_failed(nmp_run *r, nmp_status st, nmp_err *err);
/* Gathers the local layout y (n local x dims) on rank 0 in input row order into *all
 * (malloc'd on rank 0, NULL elsewhere). Collective. */
nmp_status nmp_dist_gather_layout(nmp_run *r, const float *y, float **all, nmp_err *err);
/* Rank 0: makes the run directory checked at load time, before its first file (so a job
 * aborted during the fit leaves no empty folder behind). */
nmp_status nmp_dist_outdir(nmp_run *r, nmp_err *err);
/* Rank 0: opens the whole input for the metrics (the one place a rank reads all of X). */
nmp_status nmp_dist_eval_data(nmp_run *r, nmp_matrix *x, nmp_err *err);
/* Gathers every rank's nmp_dist_rank_stats on rank 0 (r->dist.ranks_stats). Collective. */
nmp_status nmp_dist_gather_stats(nmp_run *r, nmp_err *err);
/* Adds the "distributed" object to run.json (rank 0). */
void nmp_dist_record_json(nmp_json *j, const nmp_run *r);

#endif
