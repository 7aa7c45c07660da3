/* nomad's C API: a fit and a transform in the calling process, on rows already in memory.
 * It is what the Python package calls (python/nomad/_lib.py, through ctypes) and what any C
 * program may link (libnomad.so). Every call is `nomad run` / `nomad transform` without the
 * files: the same config keys, checks, run folder and exit codes (0 ok, 1 the machine's fault,
 * 2 bad input, 128 + signal when stopped), with the one-line message in msg instead of on
 * stderr. Calls are not reentrant: one at a time per process. */
#ifndef NOMAD_API_H
#define NOMAD_API_H

#include <stddef.h>
#include <stdint.h>

#define NOMAD_API_ABI 1 /* bumped when a signature below changes */

#define NOMAD_API_VERBOSE 1 /* progress and info lines on stderr (else warnings and errors only) */
#define NOMAD_API_SIGNALS 2 /* SIGINT/SIGTERM stop the call at the next epoch (exit code 128 + signal);
                               the caller's handlers are put back when it returns */

/* NOMAD_API_ABI of the library. */
int nomad_api_abi(void);
/* "VERSION (git HASH)". */
const char *nomad_api_version(void);

/* Fits the config at config_path (with `key=value` sets applied in order) to the n x d
 * row-major values x of dtype "f4", "f2", "f8" or "u1" (f4 is read in place, never copied),
 * with n int32 labels or NULL, writing the run folder out_dir (empty or absent; it holds
 * embedding.npy, run.json, config.yaml, ... as after `nomad run --out out_dir`). The config's
 * data.path only names the rows in messages and the record; data.limit still applies. */
int nomad_api_fit(const char *config_path, const char *const *sets, int n_sets, const void *x, const char *dtype,
                  int64_t n, int64_t d, const int32_t *labels, const char *out_dir, int flags, char *msg,
                  size_t msg_len);

/* Places n_new rows x_new (d_new columns, dtype as above) on the finished map in run_dir
 * without moving it, into y_new (n_new x dims floats, caller-owned; dims must be the run's).
 * sets: transform.* and threads only. The training rows x (n x d) and their layout y
 * (n x dims) may be given in memory; NULL reads the config's data.path and embedding.npy. */
int nomad_api_transform(const char *run_dir, const char *const *sets, int n_sets, const void *x, const char *dtype,
                        int64_t n, int64_t d, const float *y, const void *x_new, const char *new_dtype, int64_t n_new,
                        int64_t d_new, float *y_new, int64_t dims, int flags, char *msg, size_t msg_len);

/* Rewrites the config file at path (a run folder's config.yaml) with sets applied, resolved
 * and complete, atomically: a saved run folder naming where its data went. */
int nomad_api_config_set(const char *path, const char *const *sets, int n_sets, char *msg, size_t msg_len);

#endif
