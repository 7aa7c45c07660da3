/* Plain data types shared by the host, the plugins and the kernels. No functions here. */
#ifndef NOMAD_TYPES_H
#define NOMAD_TYPES_H

#include <stdint.h>

/* Status codes returned across the ABI. The CLI exits 2 for INVALID, IO and UNSUPPORTED
 * (the input or the request is at fault) and 1 for the rest (core/base/error.c). */
typedef enum {
    NMP_OK = 0,
    NMP_ERR_RUNTIME = 1, /* the algorithm failed (diverged, did not converge, ...) */
    NMP_ERR_INVALID = 2, /* bad input: config value, data shape, parameter combination */
    NMP_ERR_IO = 3,      /* a file could not be read or written */
    NMP_ERR_NOMEM = 4,   /* an allocation failed */
    NMP_ERR_UNSUPPORTED = 5, /* asked for something this plugin/build cannot do */
} nmp_status;

typedef enum {
    NMP_KIND_PARTITIONER = 1,
    NMP_KIND_ANN = 2,
    NMP_KIND_AFFINITY = 3,
    NMP_KIND_INIT = 4,
    NMP_KIND_NEGATIVES = 5,
    NMP_KIND_LOSS = 6,
} nmp_kind;
#define NMP_KIND_COUNT 6

typedef enum { NMP_METRIC_L2 = 0, NMP_METRIC_IP = 1, NMP_METRIC_COSINE = 2 } nmp_metric;

/* A dense row-major f32 matrix. Owner is stated where it is handed over. */
typedef struct {
    int64_t n;      /* rows */
    int64_t d;      /* columns */
    const float *x; /* n * d values, row i at x + i * d */
} nmp_matrix;

/* A graph in CSR form over points 0..n-1. Row i's edges are [offsets[i], offsets[i+1]). */
typedef struct {
    int64_t n;
    int64_t *offsets; /* n + 1 */
    int32_t *index;   /* nnz: the neighbour's point id */
    float *dist;      /* nnz: input-space distance (ann output), or NULL */
    float *weight;    /* nnz: affinity p_ij (affinity output), or NULL */
} nmp_graph;

static inline int64_t nmp_graph_nnz(const nmp_graph *g) { return g->offsets[g->n]; }

/* A partition of the points into cells, with members listed cell by cell. */
typedef struct {
    int32_t count;          /* number of cells */
    int64_t n;              /* points */
    int64_t d;              /* input dimension (centroids' width) */
    const int32_t *cell_of; /* n: cell of each point */
    const int64_t *start;   /* count + 1: members of cell c are member[start[c] .. start[c+1]) */
    const int32_t *member;  /* n: point ids sorted by cell, ascending within a cell */
    const float *centroids; /* count x d, input space (NULL when there is none) */
} nmp_cells;

#endif
