/* See transform_map.h. */
#include "transform_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "outdir.h"
#include "transform.h"

/* A positive number of run.json's optimizer section, or 0 (a run that predates it). */
static double record_number(const nmp_jv *record, const char *path)
{
    const double v = nmp_jv_number_at(record, path, 0.0);
    return v > 0.0 && v < 1e9 ? v : 0.0;
}

/* What the run's loss was balanced for (transform.h), from its run.json. */
static nmp_status fit_balance(const char *path, nmp_fit_balance *b, nmp_err *err)
{
    nmp_jv *record = NULL;
    nmp_status s = nmp_outdir_read_record(path, "ok", &record, err);
    if (s == NMP_OK)
        *b = (nmp_fit_balance){record_number(record, "optimizer.negatives_per_target"),
                               record_number(record, "optimizer.edge_weight_per_target")};
    nmp_jv_free(record);
    return s;
}

nmp_status nmp_map_open(nmp_map *m, const char *run_dir, const char *const *sets, int n_sets, nmp_err *err)
{
    memset(m, 0, sizeof *m);
    if (snprintf(m->dir, sizeof m->dir, "%s", run_dir) >= (int)sizeof m->dir)
        return nmp_fail(err, NMP_ERR_INVALID, "%.64s...: path longer than %zu bytes", run_dir, sizeof m->dir - 1);
    for (int i = 0; i < n_sets; i++)
        if (strncmp(sets[i], "transform.", 10) && strncmp(sets[i], "threads=", 8))
            return nmp_fail(err, NMP_ERR_INVALID, "transform: %s: only transform.* keys and threads can change; the "
                            "rest is the run's (its %s)", sets[i], NMP_OUTDIR_CONFIG);
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", run_dir, NMP_OUTDIR_RECORD);
    if (access(path, F_OK) != 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: no %s: not the folder of a finished nomad run", run_dir,
                        NMP_OUTDIR_RECORD);
    snprintf(path, sizeof path, "%s/%s", run_dir, NMP_OUTDIR_CONFIG);
    if (access(path, F_OK) != 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: no %s: the run predates `nomad transform` (or ran over ranks); "
                        "run it again to place new points on it", run_dir, NMP_OUTDIR_CONFIG);
    if (!(m->cfg = calloc(1, sizeof *m->cfg))) return nmp_fail(err, NMP_ERR_NOMEM, "transform: out of memory");
    nmp_status s = nmp_config_load(path, sets, n_sets, NULL, &m->root, m->cfg, err);
    snprintf(path, sizeof path, "%s/%s", run_dir, NMP_OUTDIR_RECORD);
    if (s == NMP_OK) s = fit_balance(path, &m->balance, err);
    return s;
}

/* Rows as the run read its own: f32, times data.scale, finite and within the distance bound. */
static nmp_status scaled_rows(const nmp_dataset *d, double scale, float **scaled, nmp_matrix *out, nmp_err *err)
{
    *out = d->m;
    if (nmp_io_scale(out, scale, scaled) != NMP_OK)
        return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory scaling it", d->path);
    return nmp_io_check_values(d->path, out, 0, nmp_io_distance_bound(out->d), err);
}

static nmp_status open_input(const char *name, const nmp_run_input *in, const nmp_data_opts *o, nmp_dataset *d,
                             nmp_err *err)
{
    return in ? nmp_data_wrap(name, in->values, in->dtype, in->n, in->d, o, d, err) : nmp_data_open(name, o, d, err);
}

nmp_status nmp_map_load(nmp_map *m, const nmp_run_input *train, const nmp_run_input *layout, nmp_err *err)
{
    const nmp_config *c = m->cfg;
    nmp_data_opts train_opts = nmp_config_data_opts(c), plain = {0};
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/embedding.npy", m->dir);
    nmp_status s = open_input(c->data.path, train, &train_opts, &m->train, err);
    if (s == NMP_OK) s = scaled_rows(&m->train, c->data.scale, &m->train_scaled, &m->x, err);
    if (s == NMP_OK) s = open_input(path, layout, &plain, &m->layout, err);
    if (s == NMP_OK && (m->layout.m.n != m->x.n || m->layout.m.d != c->dims))
        s = nmp_fail(err, NMP_ERR_INVALID, "%s: %lld x %lld, but the run's data %s has %lld rows and dims is %lld",
                     layout ? "the layout" : path, (long long)m->layout.m.n, (long long)m->layout.m.d, c->data.path,
                     (long long)m->x.n, (long long)c->dims);
    return s;
}

nmp_status nmp_map_place(nmp_map *m, const nmp_dataset *fresh, float *y_new, nmp_err *err)
{
    const nmp_config *c = m->cfg;
    float *scaled = NULL;
    nmp_matrix x_new;
    nmp_status s = scaled_rows(fresh, c->data.scale, &scaled, &x_new, err);
    if (s == NMP_OK && x_new.d != m->x.d)
        s = nmp_fail(err, NMP_ERR_INVALID, "%s: rows of %lld values, but the map was made of rows of %lld (%s)",
                     fresh->path, (long long)x_new.d, (long long)m->x.d, c->data.path);
    double t0 = nmp_now();
    if (s == NMP_OK)
        s = nmp_transform(c, m->root, &m->x, m->layout.m.x, (int32_t)c->dims, &x_new, m->balance, y_new, err);
    if (s == NMP_OK)
        nmp_log(NMP_LOG_INFO, "transform: %lld points of %s placed on %s in %.2f s", (long long)x_new.n, fresh->path,
                m->dir, nmp_now() - t0);
    free(scaled);
    return s;
}

void nmp_map_close(nmp_map *m)
{
    nmp_data_close(&m->train);
    nmp_data_close(&m->layout);
    free(m->train_scaled);
    free(m->cfg);
    nmp_cfg_free(m->root);
    memset(m, 0, sizeof *m);
}
