/* One run of a sweep as a child process of the same program, so a crash or an exit in a run
 * cannot take the sweep (and the other runs' rows) down, and each run's peak memory is its
 * own. Also the clean-up of directories that interrupted runs left behind. */
#define _GNU_SOURCE /* strsignal */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"
#include "outdir.h"
#include "sweep.h"

extern char **environ;

/* The error a failed child recorded in its run.json ({"status": "failed", "error": ...}: what
 * `nomad run` writes under a sweep, see cli_run.c); 0 when it left none. */
static int recorded_error(const char *record_path, char *out, size_t size)
{
    nmp_sweep_result r = {0};
    nmp_err e = {0};
    if (nmp_sweep_failure_read(record_path, &r, &e) != NMP_OK) return 0;
    snprintf(out, size, "%s", r.error);
    return 1;
}

static nmp_status spawn(char *const *argv, const char *log_path, pid_t *pid, nmp_err *err)
{
    posix_spawn_file_actions_t actions;
    if (posix_spawn_file_actions_init(&actions)) return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
    int rc = posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (!rc) rc = posix_spawn_file_actions_addclose(&actions, 0); /* a run never reads stdin */
    if (!rc) rc = posix_spawn(pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc) return nmp_fail(err, NMP_ERR_RUNTIME, "sweep: cannot start %s: %s", argv[0], strerror(rc));
    return NMP_OK;
}

nmp_status nmp_sweep_exec(char *const *argv, const char *log_path, const char *record_path, nmp_sweep_result *result,
                          nmp_err *err)
{
    pid_t pid;
    double t0 = nmp_now();
    nmp_status s = spawn(argv, log_path, &pid, err);
    if (s) return s;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return nmp_fail(err, NMP_ERR_RUNTIME, "sweep: waiting for a run: %s", strerror(errno));
    result->wall_seconds = nmp_now() - t0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        result->state = NMP_SWEEP_OK;
        return NMP_OK;
    }
    result->state = NMP_SWEEP_FAILED;
    if (WIFSIGNALED(status))
        snprintf(result->error, sizeof result->error, "crashed: killed by signal %d (%s); log: %s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), log_path);
    else if (!recorded_error(record_path, result->error, sizeof result->error))
        snprintf(result->error, sizeof result->error, "exit status %d without an error record; log: %s",
                 WEXITSTATUS(status), log_path);
    return NMP_OK;
}

/* 1 if `name` is a file `nomad run` writes in a run directory (or its temp file), or in
 * snapshots/ when `in_snapshots`. */
static int run_output(const char *name, int in_snapshots)
{
    static const char *const top[] = {"embedding.npy",   "map.png",         "loss.csv",           "report.md",
                                      "snapshots",       NMP_OUTDIR_LOCK,   NMP_OUTDIR_RECORD,    NMP_OUTDIR_CHECKPOINT,
                                      NMP_OUTDIR_CONFIG};
    if (in_snapshots) return !strncmp(name, "epoch_", 6);
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        size_t n = strlen(top[i]);
        if (!strncmp(name, top[i], n) && (!name[n] || !strncmp(name + n, ".tmp.", 5))) return 1;
    }
    return 0;
}

/* Checks (remove = 0) or removes (remove = 1) what a run left in dir; *foreign gets the
 * first entry that is not a run's. */
static int sweep_entries(const char *dir, int in_snapshots, int remove, char *foreign, size_t size)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        int is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        if (!run_output(e->d_name, in_snapshots) || (is_dir && in_snapshots)) {
            snprintf(foreign, size, "%s", path);
            rc = 1;
        } else if (is_dir) {
            rc = sweep_entries(path, 1, remove, foreign, size);
            if (rc == 0 && remove && rmdir(path) != 0) rc = -1;
        } else if (remove && unlink(path) != 0) {
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

nmp_status nmp_sweep_remove_dir(const char *dir, nmp_err *err)
{
    long pid;
    int stale;
    if (nmp_outdir_lock_state(dir, &pid, &stale) == 1) /* a run of an earlier sweep still lives */
        return nmp_fail(err, NMP_ERR_INVALID, "%s: a nomad run (pid %ld) is still writing there; stop it first", dir,
                        pid);
    char foreign[4400] = "";
    int rc = sweep_entries(dir, 0, 0, foreign, sizeof foreign);
    if (rc == 1)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: holds what no run writes (%s); remove it yourself or pick another --out", dir, foreign);
    if (rc == 0) rc = sweep_entries(dir, 0, 1, foreign, sizeof foreign);
    if (rc == 0 && rmdir(dir) != 0) rc = -1;
    if (rc)
        return nmp_fail(err, NMP_ERR_IO, "%s: cannot remove what an interrupted run left there: %s", dir,
                        strerror(errno));
    return NMP_OK;
}
