/* Regular-file inputs (see input_file.h). */
#define _GNU_SOURCE
#include "input_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *nmp_file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    return "not a regular file";
}

int nmp_open_regular(const char *path, int64_t *size, nmp_status *status, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        *status = NMP_ERR_IO;
        snprintf(err, err_len, "cannot open: %s", strerror(e));
        errno = e; /* for callers that word it their own way */
        return -1;
    }
    struct stat st;
    const int stat_failed = fstat(fd, &st) != 0;
    if (stat_failed || !S_ISREG(st.st_mode)) {
        *status = stat_failed ? NMP_ERR_IO : NMP_ERR_INVALID;
        if (stat_failed) snprintf(err, err_len, "cannot read: %s", strerror(errno));
        else snprintf(err, err_len, "is %s; expected a regular file", nmp_file_kind(st.st_mode));
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (size) *size = (int64_t)st.st_size;
    *status = NMP_OK;
    return fd;
}

FILE *nmp_fopen_regular(const char *path, const char *mode, nmp_status *status, char *err, size_t err_len)
{
    int fd = nmp_open_regular(path, NULL, status, err, err_len);
    FILE *f = fd >= 0 ? fdopen(fd, mode) : NULL;
    if (fd >= 0 && !f) {
        close(fd);
        *status = NMP_ERR_NOMEM;
        snprintf(err, err_len, "out of memory");
    }
    return f;
}
