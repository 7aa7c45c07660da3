/* The CUDA entry of the in-tree losses (infonce, neg, umap): the fused gradient kernel of
 * kernels/sgd_step.cu, fed the step's device arrays and the loss's parameters. Only in builds
 * with NOMAD_CUDA (the file is compiled there alone). */
#ifndef NOMAD_LOSS_CUDA_H
#define NOMAD_LOSS_CUDA_H

#include "nomad/plugin.h"
#include "sgd_step_cuda.h"

/* The state of a plugin built on loss_state_new (its first member is the loss_batch *):
 * adds the batch's dL/dy to grad and its loss to *loss, both on the device. `l` gives the
 * loss kind and parameters; its exaggeration is set from `exaggeration`. On failure: the
 * kernel's one-line message through host->set_error. */
nmp_status loss_cuda_grad(void *state, sgd_loss l, const nmp_step_cuda *step, const nmp_negatives *neg,
                          double exaggeration, float *grad, double *loss);

#endif
