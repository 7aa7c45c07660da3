/* Regular-file inputs (see input_file.h). */
#define _GNU_SOURCE
#include "input_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m)) return "is a directory";
    if (S_ISFIFO(m)) return "is a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m)) return "is a device";
    if (S_ISSOCK(m)) return "is a socket";
    return "is not a regular file";
}

int nmp_open_regular(const char *path, nmp_status *status, char *err, size_t err_len)
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
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *status = NMP_ERR_INVALID;
        snprintf(err, err_len, "%s; expected a regular file", fstat(fd, &st) != 0 ? strerror(errno) : kind_of(st.st_mode));
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *status = NMP_OK;
    return fd;
}
