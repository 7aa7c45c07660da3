/* Stages before the fit: loading and checking the data, and creating the plugins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "dist.h"
#include "host.h"
#include "stages.h"

static void estimate_memory(nmp_run *r)
{
    const nmp_config *c = r->cfg;
    double n = (double)r->x.n, d = (double)r->x.d, k = (double)c->ann.k;
    double data = (r->scaled || !r->data.map) ? n * d * 4 : 0; /* mapped f32 is page cache */
    double graph = 2 * n * k * 8 + 2 * n * 8;                   /* kNN + weighted graph */
    double layout = n * (double)c->dims * 4 * 3 + n * 12;       /* y, velocity, gradient, cells */
    r->estimate_bytes = data + graph + layout;
}

nmp_status nmp_stage_check_memory(nmp_run *r, nmp_err *err)
{
    estimate_memory(r);
    double avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &avail) == 1) break;
    if (f) fclose(f);
    avail *= 1024;
    nmp_log(NMP_LOG_INFO, "memory: about %.2f GiB at peak for %lld x %lld (%.2f GiB available)",
            r->estimate_bytes / 1073741824.0, (long long)r->x.n, (long long)r->x.d, avail / 1073741824.0);
    if (avail > 0 && r->estimate_bytes > avail)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "memory: the run needs about %.2f GiB but only %.2f GiB is available; use data.limit or a "
                        "smaller ann.k", r->estimate_bytes / 1073741824.0, avail / 1073741824.0);
    return NMP_OK;
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
    if (r->dist.comm) return nmp_dist_load(r, err);
    nmp_data_opts o = {.format = (nmp_data_format)c->data.format, .raw_dim = c->data.dim, .limit = c->data.limit};
    nmp_status s = nmp_data_open(c->data.path, &o, &r->data, err);
    if (s == NMP_OK) s = scale_data(r, err);
    if (s == NMP_OK) s = nmp_io_check_values(c->data.path, &r->x, 0, nmp_io_distance_bound(r->x.d), err);
    if (s == NMP_OK) s = nmp_io_check_distinct(c->data.path, &r->x, err);
    if (s == NMP_OK) s = nmp_stage_check_sizes(r, r->x.n, err);
    r->labels_path = c->data.labels[0] ? c->data.labels : nmp_data_default_labels(c->data.path);
    if (s == NMP_OK && r->labels_path) s = nmp_labels_read_limit(r->labels_path, r->x.n, c->data.limit, &r->labels, err);
    if (s == NMP_OK) s = nmp_stage_check_memory(r, err);
    if (s == NMP_OK) s = nmp_device_check_memory(r, err);
    if (s == NMP_OK) {
        nmp_log(NMP_LOG_INFO, "data: %s: %lld x %lld (%s)%s%s", c->data.path, (long long)r->x.n, (long long)r->x.d,
                r->data.dtype, r->labels ? ", labels " : "", r->labels ? r->labels_path : "");
        s = nmp_outdir_open(&r->out, r->req->out_dir ? r->req->out_dir : c->output.dir, r->name, err);
    }
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
