/* The CUDA entry of the in-tree negatives plugins (cluster_mean, uniform): the plugin's own
 * CPU sampler runs on the step's host view (its draws cost little next to the step's kernels
 * and are then the same draws as on device: cpu), and its arrays are copied to the device.
 * Only in builds with NOMAD_CUDA (the file is compiled there alone). */
#ifndef NOMAD_NEG_CUDA_H
#define NOMAD_NEG_CUDA_H

#include "cuda_check.h"
#include "nomad/plugin.h"

/* Device copies of one step's negatives; zero-initialise, free with neg_cuda_bufs_free. */
typedef struct {
    nmp_gpu_buf index, weight, row_start, approx_y, approx_weight;
} neg_cuda_bufs;

typedef nmp_status (*neg_sample_fn)(void *state, const nmp_step *step, nmp_negatives *out);

/* Runs sample(state, step->host) and fills *out with the same negatives in device memory
 * (b's buffers; approx_y pointing at the host's cell means becomes step->cell_mean, the
 * device's current means; other approximate points are uploaded, and the fit then keeps the
 * host's means current by reading them back every step: see nmp_step_cuda). */
nmp_status neg_cuda_sample(const nmp_host *h, neg_cuda_bufs *b, neg_sample_fn sample, void *state,
                           const nmp_step_cuda *step, nmp_negatives *out);
void neg_cuda_bufs_free(neg_cuda_bufs *b);

#endif
