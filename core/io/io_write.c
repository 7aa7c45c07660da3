/* Output files written atomically (temp file, fsync, rename), and .npy arrays on top of it,
 * so a crash or a full disk never leaves a half-written embedding.npy or run.json. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input_file.h"
#include "io.h"
#include "npy_format.h"

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        size_t chunk = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30); /* some kernels cap one write */
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Makes the rename itself durable; best effort (some filesystems refuse fsync on a folder). */
static void sync_parent_dir(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

nmp_status nmp_output_replaceable(const char *path, nmp_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISREG(st.st_mode)) return NMP_OK; /* absent (or unreadable: open says why) */
    return nmp_fail(err, NMP_ERR_INVALID, "%s: is %s; an output never replaces anything but a regular file", path,
                    nmp_file_kind(st.st_mode));
}

nmp_status nmp_write_failure(int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT || errnum == EIO || errnum == EFBIG ? NMP_ERR_RUNTIME : NMP_ERR_IO;
}

nmp_status nmp_file_write_atomic_parts(const char *path, const void *const *bufs, const size_t *lens, int count,
                                       nmp_err *err)
{
    nmp_status ok = nmp_output_replaceable(path, err);
    if (ok != NMP_OK) return ok;
    char tmp[4096 + 32];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return nmp_fail(err, NMP_ERR_INVALID, "%.64s...: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return nmp_fail(err, nmp_write_failure(errno), "%s: cannot create temporary file %s: %s", path, tmp,
                        strerror(errno));
    const char *step = NULL;
    errno = 0;
    for (int i = 0; i < count && !step; i++)
        if (lens[i] && write_all(fd, bufs[i], lens[i]) != 0) step = "write";
    if (step && errno == 0) errno = EIO; /* a write of 0 bytes sets none */
    if (!step && fsync(fd) != 0) step = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !step) step = "close", saved = errno;
    if (!step && rename(tmp, path) != 0) step = "rename", saved = errno;
    if (step) {
        unlink(tmp);
        return nmp_fail(err, nmp_write_failure(saved), "%s: %s failed: %s", path, step, strerror(saved));
    }
    sync_parent_dir(path);
    return NMP_OK;
}

nmp_status nmp_file_write_atomic(const char *path, const void *buf, size_t len, nmp_err *err)
{
    const void *bufs[1] = {buf};
    return nmp_file_write_atomic_parts(path, bufs, &len, 1, err);
}

nmp_status nmp_npy_write(const char *path, const void *data, const char *descr, int64_t rows, int64_t cols,
                         nmp_err *err)
{
    nmp_npy_header h;
    char header[512], why[256];
    int64_t shape[2] = {rows, cols};
    int ndim = cols == 0 ? 1 : 2;
    size_t hlen = rows >= 0 && cols >= 0 ? nmp_npy_write_header(header, sizeof header, descr, ndim, shape) : 0;
    /* parse what we wrote: catches a bad descr before any file is touched */
    if (hlen == 0 || nmp_npy_parse_header(header, hlen, &h, why, sizeof why) != NMP_OK || !h.kind)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: cannot write .npy with dtype '%s' and shape (%lld, %lld)", path,
                        descr ? descr : "(null)", (long long)rows, (long long)cols);
    const void *bufs[2] = {header, data};
    size_t lens[2] = {hlen, (size_t)h.count * (size_t)h.item_size};
    return nmp_file_write_atomic_parts(path, bufs, lens, 2, err);
}
