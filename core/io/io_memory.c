/* Rows handed over in memory (io.h: nmp_data_wrap): what the C API gives the pipeline in
 * place of a file, with the same checks a file gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

/* The static dtype string nmp_dataset.dtype holds, or NULL when nomad reads no such type. */
static const char *known_dtype(const char *dtype)
{
    static const char *const types[] = {"f4", "f2", "f8", "u1"};
    for (size_t i = 0; dtype && i < sizeof types / sizeof *types; i++)
        if (strcmp(dtype, types[i]) == 0) return types[i];
    return NULL;
}

nmp_status nmp_data_wrap(const char *name, const void *values, const char *dtype, int64_t n, int64_t d,
                         const nmp_data_opts *opts, nmp_dataset *out, nmp_err *err)
{
    memset(out, 0, sizeof *out);
    const int64_t limit = opts ? opts->limit : 0;
    const int header_only = opts && opts->header_only;
    snprintf(out->path, sizeof out->path, "%s", name);
    out->format = NMP_FMT_MEMORY;
    if (!(out->dtype = known_dtype(dtype)))
        return nmp_fail(err, NMP_ERR_INVALID, "%s: values of type %s; expected float32, float16, float64 or uint8", name,
                        dtype ? dtype : "(none)");
    if (n < 1 || d < 1 || (!values && !header_only))
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld rows x %lld columns; expected at least one of each", name,
                        (long long)n, (long long)d);
    if (limit < 0) return nmp_fail(err, NMP_ERR_INVALID, "%s: limit %lld; expected >= 0", name, (long long)limit);
    out->n_total = n;
    out->m.n = limit > 0 && limit < n ? limit : n;
    out->m.d = d;
    if (header_only) return NMP_OK;
    if (out->dtype[1] == '4') {
        out->m.x = values;
    } else {
        const size_t count = (size_t)out->m.n * (size_t)d;
        if (count > SIZE_MAX / sizeof(float) || !(out->owned = malloc(count * sizeof(float)))) {
            nmp_data_close(out);
            return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory converting %lld x %lld values to float32", name,
                            (long long)out->m.n, (long long)d);
        }
        nmp_io_to_f32(out->dtype, values, out->owned, (int64_t)count);
        out->m.x = out->owned;
    }
    nmp_status s = strcmp(out->dtype, "u1") ? nmp_io_check_values(name, &out->m, 0, 0.0f, err) : NMP_OK;
    if (s != NMP_OK) nmp_data_close(out);
    return s;
}
