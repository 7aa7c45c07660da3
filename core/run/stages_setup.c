/* Stages before the fit: loading and checking the data (the limits in run_limits.c), and
 * creating the plugins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "host.h"
#include "stages.h"


static nmp_status scale_data(nmp_run *r, nmp_err *err)
{
    r->x = r->data.m;
    if (nmp_io_scale(&r->x, r->cfg->data.scale, &r->scaled) != NMP_OK)
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory scaling the data");
    return NMP_OK;
}

/* The data's shape and type from the file's headers, or from the rows given in memory. */
static nmp_status probe_data(const nmp_run *r, const nmp_data_opts *o, nmp_dataset *probe, nmp_err *err)
{
    const nmp_run_input *in = r->req->input;
    if (!in) return nmp_data_probe(r->cfg->data.path, o, probe, err);
    nmp_data_opts header = *o;
    header.header_only = 1;
    return nmp_data_wrap(r->cfg->data.path, in->values, in->dtype, in->n, in->d, &header, probe, err);
}

static nmp_status open_data(nmp_run *r, const nmp_data_opts *o, nmp_err *err)
{
    const nmp_run_input *in = r->req->input;
    if (!in) return nmp_data_open(r->cfg->data.path, o, &r->data, err);
    return nmp_data_wrap(r->cfg->data.path, in->values, in->dtype, in->n, in->d, o, &r->data, err);
}

/* The labels: given in memory with the rows, read from data.labels, or those of an alias. */
static nmp_status load_labels(nmp_run *r, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    const nmp_run_input *in = r->req->input;
    if (in) {
        r->labels_path = in->labels ? c->data.labels : NULL;
        if (!in->labels) return NMP_OK;
        if (!(r->labels = malloc((size_t)r->x.n * sizeof *r->labels)))
            return nmp_fail(err, NMP_ERR_NOMEM, "out of memory copying the labels");
        memcpy(r->labels, in->labels, (size_t)r->x.n * sizeof *r->labels); /* the first n: data.limit */
        return NMP_OK;
    }
    r->labels_path = c->data.labels[0] ? c->data.labels : nmp_data_default_labels(c->data.path);
    return r->labels_path ? nmp_labels_read_limit(r->labels_path, r->x.n, c->data.limit, &r->labels, err) : NMP_OK;
}

nmp_status stage_load(nmp_run *r, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    if (c->output.checkpoint_every > 0 && c->device == NMP_DEVICE_CUDA)
        return nmp_fail(err, NMP_ERR_UNSUPPORTED, "output.checkpoint_every: checkpoints are written by CPU runs on one "
                        "rank for now; set it to 0 for device: cuda");
    nmp_data_opts o = nmp_config_data_opts(c);
    /* sizes and memory from the headers first: a header that promises more than the machine
     * holds is refused before a value is read */
    nmp_dataset probe;
    nmp_status s = probe_data(r, &o, &probe, err);
    if (s == NMP_OK) s = nmp_stage_check_sizes(r, probe.m.n, err);
    if (s == NMP_OK) {
        s = nmp_stage_check_memory_for(r, probe.m.n, probe.m.d, nmp_data_peak_bytes(&probe), err);
    }
    if (s == NMP_OK) s = open_data(r, &o, err);
    if (s == NMP_OK) s = scale_data(r, err);
    if (s == NMP_OK) s = nmp_io_check_values(c->data.path, &r->x, 0, nmp_io_distance_bound(r->x.d), err);
    if (s == NMP_OK) s = nmp_io_check_distinct(c->data.path, &r->x, err);
    if (s == NMP_OK) s = load_labels(r, err);
    if (s == NMP_OK) s = nmp_device_check_memory(r, err);
    if (s == NMP_OK) {
        nmp_stage_log_memory(r, r->x.n, r->x.d);
        nmp_log(NMP_LOG_INFO, "data: %s: %lld x %lld (%s)%s%s", c->data.path, (long long)r->x.n, (long long)r->x.d,
                r->data.dtype, r->labels ? ", labels " : "", r->labels ? r->labels_path : "");
        static const char *const keep[2] = {NMP_OUTDIR_CHECKPOINT, NMP_OUTDIR_CONFIG};
        s = r->req->resume ? nmp_outdir_resume(&r->out, r->req->out_dir, keep, err)
                           : nmp_outdir_open(&r->out, r->req->out_dir ? r->req->out_dir : c->output.dir, r->name, err);
    }
    if (s == NMP_OK) s = nmp_run_write_config(r, err); /* config.yaml: what --resume and `nomad transform` read */
    return s;
}

nmp_status stage_plugins(nmp_run *r, nmp_err *err)
{
    char *path = nmp_plugin_default_path();
    nmp_status s = nmp_registry_scan(&r->reg, path, err);
    free(path);
    for (int k = 1; k <= NMP_KIND_COUNT && s == NMP_OK; k++)
        s = nmp_instance_create_for(&r->reg, (nmp_kind)k, r->cfg, r->root, &r->inst[k], err);
    return s == NMP_OK ? nmp_device_select(r, err) : s;
}
