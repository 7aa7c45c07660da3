/* The CUDA entry of the in-tree losses (infonce, neg, umap): the fused gradient kernel of
 * kernels/sgd_step.cu, fed the step's device arrays and the loss's parameters. Only in builds
 * with NOMAD_CUDA (the file is compiled there alone). */
#ifndef NOMAD_LOSS_CUDA_H
#define NOMAD_LOSS_CUDA_H

#include "nomad/plugin.h"
#include "sgd_step_cuda.h"

/* The state of an in-tree loss (its first member is its const nmp_host *):
 * adds the batch's dL/dy to grad and, when loss is not NULL, its loss (one target in
 * step->host->loss_every, scaled up) to *loss, both on the device; only launches. `l` gives
 * the loss kind and parameters; its exaggeration and loss_every are set here. On failure: the
 * kernel's one-line message through host->set_error. */
nmp_status loss_cuda_grad(void *state, sgd_loss l, const nmp_step_cuda *step, const nmp_negatives *neg,
                          double exaggeration, float *grad, double *loss);

#endif
