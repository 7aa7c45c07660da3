/* Placing new points on a finished map without moving it (openTSNE's transform): each new
 * point's k nearest training points in the input space, Gaussian weights over them at a small
 * perplexity, a start at their weighted mean position in the map, then a few hundred t-SNE
 * gradient steps of the new points alone: attraction to those neighbours' fixed positions,
 * repulsion from the fixed map (each point normalised by its own Z, estimated from map points
 * drawn per step). New points never act on each other, so each is placed as if it came alone.
 * The neighbours are searched among the top principal components of the training data and
 * refined in the input space (transform.pca, transform.refine). The same bytes for a seed and
 * thread count; with transform.pca: 0 (or narrow data) for any thread count. */
#ifndef NOMAD_TRANSFORM_H
#define NOMAD_TRANSFORM_H

#include "config.h"
#include "error.h"
#include "nomad/types.h"

/* y_new (x_new->n x dims, caller-owned) for the rows of x_new, given the training rows x and
 * their layout y (x->n x dims). o: the transform.* keys, the seed and ann.metric of c. */
nmp_status nmp_transform(const nmp_config *c, const nmp_matrix *x, const float *y, int32_t dims,
                         const nmp_matrix *x_new, float *y_new, nmp_err *err);

#endif
