/* The optimiser works on the points renumbered cell by cell (the partition's member order):
 * each cell's layout rows are then one contiguous block, so negatives drawn from a cell touch
 * one small piece of memory and cell sums are sums over ranges. Negatives and loss plugins
 * see only the renumbered problem; the layout goes back to the input's row order at every
 * epoch's end. */
#ifndef NOMAD_FIT_ORDER_H
#define NOMAD_FIT_ORDER_H

#include "error.h"
#include "nomad/types.h"

typedef struct {
    int identity;     /* the points were already in cell order: graph and cells are the inputs */
    nmp_graph graph;  /* renumbered copy (or the input when identity) */
    nmp_cells cells;  /* renumbered: members 0..n-1 in order, cell_of ascending */
    const int32_t *order; /* n: new id -> input row (the partition's member list) */
    int64_t *offsets; /* owned copies behind graph and cells (NULL when identity) */
    int32_t *index, *cell_of, *member;
    float *weight, *dist;
    int32_t *rank;    /* n: input row -> new id */
} nmp_fit_order;

/* Builds the renumbered view of `graph` and `cells` (which must outlive it). */
nmp_status nmp_fit_order_build(nmp_fit_order *o, const nmp_graph *graph, const nmp_cells *cells, nmp_err *err);
/* Layout rows between the two numberings (n x dims each; the arrays must not overlap). */
void nmp_fit_order_to_fit(const nmp_fit_order *o, const float *y_input, float *y_fit, int dims);
void nmp_fit_order_to_input(const nmp_fit_order *o, const float *y_fit, float *y_input, int dims);
void nmp_fit_order_free(nmp_fit_order *o);

#endif
