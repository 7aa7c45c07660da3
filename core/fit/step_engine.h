/* The step engine: the pair terms of one optimiser step on the CPU. It owns the batch loop
 * (targets x positives, rows of exact negatives, approximate terms), computes squared
 * distances in float32 tiles that stay in L1, calls the loss plugin's maths on whole tiles
 * (nmp_loss_ops in nomad/plugin.h) and turns its coefficients into per-slot gradients. */
#ifndef NOMAD_STEP_ENGINE_H
#define NOMAD_STEP_ENGINE_H

#include "error.h"
#include "nomad/plugin.h"

typedef struct nmp_engine nmp_engine;

/* A step's gradients by slot, dL/dy (the optimiser scatters them). Engine owns the arrays;
 * valid until the next nmp_engine_run or nmp_engine_free. */
typedef struct {
    const float *target; /* batch x dims: of each target */
    const float *pos;    /* edges x dims: of each positive's neighbour, in the step's edge order */
    const float *neg;    /* rows x per_target x dims: of each negative slot, summed over its row's targets
                            (all zero when the loss does not move negatives) */
    double loss;         /* sum of L_i over the batch, estimated from one target in step->loss_every */
    double stat;         /* sum over the batch of the loss's attract() stat, in target order */
    int64_t pairs;       /* pair terms computed: targets x (negatives + approximate terms) + edges */
} nmp_engine_out;

/* An engine for one loss instance (ops and state outlive it) and a layout of `dims` (2 or 3)
 * dimensions. The shape is the loss's (from its prepare()). */
nmp_status nmp_engine_new(nmp_engine **e, const nmp_loss_ops *ops, const void *state, const nmp_loss_shape *shape,
                          int32_t dims, nmp_err *err);
/* The pair terms of one step: st->y, targets and edges, and the negatives as sample()
 * returned them (already checked by the caller). Runs on the host's workers; results are
 * bit-identical for a given thread count. */
nmp_status nmp_engine_run(nmp_engine *e, const nmp_step *st, const nmp_negatives *neg, double exaggeration,
                          nmp_engine_out *out, nmp_err *err);
/* Instead of per-slot gradients, each worker w adds its gradients straight into its own dense
 * array, dense + w n dims (threads x n x dims floats, caller owns, zeroed by the caller): the
 * eager update then sums the workers' arrays in worker order, with no scatter. The engine's
 * out.target/pos/neg are NULL then. dense NULL goes back to slots. */
void nmp_engine_sink(nmp_engine *e, float *dense, int64_t n);
/* Where the runs read each target's positives from: target b's ids at index + first[b] and its
 * weights at weight + first[b] (st->edge_offset[b + 1] - st->edge_offset[b] of each), such as
 * the graph's own rows when the step's pos and pos_weight were not laid out (they may be NULL
 * then). first NULL: the step's pos and pos_weight at edge_offset, as before any call. */
void nmp_engine_edges(nmp_engine *e, const int32_t *index, const float *weight, const int64_t *first);
void nmp_engine_free(nmp_engine *e);

#endif
