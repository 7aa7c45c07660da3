/* Error values for core code: a status plus a one-line message naming the file, the place
 * and what was expected. Core functions never print or exit; the CLI does. */
#ifndef NOMAD_ERROR_H
#define NOMAD_ERROR_H

#include "nomad/types.h"

#define NMP_ERR_MSG_MAX 2048

typedef struct {
    nmp_status status;
    char msg[NMP_ERR_MSG_MAX];
} nmp_err;

/* Sets err (if not NULL) and returns `status`, so callers write `return nmp_fail(err, ...)`. */
nmp_status nmp_fail(nmp_err *err, nmp_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Exit code for a status: 0 ok, 2 bad input (INVALID, IO, UNSUPPORTED), 1 otherwise. */
int nmp_exit_code(nmp_status status);

#endif
