/* A finished map opened to place new points on: the run folder's config.yaml (with the
 * transform.* changes asked for), the training rows as the run saw them (read from the
 * config's data.path, or given in memory) and their layout (its embedding.npy, or given).
 * `nomad transform` and the C API (core/api) share it, so both check alike. */
#ifndef NOMAD_TRANSFORM_MAP_H
#define NOMAD_TRANSFORM_MAP_H

#include "config.h"
#include "error.h"
#include "io.h"
#include "pipeline.h"
#include "transform.h"

typedef struct {
    char dir[4096];
    nmp_config *cfg;
    nmp_cfg_node *root;   /* config.yaml with the sets: the loss's section */
    nmp_fit_balance balance; /* from run.json (transform.h) */
    nmp_dataset train, layout;
    float *train_scaled;
    nmp_matrix x; /* the training rows, times data.scale */
} nmp_map;

/* Reads RUN_DIR's config.yaml and applies `sets` (key=value: transform.* and threads only;
 * the rest made the map). NMP_ERR_INVALID naming the folder when it holds no finished run. */
nmp_status nmp_map_open(nmp_map *m, const char *run_dir, const char *const *sets, int n_sets, nmp_err *err);
/* The training rows (NULL: the config's data.path) and their layout (NULL: embedding.npy),
 * checked to belong together. After the host is configured: conversions run in parallel. */
nmp_status nmp_map_load(nmp_map *m, const nmp_run_input *train, const nmp_run_input *layout, nmp_err *err);
/* Places the rows of `fresh` (as read: data.scale is applied here; `name` for messages) into
 * y_new (fresh->m.n x dims, caller-owned). */
nmp_status nmp_map_place(nmp_map *m, const nmp_dataset *fresh, float *y_new, nmp_err *err);
void nmp_map_close(nmp_map *m);

#endif
