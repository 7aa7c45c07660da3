/* nmp_err helpers. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

nmp_status nmp_fail(nmp_err *err, nmp_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

int nmp_exit_code(nmp_status status)
{
    switch (status) {
    case NMP_OK: return 0;
    case NMP_ERR_INVALID:
    case NMP_ERR_IO:
    case NMP_ERR_UNSUPPORTED: return 2;
    default: return 1;
    }
}
