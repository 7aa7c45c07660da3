/* The CUDA entry of the in-tree losses (infonce, neg, umap, tsne): the fused gradient kernel of
 * kernels/sgd_step.cu, fed the step's device arrays and the loss's parameters. Only in builds
 * with NOMAD_CUDA (the file is compiled there alone). */
#ifndef NOMAD_LOSS_CUDA_H
#define NOMAD_LOSS_CUDA_H

#include "nomad/plugin.h"
#include "plugin_device.h"
#include "sgd_step_cuda.h"

/* The state of an in-tree loss (its first member is its const nmp_host *):
 * adds the batch's dL/dy to grad and, when loss is not NULL, its loss (one target in
 * step->host->loss_every, scaled up) to *loss, both on the device; only launches. `l` gives
 * the loss kind and parameters; its exaggeration and loss_every are set here. On failure: the
 * kernel's one-line message through host->set_error. */
nmp_status loss_cuda_grad(void *state, sgd_loss l, const nmp_step_cuda *step, const nmp_negatives *neg,
                          double exaggeration, float *grad, double *loss);

/* LOSS_CUDA_ENTRY(prefix, state_type, {sgd_loss initialiser}) defines prefix_extension: the
 * loss's CUDA entry, loss_cuda_grad with that sgd_loss, whose initialiser may read the state
 * as `s` (a const state_type *). */
#define LOSS_CUDA_ENTRY(prefix, state_type, ...)                                                                 \
    static nmp_status prefix##_grad_cuda(void *state, const nmp_step_cuda *step, const nmp_negatives *neg,       \
                                         double exaggeration, float *grad, double *loss)                         \
    {                                                                                                            \
        const state_type *s = state;                                                                             \
        (void)s;                                                                                                 \
        const sgd_loss l = __VA_ARGS__;                                                                          \
        return loss_cuda_grad(state, l, step, neg, exaggeration, grad, loss);                                    \
    }                                                                                                            \
    static const nmp_loss_cuda_ops prefix##_cuda_ops = {.struct_size = sizeof(nmp_loss_cuda_ops),                \
                                                         .grad = prefix##_grad_cuda};                            \
    PLUGIN_CUDA_ENTRY(prefix, prefix##_cuda_ops)

#endif
