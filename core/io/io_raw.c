/* Reads a headerless file of little-endian f32 values with a given number of columns; the
 * matrix points into the mapping. */
#include <sys/mman.h>

#include "io.h"
#include "npy_format.h"

nmp_status nmp_io_read_raw(const char *path, int64_t dim, int64_t limit, int header_only, nmp_dataset *out, nmp_err *err)
{
    if (dim <= 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: raw f32 input needs its column count (data.dim > 0), got %lld", path,
                        (long long)dim);
    void *map;
    size_t len;
    char why[512];
    nmp_status s = nmp_map_file_readonly(path, &map, &len, why, sizeof why);
    if (s != NMP_OK) return nmp_fail(err, s, "%s: %s", path, why);
    uint64_t row_bytes = (uint64_t)dim * sizeof(float);
    if (len % row_bytes != 0) {
        munmap(map, len);
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: truncated data: raw f32 with %lld columns needs a multiple of %llu bytes, found %zu "
                        "(%llu whole rows + %llu bytes)",
                        path, (long long)dim, (unsigned long long)row_bytes, len, (unsigned long long)(len / row_bytes),
                        (unsigned long long)(len % row_bytes));
    }
    out->n_total = (int64_t)(len / row_bytes);
    out->m.n = limit > 0 && limit < out->n_total ? limit : out->n_total;
    out->m.d = dim;
    out->dtype = "f4";
    if (header_only) {
        munmap(map, len);
        return NMP_OK;
    }
    out->m.x = map;
    out->map = map;
    out->map_len = len;
    return NMP_OK;
}
