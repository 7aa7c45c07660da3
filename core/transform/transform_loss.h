/* The run's loss on new points (transform.c's steps): its plugin, created from the run's
 * config as the fit created it, and the step engine, on steps whose targets are the new points,
 * their edges the neighbours in the map, and one shared row of map points as negatives. */
#ifndef NOMAD_TRANSFORM_LOSS_H
#define NOMAD_TRANSFORM_LOSS_H

#include "config.h"
#include "error.h"
#include "plugin_host.h"
#include "step_engine.h"

typedef struct {
    nmp_registry reg;
    nmp_instance inst;
    nmp_engine *engine;
    nmp_fit_info info; /* kept: prepare() may keep the pointer */
    nmp_cells one_cell;
    int64_t cell_start[2];
} nmp_transform_loss;

/* The loss of the run whose config is c (its section in root) for a layout of n points
 * (map and new together) in dims dimensions, steps of up to `batch` targets. */
nmp_status nmp_transform_loss_open(nmp_transform_loss *l, const nmp_config *c, const nmp_cfg_node *root, int64_t n,
                                   int32_t dims, int32_t batch, int64_t steps, nmp_err *err);
/* One step's gradients dL/dy of st's targets (out->target), the plugin's begin/end around it. */
nmp_status nmp_transform_loss_step(nmp_transform_loss *l, const nmp_step *st, const nmp_negatives *neg,
                                   double exaggeration, nmp_engine_out *out, nmp_err *err);
void nmp_transform_loss_close(nmp_transform_loss *l);

#endif
