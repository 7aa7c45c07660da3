/* The .npy file format (versions 1, 2, 3): header parsing from a byte buffer, header writing,
 * f16 -> f32, and a read-only file mapping for plugins. Shared by the core and plugins. */
#ifndef NOMAD_NPY_FORMAT_H
#define NOMAD_NPY_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "nomad/types.h"

#define NMP_NPY_MAX_DIMS 8
#define NMP_NPY_ALIGN 64 /* data offset of the headers we write (numpy >= 1.? writes 64 too) */

/* What a header says. Plain data. */
typedef struct {
    int version;       /* major version: 1, 2 or 3 */
    char descr[16];    /* as written, e.g. "<f4", "|u1", ">i8" */
    char byte_order;   /* '<', '>' or '|' ('=' is read as the host's order) */
    char kind;         /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool, ... */
    int item_size;     /* bytes per value */
    int fortran_order; /* 1 if the file says fortran_order: True */
    int ndim;          /* 0 .. NMP_NPY_MAX_DIMS */
    int64_t shape[NMP_NPY_MAX_DIMS];
    int64_t count;      /* product of the shape (1 for 0-D) */
    size_t data_offset; /* bytes before the first value */
} nmp_npy_header;

/* Parses the header at the start of buf (len bytes; pass the whole file or at least its
 * first data_offset bytes). NMP_ERR_INVALID with a reason in err (no path: the caller names
 * the file) if buf is not a well-formed .npy header or is too short to hold it. */
nmp_status nmp_npy_parse_header(const void *buf, size_t len, nmp_npy_header *h, char *err, size_t err_len);

/* How many bytes the header takes (= data offset), from the first 12 bytes of a file: lets
 * a FILE* reader fetch exactly the header before calling nmp_npy_parse_header. */
nmp_status nmp_npy_header_length(const void *prefix, size_t len, size_t *header_len, char *err, size_t err_len);

/* Checks that h is a little-endian, C-order array of one of the `allowed` dtypes (a space-
 * separated list such as "<f4 <f2 <f8 |u1") with 1..max_ndim dimensions. On failure fills err
 * with "header: expected dtype '<f4', '<f2' or '|u1', got '>f4' (big-endian)" and the like. */
nmp_status nmp_npy_expect(const nmp_npy_header *h, const char *allowed, int max_ndim, char *err, size_t err_len);

/* Writes a version-1.0 header for a C-order array of `descr` ("<f4", "<i4", ...) with the
 * given shape into buf, padded with spaces so the data starts at a multiple of 64. Returns
 * the header length (0 if cap is too small or descr/ndim is invalid). */
size_t nmp_npy_write_header(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape);

/* IEEE half -> float, exact for every input (subnormals, infinities and NaN payloads). */
float nmp_npy_f16_to_f32(uint16_t h);

/* Maps any file read-only (used by nmp_npy_map_file; handy for other binary formats).
 * NMP_ERR_IO if it cannot be opened or is not a regular file, NMP_ERR_INVALID if it is
 * empty ("empty file (0 bytes)"). Release with munmap(*map, *len). */
nmp_status nmp_map_file_readonly(const char *path, void **map, size_t *len, char *err, size_t err_len);

/* A .npy file mapped read-only. Rows and cols view it as a matrix: 1-D is n x 1, 2-D is
 * rows x cols, 0-D is 1 x 1; higher dims are rows x (product of the rest). */
typedef struct {
    nmp_npy_header header;
    const void *data; /* first value, inside the mapping; NULL when the array is empty */
    int64_t rows, cols;
    void *map; /* private: the mapping (munmap'd by nmp_npy_unmap) */
    size_t map_len;
} nmp_npy_map;

/* Maps path read-only and parses its header; checks the file holds all the data the header
 * promises. NMP_ERR_IO (cannot open/map, empty file) or NMP_ERR_INVALID (bad header,
 * truncated data), with a reason in err that does not repeat the path. Typical plugin use:
 *   nmp_npy_map m; char e[256];
 *   if (nmp_npy_map_file(p, &m, e, sizeof e) || nmp_npy_expect(&m.header, "<i4 <i8", 2, e, sizeof e)) ...
 * Release with nmp_npy_unmap (safe on a zeroed or failed map). */
nmp_status nmp_npy_map_file(const char *path, nmp_npy_map *out, char *err, size_t err_len);
void nmp_npy_unmap(nmp_npy_map *m);

#endif
