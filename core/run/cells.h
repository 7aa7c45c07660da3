/* Building the cell index (members grouped by cell) from a partition, and measuring what
 * the partition costs the kNN graph: edges kept inside cells and recall vs exact kNN. */
#ifndef NOMAD_CELLS_H
#define NOMAD_CELLS_H

#include "error.h"
#include "nomad/types.h"

/* Owns the arrays nmp_cells points to. */
typedef struct {
    nmp_cells view;
    int32_t *cell_of;
    int64_t *start;
    int32_t *member;
    float *centroids;
} nmp_cell_index;

/* Takes ownership of cell_of (n) and centroids (count x d). */
nmp_status nmp_cells_build(nmp_cell_index *out, int32_t *cell_of, float *centroids, int64_t n, int64_t d,
                           int32_t count, nmp_err *err);
void nmp_cells_free(nmp_cell_index *c);

typedef struct {
    int64_t sample;       /* points measured */
    double edges_kept;    /* fraction of exact global kNN edges whose ends share a cell */
    double recall;        /* |graph row ∩ exact row| / k, averaged */
    double seconds;
} nmp_knn_quality;

/* Measures on `sample` points drawn with the seed (0 = skip: fields stay 0). */
nmp_status nmp_knn_quality_measure(const nmp_matrix *x, const nmp_cells *cells, const nmp_graph *knn, int32_t k,
                                   nmp_metric metric, int64_t sample, uint64_t seed, nmp_knn_quality *out,
                                   nmp_err *err);

#endif
