/* The pipeline's stages (see pipeline.c for their order). */
#ifndef NOMAD_STAGES_H
#define NOMAD_STAGES_H

#include "run_state.h"

/* The local run: the stages below, in order, with no hooks. */
extern const nmp_run_mode nmp_local_mode;

nmp_status stage_load(nmp_run *r, nmp_err *err);      /* data, labels, checks, run directory */
nmp_status stage_plugins(nmp_run *r, nmp_err *err);   /* find, resolve params, create all six */
nmp_status stage_partition(nmp_run *r, nmp_err *err);
nmp_status stage_ann(nmp_run *r, nmp_err *err);
nmp_status stage_affinity(nmp_run *r, nmp_err *err);
nmp_status stage_init(nmp_run *r, nmp_err *err);

/* What a run over ranks changes in the optimise stage (dist/); stage_optimize uses none. */
typedef struct {
    /* the optimiser's settings, adjusted (points over all ranks, the all-reduce of cell sums) */
    void (*settings)(nmp_run *r, nmp_opt_settings *s);
    /* at a snapshot epoch, instead of writing this process's layout */
    nmp_status (*snapshot)(nmp_run *r, int64_t epoch, const float *y, nmp_err *err);
    int signal_at_stage_end; /* a signal stops the run where the ranks agree, not at an epoch */
} nmp_fit_hooks;
nmp_status nmp_stage_optimize_with(nmp_run *r, const nmp_fit_hooks *hooks, nmp_err *err);
/* snapshots/epoch_NNNN.npy (and .png) of an n-point layout y. */
nmp_status nmp_stage_write_snapshot(nmp_run *r, int64_t epoch, const float *y, int64_t n, nmp_err *err);
nmp_status stage_optimize(nmp_run *r, nmp_err *err);
nmp_status stage_eval(nmp_run *r, nmp_err *err);
nmp_status stage_output(nmp_run *r, nmp_err *err);

/* Checks shared by the local and distributed loads (run_limits.c): n (all ranks' points)
 * against ann.k, the cell count and the int32 ids; this rank's peak memory against what is
 * available, for n x d input that takes input_bytes once read (_for: from the headers,
 * before a value is read) or for the loaded r->x. */
nmp_status nmp_stage_check_sizes(nmp_run *r, int64_t n, nmp_err *err);
nmp_status nmp_stage_check_memory_for(nmp_run *r, int64_t n, int64_t d, double input_bytes, nmp_err *err);
nmp_status nmp_stage_check_memory(nmp_run *r, nmp_err *err);
/* The estimate and what is available, once the input has passed its checks. */
void nmp_stage_log_memory(const nmp_run *r, int64_t n, int64_t d);

/* Checkpoints (run_checkpoint.c): config.yaml, which every local run writes (`--resume` and
 * `nomad transform` read it), written (or, resuming, read) and fingerprinted; the optimiser's
 * on_checkpoint; the state to resume from, checked against the config and
 * the thread count (nmp_checkpoint_free it); checkpoint.bin removed once the run is done. */
nmp_status nmp_run_write_config(nmp_run *r, nmp_err *err);
/* Before a resumed run starts: dir holds no finished run, and a checkpoint.bin that is whole,
 * made for its config.yaml and this thread count. */
nmp_status nmp_run_resume_check(const char *dir, nmp_err *err);
nmp_status nmp_run_on_checkpoint(void *ctx, const nmp_opt_state *state, nmp_err *err);
nmp_status nmp_run_resume_state(nmp_run *r, nmp_opt_state *state, nmp_err *err);
void nmp_run_checkpoint_done(nmp_run *r);
/* The error of a run stopped by a signal `during` a stage: "removed what the run wrote", unless
 * a checkpoint is kept (the pipeline then adds it and the command that goes on from it). */
nmp_status nmp_run_interrupted(const nmp_run *r, const char *during, nmp_err *err);

/* Frees a graph's arrays (allocated through the host's alloc, i.e. malloc). */
void nmp_graph_release(nmp_graph *g);
/* Checks a plugin-built graph: offsets monotone from 0, ids in range, no self edges. */
nmp_status nmp_graph_check(const nmp_graph *g, int64_t n, const nmp_instance *inst, int need_weight, nmp_err *err);

#endif
