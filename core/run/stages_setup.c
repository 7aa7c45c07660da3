/* Stages before the fit: loading and checking the data, and creating the plugins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "dist.h"
#include "host.h"
#include "stages.h"

/* Resident bytes now (VmRSS): the program, its libraries and plugins, before any data. */
static double rss_now(void) { return nmp_proc_kb_bytes("/proc/self/status", "VmRSS"); }

static double available_bytes(void) { return nmp_proc_kb_bytes("/proc/meminfo", "MemAvailable"); }

/* Peak resident bytes of a run on n x d input that takes `input` bytes once read: what is
 * resident now, the input, and the larger of the two stages that hold the most at once.
 * The ann stage: its graph (index and distance, 8 bytes an edge; with `refine`, refine x k
 * candidates a point first), a projected copy of the data when it searches in PCA space, and
 * per-thread distance blocks, the PCA's block of rows. The affinity stage: the kNN graph, the conditional weights,
 * the symmetrisation's sorted rows and transpose, and the result of up to 2k edges a point
 * (48 bytes per kNN edge in all). Init and fit hold less but for the PCA init's sample on
 * wide data, then the picture. The ann plugin's `pca` and `refine` are the one plugin
 * detail counted here: they are its largest arrays. tests/e2e/memory.sh holds the estimate
 * to 25% of the measured peak. */
static double estimate_bytes(const nmp_run *r, double n, double d, double input)
{
    const nmp_config *c = r->cfg;
    const nmp_params *ann = &r->inst[NMP_KIND_ANN].params;
    const double k = (double)c->ann.k, threads = (double)nmp_host_settings()->threads;
    const double pca = (double)nmp_param_int(ann, "pca"), refine = (double)nmp_param_int(ann, "refine");
    const double scaled = c->data.scale != 1.0 ? n * d * 4 : 0;
    const double searched = pca > 0 && pca < d ? n * pca * 4 : 0;
    const double edges = n * k * (searched > 0 && refine > 1 ? refine : 1) * 8 + n * 8;
    const double pca_blocks = d * 4096 * 4 + d * d * 4; /* PCA (ann and init): a block of rows, a covariance */
    const double ann_stage = searched + edges + threads * 1024.0 * 2048 * 4 + pca_blocks;
    const double affinity_stage = n * k * 48 + n * 56;
    /* init and fit: the weighted graph, the layout with velocity and gradient, and the PCA
     * init's blocks and sample of up to 10,000 rows */
    const double fit = n * k * 16 + n * (double)c->dims * 4 * 3 + n * 16 + pca_blocks + (n < 1e4 ? n : 1e4) * d * 4;
    /* map.png: a count per pixel, with labels a colour sum too, and the RGB image */
    const int labelled = c->data.labels[0] || nmp_data_default_labels(c->data.path);
    const double side = (double)c->output.plot_size, plot = c->output.plot ? side * side * (labelled ? 19 : 7) : 0;
    const double stage = ann_stage > affinity_stage ? ann_stage : affinity_stage;
    return rss_now() + input + scaled + (stage > fit ? stage : fit) + plot; /* freed heap is seldom returned */
}

/* Refuses a run that would not fit; says nothing otherwise (the estimate is logged once the
 * input has passed its checks, so an input error stays one line). */
static nmp_status check_memory(nmp_run *r, double n, double d, nmp_err *err)
{
    r->available_bytes = available_bytes();
    if (r->available_bytes > 0 && r->estimate_bytes > r->available_bytes)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: %.0f x %.0f: the run needs about %.2f GiB but only %.2f GiB is available; use data.limit or "
                        "a smaller ann.k", r->cfg->data.path, n, d, r->estimate_bytes / 1073741824.0,
                        r->available_bytes / 1073741824.0);
    return NMP_OK;
}

void nmp_stage_log_memory(const nmp_run *r, int64_t n, int64_t d)
{
    nmp_log(NMP_LOG_INFO, "memory: about %.2f GiB at peak for %lld x %lld (%.2f GiB available)",
            r->estimate_bytes / 1073741824.0, (long long)n, (long long)d, r->available_bytes / 1073741824.0);
}

nmp_status nmp_stage_check_memory(nmp_run *r, nmp_err *err)
{
    const double n = (double)r->x.n, d = (double)r->x.d;
    r->estimate_bytes = estimate_bytes(r, n, d, n * d * 4);
    return check_memory(r, n, d, err);
}

nmp_status nmp_stage_check_sizes(nmp_run *r, int64_t n, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    if (n <= c->ann.k)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld point%s, but ann.k = %lld needs at least %lld", c->data.path,
                        (long long)n, n == 1 ? "" : "s", (long long)c->ann.k, (long long)c->ann.k + 1);
    if (n < c->partitioner.cells)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld point%s, fewer than partitioner.cells = %lld", c->data.path,
                        (long long)n, n == 1 ? "" : "s", (long long)c->partitioner.cells);
    if (n > INT32_MAX)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld points; this build indexes at most %d", c->data.path,
                        (long long)n, INT32_MAX);
    return NMP_OK;
}

static nmp_status scale_data(nmp_run *r, nmp_err *err)
{
    float s = (float)r->cfg->data.scale;
    int64_t len = r->data.m.n * r->data.m.d;
    r->x = r->data.m;
    if (s == 1.0f) return NMP_OK;
    r->scaled = malloc((size_t)len * sizeof *r->scaled);
    if (!r->scaled) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory scaling the data");
    for (int64_t i = 0; i < len; i++) r->scaled[i] = r->data.m.x[i] * s;
    r->x.x = r->scaled;
    return NMP_OK;
}

nmp_status stage_load(nmp_run *r, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    if (c->output.checkpoint_every > 0 && (r->dist.comm || c->device == NMP_DEVICE_CUDA))
        return nmp_fail(err, NMP_ERR_UNSUPPORTED, "output.checkpoint_every: checkpoints are written by CPU runs on one "
                        "rank for now; set it to 0 for %s", r->dist.comm ? "a distributed run" : "device: cuda");
    const char *part = r->inst[NMP_KIND_PARTITIONER].ref->desc->name;
    if (r->dist.comm && strcmp(part, "kmeans") != 0) /* it became K-Means without a word before */
        return nmp_fail(err, NMP_ERR_UNSUPPORTED,
                        "partitioner.plugin: %s cannot be used across ranks: a distributed run refines the cells "
                        "with Lloyd steps over every rank's rows, which makes any partition K-Means; use kmeans",
                        part);
    if (r->dist.comm) return nmp_dist_load(r, err);
    nmp_data_opts o = nmp_config_data_opts(c);
    /* sizes and memory from the headers first: a header that promises more than the machine
     * holds is refused before a value is read */
    nmp_dataset probe;
    nmp_status s = nmp_data_probe(c->data.path, &o, &probe, err);
    if (s == NMP_OK) s = nmp_stage_check_sizes(r, probe.m.n, err);
    if (s == NMP_OK) {
        r->estimate_bytes = estimate_bytes(r, (double)probe.m.n, (double)probe.m.d, nmp_data_peak_bytes(&probe));
        s = check_memory(r, (double)probe.m.n, (double)probe.m.d, err);
    }
    if (s == NMP_OK) s = nmp_data_open(c->data.path, &o, &r->data, err);
    if (s == NMP_OK) s = scale_data(r, err);
    if (s == NMP_OK) s = nmp_io_check_values(c->data.path, &r->x, 0, nmp_io_distance_bound(r->x.d), err);
    if (s == NMP_OK) s = nmp_io_check_distinct(c->data.path, &r->x, err);
    r->labels_path = c->data.labels[0] ? c->data.labels : nmp_data_default_labels(c->data.path);
    if (s == NMP_OK && r->labels_path) s = nmp_labels_read_limit(r->labels_path, r->x.n, c->data.limit, &r->labels, err);
    if (s == NMP_OK) s = nmp_device_check_memory(r, err);
    if (s == NMP_OK) {
        nmp_stage_log_memory(r, r->x.n, r->x.d);
        nmp_log(NMP_LOG_INFO, "data: %s: %lld x %lld (%s)%s%s", c->data.path, (long long)r->x.n, (long long)r->x.d,
                r->data.dtype, r->labels ? ", labels " : "", r->labels ? r->labels_path : "");
        static const char *const keep[2] = {NMP_OUTDIR_CHECKPOINT, NMP_OUTDIR_CONFIG};
        s = r->req->resume ? nmp_outdir_resume(&r->out, r->req->out_dir, keep, err)
                           : nmp_outdir_open(&r->out, r->req->out_dir ? r->req->out_dir : c->output.dir, r->name, err);
    }
    if (s == NMP_OK && c->output.checkpoint_every > 0) s = nmp_run_checkpoint_config(r, err);
    return s;
}

nmp_status stage_plugins(nmp_run *r, nmp_err *err)
{
    char *path = nmp_plugin_default_path();
    nmp_status s = nmp_registry_scan(&r->reg, path, err);
    free(path);
    for (int k = 1; k <= NMP_KIND_COUNT && s == NMP_OK; k++) {
        const char *section = nmp_config_kind_section((nmp_kind)k);
        const nmp_plugin_ref *ref = NULL;
        nmp_params params = {0};
        s = nmp_registry_resolve(&r->reg, (nmp_kind)k, nmp_config_plugin_name(r->cfg, (nmp_kind)k),
                                 nmp_config_section(r->root, section), &ref, &params, err);
        if (s == NMP_OK) s = nmp_instance_create(ref, section, &params, &r->inst[k], err);
        nmp_params_free(&params);
    }
    return s == NMP_OK ? nmp_device_select(r, err) : s;
}
