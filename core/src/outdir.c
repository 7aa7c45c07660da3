/* Run directory management. */
#include "outdir.h"

#include <dirent.h>
#include <errno.h>
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

int nmp_mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0777);
        *p = '/';
        if (rc != 0 && errno != EEXIST) return -1;
    }
    return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
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
    struct stat st;
    if (stat(o->path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return nmp_fail(err, NMP_ERR_IO, "%s: output.dir exists and is not a directory", o->path);
        if (!is_empty_dir(o->path))
            return nmp_fail(err, NMP_ERR_IO, "%s: output.dir exists and is not empty; pick another --out", o->path);
        return NMP_OK;
    }
    if (nmp_mkdir_p(o->path) != 0) return nmp_fail(err, NMP_ERR_IO, "%s: cannot create output directory: %s", o->path, strerror(errno));
    o->created = 1;
    return NMP_OK;
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

void nmp_outdir_discard(nmp_outdir *o)
{
    char buf[8192];
    for (int i = o->n_files - 1; i >= 0; i--) {
        snprintf(buf, sizeof buf, "%s/%s", o->path, o->files[i]);
        unlink(buf);
        char *slash = strrchr(buf, '/');
        if (slash && strchr(o->files[i], '/')) { /* a file in a subfolder (snapshots/) */
            *slash = 0;
            rmdir(buf);
        }
    }
    if (o->created) rmdir(o->path);
    nmp_outdir_close(o);
}

void nmp_outdir_close(nmp_outdir *o)
{
    for (int i = 0; i < o->n_files; i++) free(o->files[i]);
    free(o->files);
    o->files = NULL;
    o->n_files = 0;
}
