/* Stages from the fit on: the optimiser (with snapshots), the metrics, and the outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host.h"
#include "checkpoint.h"
#include "interrupt.h"
#include "plot.h"
#include "stages.h"

static void plot_options(const nmp_config *c, nmp_plot_opts *po)
{
    nmp_plot_defaults(po);
    po->size = (int)c->output.plot_size;
    po->alpha = c->output.plot_alpha;
    po->margin = c->output.plot_margin;
}

nmp_status nmp_stage_write_snapshot(nmp_run *r, int64_t epoch, const float *y, int64_t n, nmp_err *err)
{
    char dir[4200], name[64], path[4300];
    snprintf(dir, sizeof dir, "%s/snapshots", r->out.path);
    mkdir(dir, 0777);
    snprintf(name, sizeof name, "snapshots/epoch_%04lld.npy", (long long)(epoch + 1));
    nmp_outdir_file(&r->out, name, path, sizeof path);
    nmp_status s = nmp_npy_write(path, y, "<f4", n, r->cfg->dims, err);
    if (s != NMP_OK || !r->cfg->output.snapshot_png) return s;
    nmp_plot_opts po;
    plot_options(r->cfg, &po);
    snprintf(name, sizeof name, "snapshots/epoch_%04lld.png", (long long)(epoch + 1));
    return nmp_plot_write(nmp_outdir_file(&r->out, name, path, sizeof path), y, n, (int)r->cfg->dims, r->labels, &po,
                          err);
}

typedef struct {
    nmp_run *r;
    const nmp_fit_hooks *hooks;
} epoch_ctx;

static nmp_status on_epoch(void *ctx, int64_t epoch, double loss, const float *y, nmp_err *err)
{
    (void)loss;
    const epoch_ctx *e = ctx;
    nmp_run *r = e->r;
    if (!e->hooks->signal_at_stage_end && nmp_interrupt_signal()) {
        char during[64];
        snprintf(during, sizeof during, "optimize (epoch %lld)", (long long)epoch + 1);
        return nmp_run_interrupted(r, during, err);
    }
    int64_t every = r->cfg->output.snapshot_every;
    if (every <= 0 || (epoch + 1) % every != 0) return NMP_OK;
    return e->hooks->snapshot ? e->hooks->snapshot(r, epoch, y, err) : nmp_stage_write_snapshot(r, epoch, y, r->x.n, err);
}

/* The fit hands its callbacks the request's ctx: the epoch_ctx, not the run. */
static nmp_status on_checkpoint(void *ctx, const nmp_opt_state *state, nmp_err *err)
{
    return nmp_run_on_checkpoint(((const epoch_ctx *)ctx)->r, state, err);
}

static void opt_settings(const nmp_run *r, nmp_opt_settings *s)
{
    const nmp_config *c = r->cfg;
    *s = (nmp_opt_settings){
        .epochs = c->optimizer.epochs,
        .batch = (int32_t)c->optimizer.batch,
        .lr = nmp_config_lr(c, r->x.n, 1),
        .momentum = c->optimizer.momentum,
        .hold = c->optimizer.hold,
        .final_lr_fraction = c->optimizer.final_lr_fraction,
        .clip = c->optimizer.clip,
        .early_exaggeration = c->optimizer.early_exaggeration,
        .early_epochs = c->optimizer.early_epochs,
        .late_exaggeration = c->optimizer.late_exaggeration,
        .late_start = c->optimizer.late_start,
        .loss_every = (int32_t)c->optimizer.loss_every,
        .update = (int)c->optimizer.update,
        .dims = (int32_t)c->dims,
        .seed = (uint64_t)c->seed,
    };
}

nmp_status stage_optimize(nmp_run *r, nmp_err *err)
{
    static const nmp_fit_hooks local = {0};
    return nmp_stage_optimize_with(r, &local, err);
}

nmp_status nmp_stage_optimize_with(nmp_run *r, const nmp_fit_hooks *hooks, nmp_err *err)
{
    nmp_opt_settings s;
    opt_settings(r, &s);
    if (hooks->settings) hooks->settings(r, &s);
    nmp_log(NMP_LOG_INFO, "optimize: %lld epochs, batch %d, lr %.4g, momentum %.2f", (long long)s.epochs, s.batch, s.lr,
            s.momentum);
    nmp_opt_state resume = {0};
    if (r->cfg->output.checkpoint_every > 0) {
        s.checkpoint_every = r->cfg->output.checkpoint_every;
        s.on_checkpoint = on_checkpoint;
    }
    if (r->req->resume) {
        nmp_status rs = nmp_run_resume_state(r, &resume, err);
        if (rs != NMP_OK) return rs;
        s.resume = &resume;
    }
    /* nmp_device_select has checked that the build and the plugins have what the device needs */
    epoch_ctx ectx = {r, hooks};
    const nmp_fit_backend_ops *fit = nmp_fit_backend(r->cfg->device == NMP_DEVICE_CUDA ? "cuda" : "cpu");
    const nmp_fit_request req = {.settings = &s, .y = r->y, .graph = &r->graph, .cells = &r->cells.view,
                                 .cell_local = r->cell_local, .negatives = &r->inst[NMP_KIND_NEGATIVES],
                                 .loss = &r->inst[NMP_KIND_LOSS], .on_epoch = on_epoch, .ctx = &ectx};
    nmp_status st = fit ? nmp_fit_run(fit, &req, &r->opt, err)
                        : nmp_fail(err, NMP_ERR_UNSUPPORTED, "device: this build has no fit for that device");
    nmp_checkpoint_free(&resume);
    const nmp_opt_result *o = &r->opt;
    if (st == NMP_OK)
        nmp_log(NMP_LOG_INFO, "optimize: %lld steps (%s update), %.3g G pair terms; seconds in batch %.2f, "
                "negatives %.2f, loss %.2f, update %.2f", (long long)o->steps, o->eager ? "eager" : "lazy",
                (double)o->pairs / 1e9, o->seconds_batch, o->seconds_sample, o->seconds_grad, o->seconds_update);
    return st;
}

nmp_status stage_eval(nmp_run *r, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    if (!c->eval.enabled) return NMP_OK;
    r->eval_opts = (nmp_eval_opts){.k = (int32_t)c->eval.k, .queries = c->eval.queries, .triplets = c->eval.triplets,
                                   .seed = (uint64_t)c->seed, .metric = c->ann.metric};
    if (r->eval_opts.k >= r->x.n / 2) {
        nmp_log(NMP_LOG_WARN, "eval: skipped, eval.k = %d needs at least %d points", r->eval_opts.k, 2 * r->eval_opts.k + 1);
        return NMP_OK;
    }
    nmp_matrix y = {.n = r->x.n, .d = c->dims, .x = r->y};
    char msg[1024] = "";
    nmp_status s = nmp_eval_run(&r->x, &y, r->labels, &r->eval_opts, &r->eval, msg, sizeof msg);
    if (s != NMP_OK) return nmp_fail(err, s, "eval: %s", msg);
    r->have_eval = 1;
    nmp_log(NMP_LOG_INFO, "eval: NP@%d %.4f +- %.4f, triplet %.4f, trust %.4f%s", r->eval_opts.k, r->eval.np.value,
            r->eval.np.ci95, r->eval.triplet.value, r->eval.trust.value, r->eval.has_labels ? "" : "");
    if (r->eval.has_labels) nmp_log(NMP_LOG_INFO, "eval: %d-NN label accuracy %.4f", r->eval_opts.k, r->eval.knn_acc.value);
    return NMP_OK;
}

nmp_status stage_output(nmp_run *r, nmp_err *err)
{
    char path[4300];
    nmp_status s = nmp_npy_write(nmp_outdir_file(&r->out, "embedding.npy", path, sizeof path), r->y, "<f4", r->x.n,
                                 r->cfg->dims, err);
    if (s == NMP_OK) s = nmp_run_loss_csv(r, err);
    if (s == NMP_OK && r->cfg->output.plot) {
        nmp_plot_opts po;
        plot_options(r->cfg, &po);
        s = nmp_plot_write(nmp_outdir_file(&r->out, "map.png", path, sizeof path), r->y, r->x.n, (int)r->cfg->dims,
                           r->labels, &po, err);
    }
    if (s == NMP_OK) s = nmp_run_report_write(r, err);
    /* run.json last: a folder with one holds a finished run (nomad sweep resumes on that). */
    if (s == NMP_OK) s = nmp_run_record_write(r, "ok", err);
    if (s == NMP_OK && r->cfg->output.checkpoint_every > 0) nmp_run_checkpoint_done(r);
    if (s == NMP_OK)
        nmp_log(NMP_LOG_INFO, "wrote %s/ (embedding.npy, run.json, report.md%s)", r->out.path,
                r->cfg->output.plot ? ", map.png" : "");
    return s;
}
