/* The run directory: {date}/{name} expansion, creation, and removal of everything a
 * failed run wrote, so a failure never leaves partial output behind. */
#ifndef NOMAD_OUTDIR_H
#define NOMAD_OUTDIR_H

#include <stddef.h>

#include "error.h"
#include "json_read.h"

/* The lock file of a run folder: created (O_EXCL) when the run opens the folder and held
 * with flock until the process ends, removed when the run finishes or fails. One left
 * behind that nobody holds marks a run that was killed (SIGKILL, power) before its end. */
#define NMP_OUTDIR_LOCK ".nomad.lock"

/* The files of a run folder whose names other parts look for: the run record (a finished
 * or failed run), and the checkpoint with the resolved config it must be resumed with. */
#define NMP_OUTDIR_RECORD "run.json"
#define NMP_OUTDIR_CHECKPOINT "checkpoint.bin"
#define NMP_OUTDIR_CONFIG "config.yaml"

typedef struct {
    char path[4096];
    int created;   /* we made the directory (remove it on failure) */
    size_t created_from; /* length of the longest prefix of path that existed before us */
    int locked, lock_fd; /* NMP_OUTDIR_LOCK, held (flock) while the run writes */
    char **files;  /* files written so far (relative names), removed on failure */
    int n_files;
    char *keep[2]; /* files a failure leaves (a checkpoint and its config), or NULL */
} nmp_outdir;

/* `pattern` with {date} (YYYYMMDD-HHMMSS, now) and {name} filled in, into out. */
void nmp_outdir_expand(const char *pattern, const char *name, char *out, size_t len);
/* mkdir -p: creates path and its parents (0 ok, an existing folder included; -1 with errno).
 * path is modified during the call and restored. */
int nmp_mkdir_p(char *path);

/* Expands {date} (YYYYMMDD-HHMMSS) and {name} in `pattern`, creates the directory (and its
 * parents) and takes its lock. An existing directory is an error unless it is empty, so runs
 * never mix; the error says when another run is writing there or one was killed there. */
nmp_status nmp_outdir_open(nmp_outdir *o, const char *pattern, const char *name, nmp_err *err);
/* Full path of a file in the directory; records it for cleanup. */
const char *nmp_outdir_file(nmp_outdir *o, const char *name, char *buf, size_t len);
/* Opens the folder of a stopped run to go on with it (nmp_run_resume_check has looked at
 * it): refused while a live run holds it, a stale lock taken over; `keep` (its checkpoint and
 * config) survive a failure. */
nmp_status nmp_outdir_resume(nmp_outdir *o, const char *dir, const char *const keep[2], nmp_err *err);
/* Marks a file (relative name) that a failure must leave in place: up to two. */
void nmp_outdir_keep(nmp_outdir *o, const char *name);
/* Removes recorded files but the kept ones, the lock, and the directory and parents if we
 * created them (and nothing is kept). */
void nmp_outdir_discard(nmp_outdir *o);
/* Ends a finished run: removes the lock (the outputs stay). */
void nmp_outdir_close(nmp_outdir *o);
/* A run record read back (*out: its JSON, free with nmp_jv_free), its "status" checked to be
 * `status` ("ok": a finished run, "failed": a failure the sweep recorded; NULL: any). A file
 * that is not whole JSON, or another status, is an error naming it. */
nmp_status nmp_outdir_read_record(const char *path, const char *status, nmp_jv **out, nmp_err *err);
/* Whether the folder's lock is held by a live nomad process: 1 (its pid in *pid), 0 (no
 * lock, or a stale one: *stale = 1), -1 on error. */
int nmp_outdir_lock_state(const char *dir, long *pid, int *stale);

#endif
