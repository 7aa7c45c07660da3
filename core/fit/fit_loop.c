/* The fit's loop, one for every device: epochs of steps with the exaggeration schedule, the
 * loss curve and the wall time of each epoch, the progress line, the caller's per-epoch
 * callback, checkpoints, and going on from one. The back end (nmp_fit_backend_ops: CPU in
 * optimizer.c, CUDA in optimizer_cuda.c) holds the layout and does the steps. */
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "optimizer.h"

const nmp_fit_backend_ops *nmp_fit_backend(const char *device)
{
    static const nmp_fit_backend_ops *const backends[] = {
        &nmp_fit_cpu,
#ifdef NOMAD_CUDA
        &nmp_fit_cuda,
#endif
    };
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (!strcmp(backends[i]->device, device)) return backends[i];
    return NULL;
}

/* The layout and the curve of a checkpoint, checked against this fit, then the back end's. */
static nmp_status resume(const nmp_fit_backend_ops *be, void *b, const nmp_fit_request *req, int64_t spe,
                         nmp_opt_result *result, nmp_err *err)
{
    const nmp_opt_state *r = req->settings->resume;
    const int64_t n = req->graph->n, epochs = req->settings->epochs;
    const int32_t dims = req->settings->dims;
    if (!be->resume)
        return nmp_fail(err, NMP_ERR_UNSUPPORTED, "resume: a fit on device %s cannot go on from a checkpoint",
                        be->device);
    if (r->n != n || r->dims != dims || r->epochs_done < 1 || r->epochs_done >= epochs)
        return nmp_fail(err, NMP_ERR_INVALID, "resume: the checkpoint holds %lld x %d after %lld epochs; this fit is "
                        "%lld x %d over %lld epochs", (long long)r->n, (int)r->dims, (long long)r->epochs_done,
                        (long long)n, (int)dims, (long long)epochs);
    memcpy(result->loss, r->loss, (size_t)r->epochs_done * sizeof *result->loss);
    memcpy(result->epoch_seconds, r->epoch_seconds, (size_t)r->epochs_done * sizeof *result->epoch_seconds);
    return be->resume(b, r, spe, err);
}

nmp_status nmp_fit_run(const nmp_fit_backend_ops *be, const nmp_fit_request *req, nmp_opt_result *result,
                       nmp_err *err)
{
    const nmp_opt_settings *s = req->settings;
    memset(result, 0, sizeof *result);
    const int64_t spe = nmp_opt_steps_per_epoch(s, req->graph->n), total = spe * s->epochs;
    if (total >= INT32_MAX)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "optimize: %lld steps are more than the optimiser counts (2^31 - 1); "
                        "raise optimizer.batch or lower optimizer.epochs",
                        (long long)total);
    void *b = calloc(1, be->state_size);
    result->loss = calloc((size_t)s->epochs, sizeof *result->loss);
    result->epoch_seconds = calloc((size_t)s->epochs, sizeof *result->epoch_seconds);
    if (!b || !result->loss || !result->epoch_seconds) {
        free(b);
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory");
    }
    nmp_status st = be->start(b, req, spe, total, err);
    if (st == NMP_OK && s->resume) st = resume(be, b, req, spe, result, err);
    const int64_t first = st == NMP_OK && s->resume ? s->resume->epochs_done : 0;
    const double t0 = nmp_now() - (first > 0 ? result->epoch_seconds[first - 1] : 0.0);
    for (int64_t e = first; st == NMP_OK && e < s->epochs; e++) {
        const double ex = nmp_opt_exaggeration(s, e);
        double sum = 0;
        if (be->begin_epoch) be->begin_epoch(b, e, spe);
        for (int64_t k = 0; st == NMP_OK && k < spe; k++) st = be->step(b, e, e * spe + k, k, ex, &sum, result, err);
        if (st == NMP_OK) st = be->end_epoch(b, e, req->y, sum, &result->loss[e], result, err);
        if (st != NMP_OK) break;
        result->epoch_seconds[e] = nmp_now() - t0;
        nmp_progress_epoch(e + 1, s->epochs, result->loss[e], result->epoch_seconds[e]);
        if (req->on_epoch) st = req->on_epoch(req->ctx, e, result->loss[e], req->y, err);
        if (st == NMP_OK && s->checkpoint_every > 0 && (e + 1) % s->checkpoint_every == 0 && e + 1 < s->epochs)
            st = be->checkpoint ? be->checkpoint(b, e + 1, result, err)
                                : nmp_fail(err, NMP_ERR_UNSUPPORTED, "checkpoint: a fit on device %s writes none",
                                           be->device);
    }
    result->steps = total;
    be->finish(b, result);
    free(b);
    return st;
}

nmp_status nmp_optimize(const nmp_fit_request *req, nmp_opt_result *result, nmp_err *err)
{
    return nmp_fit_run(&nmp_fit_cpu, req, result, err);
}
