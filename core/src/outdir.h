/* The run directory: {date}/{name} expansion, creation, and removal of everything a
 * failed run wrote, so a failure never leaves partial output behind. */
#ifndef NOMAD_OUTDIR_H
#define NOMAD_OUTDIR_H

#include <stddef.h>

#include "error.h"

typedef struct {
    char path[4096];
    int created;   /* we made the directory (remove it on failure) */
    char **files;  /* files written so far (relative names), removed on failure */
    int n_files;
} nmp_outdir;

/* `pattern` with {date} (YYYYMMDD-HHMMSS, now) and {name} filled in, into out. */
void nmp_outdir_expand(const char *pattern, const char *name, char *out, size_t len);
/* mkdir -p: creates path and its parents (0 ok, an existing folder included; -1 with errno).
 * path is modified during the call and restored. */
int nmp_mkdir_p(char *path);

/* Expands {date} (YYYYMMDD-HHMMSS) and {name} in `pattern`, creates the directory (and its
 * parents). An existing directory is an error unless it is empty, so runs never mix. */
nmp_status nmp_outdir_open(nmp_outdir *o, const char *pattern, const char *name, nmp_err *err);
/* Full path of a file in the directory; records it for cleanup. */
const char *nmp_outdir_file(nmp_outdir *o, const char *name, char *buf, size_t len);
/* Removes recorded files (and the directory if we created it). */
void nmp_outdir_discard(nmp_outdir *o);
void nmp_outdir_close(nmp_outdir *o);

#endif
