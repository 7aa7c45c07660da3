/* Placing new points on a finished map without moving it (openTSNE's transform): each new
 * point's k nearest training points in the input space, Gaussian weights over them at a small
 * perplexity, a start at their weighted mean position in the map, then a few hundred steps of
 * the run's own loss (its plugin, through the step engine) on the new points alone: attraction
 * to those neighbours' fixed positions, repulsion from map points drawn per step and shared by
 * all new points. New points never act on each other, so each is placed as if it came alone.
 * The neighbours are searched among the top principal components of the training data and
 * refined in the input space (transform.pca, transform.refine). The same bytes for a seed and
 * thread count; with transform.pca: 0 (or narrow data) for any thread count. */
#ifndef NOMAD_TRANSFORM_H
#define NOMAD_TRANSFORM_H

#include "config.h"
#include "error.h"
#include "nomad/types.h"

/* What the run's loss was balanced for, per target of the fit (run.json's optimizer section):
 * its repulsive terms and its positives' total weight. A loss that sums its terms (neg, umap)
 * needs both to place a point as the fit would; InfoNCE and tsne normalise them away. 0: not
 * recorded (a run that predates them): weights as they are. */
typedef struct {
    double negatives, edge_weight;
} nmp_fit_balance;

/* y_new (x_new->n x dims, caller-owned) for the rows of x_new, given the training rows x and
 * their layout y (x->n x dims): the transform.* keys, the seed and ann.metric of c, and the
 * run's loss (its plugin and section in root) as balanced by `balance`. */
nmp_status nmp_transform(const nmp_config *c, const nmp_cfg_node *root, const nmp_matrix *x, const float *y,
                         int32_t dims, const nmp_matrix *x_new, nmp_fit_balance balance, float *y_new, nmp_err *err);

#endif
