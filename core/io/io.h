/* Data input (.npy, .fvecs/.bvecs, raw f32, MNIST IDX, named data sets), labels, and atomic
 * output files. Every error names the file, the place and what was expected. */
#ifndef NOMAD_IO_H
#define NOMAD_IO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "nomad/types.h"

/* MEMORY: rows handed over in memory (nmp_data_wrap, the C API), never a config's choice. */
typedef enum { NMP_FMT_AUTO, NMP_FMT_NPY, NMP_FMT_FVECS, NMP_FMT_BVECS, NMP_FMT_RAW, NMP_FMT_IDX, NMP_FMT_MEMORY } nmp_data_format;

typedef struct {
    nmp_data_format format; /* AUTO: from the extension (.npy .fvecs .bvecs .gz .idx *-ubyte) or an alias */
    int64_t raw_dim;        /* RAW: columns per row (required) */
    int64_t limit;          /* keep the first `limit` rows; 0 = all rows */
    int header_only;        /* read the shape and type only (nmp_data_probe) */
} nmp_data_opts;

/* An input matrix. m.x points into a read-only mapping of the file when the file already
 * holds row-major f32 (npy <f4, raw), else into `owned` (converted to f32). */
typedef struct {
    nmp_matrix m;      /* the f32 view used by everything; valid until nmp_data_close */
    char path[4096];   /* as given */
    const char *dtype; /* the file's value type: "f4", "f2", "f8" or "u1" (static string) */
    int64_t n_total;   /* rows in the file before `limit` */
    nmp_data_format format; /* the format it was read as (never AUTO) */
    /* private: */
    void *map;
    size_t map_len;
    float *owned;
} nmp_dataset;

/* Opens path (a file or an alias such as "fashion-mnist") as an n x d f32 matrix. Checks
 * that n >= 1, d >= 1 and every value kept is finite. opts may be NULL (AUTO, all rows).
 * On failure *out is zeroed and nothing needs closing. */
nmp_status nmp_data_open(const char *path, const nmp_data_opts *opts, nmp_dataset *out, nmp_err *err);
/* The shape (m.n after the limit, m.d, n_total) and dtype of what nmp_data_open would read,
 * from the headers alone: no value is read, nothing is kept (m.x is NULL), so a header that
 * promises more than the machine holds can be refused before it costs anything. */
nmp_status nmp_data_probe(const char *path, const nmp_data_opts *opts, nmp_dataset *out, nmp_err *err);
/* Bytes nmp_data_open holds at its peak for such a file: the f32 matrix (mapped or owned)
 * plus, while converting, the source values. */
double nmp_data_peak_bytes(const nmp_dataset *probed);
/* n x d row-major values of a numpy-style dtype ("f4", "f2", "f8" or "u1") already in memory,
 * as a dataset: f4 is viewed in place (the caller keeps `values` alive and unchanged until
 * nmp_data_close), the others are converted to an owned f32 copy. The same limit and checks
 * as nmp_data_open; `name` stands for the file in messages ("X"). header_only: shape only. */
nmp_status nmp_data_wrap(const char *name, const void *values, const char *dtype, int64_t n, int64_t d,
                         const nmp_data_opts *opts, nmp_dataset *out, nmp_err *err);
/* Releases the mapping or the converted copy; safe on a zeroed dataset. */
void nmp_data_close(nmp_dataset *d);

/* The labels that belong to a data path: "fashion-mnist" for the fashion-mnist alias, NULL
 * for plain files (their labels must be given). */
const char *nmp_data_default_labels(const char *data_path);

/* Reads integer labels: .npy of any integer dtype (i1..i8, u1..u8; 1-D or n x 1), IDX
 * (0x00000801, optionally .gz), an alias ("fashion-mnist"), or a text file with one integer
 * per line (trailing blank lines allowed). There must be exactly expected_n of them.
 * *labels is malloc'd (caller frees). Values must fit int32. */
nmp_status nmp_labels_read(const char *path, int64_t expected_n, int32_t **labels, nmp_err *err);
/* Same for data read with a row limit: expected_n is the row count after the limit. When
 * limit > 0 the file may hold more labels than expected_n (it labels the whole file) and
 * the first expected_n are kept; when limit == 0 this is nmp_labels_read. */
nmp_status nmp_labels_read_limit(const char *path, int64_t expected_n, int64_t limit, int32_t **labels, nmp_err *err);

/* A text per point (`nomad view --text`): line i of the file, any bytes, its \n (and a \r
 * before it) left out, is bytes[start[i]] .. bytes[start[i + 1] - 1]. */
typedef struct {
    char *bytes;
    int64_t *start; /* n + 1 offsets */
    int64_t n;
} nmp_texts;
/* Reads one line per point; a last line without its newline counts. There must be exactly
 * expected_n lines. Free with nmp_texts_free (safe on a zeroed nmp_texts). */
nmp_status nmp_texts_read(const char *path, int64_t expected_n, nmp_texts *texts, nmp_err *err);
void nmp_texts_free(nmp_texts *texts);
/* A regular file's bytes into *bytes (malloc'd, NUL-terminated; *size without the NUL). On
 * failure *bytes is NULL and err names the file. */
nmp_status nmp_file_read_all(const char *path, char **bytes, int64_t *size, nmp_err *err);

/* Writes a row-major array as .npy v1.0 (data at a multiple of 64), atomically. descr is a
 * numpy dtype string ("<f4", "<i4", "<i8", "<f8", "|u1", ...); cols 0 = a 1-D array. */
nmp_status nmp_npy_write(const char *path, const void *data, const char *descr, int64_t rows, int64_t cols,
                         nmp_err *err);

/* Writes buf to "<path>.tmp.<pid>", fsyncs, renames onto path (then fsyncs the folder). On
 * any failure removes the temp file and leaves path as it was. */
nmp_status nmp_file_write_atomic(const char *path, const void *buf, size_t len, nmp_err *err);
/* Same for a file made of `count` pieces written in order (a header and a body, without
 * copying them into one buffer). */
nmp_status nmp_file_write_atomic_parts(const char *path, const void *const *bufs, const size_t *lens, int count,
                                       nmp_err *err);
/* NMP_OK when an output may be written at path: nothing is there, or a regular file. A FIFO,
 * directory, device, socket or symlink is never replaced: NMP_ERR_INVALID naming what it is. */
nmp_status nmp_output_replaceable(const char *path, nmp_err *err);
/* The status of an output that could not be written, from errno: the machine's fault (disk
 * full, quota, I/O error, file size limit) is NMP_ERR_RUNTIME (exit 1), anything else
 * (permissions, a read-only or missing folder: the path the user chose) NMP_ERR_IO (exit 2). */
nmp_status nmp_write_failure(int errnum);

/* ------------------------------------------------------------------ internal (io_*.c) */

/* Each reader fills out->m, dtype, n_total and map/owned; out->path is set by the caller.
 * limit as in nmp_data_opts. */
nmp_status nmp_io_read_npy(const char *path, int64_t limit, int header_only, nmp_dataset *out, nmp_err *err);
nmp_status nmp_io_read_vecs(const char *path, int bytes, int64_t limit, int header_only, nmp_dataset *out,
                            nmp_err *err);
nmp_status nmp_io_read_raw(const char *path, int64_t dim, int64_t limit, int header_only, nmp_dataset *out,
                           nmp_err *err);
/* Reads IDX u8 files one after another (images must share their row width) into one matrix. */
nmp_status nmp_io_read_idx(const char *const *paths, int count, int64_t limit, int header_only, nmp_dataset *out,
                           nmp_err *err);
/* Reads IDX u8 label files (0x00000801) one after another into *labels (malloc'd) and *n. */
nmp_status nmp_io_read_idx_labels(const char *const *paths, int count, int32_t **labels, int64_t *n, nmp_err *err);

/* Named data sets (aliases). A list of files that make one matrix or one label vector. */
#define NMP_IO_MAX_FILES 4
typedef struct {
    int count;
    char path[NMP_IO_MAX_FILES][4096];
} nmp_io_files;
/* Whether name is an alias ("fashion-mnist"). */
int nmp_io_is_alias(const char *name);
/* The alias's image files (labels = 0) or label files (labels = 1), under $NOMAD_DATASETS_DIR
 * if set, else /usr/share/datasets. NMP_ERR_IO with the apt-get line if one is missing. */
nmp_status nmp_io_alias_files(const char *name, int labels, nmp_io_files *files, nmp_err *err);

/* Converts count values of a file type ("f2", "f8", "u1", "f4") at src to f32 at dst, in
 * parallel blocks; the _serial form is for callers already inside a parallel loop. */
void nmp_io_to_f32(const char *dtype, const void *src, float *dst, int64_t count);
void nmp_io_to_f32_serial(const char *dtype, const void *src, float *dst, int64_t count);
/* data.scale applied as the data is read: m's values times `scale` into a malloc'd copy
 * (*owned, the caller frees it; m->x then points to it). Nothing to do when scale is 1
 * (*owned NULL). NMP_ERR_NOMEM when the copy cannot be made. */
nmp_status nmp_io_scale(nmp_matrix *m, double scale, float **owned);
/* NMP_ERR_INVALID naming the first row (counted from row0) and column of an n x d matrix
 * whose value is not finite, or (max_abs > 0) whose magnitude exceeds max_abs. */
nmp_status nmp_io_check_values(const char *path, const nmp_matrix *m, int64_t row0, float max_abs, nmp_err *err);
/* The largest magnitude whose squared distances over d columns stay finite in float32,
 * with headroom for the kernels' norms-and-dot-product form. */
float nmp_io_distance_bound(int64_t d);
/* NMP_ERR_INVALID when every row of m (n >= 2) equals the first: nothing to map. */
nmp_status nmp_io_check_distinct(const char *path, const nmp_matrix *m, nmp_err *err);

#endif
