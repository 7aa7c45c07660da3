/* Test helpers for test_io.c: a scratch folder per test and writers of good and broken input
 * files (.npy with any header, .fvecs/.bvecs, IDX plain or gzip), made at test time. */
#ifndef NOMAD_TEST_IO_FIXTURES_H
#define NOMAD_TEST_IO_FIXTURES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The scratch folder, made by fx_setup and removed (with its files) by fx_teardown. */
static char fx_dir[256];

static inline int fx_setup(void **state)
{
    (void)state;
    snprintf(fx_dir, sizeof fx_dir, "/tmp/nomad_test_io_XXXXXX");
    return mkdtemp(fx_dir) ? 0 : -1;
}

static inline int fx_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* fx_dir/name in a static buffer (one of four, so a call may use a few at once). */
static inline const char *fx_path(const char *name)
{
    static char bufs[4][512];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", fx_dir, name);
    return p;
}

static inline const char *fx_write(const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
    const char *path = fx_path(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (alen) assert_int_equal(fwrite(a, 1, alen, f), alen);
    if (blen) assert_int_equal(fwrite(b, 1, blen, f), blen);
    assert_int_equal(fclose(f), 0);
    return path;
}

static inline const char *fx_write_text(const char *name, const char *text)
{
    return fx_write(name, text, strlen(text), NULL, 0);
}

/* A .npy of the given version with `dict` as header, padded so the data starts at a
 * multiple of `align` plus `skew` bytes (numpy itself: align 64 or 16, skew 0). */
static inline const char *fx_npy(const char *name, int version, const char *dict, int align, int skew, const void *data,
                                 size_t len)
{
    unsigned char head[1024];
    size_t prefix = version == 1 ? 10 : 12, n = strlen(dict);
    size_t total = (prefix + n + 1 + (size_t)align - 1) / (size_t)align * (size_t)align + (size_t)skew;
    assert_true(total <= sizeof head);
    memcpy(head, "\x93NUMPY", 6);
    head[6] = (unsigned char)version;
    head[7] = 0;
    size_t hlen = total - prefix;
    for (size_t i = 0; i < prefix - 8; i++) head[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(head + prefix, dict, n);
    memset(head + prefix + n, ' ', total - prefix - n - 1);
    head[total - 1] = '\n';
    return fx_write(name, head, total, data, len);
}

/* The usual header dict for descr and a shape text such as "(3, 2)". */
static inline const char *fx_dict(const char *descr, const char *fortran, const char *shape)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran, shape);
    return buf;
}

/* Cuts the last `bytes` bytes off a file (for truncated-data cases). */
static inline void fx_cut(const char *path, long bytes)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - bytes), 0);
}

/* .fvecs (bytes 4) or .bvecs (bytes 1) of n rows: row i has dims[i] values from `values`. */
static inline const char *fx_vecs(const char *name, int bytes, int64_t n, const int32_t *dims, const void *values)
{
    const char *path = fx_path(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const unsigned char *v = values;
    for (int64_t i = 0; i < n; i++) {
        fwrite(&dims[i], 4, 1, f);
        fwrite(v, (size_t)bytes, (size_t)dims[i], f);
        v += (size_t)bytes * (size_t)dims[i];
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

/* An IDX file of unsigned bytes: magic 0x0000080<ndim>, big-endian dims, `len` data bytes;
 * gzip-compressed when gz. */
static inline const char *fx_idx(const char *name, int gz, int ndim, const uint32_t *dims, const void *data, size_t len)
{
    unsigned char head[4 + 4 * 4] = {0, 0, 0x08, (unsigned char)ndim};
    for (int i = 0; i < ndim; i++)
        for (int b = 0; b < 4; b++) head[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
    size_t hlen = 4 + 4 * (size_t)ndim;
    if (!gz) return fx_write(name, head, hlen, data, len);
    const char *path = fx_path(name);
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, head, (unsigned)hlen), (int)hlen);
    if (len) assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(f), Z_OK);
    return path;
}

#endif
