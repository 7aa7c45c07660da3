/* Run directory management. */
#include "outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void nmp_outdir_expand(const char *pattern, const char *name, char *out, size_t len)
{
    char date[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm);
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < len;) {
        const char *rep = NULL;
        if (strncmp(p, "{date}", 6) == 0) rep = date, p += 6;
        else if (strncmp(p, "{name}", 6) == 0) rep = name, p += 6;
        if (rep) o += (size_t)snprintf(out + o, len - o, "%s", rep);
        else out[o++] = *p++;
    }
    out[o < len ? o : len - 1] = 0;
}

/* mkdir -p that reports (in *existed, when not NULL) the length of the longest prefix of
 * path that was already there, so a failure or a discard can remove what it made. */
static int mkdir_parents(char *path, size_t *existed)
{
    size_t have = 0;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0777);
        *p = '/';
        if (rc != 0 && errno != EEXIST) return -1;
        if (rc != 0) have = (size_t)(p - path);
    }
    if (existed) *existed = have;
    return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

int nmp_mkdir_p(char *path) { return mkdir_parents(path, NULL); }

/* rmdir path, then its parents, down to (not including) the first `keep` characters. */
static void remove_made(char *path, size_t keep)
{
    if (rmdir(path) != 0) return;
    for (char *slash; (slash = strrchr(path, '/')) != NULL && (size_t)(slash - path) > keep;) {
        *slash = 0;
        if (rmdir(path) != 0) break;
    }
}

int nmp_outdir_lock_state(const char *dir, long *pid, int *stale)
{
    char path[PATH_MAX + 32], text[32] = "";
    *pid = 0, *stale = 0;
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_LOCK);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    ssize_t got = read(fd, text, sizeof text - 1);
    if (got > 0) text[got] = 0, *pid = atol(text);
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    *stale = !held;
    return held;
}

/* The lock of a folder we just found empty or made: O_EXCL, so of two runs that both saw
 * it empty exactly one gets it; then flock, which the kernel drops when we die. */
static nmp_status take_lock(nmp_outdir *o, nmp_err *err)
{
    char path[sizeof o->path + 32], pid[32];
    snprintf(path, sizeof path, "%s/%s", o->path, NMP_OUTDIR_LOCK);
    o->lock_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (o->lock_fd < 0 && errno == EEXIST)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: another nomad run took this output folder; pick another --out",
                        o->path);
    if (o->lock_fd < 0) return nmp_fail(err, NMP_ERR_IO, "%s: cannot create %s: %s", o->path, path, strerror(errno));
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (flock(o->lock_fd, LOCK_EX | LOCK_NB) != 0 || write(o->lock_fd, pid, (size_t)len) != len) {
        int e = errno;
        close(o->lock_fd), unlink(path);
        return nmp_fail(err, NMP_ERR_IO, "%s: cannot lock %s: %s", o->path, path, strerror(e));
    }
    o->locked = 1;
    return NMP_OK;
}

static int has_file(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Why a non-empty folder cannot take this run, in the words that help: busy, resumable,
 * killed, done. */
static nmp_status refuse_used(const nmp_outdir *o, nmp_err *err)
{
    long pid;
    int stale, held = nmp_outdir_lock_state(o->path, &pid, &stale);
    if (held == 1)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: another nomad run (pid %ld) is writing this folder; pick another --out",
                        o->path, pid);
    if (has_file(o->path, NMP_OUTDIR_CHECKPOINT) && !has_file(o->path, NMP_OUTDIR_RECORD))
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: holds a stopped run with a checkpoint; go on with `nomad run --resume %s`, or remove the "
                        "folder", o->path, o->path);
    if (stale)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: holds a run that was killed before it finished (its %s is left); remove the folder or "
                        "pick another --out", o->path, NMP_OUTDIR_LOCK);
    return nmp_fail(err, NMP_ERR_INVALID, "%s: output.dir exists and is not empty; pick another --out", o->path);
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    int empty = 1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

nmp_status nmp_outdir_open(nmp_outdir *o, const char *pattern, const char *name, nmp_err *err)
{
    memset(o, 0, sizeof *o);
    nmp_outdir_expand(pattern, name, o->path, sizeof o->path);
    /* room for the longest name a run writes inside (snapshots/epoch_NNNN.png.tmp.PID): a
     * cut path would otherwise show up only after the fit */
    if (strlen(o->path) + 48 >= PATH_MAX || strlen(o->path) + 1 >= sizeof o->path)
        return nmp_fail(err, NMP_ERR_INVALID, "%.64s...: output folder path is %zu bytes; the limit is %d",
                        o->path, strlen(o->path), PATH_MAX - 48);
    struct stat st;
    if (stat(o->path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return nmp_fail(err, NMP_ERR_IO, "%s: output.dir exists and is not a directory", o->path);
        if (!is_empty_dir(o->path)) return refuse_used(o, err);
        return take_lock(o, err);
    }
    if (mkdir_parents(o->path, &o->created_from) != 0) {
        nmp_status s = nmp_fail(err, NMP_ERR_IO, "%s: cannot create output directory: %s", o->path, strerror(errno));
        remove_made(o->path, o->created_from); /* the parents it did make */
        return s;
    }
    o->created = 1;
    nmp_status s = take_lock(o, err);
    if (s != NMP_OK) remove_made(o->path, o->created_from), o->created = 0;
    return s;
}

const char *nmp_outdir_file(nmp_outdir *o, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", o->path, name);
    for (int i = 0; i < o->n_files; i++)
        if (strcmp(o->files[i], name) == 0) return buf;
    char **grown = realloc(o->files, (size_t)(o->n_files + 1) * sizeof *grown);
    if (grown) {
        o->files = grown;
        o->files[o->n_files++] = strdup(name);
    }
    return buf;
}

nmp_status nmp_outdir_resume(nmp_outdir *o, const char *dir, const char *const keep[2], nmp_err *err)
{
    memset(o, 0, sizeof *o);
    if (snprintf(o->path, sizeof o->path, "%s", dir) >= (int)sizeof o->path || strlen(dir) + 48 >= PATH_MAX)
        return nmp_fail(err, NMP_ERR_INVALID, "%.64s...: path too long", dir);
    long pid;
    int stale, held = nmp_outdir_lock_state(dir, &pid, &stale);
    if (held == 1)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: a nomad run (pid %ld) is still writing this folder", dir, pid);
    char lock[PATH_MAX + 64];
    snprintf(lock, sizeof lock, "%s/%s", dir, NMP_OUTDIR_LOCK);
    if (stale) unlink(lock); /* its writer is gone (the kernel dropped its flock) */
    nmp_status s = take_lock(o, err);
    for (int i = 0; i < 2 && s == NMP_OK; i++) nmp_outdir_keep(o, keep[i]);
    return s;
}

void nmp_outdir_keep(nmp_outdir *o, const char *name)
{
    for (int i = 0; i < 2; i++) {
        if (o->keep[i] && !strcmp(o->keep[i], name)) return;
        if (!o->keep[i]) {
            o->keep[i] = strdup(name);
            return;
        }
    }
}

static int kept(const nmp_outdir *o, const char *name)
{
    return (o->keep[0] && !strcmp(o->keep[0], name)) || (o->keep[1] && !strcmp(o->keep[1], name));
}

static void release_lock(nmp_outdir *o)
{
    if (!o->locked) return;
    char path[sizeof o->path + 32];
    snprintf(path, sizeof path, "%s/%s", o->path, NMP_OUTDIR_LOCK);
    unlink(path); /* before close: while we hold it, nobody else may take the folder */
    close(o->lock_fd);
    o->locked = 0;
}

static void forget_files(nmp_outdir *o)
{
    free(o->keep[0]), free(o->keep[1]);
    o->keep[0] = o->keep[1] = NULL;
    for (int i = 0; i < o->n_files; i++) free(o->files[i]);
    free(o->files);
    o->files = NULL;
    o->n_files = 0;
}

void nmp_outdir_discard(nmp_outdir *o)
{
    char buf[8192];
    for (int i = o->n_files - 1; i >= 0; i--) {
        if (kept(o, o->files[i])) continue;
        snprintf(buf, sizeof buf, "%s/%s", o->path, o->files[i]);
        unlink(buf);
        char *slash = strrchr(buf, '/');
        if (slash && strchr(o->files[i], '/')) { /* a file in a subfolder (snapshots/) */
            *slash = 0;
            rmdir(buf);
        }
    }
    release_lock(o);
    if (o->created && !o->keep[0]) remove_made(o->path, o->created_from);
    o->created = 0;
    forget_files(o);
}

void nmp_outdir_close(nmp_outdir *o)
{
    release_lock(o);
    forget_files(o);
}
