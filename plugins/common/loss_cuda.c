/* See loss_cuda.h. */
#include "loss_cuda.h"

nmp_status loss_cuda_grad(void *state, sgd_loss l, const nmp_step_cuda *step, const nmp_negatives *neg,
                          double exaggeration, float *grad, double *loss)
{
    const nmp_host *host = *(const nmp_host *const *)state;
    const sgd_dev_fit fit = {.n = step->n, .dims = step->dims, .y = step->y, .grad = grad,
                             .offsets = step->offsets, .index = step->index, .weight = step->weight,
                             .cell_mean = step->cell_mean, .loss_sum = loss};
    const sgd_batch b = {.batch = step->host->batch, .target = step->target, .per_target = neg->per_target,
                         .shared = neg->shared, .rows = neg->rows, .row_start = neg->row_start,
                         .neg_index = neg->index, .neg_weight = neg->weight, .approx_count = neg->approx_count,
                         .approx_y = neg->approx_y, .approx_weight = neg->approx_weight};
    /* the kernel has no spread term: every negatives entry's spread means are refused here */
    if (neg->approx_spread && neg->approx_count > 0) {
        host->set_error(host, "spread means (approximate points with a spread) are CPU-only; set spread 0 for device: "
                              "cuda");
        return NMP_ERR_UNSUPPORTED;
    }
    if (neg->approx_count > 0 && !neg->approx_y && neg->approx_count != step->cells) {
        host->set_error(host, "approximate terms read the cell means (approx_y NULL) but their count %d is not the "
                        "%d cells", neg->approx_count, step->cells);
        return NMP_ERR_RUNTIME;
    }
    l.exaggeration = exaggeration;
    /* the host passes no loss sum on the steps it does not sample; on the others, L_i of one
     * target in loss_every, scaled up, as the CPU engine */
    l.loss_every = !loss ? 0 : step->host->loss_every > 1 ? step->host->loss_every : 1;
    nmp_gpu_err e = {0};
    nmp_status s = sgd_cuda_grad_dev(&fit, &b, &l, &e);
    if (s != NMP_OK) host->set_error(host, "%s", e.msg);
    return s;
}
