/* Opening an input (data, labels, config, IDX) so that only a regular file is read: a FIFO
 * would block open() for ever, a directory or a device would give a misleading "empty file"
 * or a parse error. Shared by the core and plugins. */
#ifndef NOMAD_INPUT_FILE_H
#define NOMAD_INPUT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "nomad/types.h"

/* What a file of this mode is, for messages: "a directory", "a FIFO", "a symbolic link",
 * "a socket", "a device", else "not a regular file" (read as "PATH: is ..."). */
const char *nmp_file_kind(mode_t mode);

/* Opens path read-only (close-on-exec) without blocking, checks it is a regular file and
 * returns the descriptor, in blocking mode again, with its size in *size (if not NULL). On
 * failure returns -1 and sets *status (NMP_ERR_IO: cannot open; NMP_ERR_INVALID: not a regular
 * file) and err to "cannot open: <why>" or "is a directory; expected a regular file" and the
 * like (no path: the caller names the file); errno is open()'s when it failed. */
int nmp_open_regular(const char *path, int64_t *size, nmp_status *status, char *err, size_t err_len);

/* The same as a FILE* opened with `mode` ("r" or "rb"); NULL on failure, as above (or
 * NMP_ERR_NOMEM, "out of memory"). */
FILE *nmp_fopen_regular(const char *path, const char *mode, nmp_status *status, char *err, size_t err_len);

#endif
