/* Helpers shared by the ann plugins: CSR graphs allocated through the host, the cells of a
 * build (or one cell of everything) and exact kNN inside one group of points. */
#ifndef NOMAD_ANN_COMMON_H
#define NOMAD_ANN_COMMON_H

#include "nomad/plugin.h"
#include "plugin_device.h"

/* A group of points whose neighbours are searched among themselves. */
typedef struct {
    const int32_t *member; /* count global ids, ascending */
    int64_t count;
} ann_group;

/* The cells of a build as groups; with cells == NULL or scope "global", one group of all n
 * points. ids is an owned 0..n-1 array when needed (free with ann_groups_free). */
typedef struct {
    int32_t count;
    const int64_t *start;
    const int32_t *member;
    int64_t single_start[2];
    int32_t *ids;
} ann_groups;

/* The start of every build(): out emptied, so that a build that fails leaves nothing to free,
 * and k checked (>= 1), the error naming `who`. */
nmp_status ann_build_begin(const nmp_host *h, const char *who, int32_t k, nmp_graph *out);

nmp_status ann_groups_make(const nmp_host *h, const nmp_cells *cells, int64_t n, int global, ann_groups *g);
ann_group ann_groups_get(const ann_groups *g, int32_t c);
void ann_groups_free(ann_groups *g);

/* Allocates out->offsets with host->alloc and sets row lengths min(k, group size - 1), then
 * out->index and out->dist (nnz each). On failure frees what it allocated, sets the error
 * and returns NMP_ERR_NOMEM. out->weight is NULL. */
nmp_status ann_graph_alloc_groups(const nmp_host *h, const ann_groups *g, int64_t n, int32_t k, nmp_graph *out);
/* Frees through the host whatever of out was allocated and clears it. */
void ann_graph_release(const nmp_host *h, nmp_graph *out);

/* The group's rows as one contiguous matrix: x itself when the ids are consecutive, else a
 * malloc'd copy (*owned set, to free; NULL returned when it cannot be made). */
const float *ann_group_rows(const nmp_host *h, const nmp_matrix *x, ann_group grp, float **owned);

/* Exact kNN (knn_topk_cpu) among the group's points, written into their rows of out
 * (offsets already set). Queries go `query_block` at a time to bound scratch memory; after
 * each block host->progress("ann", (done + block end) / total). */
nmp_status ann_exact_group(const nmp_host *h, const nmp_matrix *x, ann_group grp, int32_t k, nmp_metric metric,
                           int64_t query_block, int64_t done, int64_t total, nmp_graph *out);
/* The same on `dev`: on the GPU each query block is one knn_topk_cuda call (f32; k <= 128). */
nmp_status ann_exact_group_on(const nmp_host *h, const nmp_matrix *x, ann_group grp, int32_t k, nmp_metric metric,
                              int64_t query_block, int64_t done, int64_t total, plugin_device dev, nmp_graph *out);

/* x projected on its top p principal axes (fitted on `sample` rows, covariance and
 * projection on `dev`), for a search in p dimensions instead of d: *proj is a malloc'd n x p
 * matrix the caller frees; *out views it. Logs the share of the variance kept. */
nmp_status ann_project(const nmp_host *h, const char *who, const nmp_matrix *x, int32_t p, int64_t sample,
                       plugin_device dev, nmp_matrix *out, float **proj);

/* For each row of `cand` (candidates from a cheaper search, e.g. in a projection), keeps the
 * k nearest under the exact distance in x (l2), sorted by (distance, id), into out's rows
 * (offsets already set, at most k per row and no more than the row's candidates). `order`
 * (n ids, or NULL for 0..n-1) is the order to visit the points in: points whose candidates
 * overlap (one list of an IVF search) kept together find their rows in cache. */
nmp_status ann_refine(const nmp_host *h, const nmp_matrix *x, const nmp_graph *cand, const int32_t *order,
                      nmp_graph *out);

/* Distance between rows a and b as knn_cpu.h defines it (L2: squared, IP: -dot,
 * cosine: 1 - cos, a zero row at distance 1); inv_norm (for cosine) may be NULL otherwise. */
float ann_distance(const float *a, const float *b, int64_t d, nmp_metric metric, float inv_norm_a, float inv_norm_b);
/* 1 / ||row|| (0 for a zero row) for each of n rows; malloc'd, NULL on failure. */
float *ann_inverse_norms(const nmp_host *h, const nmp_matrix *x);

#endif
