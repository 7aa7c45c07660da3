/* The stages of `nomad run`, in order; each fills the run state and records its time. A
 * failure anywhere discards what the run wrote. */
#include "pipeline.h"

#include <math.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "host.h"
#include "interrupt.h"
#include "run_state.h"
#include "stages.h"

const char *const nmp_stage_names[STAGE_COUNT] = {"plugins", "load", "partition", "ann", "affinity",
                                                  "init", "optimize", "eval", "output"};

void nmp_run_configure_host(const nmp_config *cfg, int quiet)
{
    nmp_host_config hc = {
        .threads = cfg->threads > 0 ? (int)cfg->threads : nmp_default_threads(),
        .quiet = quiet || cfg->quiet,
        .progress_tty = isatty(2),
        .seed = (uint64_t)cfg->seed,
        .rank = 0,
        .ranks = 1,
    };
    nmp_host_configure(&hc);
}

static void run_name(nmp_run *r)
{
    const char *n = r->cfg->output.name;
    if (!n[0]) {
        const char *path = r->req->config_path ? r->req->config_path : "nomad.yaml";
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        snprintf(r->name, sizeof r->name, "%s", base);
        char *dot = strrchr(r->name, '.');
        if (dot && dot != r->name) *dot = 0;
    } else {
        snprintf(r->name, sizeof r->name, "%s", n);
    }
}

static void free_run(nmp_run *r)
{
    for (int k = NMP_KIND_COUNT; k >= 1; k--) nmp_instance_destroy(&r->inst[k]);
    nmp_registry_free(&r->reg);
    nmp_cells_free(&r->cells);
    free(r->cell_local);
    nmp_graph_release(&r->knn);
    nmp_graph_release(&r->graph);
    free(r->y);
    free(r->opt.loss);
    free(r->opt.epoch_seconds);
    free(r->labels);
    free(r->scaled);
    nmp_data_close(&r->data);
    nmp_outdir_close(&r->out);
}

const nmp_run_mode nmp_local_mode = {
    .stage = {stage_plugins, stage_load, stage_partition, stage_ann, stage_affinity, stage_init, stage_optimize,
              stage_eval, stage_output},
};

static void comm_totals(const nmp_run *r, double *bytes, double *seconds)
{
    *bytes = *seconds = 0;
    if (r->mode->comm_totals) r->mode->comm_totals(r, bytes, seconds);
}

/* One stage, then (over ranks) the agreement: a failure on any rank stops every rank here. */
static nmp_status timed(nmp_run *r, int stage, nmp_err *err)
{
    double t0 = nmp_now(), b0, c0, b1, c1;
    comm_totals(r, &b0, &c0);
    nmp_status s = r->mode->stage[stage](r, err);
    if (s == NMP_OK && stage != STAGE_OUTPUT && nmp_interrupt_signal()) /* output: finished, keep it */
        s = nmp_run_interrupted(r, nmp_stage_names[stage], err);
    if (r->mode->agree) s = r->mode->agree(r, s, err);
    r->stage_seconds[stage] = nmp_now() - t0;
#ifdef __GLIBC__
    /* A stage's freed scratch back to the system before the next stage: glibc keeps freed heap
     * (and once a large block has been freed it serves large blocks from the heap too), so the
     * stages' peaks would stack instead of taking turns, as the memory estimate has them. */
    malloc_trim(0);
#endif
    comm_totals(r, &b1, &c1);
    r->dist.stage_bytes[stage] = b1 - b0, r->dist.stage_comm_seconds[stage] = c1 - c0;
    if (s == NMP_OK && stage != STAGE_PLUGINS)
        nmp_log(NMP_LOG_INFO, "%-9s %7.2f s, peak memory so far %.0f MiB", nmp_stage_names[stage], r->stage_seconds[stage],
                nmp_peak_rss_bytes() / 1048576.0);
    return s;
}

nmp_status nmp_pipeline_run(const nmp_config *cfg, const nmp_cfg_node *root, const nmp_run_request *req, nmp_err *err)
{
    nmp_run *r = calloc(1, sizeof *r);
    if (!r) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    r->cfg = cfg, r->root = root, r->req = req, r->mode = req->mode ? req->mode : &nmp_local_mode;
    run_name(r);
    nmp_status s = r->mode->open ? r->mode->open(r, err) : NMP_OK;
    for (int st = 0; st < STAGE_COUNT && s == NMP_OK; st++) {
        if (st == STAGE_PARTITION) nmp_blas_log(); /* before the first GEMM, after input errors */
        s = timed(r, st, err);
    }
    if (s != NMP_OK && r->out.path[0]) {
        if (r->out.keep[0]) { /* said on the error's one line: how to go on */
            char epoch[48] = "";
            if (r->checkpoint_epoch > 0) snprintf(epoch, sizeof epoch, " (epoch %lld)", (long long)r->checkpoint_epoch);
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof err->msg - used, "; kept its checkpoint%s: `nomad run --resume %s` goes on",
                     epoch, r->out.path);
        }
        nmp_outdir_discard(&r->out);
    }
    if (r->mode->close) r->mode->close(r);
    free_run(r);
    free(r);
    return s;
}
