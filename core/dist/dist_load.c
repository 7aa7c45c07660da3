/* Loading in a distributed run: each rank takes its slice of the input rows. .npy and raw
 * f32 files are memory-mapped and only the slice's pages are touched (converted to f32 when
 * the file holds another type); other formats are read whole and cut. Rank 0 also reads the
 * labels, opens the run directory, and (for the metrics) the whole input after the fit. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dist.h"
#include "host.h"
#include "npy_format.h"
#include "stages.h"

static void slice_bounds(nmp_run *r)
{
    nmp_dist *d = &r->dist;
    d->slice_begin = d->n_total * d->rank / d->ranks;
    d->slice_end = d->n_total * (d->rank + 1) / d->ranks;
}

/* Takes the slice from a mapping holding `cols` values of `dtype` per row at `data`: in
 * place for aligned f32, else converted into slice_owned. The mapping is kept either way
 * until the rows are exchanged (munmap in nmp_dist_free). */
static nmp_status take_slice(nmp_run *r, const char *path, const void *data, const char *dtype, int item, int64_t cols,
                             nmp_err *err)
{
    nmp_dist *d = &r->dist;
    slice_bounds(r);
    int64_t rows = d->slice_end - d->slice_begin;
    const char *first = (const char *)data + (size_t)(d->slice_begin * cols) * (size_t)item;
    r->x = (nmp_matrix){.n = rows, .d = cols, .x = (const float *)first};
    r->data.dtype = dtype;
    if (strcmp(dtype, "f4") == 0 && (uintptr_t)first % sizeof(float) == 0) return NMP_OK;
    d->slice_owned = malloc((size_t)(rows * cols) * sizeof(float) + 1);
    if (!d->slice_owned)
        return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory converting rows %lld..%lld to f32", path,
                        (long long)d->slice_begin, (long long)d->slice_end);
    nmp_io_to_f32(dtype, first, d->slice_owned, rows * cols);
    r->x.x = d->slice_owned;
    return NMP_OK;
}

static nmp_status slice_npy(nmp_run *r, const char *path, nmp_err *err)
{
    nmp_npy_map m;
    char why[512];
    nmp_status s = nmp_npy_map_file(path, &m, why, sizeof why);
    if (s == NMP_OK) s = nmp_npy_expect(&m.header, "<f4 <f2 <f8 |u1", 2, why, sizeof why);
    if (s == NMP_OK && (m.rows == 0 || m.cols == 0)) {
        snprintf(why, sizeof why, "shape (%lld, %lld) has 0 values; expected at least one", (long long)m.rows,
                 (long long)m.cols);
        s = NMP_ERR_INVALID;
    }
    if (s != NMP_OK) {
        nmp_npy_unmap(&m);
        return nmp_fail(err, s, "%s: %s", path, why);
    }
    int64_t limit = r->cfg->data.limit;
    r->dist.n_total = limit > 0 && limit < m.rows ? limit : m.rows;
    r->dist.map = m.map, r->dist.map_len = m.map_len; /* owned by the run from here */
    const char *dtype = m.header.kind == 'u'      ? "u1"
                        : m.header.item_size == 2 ? "f2"
                        : m.header.item_size == 8 ? "f8"
                                                  : "f4";
    return take_slice(r, path, m.data, dtype, m.header.item_size, m.cols, err);
}

static nmp_status slice_raw(nmp_run *r, const char *path, nmp_err *err)
{
    int64_t dim = r->cfg->data.dim, limit = r->cfg->data.limit;
    if (dim <= 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: raw f32 input needs its column count (data.dim > 0), got %lld", path,
                        (long long)dim);
    char why[512];
    nmp_status s = nmp_map_file_readonly(path, &r->dist.map, &r->dist.map_len, why, sizeof why);
    if (s != NMP_OK) return nmp_fail(err, s, "%s: %s", path, why);
    size_t row_bytes = (size_t)dim * sizeof(float);
    if (r->dist.map_len % row_bytes != 0)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: truncated data: raw f32 with %lld columns needs a multiple of %zu bytes, found %zu", path,
                        (long long)dim, row_bytes, r->dist.map_len);
    int64_t rows = (int64_t)(r->dist.map_len / row_bytes);
    r->dist.n_total = limit > 0 && limit < rows ? limit : rows;
    return take_slice(r, path, r->dist.map, "f4", 4, dim, err);
}

/* .fvecs/.bvecs/IDX/named data sets: read whole (they need parsing or unpacking), keep the slice. */
static nmp_status slice_whole(nmp_run *r, const char *path, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    nmp_data_opts o = nmp_config_data_opts(c);
    nmp_dataset whole;
    nmp_status s = nmp_data_open(path, &o, &whole, err);
    if (s != NMP_OK) return s;
    r->dist.n_total = whole.m.n;
    s = take_slice(r, path, whole.m.x, "f4", 4, whole.m.d, err);
    r->data.dtype = whole.dtype;
    if (s == NMP_OK && !r->dist.slice_owned) { /* whole.m.x dies with `whole`: copy */
        size_t bytes = (size_t)(r->x.n * r->x.d) * sizeof(float);
        r->dist.slice_owned = malloc(bytes + 1);
        if (r->dist.slice_owned)
            memcpy(r->dist.slice_owned, r->x.x, bytes);
        else
            s = nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory for rows %lld..%lld", path,
                         (long long)r->dist.slice_begin, (long long)r->dist.slice_end);
        r->x.x = r->dist.slice_owned;
    }
    nmp_data_close(&whole);
    return s;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static nmp_status scale_slice(nmp_run *r, nmp_err *err)
{
    float s = (float)r->cfg->data.scale;
    if (s == 1.0f) return NMP_OK;
    int64_t len = r->x.n * r->x.d;
    if (!r->dist.slice_owned) {
        r->dist.slice_owned = malloc((size_t)len * sizeof(float) + 1);
        if (!r->dist.slice_owned) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory scaling the data");
        memcpy(r->dist.slice_owned, r->x.x, (size_t)len * sizeof(float));
        r->x.x = r->dist.slice_owned;
    }
    for (int64_t i = 0; i < len; i++) r->dist.slice_owned[i] *= s;
    return NMP_OK;
}

/* Every rank must have opened the same input (a config or file that differs per host would
 * otherwise give slices that overlap or leave rows out). */
static nmp_status same_input(nmp_run *r, nmp_err *err)
{
    nmp_dist *d = &r->dist;
    int64_t mine[2] = {d->n_total, r->x.d}, *all = malloc((size_t)d->ranks * sizeof mine);
    if (!all) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    nmp_status s = nmp_comm_allgather(d->comm, mine, all, sizeof mine, err);
    for (int p = 0; s == NMP_OK && p < d->ranks; p++)
        if (all[2 * p] != all[0] || all[2 * p + 1] != all[1])
            s = nmp_fail(
                err, NMP_ERR_INVALID,
                "%s: rank 0 read %lld x %lld but rank %d read %lld x %lld; every rank needs the same data.path "
                "and data.limit",
                r->cfg->data.path, (long long)all[0], (long long)all[1], p, (long long)all[2 * p],
                (long long)all[2 * p + 1]);
    free(all);
    return s;
}

static nmp_status read_slice(nmp_run *r, nmp_err *err)
{
    const char *path = r->cfg->data.path;
    nmp_data_format f = r->cfg->data.format;
    if (f == NMP_FMT_NPY || (f == NMP_FMT_AUTO && ends_with(path, ".npy") && !nmp_io_is_alias(path)))
        return slice_npy(r, path, err);
    if (f == NMP_FMT_RAW) return slice_raw(r, path, err);
    return slice_whole(r, path, err);
}

nmp_status nmp_dist_load(nmp_run *r, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    nmp_dist *d = &r->dist;
    nmp_status s = read_slice(r, err);
    if (s == NMP_OK) s = scale_slice(r, err);
    if (s == NMP_OK)
        s = nmp_io_check_values(c->data.path, &r->x, d->slice_begin, nmp_io_distance_bound(r->x.d), err);
    s = nmp_comm_agree(d->comm, s, err);
    if (s == NMP_OK) s = same_input(r, err);
    if (s == NMP_OK) s = nmp_stage_check_sizes(r, d->n_total, err);
    if (s == NMP_OK && d->ranks > r->cells_asked)
        s = nmp_fail(err, NMP_ERR_INVALID,
                     "distributed: %d ranks but partitioner.cells = %d; every rank needs a "
                     "whole cell (raise partitioner.cells or start fewer ranks)",
                     d->ranks, r->cells_asked);
    r->labels_path = c->data.labels[0] ? c->data.labels : nmp_data_default_labels(c->data.path);
    if (s == NMP_OK && d->rank == 0 && r->labels_path)
        s = nmp_labels_read_limit(r->labels_path, d->n_total, c->data.limit, &r->labels, err);
    if (s == NMP_OK) s = nmp_stage_check_memory(r, err);
    if (s == NMP_OK && d->rank == 0) {
        nmp_stage_log_memory(r, r->x.n, r->x.d);
        nmp_log(NMP_LOG_INFO, "data: %s: %lld x %lld (%s) over %d ranks, rank 0 read rows 0..%lld%s%s", c->data.path,
                (long long)d->n_total, (long long)r->x.d, r->data.dtype, d->ranks, (long long)d->slice_end,
                r->labels ? ", labels " : "", r->labels ? r->labels_path : "");
        s = nmp_outdir_open(&r->out, r->req->out_dir ? r->req->out_dir : c->output.dir, r->name, err);
        /* checked, then given back: a rank's failure can abort the job (MPI_Abort kills rank 0
         * too), which would leave a made and locked folder; made again by nmp_dist_outdir */
        if (s == NMP_OK) nmp_outdir_discard(&r->out);
    }
    return s;
}

nmp_status nmp_dist_outdir(nmp_run *r, nmp_err *err)
{
    if (r->dist.outdir_ready) return NMP_OK;
    char path[sizeof r->out.path];
    memcpy(path, r->out.path, sizeof path); /* already expanded: the same folder */
    nmp_status s = nmp_outdir_open(&r->out, path, r->name, err);
    r->dist.outdir_ready = s == NMP_OK;
    return s;
}

nmp_status nmp_dist_eval_data(nmp_run *r, nmp_matrix *x, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    nmp_data_opts o = nmp_config_data_opts(c);
    nmp_status s = nmp_data_open(c->data.path, &o, &r->dist.eval_data, err);
    if (s != NMP_OK) return s;
    *x = r->dist.eval_data.m;
    if (nmp_io_scale(x, c->data.scale, &r->dist.eval_scaled) != NMP_OK)
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory scaling the data for eval");
    return NMP_OK;
}
