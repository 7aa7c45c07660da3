/* Everything one `nomad run` holds, shared by the pipeline stages and the run record. */
#ifndef NOMAD_RUN_STATE_H
#define NOMAD_RUN_STATE_H

#include "cells.h"
#include "config.h"
#include "io.h"
#include "metrics.h"
#include "optimizer.h"
#include "outdir.h"
#include "pipeline.h"
#include "plugin_host.h"

enum { STAGE_PLUGINS, STAGE_LOAD, STAGE_PARTITION, STAGE_ANN, STAGE_AFFINITY, STAGE_INIT, STAGE_OPTIMIZE,
       STAGE_EVAL, STAGE_OUTPUT, STAGE_COUNT };

/* A distributed run's own state (see dist.h); zero in a local run. */
typedef struct {
    struct nmp_comm *comm;  /* NULL: the local back end (one process) */
    int rank, ranks;
    int64_t n_total;        /* input rows over all ranks (after data.limit) */
    int64_t slice_begin, slice_end; /* the input rows this rank read */
    float *slice_owned;     /* the slice as f32 when it is not read in place from the mapping */
    void *map;              /* the input's mapping when the slice points into it */
    size_t map_len;
    float *x_local;         /* n local x d: this rank's cells' rows, cell by cell */
    int64_t *gid;           /* n local: input row of each local point */
    float *cell_mass;       /* cells: points per cell over all ranks */
    int32_t *owner;         /* cells: the rank that holds each cell */
    float *y_all;           /* rank 0: the gathered layout (n_total x dims, input row order) */
    nmp_dataset eval_data;  /* rank 0: the whole input, opened for the metrics only */
    float *eval_scaled;
    int64_t n_local;        /* points this rank holds after the exchange */
    double stage_bytes[STAGE_COUNT];   /* bytes this rank sent + received in each stage */
    double stage_comm_seconds[STAGE_COUNT]; /* of which waiting in collectives */
    int outdir_ready;       /* rank 0 made (and locked) the run directory (it does so when it first writes) */
    int nan_here, nan_seen; /* the fit's cell sums went non-finite: on this rank / on any rank */
    void *rank_stats;       /* rank 0: ranks x nmp_dist_rank_stats (dist.h) */
} nmp_dist;

typedef struct nmp_run_mode nmp_run_mode;

typedef struct nmp_run {
    const nmp_config *cfg;
    const nmp_cfg_node *root;
    const nmp_run_request *req;
    char name[NMP_CFG_STR_MAX];
    nmp_dataset data;
    float *scaled; /* data.scale != 1: the scaled copy the stages use */
    nmp_matrix x;  /* what the stages see */
    int32_t *labels;
    const char *labels_path;
    nmp_registry reg;
    nmp_instance inst[NMP_KIND_COUNT + 1]; /* indexed by nmp_kind */
    nmp_cell_index cells;
    uint8_t *cell_local;
    int64_t partition_iterations;
    int32_t empty_cells;
    int32_t cells_asked; /* partitioner.cells, or its value for this n when 0 (nmp_stage_check_sizes) */
    nmp_graph knn, graph;
    nmp_knn_quality knn_quality;
    float *y;
    nmp_opt_result opt;
    nmp_eval_result eval;
    nmp_eval_opts eval_opts;
    int have_eval;
    double stage_seconds[STAGE_COUNT];
    double estimate_bytes;  /* peak memory the run expects (stages_setup.c) */
    double available_bytes; /* MemAvailable when it was estimated */
    uint64_t config_hash;   /* checkpointing: FNV-1a of the run folder's config.yaml */
    int64_t checkpoint_epoch; /* epochs the last checkpoint.bin written holds; 0: none yet */
    nmp_outdir out;
    const nmp_run_mode *mode; /* local, or dist/'s run over ranks */
    nmp_dist dist;
} nmp_run;

typedef nmp_status (*nmp_stage_fn)(nmp_run *r, nmp_err *err);

/* How the pipeline runs: its stages and what happens around them. A local run uses
 * nmp_local_mode (pipeline.c); dist/ builds its run over ranks from the same stages, with
 * its own load, partition, fit, eval and output around the local ones, and the hooks. */
struct nmp_run_mode {
    nmp_stage_fn stage[STAGE_COUNT];
    nmp_status (*open)(nmp_run *r, nmp_err *err); /* before the first stage; NULL: nothing */
    void (*close)(nmp_run *r);                    /* after the last, even on failure; NULL: nothing */
    /* after each stage: the status all ranks agree on; NULL: the stage's own */
    nmp_status (*agree)(nmp_run *r, nmp_status s, nmp_err *err);
    /* bytes moved and seconds spent in collectives so far, for the stage table; NULL: none */
    void (*comm_totals)(const nmp_run *r, double *bytes, double *seconds);
    /* adds the mode's own members to run.json; NULL: none */
    void (*record_json)(struct nmp_json *j, const nmp_run *r);
};

extern const char *const nmp_stage_names[STAGE_COUNT];

/* run.json: resolved config, versions, plugins, stage times, memory, metrics, loss curve. */
nmp_status nmp_run_record_write(nmp_run *r, const char *status, nmp_err *err);
/* report.md: the run for a person to read, with the map. */
nmp_status nmp_run_report_write(nmp_run *r, nmp_err *err);
/* loss.csv: epoch, loss, wall seconds. */
nmp_status nmp_run_loss_csv(nmp_run *r, nmp_err *err);

#endif
