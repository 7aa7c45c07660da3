/* Reads integer labels from .npy (any integer dtype), IDX (plain or .gz), a data set alias,
 * or text (one integer per line), and checks their count against the data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input_file.h"
#include "io.h"
#include "npy_format.h"

#define LABEL_DTYPES "|i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8"

/* Reads value i of an integer array (the file is little-endian, as is the host). */
static int64_t npy_int_at(const nmp_npy_header *h, const unsigned char *data, int64_t i)
{
    int64_t v = 0;
    uint64_t u = 0;
    memcpy(&u, data + i * h->item_size, (size_t)h->item_size);
    if (h->kind == 'u' || h->item_size == 8)
        return (int64_t)u; /* u8 above 2^63 wraps negative: caught as out of range */
    int shift = 64 - 8 * h->item_size;
    v = (int64_t)(u << shift) >> shift; /* sign-extend */
    return v;
}

static nmp_status read_npy_labels(const char *path, int32_t **labels, int64_t *n, nmp_err *err)
{
    nmp_npy_map m;
    char why[512];
    nmp_status s = nmp_npy_map_file(path, &m, why, sizeof why);
    if (s == NMP_OK) s = nmp_npy_expect(&m.header, LABEL_DTYPES, 2, why, sizeof why);
    if (s == NMP_OK && m.cols != 1) {
        snprintf(why, sizeof why, "expected labels of shape (n,) or (n, 1), got %lld columns", (long long)m.cols);
        s = NMP_ERR_INVALID;
    }
    if (s == NMP_OK && !(*labels = malloc((size_t)(m.rows ? m.rows : 1) * sizeof **labels))) {
        snprintf(why, sizeof why, "out of memory for %lld labels", (long long)m.rows);
        s = NMP_ERR_NOMEM;
    }
    for (int64_t i = 0; s == NMP_OK && i < m.rows; i++) {
        int64_t v = npy_int_at(&m.header, m.data, i);
        int unsigned_big = m.header.kind == 'u' && m.header.item_size == 8 && v < 0;
        if (v < INT32_MIN || v > INT32_MAX || unsigned_big) {
            snprintf(why, sizeof why, "row %lld: label %lld does not fit int32", (long long)i, (long long)v);
            s = NMP_ERR_INVALID;
        } else {
            (*labels)[i] = (int32_t)v;
        }
    }
    *n = m.rows;
    nmp_npy_unmap(&m);
    return s == NMP_OK ? NMP_OK : nmp_fail(err, s, "%s: %s", path, why);
}

/* Parses one line (without its newline) as an int32; 0 on success. */
static int parse_label_line(char *line, int32_t *out)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) line[--len] = 0;
    char *p = line + strspn(line, " \t"), *end = NULL;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || *end || errno || v < INT32_MIN || v > INT32_MAX) return -1;
    *out = (int32_t)v;
    return 0;
}

static int is_blank(const char *line) { return line[strspn(line, " \t\r\n")] == 0; }

/* Grows *labels so it holds at least n + 1 values. */
static int reserve(int32_t **labels, int64_t n, int64_t *cap)
{
    if (n < *cap) return 0;
    int64_t grown = *cap ? 2 * *cap : 1024;
    int32_t *p = realloc(*labels, (size_t)grown * sizeof *p);
    if (!p) return -1;
    *labels = p;
    *cap = grown;
    return 0;
}

/* A labels file as a FILE*, refusing anything but a regular file (input_file.h). */
static nmp_status open_labels(const char *path, const char *mode, FILE **f, nmp_err *err)
{
    char why[160];
    nmp_status st;
    *f = nmp_fopen_regular(path, mode, &st, why, sizeof why);
    return *f ? NMP_OK : nmp_fail(err, st, "%s: labels: %s", path, why);
}

static nmp_status read_text_labels(const char *path, int32_t **labels, int64_t *n, nmp_err *err)
{
    FILE *f;
    nmp_status opened = open_labels(path, "r", &f, err);
    if (opened) return opened;
    char *line = NULL;
    size_t line_cap = 0;
    int64_t cap = 0, lineno = 0, first_blank = 0;
    nmp_status s = NMP_OK;
    *n = 0;
    while (s == NMP_OK && getline(&line, &line_cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        if (is_blank(line)) {
            if (!first_blank) first_blank = lineno; /* fine if nothing but blank lines follow */
        } else if (first_blank) {
            s = nmp_fail(err, NMP_ERR_INVALID,
                         "%s: line %lld: empty line inside the labels; expected one integer per line", path,
                         (long long)first_blank);
        } else if (reserve(labels, *n, &cap) != 0) {
            s = nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory at line %lld", path, (long long)lineno);
        } else if (parse_label_line(line, &(*labels)[*n]) != 0) {
            s = nmp_fail(err, NMP_ERR_INVALID, "%s: line %lld: expected an integer (int32), got '%.40s'", path,
                         (long long)lineno, line);
        } else {
            (*n)++;
        }
    }
    if (s == NMP_OK && ferror(f)) s = nmp_fail(err, NMP_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return s;
}

/* Picks the reader from the first bytes: .npy magic, gzip or IDX magic, else text. */
static nmp_status read_any_labels(const char *path, int32_t **labels, int64_t *n, nmp_err *err)
{
    nmp_io_files files = {1, {""}};
    if (nmp_io_is_alias(path)) {
        nmp_status s = nmp_io_alias_files(path, 1, &files, err);
        if (s) return s;
    } else {
        FILE *f;
        nmp_status opened = open_labels(path, "rb", &f, err);
        if (opened) return opened;
        unsigned char head[6] = {0};
        size_t got = fread(head, 1, sizeof head, f);
        fclose(f);
        if (got == 0) return nmp_fail(err, NMP_ERR_INVALID, "%s: empty file (0 bytes); expected labels", path);
        if (got == 6 && memcmp(head, "\x93NUMPY", 6) == 0) return read_npy_labels(path, labels, n, err);
        int gz = head[0] == 0x1f && head[1] == 0x8b, idx = got >= 4 && !head[0] && !head[1] && head[2] == 0x08;
        if (!gz && !idx) return read_text_labels(path, labels, n, err);
        snprintf(files.path[0], sizeof files.path[0], "%s", path);
    }
    const char *paths[NMP_IO_MAX_FILES];
    for (int i = 0; i < files.count; i++) paths[i] = files.path[i];
    return nmp_io_read_idx_labels(paths, files.count, labels, n, err);
}

nmp_status nmp_labels_read_limit(const char *path, int64_t expected_n, int64_t limit, int32_t **labels, nmp_err *err)
{
    int64_t n = 0;
    *labels = NULL;
    nmp_status s = read_any_labels(path, labels, &n, err);
    if (s == NMP_OK && n != expected_n && !(limit > 0 && n > expected_n)) {
        if (limit > 0)
            s = nmp_fail(err, NMP_ERR_INVALID,
                         "%s: %lld labels, but the data has %lld rows (after limit %lld); expected at least %lld", path,
                         (long long)n, (long long)expected_n, (long long)limit, (long long)expected_n);
        else
            s = nmp_fail(err, NMP_ERR_INVALID,
                         "%s: %lld labels, but the data has %lld rows; expected one label per row", path, (long long)n,
                         (long long)expected_n);
    }
    if (s != NMP_OK) {
        free(*labels);
        *labels = NULL;
    }
    return s;
}

nmp_status nmp_labels_read(const char *path, int64_t expected_n, int32_t **labels, nmp_err *err)
{
    return nmp_labels_read_limit(path, expected_n, 0, labels, err);
}
