/* The fused NOMAD optimiser step on the GPU: the layout, velocity, dense gradient, graph and
 * cells live on the device; per step only the targets and negatives go up. One warp per
 * target gathers its positives, negatives and cell-mean terms, computes the Cauchy-kernel
 * loss terms (infonce, neg, umap) in double and adds the pair gradients with float atomics;
 * the update kernel applies momentum SGD to every point and sums the new cell means.
 * CPU reference: kernels/sgd_step_cpu.c (types there); parity test:
 * tests/kernels/test_sgd_step.c. The atomics make the float sums' order, hence the last bits,
 * vary from run to run. */
#ifndef NOMAD_SGD_STEP_CUDA_H
#define NOMAD_SGD_STEP_CUDA_H

#include "cuda_check.h"
#include "sgd_step_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgd_cuda sgd_cuda;

/* Uploads the problem (graph, cells; its arrays are read during the call only) and the
 * layout y (n x dims, host); velocity and gradient start at 0, the cell means are y's.
 * *out: NULL on failure. */
nmp_status sgd_cuda_create(const sgd_problem *p, const float *y, sgd_cuda **out, nmp_gpu_err *err);
void sgd_cuda_destroy(sgd_cuda *s);

/* Replaces the state arrays given (host, n x dims; NULL keeps one); a new y also gives new
 * cell means. */
nmp_status sgd_cuda_set_state(sgd_cuda *s, const float *y, const float *velocity, const float *grad, nmp_gpu_err *err);
/* Copies the state arrays asked for (host; NULL skips one); cell_mean: cells x dims. */
nmp_status sgd_cuda_get_state(sgd_cuda *s, float *y, float *velocity, float *grad, float *cell_mean, nmp_gpu_err *err);

/* As sgd_grad_cpu: adds the batch's dL/dy to the device gradient; the loss is added to a
 * device sum (see sgd_cuda_take_loss). approx_y NULL reads the device cell means.
 * NMP_ERR_INVALID (with what is wrong) for an inconsistent batch or loss. */
nmp_status sgd_cuda_grad(sgd_cuda *s, const sgd_batch *b, const sgd_loss *l, nmp_gpu_err *err);

/* As sgd_update_cpu: the update of every point, gradient zeroed, new cell means. */
nmp_status sgd_cuda_update(sgd_cuda *s, const sgd_update *u, nmp_gpu_err *err);

/* sgd_cuda_grad then sgd_cuda_update. */
nmp_status sgd_cuda_step(sgd_cuda *s, const sgd_batch *b, const sgd_loss *l, const sgd_update *u, nmp_gpu_err *err);

/* The loss summed since the last take (then reset), and whether some coordinate of y became
 * NaN or Inf since the last take (then reset). Each waits for the device. */
nmp_status sgd_cuda_take_loss(sgd_cuda *s, double *loss, nmp_gpu_err *err);
nmp_status sgd_cuda_take_nonfinite(sgd_cuda *s, int *nonfinite, nmp_gpu_err *err);

#ifdef __cplusplus
}
#endif
#endif
