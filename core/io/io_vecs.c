/* Reads .fvecs / .bvecs (each row: int32 dim, then dim f32 or u8 values) into one f32
 * array; every row must have the dimension of row 0. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "io.h"
#include "npy_format.h"

static int32_t row_dim(const unsigned char *map, uint64_t offset)
{
    int32_t d;
    memcpy(&d, map + offset, sizeof d);
    return d;
}

/* Checks the layout: a valid first dim, the same dim on every whole row, no partial row. */
static nmp_status check_layout(const char *path, const unsigned char *map, size_t len, int bytes, int every_row,
                               int32_t *dim, int64_t *rows, nmp_err *err)
{
    if (len < 4)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: truncated data: expected at least 4 bytes, found %zu", path, len);
    int32_t d = row_dim(map, 0);
    if (d <= 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: row 0: dimension %d; expected a positive int32", path, (int)d);
    uint64_t row_bytes = 4 + (uint64_t)d * (uint64_t)bytes;
    int64_t n = (int64_t)(len / row_bytes), bad = n;
#pragma omp parallel for schedule(static) reduction(min : bad)
    for (int64_t i = 0; i < (every_row ? n : 0); i++) /* a probe reads row 0 only */
        if (row_dim(map, (uint64_t)i * row_bytes) != d && i < bad) bad = i;
    if (bad < n)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: row %lld: dimension %d, expected %d (that of row 0); all rows must match", path,
                        (long long)bad, (int)row_dim(map, (uint64_t)bad * row_bytes), (int)d);
    if (len % row_bytes != 0)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: truncated data: expected a multiple of %llu bytes (rows of 4 + %d x %d), found %zu "
                        "(row %lld is cut short)",
                        path, (unsigned long long)row_bytes, (int)d, bytes, len, (long long)n);
    *dim = d;
    *rows = n;
    return NMP_OK;
}

nmp_status nmp_io_read_vecs(const char *path, int bytes, int64_t limit, int header_only, nmp_dataset *out,
                            nmp_err *err)
{
    void *map;
    size_t len;
    char why[512];
    nmp_status s = nmp_map_file_readonly(path, &map, &len, why, sizeof why);
    if (s != NMP_OK) return nmp_fail(err, s, "%s: %s", path, why);
    int32_t d = 0;
    int64_t rows = 0;
    s = check_layout(path, map, len, bytes, !header_only, &d, &rows, err);
    int64_t n = limit > 0 && limit < rows ? limit : rows;
    if (s == NMP_OK && header_only) {
        out->m = (nmp_matrix){n, d, NULL};
        out->n_total = rows;
        out->dtype = bytes == 1 ? "u1" : "f4";
        munmap(map, len);
        return NMP_OK;
    }
    if (s == NMP_OK && !(out->owned = malloc((size_t)(n * d) * sizeof(float))))
        s = nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory for %lld x %d values", path, (long long)n, (int)d);
    if (s == NMP_OK) {
        const char *dtype = bytes == 1 ? "u1" : "f4";
        uint64_t row_bytes = 4 + (uint64_t)d * (uint64_t)bytes;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            nmp_io_to_f32_serial(dtype, (const unsigned char *)map + (uint64_t)i * row_bytes + 4, out->owned + i * d,
                                 d);
        out->m = (nmp_matrix){n, d, out->owned};
        out->n_total = rows;
        out->dtype = dtype;
    }
    munmap(map, len);
    return s;
}
