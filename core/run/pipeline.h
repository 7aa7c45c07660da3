/* `nomad run`: data -> partitioner -> ann -> affinity -> init -> optimiser -> outputs,
 * with every stage's time and what it measured recorded for run.json. */
#ifndef NOMAD_PIPELINE_H
#define NOMAD_PIPELINE_H

#include "config.h"
#include "error.h"

typedef struct {
    const char *config_path; /* for the record and the run's default name */
    const char *out_dir;     /* --out, or NULL: output.dir of the config */
    int resume;              /* out_dir holds a stopped run: go on from its checkpoint.bin */
    const struct nmp_run_mode *mode; /* NULL: the local run (nmp_local_mode) */
} nmp_run_request;

/* Runs the whole pipeline. On failure nothing is left in the output directory. */
nmp_status nmp_pipeline_run(const nmp_config *cfg, const nmp_cfg_node *root, const nmp_run_request *req, nmp_err *err);

#endif
