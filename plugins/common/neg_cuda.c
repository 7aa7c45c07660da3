/* See neg_cuda.h. */
#include "neg_cuda.h"

#include <string.h>

#include "sgd_step_cpu.h"

static nmp_status put(const nmp_host *h, nmp_gpu_buf *b, const void *src, size_t bytes, const char *what,
                      const void **dev)
{
    nmp_gpu_err e = {0};
    nmp_status s = nmp_gpu_buf_put(b, src, bytes, what, &e);
    if (s != NMP_OK) h->set_error(h, "%s", e.msg);
    *dev = b->p;
    return s;
}

/* The batch checks of the fused step (sgd_batch_problem: ids in range, rows rising from 0 to
 * the batch, approximate terms with weights), on the host copy before upload: on the device a
 * bad id is an illegal address that kills the context. */
static nmp_status check_host(const nmp_host *h, const nmp_step_cuda *step, const nmp_negatives *neg, int64_t rows)
{
    const char *bad = NULL;
    if ((rows * neg->per_target > 0 && !neg->index) || (neg->approx_count > 0 && !neg->approx_y))
        bad = "an array is missing";
    else if (neg->rows > step->host->batch)
        bad = "more rows of negatives than targets";
    const sgd_problem p = {.n = step->n, .dims = step->dims, .cells = step->cells};
    const sgd_batch b = {.batch = step->host->batch, .target = step->host->target, .per_target = neg->per_target,
                         .shared = neg->shared, .rows = neg->rows, .row_start = neg->row_start,
                         .neg_index = neg->index, .approx_count = neg->approx_count, .approx_y = neg->approx_y,
                         .approx_weight = neg->approx_weight};
    if (!bad) bad = sgd_batch_problem(&p, &b);
    if (!bad) return NMP_OK;
    h->set_error(h, "sample() returned an inconsistent result: %s", bad);
    return NMP_ERR_RUNTIME;
}

nmp_status neg_cuda_sample(const nmp_host *h, neg_cuda_bufs *b, neg_sample_fn sample, void *state,
                           const nmp_step_cuda *step, nmp_negatives *out)
{
    nmp_negatives host;
    memset(&host, 0, sizeof host);
    nmp_status s = sample(state, step->host, &host);
    if (s != NMP_OK) return s;
    int64_t batch = step->host->batch, rows = host.rows > 0 ? host.rows : host.shared ? 1 : batch;
    if ((s = check_host(h, step, &host, rows)) != NMP_OK) return s;
    *out = host; /* sizes; every array below is replaced by its device copy (approx_spread stays the
                    host's: the loss entry refuses spread means, which the fused kernel lacks) */
    out->approx_y = NULL, out->approx_weight = NULL;
    size_t slots = (size_t)(rows * host.per_target), approx = (size_t)(batch * host.approx_count);
    const void *dev = NULL;
    if (slots && (s = put(h, &b->index, host.index, slots * sizeof(int32_t), "the negatives", &dev)) != NMP_OK)
        return s;
    out->index = slots ? dev : NULL;
    if (host.weight && (s = put(h, &b->weight, host.weight, slots * sizeof(float), "the negatives' weights", &dev)))
        return s;
    out->weight = host.weight ? dev : NULL;
    if (host.rows > 0 &&
        (s = put(h, &b->row_start, host.row_start, ((size_t)host.rows + 1) * sizeof(int32_t), "the rows", &dev)))
        return s;
    out->row_start = host.rows > 0 ? dev : NULL;
    if (host.approx_count <= 0) return NMP_OK;
    if ((s = put(h, &b->approx_weight, host.approx_weight, approx * sizeof(float), "the approximate weights", &dev)))
        return s;
    out->approx_weight = dev;
    if (host.approx_y == step->host->cell_mean) {
        out->approx_y = step->cell_mean; /* the device's current means (the host copy may be an epoch old) */
        return NMP_OK;
    }
    s = put(h, &b->approx_y, host.approx_y, (size_t)host.approx_count * (size_t)step->dims * sizeof(float),
            "the approximate terms", &dev);
    out->approx_y = dev;
    return s;
}

void neg_cuda_bufs_free(neg_cuda_bufs *b)
{
    nmp_gpu_buf_free(&b->index), nmp_gpu_buf_free(&b->weight), nmp_gpu_buf_free(&b->row_start);
    nmp_gpu_buf_free(&b->approx_y), nmp_gpu_buf_free(&b->approx_weight);
}
