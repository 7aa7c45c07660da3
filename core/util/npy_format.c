/* The .npy format: parse and write headers, f16 -> f32, map a file read-only. Pure C, no
 * nmp_err (plugins use it too): errors go to a char buffer and never name the path. */
#include "npy_format.h"
#include "input_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static nmp_status fail(char *err, size_t err_len, nmp_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nmp_status fail(char *err, size_t err_len, nmp_status s, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ------------------------------------------------------------------ header reading */

nmp_status nmp_npy_header_length(const void *prefix, size_t len, size_t *header_len, char *err, size_t err_len)
{
    const unsigned char *b = prefix;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return fail(err, err_len, NMP_ERR_INVALID, "bad magic: expected a .npy file starting with \\x93NUMPY");
    if (b[6] < 1 || b[6] > 3)
        return fail(err, err_len, NMP_ERR_INVALID, "header: expected format version 1, 2 or 3, got %d.%d", b[6], b[7]);
    if (b[6] == 1) {
        *header_len = 10 + ((size_t)b[8] | (size_t)b[9] << 8);
        return NMP_OK;
    }
    if (len < 12) return fail(err, err_len, NMP_ERR_INVALID, "header: truncated (%zu bytes)", len);
    *header_len = 12 + ((size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24);
    return NMP_OK;
}

/* A cursor over the header's Python dict literal. */
typedef struct {
    const char *p, *end;
    char *err;
    size_t err_len;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* Consumes `ch` (after spaces) if it is next; returns whether it was. */
static int eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static nmp_status parse_string(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: expected a quoted string");
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= cap) return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: string too long");
        out[n++] = *c->p++;
    }
    out[n] = 0;
    if (c->p >= c->end) return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: unterminated string");
    c->p++;
    return NMP_OK;
}

/* Reads "(3, 4)", "(5,)" or "()" (Python 2's "3L" too) and the element count. */
static nmp_status parse_shape(cursor *c, nmp_npy_header *h)
{
    if (!eat(c, '(')) return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: 'shape': expected a tuple");
    h->ndim = 0;
    h->count = 1;
    int64_t width = 1; /* the dims after the first: a row's values, even when there are no rows */
    while (!eat(c, ')')) {
        skip_ws(c);
        int64_t v = 0;
        const char *start = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: 'shape': too large");
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p == start) return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: 'shape': expected integers");
        if (c->p < c->end && *c->p == 'L') c->p++;
        if (h->ndim == NMP_NPY_MAX_DIMS)
            return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: 'shape': more than %d dimensions",
                        NMP_NPY_MAX_DIMS);
        h->shape[h->ndim++] = v;
        if (__builtin_mul_overflow(h->count, v, &h->count) || (h->ndim > 1 && __builtin_mul_overflow(width, v, &width)))
            return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: 'shape': too many elements");
        if (!eat(c, ',') && (skip_ws(c), c->p >= c->end || *c->p != ')'))
            return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: 'shape': expected ',' or ')'");
    }
    return NMP_OK;
}

/* Splits a descr such as "<f4" into byte order, kind and size; kind 0 if it is not simple. */
static void split_descr(nmp_npy_header *h)
{
    const char *d = h->descr;
    h->byte_order = '|';
    if (*d == '<' || *d == '>' || *d == '|' || *d == '=') h->byte_order = *d++;
    if (h->byte_order == '=') h->byte_order = '<'; /* native: every host we build for is little-endian */
    h->kind = *d ? *d++ : 0;
    int size = 0;
    while (*d >= '0' && *d <= '9' && size < 1000000) size = size * 10 + (*d++ - '0');
    h->item_size = size;
    if (*d || size == 0) h->kind = 0;
    if (size == 1) h->byte_order = '|'; /* one byte has no order */
}

static nmp_status parse_entry(cursor *c, nmp_npy_header *h, unsigned *seen)
{
    char key[32];
    nmp_status s = parse_string(c, key, sizeof key);
    if (s) return s;
    if (!eat(c, ':')) return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: expected ':' after '%s'", key);
    if (strcmp(key, "descr") == 0) {
        skip_ws(c);
        if (c->p < c->end && *c->p == '[')
            return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: structured dtypes are not supported");
        if ((s = parse_string(c, h->descr, sizeof h->descr))) return s;
        split_descr(h);
        *seen |= 1;
    } else if (strcmp(key, "fortran_order") == 0) {
        skip_ws(c);
        size_t left = (size_t)(c->end - c->p);
        if (left >= 4 && memcmp(c->p, "True", 4) == 0)
            h->fortran_order = 1, c->p += 4;
        else if (left >= 5 && memcmp(c->p, "False", 5) == 0)
            h->fortran_order = 0, c->p += 5;
        else
            return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: 'fortran_order': expected True or False");
        *seen |= 2;
    } else if (strcmp(key, "shape") == 0) {
        if ((s = parse_shape(c, h))) return s;
        *seen |= 4;
    } else {
        return fail(c->err, c->err_len, NMP_ERR_INVALID, "header: unexpected key '%s'", key);
    }
    return NMP_OK;
}

nmp_status nmp_npy_parse_header(const void *buf, size_t len, nmp_npy_header *h, char *err, size_t err_len)
{
    memset(h, 0, sizeof *h);
    size_t total = 0;
    nmp_status s = nmp_npy_header_length(buf, len, &total, err, err_len);
    if (s) return s;
    if (total > len)
        return fail(err, err_len, NMP_ERR_INVALID, "header: truncated: expected %zu header bytes, found %zu", total,
                    len);
    const unsigned char *b = buf;
    h->version = b[6];
    h->data_offset = total;
    cursor c = {(const char *)b + (h->version == 1 ? 10 : 12), (const char *)b + total, err, err_len};
    if (!eat(&c, '{')) return fail(err, err_len, NMP_ERR_INVALID, "header: expected a dict '{...}'");
    unsigned seen = 0;
    while (!eat(&c, '}')) {
        if ((s = parse_entry(&c, h, &seen))) return s;
        if (!eat(&c, ',') && (skip_ws(&c), c.p >= c.end || *c.p != '}'))
            return fail(err, err_len, NMP_ERR_INVALID, "header: expected ',' or '}'");
    }
    if (seen != 7)
        return fail(err, err_len, NMP_ERR_INVALID, "header: missing key '%s'",
                    !(seen & 1)   ? "descr"
                    : !(seen & 2) ? "fortran_order"
                                  : "shape");
    if (h->item_size > 0 && __builtin_mul_overflow(h->count, (int64_t)h->item_size, &(int64_t){0}))
        return fail(err, err_len, NMP_ERR_INVALID, "header: array too large");
    return NMP_OK;
}

/* ------------------------------------------------------------------ header checks */

/* "'<f4', '<f2' or '|u1'" from "<f4 <f2 |u1". */
static void quote_list(const char *allowed, char *out, size_t cap)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", allowed);
    const char *tok[16];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save)) tok[n++] = t;
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < n && used < cap; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        used += (size_t)snprintf(out + used, cap - used, "%s'%s'", sep, tok[i]);
    }
}

static int dtype_allowed(const char *dtype, const char *allowed)
{
    size_t n = strlen(dtype);
    for (const char *p = allowed; (p = strstr(p, dtype)) != NULL; p += n)
        if ((p == allowed || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
    return 0;
}

static void shape_text(const nmp_npy_header *h, char *out, size_t cap)
{
    size_t used = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < h->ndim && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", i ? ", " : "", (long long)h->shape[i]);
    if (used < cap) snprintf(out + used, cap - used, h->ndim == 1 ? ",)" : ")");
}

nmp_status nmp_npy_expect(const nmp_npy_header *h, const char *allowed, int max_ndim, char *err, size_t err_len)
{
    char dtype[24], list[256];
    if (h->kind)
        snprintf(dtype, sizeof dtype, "%c%c%d", h->byte_order, h->kind, h->item_size);
    else
        snprintf(dtype, sizeof dtype, "%s", h->descr);
    if (!h->kind || !dtype_allowed(dtype, allowed)) {
        quote_list(allowed, list, sizeof list);
        return fail(err, err_len, NMP_ERR_INVALID, "header: expected dtype %s, got '%s'%s", list, h->descr,
                    h->byte_order == '>' ? " (big-endian)" : "");
    }
    if (h->fortran_order && h->ndim > 1)
        return fail(err, err_len, NMP_ERR_INVALID,
                    "header: Fortran order (column-major) is not supported; expected C order (np.ascontiguousarray)");
    if (h->ndim < 1 || h->ndim > max_ndim) {
        char shape[160];
        shape_text(h, shape, sizeof shape);
        if (max_ndim <= 1)
            snprintf(list, sizeof list, "a 1-D array");
        else
            snprintf(list, sizeof list, "a 1-D %s %d-D array", max_ndim == 2 ? "or" : "to", max_ndim);
        return fail(err, err_len, NMP_ERR_INVALID, "header: expected %s, got %d-D shape %s", list, h->ndim, shape);
    }
    return NMP_OK;
}

/* ------------------------------------------------------------------ header writing */

size_t nmp_npy_write_header(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > NMP_NPY_MAX_DIMS || !descr || strlen(descr) > 8) return 0;
    char dict[512], dims[256] = "";
    size_t used = 0;
    for (int i = 0; i < ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s%s), }", descr, dims,
                     ndim == 1 ? "," : "");
    /* 10 bytes of prefix + dict + spaces + '\n', rounded up to a multiple of the alignment */
    size_t total = (10 + (size_t)n + 1 + NMP_NPY_ALIGN - 1) / NMP_NPY_ALIGN * NMP_NPY_ALIGN;
    if (total > cap || total - 10 > 65535) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

/* ------------------------------------------------------------------ f16 */

float nmp_npy_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13; /* inf, or NaN keeping its payload */
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | mant << 13; /* rebias 15 -> 127 */
    } else if (mant == 0) {
        bits = sign; /* +-0 */
    } else {
        /* subnormal: mant * 2^-24; shift the leading 1 up to the implicit bit */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (mant & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ------------------------------------------------------------------ mapping */

static void fill_matrix_view(nmp_npy_map *m)
{
    const nmp_npy_header *h = &m->header;
    m->rows = h->ndim == 0 ? 1 : h->shape[0];
    m->cols = 1;
    for (int i = 1; i < h->ndim; i++) m->cols *= h->shape[i];
    m->data = (const char *)m->map + h->data_offset;
}

nmp_status nmp_map_file_readonly(const char *path, void **map, size_t *len, char *err, size_t err_len)
{
    *map = NULL;
    *len = 0;
    nmp_status why;
    int64_t size = 0;
    int fd = nmp_open_regular(path, &size, &why, err, err_len);
    if (fd < 0) return why;
    if (size == 0) {
        close(fd);
        return fail(err, err_len, NMP_ERR_INVALID, "empty file (0 bytes)");
    }
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (m == MAP_FAILED) return fail(err, err_len, NMP_ERR_IO, "cannot map: %s", strerror(map_errno));
    *map = m;
    *len = (size_t)size;
    return NMP_OK;
}

nmp_status nmp_npy_map_file(const char *path, nmp_npy_map *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    nmp_status s = nmp_map_file_readonly(path, &out->map, &out->map_len, err, err_len);
    if (s) return s;
    s = nmp_npy_parse_header(out->map, out->map_len, &out->header, err, err_len);
    if (s) {
        nmp_npy_unmap(out);
        return s;
    }
    uint64_t need = (uint64_t)out->header.count * (uint64_t)out->header.item_size,
             have = out->map_len - out->header.data_offset;
    if (need > have) {
        nmp_npy_unmap(out);
        return fail(err, err_len, NMP_ERR_INVALID, "truncated data: expected %llu bytes after the header, found %llu",
                    (unsigned long long)need, (unsigned long long)have);
    }
    fill_matrix_view(out);
    return NMP_OK;
}

void nmp_npy_unmap(nmp_npy_map *m)
{
    if (m->map) munmap(m->map, m->map_len);
    memset(m, 0, sizeof *m);
}
