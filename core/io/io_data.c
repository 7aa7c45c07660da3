/* nmp_data_open: picks the reader from the format (or the extension), then applies the
 * checks every input shares (at least one row and column, every value finite). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <stdlib.h>

#include "io.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static nmp_status detect_format(const char *path, nmp_data_format *fmt, nmp_err *err)
{
    if (nmp_io_is_alias(path) || ends_with(path, ".gz") || ends_with(path, ".idx") || ends_with(path, "-ubyte"))
        *fmt = NMP_FMT_IDX;
    else if (ends_with(path, ".npy"))
        *fmt = NMP_FMT_NPY;
    else if (ends_with(path, ".fvecs"))
        *fmt = NMP_FMT_FVECS;
    else if (ends_with(path, ".bvecs"))
        *fmt = NMP_FMT_BVECS;
    else
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: cannot tell the format from the extension (.npy .fvecs .bvecs .gz .idx -ubyte); "
                        "set data.format to npy, fvecs, bvecs, raw or idx",
                        path);
    return NMP_OK;
}

static nmp_status read_idx_or_alias(const char *path, int64_t limit, int header_only, nmp_dataset *out, nmp_err *err)
{
    nmp_io_files files = {1, {""}};
    nmp_status s = NMP_OK;
    if (nmp_io_is_alias(path))
        s = nmp_io_alias_files(path, 0, &files, err);
    else
        snprintf(files.path[0], sizeof files.path[0], "%s", path);
    const char *paths[NMP_IO_MAX_FILES];
    for (int i = 0; i < files.count; i++) paths[i] = files.path[i];
    return s ? s : nmp_io_read_idx(paths, files.count, limit, header_only, out, err);
}

static nmp_status read_format(const char *path, nmp_data_format fmt, const nmp_data_opts *o, nmp_dataset *out,
                              nmp_err *err)
{
    switch (fmt) {
    case NMP_FMT_NPY: return nmp_io_read_npy(path, o->limit, o->header_only, out, err);
    case NMP_FMT_FVECS: return nmp_io_read_vecs(path, 4, o->limit, o->header_only, out, err);
    case NMP_FMT_BVECS: return nmp_io_read_vecs(path, 1, o->limit, o->header_only, out, err);
    case NMP_FMT_RAW: return nmp_io_read_raw(path, o->raw_dim, o->limit, o->header_only, out, err);
    case NMP_FMT_IDX: return read_idx_or_alias(path, o->limit, o->header_only, out, err);
    default: return nmp_fail(err, NMP_ERR_INVALID, "%s: unknown data format %d", path, (int)fmt);
    }
}

nmp_status nmp_data_open(const char *path, const nmp_data_opts *opts, nmp_dataset *out, nmp_err *err)
{
    const nmp_data_opts none = {NMP_FMT_AUTO, 0, 0, 0};
    const nmp_data_opts *o = opts ? opts : &none;
    memset(out, 0, sizeof *out);
    if (!path || !*path) return nmp_fail(err, NMP_ERR_INVALID, "data path is empty");
    if (o->limit < 0) return nmp_fail(err, NMP_ERR_INVALID, "%s: limit %lld; expected >= 0", path, (long long)o->limit);
    if (snprintf(out->path, sizeof out->path, "%s", path) >= (int)sizeof out->path)
        return nmp_fail(err, NMP_ERR_INVALID, "%.64s...: path longer than %zu bytes", path, sizeof out->path - 1);
    nmp_data_format fmt = o->format;
    nmp_status s = fmt == NMP_FMT_AUTO ? detect_format(path, &fmt, err) : NMP_OK;
    if (s == NMP_OK) s = read_format(path, fmt, o, out, err);
    out->format = fmt;
    if (s == NMP_OK && o->raw_dim > 0 && fmt != NMP_FMT_RAW && out->m.d != o->raw_dim) /* it was ignored */
        s = nmp_fail(err, NMP_ERR_INVALID, "%s: data.dim = %lld, but the file's header says %lld columns (data.dim is "
                     "for raw f32 files; leave it 0)", path, (long long)o->raw_dim, (long long)out->m.d);
    if (s == NMP_OK && (out->m.n == 0 || out->m.d == 0))
        s = nmp_fail(err, NMP_ERR_INVALID, "%s: %lld rows x %lld columns; expected at least one of each", path,
                     (long long)out->m.n, (long long)out->m.d);
    if (s == NMP_OK && !o->header_only && strcmp(out->dtype, "u1") != 0)
        s = nmp_io_check_values(path, &out->m, 0, 0.0f, err);
    if (s != NMP_OK) nmp_data_close(out);
    return s;
}

nmp_status nmp_data_probe(const char *path, const nmp_data_opts *opts, nmp_dataset *out, nmp_err *err)
{
    nmp_data_opts o = opts ? *opts : (nmp_data_opts){NMP_FMT_AUTO, 0, 0, 0};
    o.header_only = 1;
    return nmp_data_open(path, &o, out, err);
}

double nmp_data_peak_bytes(const nmp_dataset *probed)
{
    const nmp_data_format format = probed->format;
    const double values = (double)probed->m.n * (double)probed->m.d;
    const double item = probed->dtype[1] == '1' ? 1 : probed->dtype[1] == '2' ? 2 : probed->dtype[1] == '8' ? 8 : 4;
    const int in_place = probed->dtype[1] == '4' && (format == NMP_FMT_NPY || format == NMP_FMT_RAW || format == NMP_FMT_MEMORY);
    /* in place: the mapping's pages, resident once read; else the f32 copy, and while it is
     * made the mapped source (npy, vecs; memory: the caller's) or a 1 MiB chunk (IDX, read through zlib) */
    if (in_place) return values * 4;
    return values * 4 + (format == NMP_FMT_IDX ? 1048576.0 : values * item);
}

void nmp_data_close(nmp_dataset *d)
{
    if (d->map) munmap(d->map, d->map_len);
    free(d->owned);
    memset(d, 0, sizeof *d);
}
