/* See transform_loss.h. */
#include "transform_loss.h"

#include <stdlib.h>
#include <string.h>

nmp_status nmp_transform_loss_open(nmp_transform_loss *l, const nmp_config *c, const nmp_cfg_node *root, int64_t n,
                                   int32_t dims, int32_t batch, int64_t steps, nmp_err *err)
{
    memset(l, 0, sizeof *l);
    char *path = nmp_plugin_default_path();
    nmp_status s = path ? nmp_registry_scan(&l->reg, path, err) : nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    free(path);
    if (s == NMP_OK) s = nmp_instance_create_for(&l->reg, NMP_KIND_LOSS, c, root, &l->inst, err);
    if (s != NMP_OK) return s;
    /* no partition: one cell of every point; no shipped loss reads more of this than the sizes */
    l->cell_start[1] = n;
    l->one_cell = (nmp_cells){.count = 1, .n = n, .start = l->cell_start};
    l->info = (nmp_fit_info){.n = n, .dims = dims, .batch = batch, .steps_per_epoch = 1, .epochs = steps,
                             .cells = &l->one_cell, .n_total = n};
    const nmp_loss_ops *ops = l->inst.ops;
    nmp_loss_shape shape;
    memset(&shape, 0, sizeof shape);
    if ((s = ops->prepare(l->inst.state, &l->info, &shape)) != NMP_OK)
        return nmp_instance_fail(&l->inst, s, "prepare", err);
    return nmp_engine_new(&l->engine, ops, l->inst.state, &shape, dims, err);
}

nmp_status nmp_transform_loss_step(nmp_transform_loss *l, const nmp_step *st, const nmp_negatives *neg,
                                   double exaggeration, nmp_engine_out *out, nmp_err *err)
{
    const nmp_loss_ops *ops = l->inst.ops;
    nmp_status s;
    if (ops->begin_step && (s = ops->begin_step(l->inst.state, st, neg)) != NMP_OK)
        return nmp_instance_fail(&l->inst, s, "begin_step", err);
    if ((s = nmp_engine_run(l->engine, st, neg, exaggeration, out, err)) != NMP_OK) return s;
    if (ops->end_step && (s = ops->end_step(l->inst.state, st, out->stat)) != NMP_OK)
        return nmp_instance_fail(&l->inst, s, "end_step", err);
    return NMP_OK;
}

void nmp_transform_loss_close(nmp_transform_loss *l)
{
    if (l->engine) nmp_engine_free(l->engine);
    nmp_instance_destroy(&l->inst);
    nmp_registry_free(&l->reg);
    memset(l, 0, sizeof *l);
}
