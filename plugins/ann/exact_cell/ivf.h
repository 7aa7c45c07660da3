/* Inverted lists inside one group (exact_cell's `lists`): the group is split into k-means
 * lists in the search space, and each point is searched exactly in its `probe` nearest lists
 * instead of the whole group (IVF-flat, as FAISS's IndexIVFFlat). With 32 lists and 4 probes a
 * point is compared with about an eighth of its group. */
#ifndef NOMAD_EXACT_CELL_IVF_H
#define NOMAD_EXACT_CELL_IVF_H

#include "ann_common.h"

typedef struct {
    int64_t lists;      /* lists asked per group (<= 1: none) */
    int64_t list_size;  /* > 0: more lists when the group is large, about this many points each */
    int64_t probe;      /* lists searched per point */
    int64_t iterations; /* Lloyd iterations fitting the lists */
} ivf_opts;

/* Lists a group of `count` points gets: o.lists, or count / o.list_size when that is more (and
 * lists is >= 2), so that a point's search costs the same at any n; and about k points or more per list
 * on average (< 2: none, the group is searched whole). With probe >= lists every point sees
 * every list: the exact graph, slower (tests use it). */
int64_t ivf_lists_for(ivf_opts o, int64_t count, int32_t k);

/* The k nearest (l2) of each group member among its probed lists, written sorted by
 * (distance, id) into the members' rows of out (offsets set: min(k, count - 1) per row). A
 * row that its lists cannot fill is searched against the whole group. Deterministic for the
 * input, whatever the thread count. Progress as ann_exact_group. order (count, or NULL)
 * receives the members list by list, an order that keeps neighbours together. */
nmp_status ivf_search_group(const nmp_host *h, const nmp_matrix *x, ann_group grp, int32_t k, ivf_opts o,
                            int64_t done, int64_t total, int32_t *order, nmp_graph *out);

#endif
