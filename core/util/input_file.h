/* Opening an input (data, labels, config, IDX) so that only a regular file is read: a FIFO
 * would block open() for ever, a directory or a device would give a misleading "empty file"
 * or a parse error. Shared by the core and plugins. */
#ifndef NOMAD_INPUT_FILE_H
#define NOMAD_INPUT_FILE_H

#include <stddef.h>

#include "nomad/types.h"

/* Opens path read-only (close-on-exec) without blocking, checks it is a regular file and
 * returns the descriptor, in blocking mode again. On failure returns -1 and sets *status
 * (NMP_ERR_IO: cannot open; NMP_ERR_INVALID: not a regular file) and err to "cannot open: <why>"
 * or "is a directory" / "is a FIFO" / "is a device" / "is a socket" / "is not a regular file"
 * (no path: the caller names the file); errno is open()'s when it failed. */
int nmp_open_regular(const char *path, nmp_status *status, char *err, size_t err_len);

#endif
