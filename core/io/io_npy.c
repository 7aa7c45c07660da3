/* Reads a .npy data matrix (<f4, <f2, <f8, |u1; 1-D or 2-D): <f4 is used in place in the
 * mapping, the other types are converted to one f32 array. */
#include <stdlib.h>
#include <sys/mman.h>

#include "io.h"
#include "npy_format.h"

#define NPY_DATA_DTYPES "<f4 <f2 <f8 |u1"

static const char *short_dtype(const nmp_npy_header *h)
{
    if (h->kind == 'u') return "u1";
    return h->item_size == 2 ? "f2" : h->item_size == 8 ? "f8" : "f4";
}

/* Keeps the mapping as the matrix when the data is f32 at a 4-byte aligned offset (numpy
 * writes 16- or 64-aligned headers), else converts the kept rows into out->owned. */
static nmp_status take_values(const char *path, nmp_npy_map *m, int64_t n, nmp_dataset *out, nmp_err *err)
{
    out->dtype = short_dtype(&m->header);
    out->m.n = n;
    out->m.d = m->cols;
    if (out->dtype[1] == '4' && m->header.data_offset % sizeof(float) == 0) {
        out->m.x = m->data;
        out->map = m->map;
        out->map_len = m->map_len;
        return NMP_OK; /* the dataset owns the mapping now */
    }
    out->owned = malloc((size_t)(n * m->cols) * sizeof(float));
    if (!out->owned) {
        nmp_npy_unmap(m);
        return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory converting %lld x %lld values to f32", path,
                        (long long)n, (long long)m->cols);
    }
    nmp_io_to_f32(out->dtype, m->data, out->owned, n * m->cols);
    out->m.x = out->owned;
    nmp_npy_unmap(m);
    return NMP_OK;
}

nmp_status nmp_io_read_npy(const char *path, int64_t limit, int header_only, nmp_dataset *out, nmp_err *err)
{
    nmp_npy_map m;
    char why[512];
    nmp_status s = nmp_npy_map_file(path, &m, why, sizeof why);
    if (s == NMP_OK) s = nmp_npy_expect(&m.header, NPY_DATA_DTYPES, 2, why, sizeof why);
    if (s != NMP_OK) {
        nmp_npy_unmap(&m);
        return nmp_fail(err, s, "%s: %s", path, why);
    }
    if (m.rows == 0 || m.cols == 0) {
        nmp_fail(err, NMP_ERR_INVALID, "%s: shape (%lld, %lld) has 0 %s; expected at least one", path,
                 (long long)m.rows, (long long)m.cols, m.rows == 0 ? "rows" : "columns");
        nmp_npy_unmap(&m);
        return NMP_ERR_INVALID;
    }
    out->n_total = m.rows;
    if (header_only) { /* the mapping touched no page of the values */
        out->dtype = short_dtype(&m.header);
        out->m = (nmp_matrix){limit > 0 && limit < m.rows ? limit : m.rows, m.cols, NULL};
        nmp_npy_unmap(&m);
        return NMP_OK;
    }
    return take_values(path, &m, limit > 0 && limit < m.rows ? limit : m.rows, out, err);
}
