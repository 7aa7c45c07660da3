/* run.json and loss.csv: what a run did, with what, how long each stage took, and how
 * good the result is; enough to reproduce it and to compare runs in a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "device.h"
#include "eval_json.h"
#include "host.h"
#include "nomad_git.h"
#include "run_state.h"


static void plugins_json(nmp_json *j, const nmp_run *r)
{
    nmp_json_key(j, "plugins");
    nmp_json_begin_array(j);
    for (int k = 1; k <= NMP_KIND_COUNT; k++) {
        const nmp_instance *in = &r->inst[k];
        if (!in->ref) continue;
        nmp_json_begin_object(j);
        nmp_json_kv_string(j, "kind", nmp_kind_name((nmp_kind)k));
        nmp_json_kv_string(j, "name", in->ref->desc->name);
        nmp_json_kv_string(j, "version", in->ref->desc->version);
        nmp_json_kv_string(j, "file", in->ref->file);
        nmp_json_kv_string(j, "device", in->on_cuda ? "cuda" : "cpu"); /* which of its entries ran */
        nmp_json_end_object(j);
    }
    nmp_json_end_array(j);
}

static void config_json(nmp_json *j, const nmp_run *r)
{
    const nmp_params *params[NMP_KIND_COUNT];
    for (int k = 1; k <= NMP_KIND_COUNT; k++) params[k - 1] = r->inst[k].ref ? &r->inst[k].params : NULL;
    nmp_json_key(j, "config");
    nmp_config_json(j, r->cfg, params);
}

static void stages_json(nmp_json *j, const nmp_run *r)
{
    double total = 0;
    nmp_json_key(j, "stage_seconds");
    nmp_json_begin_object(j);
    for (int s = 0; s < STAGE_COUNT; s++) {
        nmp_json_kv_number(j, nmp_stage_names[s], r->stage_seconds[s]);
        total += r->stage_seconds[s];
    }
    nmp_json_end_object(j);
    nmp_json_kv_number(j, "total_seconds", total);
}

static void fit_json(nmp_json *j, const nmp_run *r)
{
    nmp_json_key(j, "partition");
    nmp_json_begin_object(j);
    nmp_json_kv_int(j, "cells", r->cells.view.count);
    nmp_json_kv_int(j, "iterations", r->partition_iterations);
    nmp_json_kv_int(j, "empty_cells", r->empty_cells);
    nmp_json_end_object(j);
    nmp_json_key(j, "ann");
    nmp_json_begin_object(j);
    nmp_json_kv_int(j, "edges", r->graph.offsets ? nmp_graph_nnz(&r->graph) : 0);
    nmp_json_kv_int(j, "recall_sample", r->knn_quality.sample);
    nmp_json_kv_number(j, "edges_kept", r->knn_quality.edges_kept);
    nmp_json_kv_number(j, "recall", r->knn_quality.recall);
    nmp_json_end_object(j);
    nmp_json_key(j, "optimizer");
    nmp_json_begin_object(j);
    nmp_json_kv_int(j, "steps", r->opt.steps);
    nmp_json_kv_string(j, "update", r->opt.eager ? "eager" : "lazy");
    /* pair terms: targets x (negatives + approximate terms) + edges, over the fit, and per
     * second of the whole optimise stage */
    nmp_json_kv_int(j, "pairs", r->opt.pairs);
    double secs = r->stage_seconds[STAGE_OPTIMIZE];
    nmp_json_kv_number(j, "pairs_per_second", secs > 0 ? (double)r->opt.pairs / secs : 0.0);
    /* repulsive terms (negatives + approximate) per target: what `nomad transform` weighs its
     * own draw by, so a loss that sums its repulsion (neg, umap) keeps the fit's balance */
    nmp_json_kv_number(j, "negatives_per_target",
                       r->opt.targets > 0 ? (double)r->opt.repel_terms / (double)r->opt.targets : 0.0);
    /* ... and the positives' weight per target (the graph's mean row sum), which it scales its
     * own neighbour weights (rows summing to 1) to */
    double wsum = 0.0;
    for (int64_t e = 0; r->graph.weight && r->graph.offsets && e < nmp_graph_nnz(&r->graph); e++) wsum += r->graph.weight[e];
    nmp_json_kv_number(j, "edge_weight_per_target", r->graph.n > 0 ? wsum / (double)r->graph.n : 0.0);
    /* where the optimise stage went, by phase of a step */
    const struct {
        const char *name;
        double seconds;
    } phase[] = {{"batch", r->opt.seconds_batch},
                 {"negatives", r->opt.seconds_sample},
                 {"loss", r->opt.seconds_grad},
                 {"update", r->opt.seconds_update}};
    nmp_json_key(j, "phase_seconds");
    nmp_json_begin_object(j);
    for (size_t p = 0; p < sizeof phase / sizeof *phase; p++) nmp_json_kv_number(j, phase[p].name, phase[p].seconds);
    nmp_json_end_object(j);
    nmp_json_key(j, "loss");
    nmp_json_begin_array(j);
    for (int64_t e = 0; r->opt.loss && e < r->cfg->optimizer.epochs; e++) nmp_json_number(j, r->opt.loss[e]);
    nmp_json_end_array(j);
    nmp_json_end_object(j);
}

static void host_json(nmp_json *j, const nmp_run *r)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    nmp_json_key(j, "host");
    nmp_json_begin_object(j);
    nmp_json_kv_string(j, "name", host);
    nmp_json_kv_int(j, "cores", nmp_default_threads());
    nmp_json_kv_int(j, "threads", nmp_host_settings()->threads);
    nmp_json_kv_int(j, "ranks", nmp_host_settings()->ranks);
    char gpu[256];
    nmp_device_describe(r, gpu, sizeof gpu);
    nmp_json_kv_string(j, "gpu", gpu[0] ? gpu : NULL); /* null on device: cpu */
    nmp_json_end_object(j);
    nmp_json_key(j, "data");
    nmp_json_begin_object(j);
    nmp_json_kv_string(j, "path", r->cfg->data.path);
    nmp_json_kv_int(j, "n", r->x.n);
    nmp_json_kv_int(j, "d", r->x.d);
    nmp_json_kv_string(j, "dtype", r->data.dtype);
    nmp_json_kv_string(j, "labels", r->labels ? r->labels_path : NULL);
    nmp_json_end_object(j);
}

/* Stable keys: fallback is the pre-AVX2 kernel OpenBLAS chose by itself on an AVX2 CPU (null when
 * it chose well); fixed_by says how nomad replaced it, kept_because why it did not (GEMM was slow). */
static void blas_json(nmp_json *j)
{
    nmp_blas_info b;
    nmp_blas_get(&b);
    nmp_json_key(j, "blas");
    nmp_json_begin_object(j);
    nmp_json_kv_string(j, "library", b.library);
    nmp_json_kv_string(j, "version", b.version);
    nmp_json_kv_string(j, "kernel", b.kernel);
    nmp_json_kv_int(j, "threads", b.threads);
    nmp_json_kv_string(j, "fallback", b.fallback[0] ? b.fallback : NULL);
    nmp_json_kv_string(j, "fixed_by", b.fixed_by[0] ? b.fixed_by : NULL);
    nmp_json_kv_string(j, "kept_because", b.kept[0] ? b.kept : NULL);
    nmp_json_end_object(j);
}

nmp_status nmp_run_record_write(nmp_run *r, const char *status, nmp_err *err)
{
    nmp_json j;
    nmp_json_init(&j);
    nmp_json_begin_object(&j);
    nmp_json_kv_string(&j, "status", status);
    nmp_json_kv_string(&j, "nomad_version", NOMAD_VERSION);
    nmp_json_kv_string(&j, "git", NOMAD_GIT_HASH);
    nmp_json_kv_string(&j, "config_file", r->req->config_path);
    nmp_json_kv_int(&j, "seed", r->cfg->seed);
    host_json(&j, r);
    blas_json(&j);
    plugins_json(&j, r);
    stages_json(&j, r);
    nmp_json_kv_number(&j, "peak_rss_bytes", nmp_peak_rss_bytes());
    nmp_json_kv_number(&j, "memory_estimate_bytes", r->estimate_bytes);
    fit_json(&j, r);
    if (r->mode && r->mode->record_json) r->mode->record_json(&j, r);
    if (r->have_eval) {
        nmp_json_key(&j, "metrics");
        nmp_eval_result_json(&j, &r->eval, &r->eval_opts);
    }
    config_json(&j, r);
    nmp_json_end_object(&j);
    char path[4300];
    nmp_status s = j.oom ? nmp_fail(err, NMP_ERR_NOMEM, "out of memory writing run.json")
                         : nmp_file_write_atomic(nmp_outdir_file(&r->out, NMP_OUTDIR_RECORD, path, sizeof path), j.buf, j.len, err);
    nmp_json_free(&j);
    return s;
}

nmp_status nmp_run_loss_csv(nmp_run *r, nmp_err *err)
{
    size_t cap = 64 + (size_t)r->cfg->optimizer.epochs * 64, len = 0;
    char *buf = malloc(cap);
    if (!buf) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory writing loss.csv");
    len += (size_t)snprintf(buf, cap, "epoch,loss,seconds\n");
    for (int64_t e = 0; e < r->cfg->optimizer.epochs && r->opt.loss; e++)
        len += (size_t)snprintf(buf + len, cap - len, "%lld,%.9g,%.4f\n", (long long)(e + 1), r->opt.loss[e],
                                r->opt.epoch_seconds[e]);
    char path[4300];
    nmp_status s = nmp_file_write_atomic(nmp_outdir_file(&r->out, "loss.csv", path, sizeof path), buf, len, err);
    free(buf);
    return s;
}
