/* Reads MNIST-style IDX files of unsigned bytes (0x00000803 images, 0x00000801 labels),
 * plain or gzip-compressed (zlib reads both), several files one after another. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "input_file.h"
#include "io.h"

#define IDX_CHUNK (1 << 20) /* bytes decompressed per gzread */

typedef struct {
    gzFile f;
    int ndim;
    int64_t n;     /* first dimension */
    int64_t width; /* product of the others (1 for labels) */
} idx_file;

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Opens path and reads its header; want_ndim 0 accepts 1..4 dimensions. */
static nmp_status idx_open(const char *path, int want_ndim, idx_file *x, nmp_err *err)
{
    memset(x, 0, sizeof *x);
    char why[160];
    nmp_status st;
    int fd = nmp_open_regular(path, NULL, &st, why, sizeof why);
    if (fd < 0) return nmp_fail(err, st, "%s: %s", path, why);
    if (!(x->f = gzdopen(fd, "rb"))) {
        close(fd);
        return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory", path);
    }
    unsigned char b[4 * 5];
    int got = gzread(x->f, b, 4);
    if (got == 0) return nmp_fail(err, NMP_ERR_INVALID, "%s: empty file (0 bytes)", path);
    if (got != 4 || b[0] || b[1] || b[2] != 0x08 || b[3] < 1 || b[3] > 4 || (want_ndim && b[3] != want_ndim))
        return nmp_fail(err, NMP_ERR_INVALID, "%s: bad magic 0x%08x: expected an IDX file of unsigned bytes (%s)", path,
                        got == 4 ? be32(b) : 0u, want_ndim == 1 ? "0x00000801, labels" : "0x00000803, images");
    x->ndim = b[3];
    if (gzread(x->f, b + 4, (unsigned)(4 * x->ndim)) != 4 * x->ndim)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: truncated header: expected %d dimension sizes", path, x->ndim);
    x->n = be32(b + 4);
    x->width = 1;
    for (int i = 1; i < x->ndim; i++) {
        x->width *= be32(b + 4 + 4 * i);
        if (x->width > INT32_MAX)
            return nmp_fail(err, NMP_ERR_INVALID, "%s: header: rows wider than 2^31 values", path);
    }
    return NMP_OK;
}

static void idx_close(idx_file *x)
{
    if (x->f) gzclose(x->f);
    x->f = NULL;
}

/* A destination that grows as values arrive: a header is only a claim, and a file that
 * promises 10^12 values but holds a few must cost a few, not a 4 TB allocation. */
typedef struct {
    void *buf;
    int64_t cap, max; /* values allocated; the most the headers promise */
    int labels;       /* int32 values (labels), else f32 */
} idx_sink;

static int sink_reserve(idx_sink *k, int64_t need)
{
    if (need <= k->cap) return 0;
    int64_t cap = k->cap ? k->cap : 1 << 20;
    while (cap < need) cap *= 2;
    if (cap > k->max) cap = k->max;
    void *grown = realloc(k->buf, (size_t)cap * 4 + 1); /* f32 or int32 */
    if (!grown) return -1;
    k->buf = grown, k->cap = cap;
    return 0;
}

/* Reads the next `count` byte values into the sink from value `at` on (as f32 or int32), a
 * chunk at a time so a compressed file is never held whole. */
static nmp_status idx_read_values(const char *path, idx_file *x, int64_t count, idx_sink *k, int64_t at, nmp_err *err)
{
    unsigned char *chunk = malloc(IDX_CHUNK);
    if (!chunk) return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory", path);
    int64_t done = 0;
    nmp_status s = NMP_OK;
    while (done < count) {
        unsigned want = (unsigned)(count - done < IDX_CHUNK ? count - done : IDX_CHUNK);
        int got = gzread(x->f, chunk, want);
        if (got > 0 && sink_reserve(k, at + done + got) != 0) {
            s = nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory for %lld values", path, (long long)(at + done + got));
            break;
        }
        if (got > 0 && !k->labels) nmp_io_to_f32_serial("u1", chunk, (float *)k->buf + at + done, got);
        for (int i = 0; k->labels && i < got; i++) ((int32_t *)k->buf)[at + done + i] = chunk[i];
        if (got > 0) done += got;
        if (got != (int)want) break;
    }
    free(chunk);
    if (s != NMP_OK) return s;
    int zerr = Z_OK;
    const char *zmsg = gzerror(x->f, &zerr);
    if (zerr != Z_OK && zerr != Z_BUF_ERROR && zerr != Z_STREAM_END)
        return nmp_fail(err, NMP_ERR_IO, "%s: cannot decompress: %s", path, zmsg);
    if (done < count)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: truncated data: expected %lld bytes of values, found %lld", path,
                        (long long)count, (long long)done);
    return NMP_OK;
}

/* Opens every file and checks they agree on the row width; returns the total row count. */
static nmp_status idx_open_all(const char *const *paths, int count, int want_ndim, idx_file *files, int64_t *total,
                               nmp_err *err)
{
    *total = 0;
    for (int i = 0; i < count; i++) {
        nmp_status s = idx_open(paths[i], want_ndim, &files[i], err);
        if (s) return s;
        if (files[i].n == 0 || files[i].width == 0)
            return nmp_fail(err, NMP_ERR_INVALID, "%s: header: 0 rows or 0 columns; expected at least one", paths[i]);
        if (i > 0 && files[i].width != files[0].width)
            return nmp_fail(err, NMP_ERR_INVALID, "%s: rows of %lld values, expected %lld like %s", paths[i],
                            (long long)files[i].width, (long long)files[0].width, paths[0]);
        *total += files[i].n;
    }
    return NMP_OK;
}

nmp_status nmp_io_read_idx(const char *const *paths, int count, int64_t limit, int header_only, nmp_dataset *out,
                           nmp_err *err)
{
    idx_file files[NMP_IO_MAX_FILES] = {0};
    int64_t total = 0;
    nmp_status s = count > NMP_IO_MAX_FILES ? nmp_fail(err, NMP_ERR_INVALID, "too many IDX files")
                                            : idx_open_all(paths, count, 0, files, &total, err);
    int64_t n = limit > 0 && limit < total ? limit : total, w = files[0].width;
    if (s == NMP_OK && header_only) {
        for (int i = 0; i < count; i++) idx_close(&files[i]);
        out->m = (nmp_matrix){n, w, NULL};
        out->n_total = total;
        out->dtype = "u1";
        return NMP_OK;
    }
    idx_sink k = {.max = n * w};
    int64_t row = 0;
    for (int i = 0; i < count && s == NMP_OK && row < n; i++) {
        int64_t take = files[i].n < n - row ? files[i].n : n - row;
        s = idx_read_values(paths[i], &files[i], take * w, &k, row * w, err);
        row += take;
    }
    for (int i = 0; i < count && i < NMP_IO_MAX_FILES; i++) idx_close(&files[i]);
    out->owned = k.buf;
    if (s != NMP_OK) {
        free(out->owned);
        out->owned = NULL;
        return s;
    }
    out->m = (nmp_matrix){n, w, out->owned};
    out->n_total = total;
    out->dtype = "u1";
    return NMP_OK;
}

nmp_status nmp_io_read_idx_labels(const char *const *paths, int count, int32_t **labels, int64_t *n, nmp_err *err)
{
    idx_file files[NMP_IO_MAX_FILES] = {0};
    int64_t total = 0;
    *labels = NULL;
    nmp_status s = count > NMP_IO_MAX_FILES ? nmp_fail(err, NMP_ERR_INVALID, "too many IDX files")
                                            : idx_open_all(paths, count, 1, files, &total, err);
    idx_sink k = {.max = total, .labels = 1};
    for (int64_t i = 0, row = 0; i < count && s == NMP_OK; row += files[i].n, i++)
        s = idx_read_values(paths[i], &files[i], files[i].n, &k, row, err);
    *labels = k.buf;
    for (int i = 0; i < count && i < NMP_IO_MAX_FILES; i++) idx_close(&files[i]);
    if (s != NMP_OK) {
        free(*labels);
        *labels = NULL;
        return s;
    }
    *n = total;
    return NMP_OK;
}
