/* `nomad run`: data -> partitioner -> ann -> affinity -> init -> optimiser -> outputs,
 * with every stage's time and what it measured recorded for run.json. */
#ifndef NOMAD_PIPELINE_H
#define NOMAD_PIPELINE_H

#include "config.h"
#include "error.h"

#include <stdint.h>

/* Rows given in memory (the C API) instead of the config's data.path, which then only names
 * them in messages and the record. values stay the caller's (f4 is read in place). */
typedef struct {
    const void *values;
    const char *dtype;      /* "f4", "f2", "f8" or "u1" */
    int64_t n, d;
    const int32_t *labels;  /* n labels (data.labels names them), or NULL */
} nmp_run_input;

typedef struct {
    const char *config_path; /* for the record and the run's default name */
    const char *out_dir;     /* --out, or NULL: output.dir of the config */
    int resume;              /* out_dir holds a stopped run: go on from its checkpoint.bin */
    const struct nmp_run_mode *mode; /* NULL: the local run (nmp_local_mode) */
    const nmp_run_input *input;      /* NULL: read data.path */
} nmp_run_request;

/* The process's settings for a run of cfg (threads, seed, quiet: quiet or the config's), on one
 * rank; dist/ sets its ranks after. */
void nmp_run_configure_host(const nmp_config *cfg, int quiet);

/* Runs the whole pipeline. On failure nothing is left in the output directory. */
nmp_status nmp_pipeline_run(const nmp_config *cfg, const nmp_cfg_node *root, const nmp_run_request *req, nmp_err *err);

#endif
