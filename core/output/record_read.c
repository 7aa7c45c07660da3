/* See outdir.h: a run record read back, for the parts that build on a run (view, transform,
 * the sweep's tables and resume). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "outdir.h"

nmp_status nmp_outdir_read_record(const char *path, const char *status, nmp_jv **out, nmp_err *err)
{
    char *text = NULL, why[256];
    int64_t len = 0;
    *out = NULL;
    nmp_status s = nmp_file_read_all(path, &text, &len, err);
    if (s == NMP_OK && nmp_jv_parse(text, (size_t)len, out, why, sizeof why))
        s = nmp_fail(err, NMP_ERR_INVALID, "%s: not a complete run record: %s", path, why);
    free(text);
    const char *have = s == NMP_OK && status ? nmp_jv_string_at(*out, "status") : NULL;
    if (s != NMP_OK || !status || (have && !strcmp(have, status))) return s;
    nmp_fail(err, NMP_ERR_INVALID, "%s: status is %s%s%s, not \"%s\"", path, have ? "\"" : "", have ? have : "missing",
             have ? "\"" : "", status);
    nmp_jv_free(*out);
    *out = NULL;
    return NMP_ERR_INVALID;
}
