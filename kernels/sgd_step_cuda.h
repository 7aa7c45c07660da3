/* The fused NOMAD optimiser step on the GPU: the layout, velocity, dense gradient, graph and
 * cells live on the device; per step only the targets and negatives go up. One warp per
 * target computes its pair terms in float32 with the formulas of nomad/loss_math.h, one
 * kernel instantiation per shipped loss (infonce, neg, umap, tsne), and adds the pair gradients
 * with float atomics; the loss value (double) only for the targets sgd_loss.loss_every picks.
 * The update kernel applies momentum SGD to every point and sums the new cell means.
 * References: the CPU step engine (core/fit/step_engine.c with the loss plugins) for the
 * gradient, sgd_step_cpu.c for the update; parity test tests/kernels/test_sgd_step.c. The
 * atomics make the float sums' order, hence the last bits, vary from run to run. */
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

/* As the CPU step engine: adds the batch's dL/dy to the device gradient, and the loss of the
 * targets l->loss_every picks (times loss_every) to a device sum (see sgd_cuda_take_loss).
 * approx_y NULL reads the device cell means. Asynchronous after the batch's uploads.
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

/* The device arrays of a context, for a host loop that hands them to plugins' CUDA entries
 * (nmp_step_cuda). Valid until sgd_cuda_destroy. */
typedef struct {
    float *y, *velocity, *grad, *cell_mean; /* n x dims, n x dims, n x dims, cells x dims */
    const int64_t *offsets;                 /* n + 1 */
    const int32_t *index;                   /* nnz */
    const float *weight;                    /* nnz, or NULL: every edge weighs 1 */
    const int32_t *cell_of;                 /* n */
    const float *cell_mass;                 /* cells */
    double *loss_sum;                       /* one double: sgd_cuda_take_loss reads and resets it */
} sgd_cuda_arrays;
void sgd_cuda_arrays_of(sgd_cuda *s, sgd_cuda_arrays *out);

/* Copies `count` targets (host) into the context's target buffer; *dev: that device copy,
 * valid until the next call. */
nmp_status sgd_cuda_put_targets(sgd_cuda *s, const int32_t *target, int32_t count, const int32_t **dev,
                                nmp_gpu_err *err);

/* The fused gradient on arrays the caller holds on the device (a loss plugin's CUDA entry):
 * adds the batch's dL/dy to grad and, when l->loss_every > 0, its sampled loss to *loss_sum
 * (device). Every pointer of `b` is device memory except the sizes; b->approx_y NULL reads
 * cell_mean. Only launches: nothing is copied and nothing waits. The batch is not checked
 * against the graph (its arrays are on the device): indices out of range are the caller's bug. */
typedef struct {
    int64_t n;
    int32_t dims;
    const float *y;         /* n x dims */
    float *grad;            /* n x dims */
    const int64_t *offsets; /* n + 1 */
    const int32_t *index;
    const float *weight;    /* or NULL */
    const float *cell_mean; /* cells x dims */
    double *loss_sum;       /* one double, or NULL when l->loss_every is 0 */
} sgd_dev_fit;
nmp_status sgd_cuda_grad_dev(const sgd_dev_fit *f, const sgd_batch *b, const sgd_loss *l, nmp_gpu_err *err);

#ifdef __cplusplus
}
#endif
#endif
