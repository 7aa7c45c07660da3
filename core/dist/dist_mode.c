/* A run over ranks (distributed.backend mpi or nccl) as a run mode: the local stages where
 * each rank works on its own points (plugins, ann, affinity, init), and around them the
 * stages that only a run over ranks has: a slice of the input per rank, K-Means over all
 * ranks with the cells moved to their ranks, the fit with its cell sums all-reduced and the
 * layout gathered on rank 0, which evaluates and writes. Each stage ends with every rank
 * agreeing on its status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "host.h"
#include "stages.h"

static nmp_status dist_load(nmp_run *r, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    if (c->output.checkpoint_every > 0)
        return nmp_fail(err, NMP_ERR_UNSUPPORTED, "output.checkpoint_every: checkpoints are written by CPU runs on one "
                        "rank for now; set it to 0 for a distributed run");
    const char *part = r->inst[NMP_KIND_PARTITIONER].ref->desc->name;
    if (strcmp(part, "kmeans") != 0) /* it became K-Means without a word before */
        return nmp_fail(err, NMP_ERR_UNSUPPORTED,
                        "partitioner.plugin: %s cannot be used across ranks: a distributed run refines the cells "
                        "with Lloyd steps over every rank's rows, which makes any partition K-Means; use kmeans",
                        part);
    return nmp_dist_load(r, err);
}

/* Every rank sends its rows of the layout, rank 0 writes the snapshot. */
static nmp_status dist_snapshot(nmp_run *r, int64_t epoch, const float *y, nmp_err *err)
{
    float *all = NULL;
    nmp_status s = nmp_dist_gather_layout(r, y, &all, err);
    if (s == NMP_OK && r->dist.rank == 0) s = nmp_dist_outdir(r, err);
    if (s == NMP_OK && r->dist.rank == 0) s = nmp_stage_write_snapshot(r, epoch, all, r->dist.n_total, err);
    free(all);
    return s;
}

/* The layout of all ranks goes to rank 0, which from here on describes the whole run
 * (n = all points; the input rows are opened again only for the metrics). */
static nmp_status gather_layout(nmp_run *r, nmp_err *err)
{
    float *all = NULL;
    nmp_status s = nmp_dist_gather_layout(r, r->y, &all, err);
    if (s != NMP_OK || r->dist.rank != 0) return s;
    free(r->y);
    r->y = all;
    r->x = (nmp_matrix){.n = r->dist.n_total, .d = r->x.d, .x = NULL};
    return NMP_OK;
}

static nmp_status dist_optimize(nmp_run *r, nmp_err *err)
{
    static const nmp_fit_hooks hooks = {.settings = nmp_dist_opt_settings, .snapshot = dist_snapshot,
                                        .signal_at_stage_end = 1};
    nmp_status st = nmp_stage_optimize_with(r, &hooks, err);
    if (st != NMP_OK && nmp_dist_fit_failed(r, st, err) == NMP_OK)
        return NMP_OK; /* a NaN from another rank: that rank's error stops all at the stage's end */
    return st == NMP_OK ? gather_layout(r, err) : st;
}

/* Rank 0 alone, on the whole input opened again. */
static nmp_status dist_eval(nmp_run *r, nmp_err *err)
{
    if (!r->cfg->eval.enabled || r->dist.rank != 0) return NMP_OK;
    nmp_status s = nmp_dist_eval_data(r, &r->x, err);
    return s == NMP_OK ? stage_eval(r, err) : s;
}

/* Every rank's stage times and bytes go to rank 0, which writes. */
static nmp_status dist_output(nmp_run *r, nmp_err *err)
{
    nmp_status s = nmp_dist_gather_stats(r, err);
    if (s != NMP_OK || r->dist.rank != 0) return s;
    if ((s = nmp_dist_outdir(r, err)) != NMP_OK) return s;
    return stage_output(r, err);
}

static nmp_status dist_agree(nmp_run *r, nmp_status s, nmp_err *err)
{
    return r->dist.comm ? nmp_comm_agree(r->dist.comm, s, err) : s;
}

static void dist_comm_totals(const nmp_run *r, double *bytes, double *seconds)
{
    const nmp_comm_stats *cs = r->dist.comm ? nmp_comm_stats_get(r->dist.comm) : NULL;
    *bytes = cs ? (double)cs->bytes_sent + (double)cs->bytes_received : 0;
    *seconds = cs ? cs->seconds : 0;
}

static void dist_close(nmp_run *r)
{
    nmp_dist_close(r);
    nmp_dist_free(&r->dist);
}

static const nmp_run_mode dist_mode = {
    .stage = {stage_plugins, dist_load, nmp_dist_partition, stage_ann, stage_affinity, stage_init, dist_optimize,
              dist_eval, dist_output},
    .open = nmp_dist_open,
    .close = dist_close,
    .agree = dist_agree,
    .comm_totals = dist_comm_totals,
    .record_json = nmp_dist_record_json,
};

const nmp_run_mode *nmp_dist_mode(const nmp_config *c)
{
    /* mpirun around a local run also comes here: nmp_dist_open joins MPI so that rank 0 says
     * why it cannot run while the others wait */
    if (c->distributed.backend == NMP_BACKEND_LOCAL && nmp_comm_launcher_size() <= 1) return &nmp_local_mode;
    return &dist_mode;
}
