/* CSR helpers for the affinity plugins and spectral init: input checks, graph allocation,
 * symmetrisation (A op A^T by a per-row merge; transpose by counting sort), normalisation. */
#ifndef NOMAD_AFF_CSR_H
#define NOMAD_AFF_CSR_H

#include <stdint.h>

#include "nomad/plugin.h"
#include "plugin_device.h"

/* How a_ij and a_ji combine into one symmetric weight; a missing edge counts as 0. */
typedef enum {
    AFF_SYM_MAX,   /* max(a_ij, a_ji) */
    AFF_SYM_MEAN,  /* (a_ij + a_ji) / 2 */
    AFF_SYM_FUZZY, /* mix (a + b - ab) + (1 - mix) ab: UMAP's fuzzy union (mix 1) / intersection (mix 0) */
} aff_sym_op;

/* Checks offsets (start at 0, non-decreasing), neighbour ids (in [0, n)) and, when asked, that
 * dist / weight are present. Sets an error naming `who` and the first bad row. */
nmp_status aff_graph_check(const nmp_host *h, const char *who, const nmp_graph *g, int need_dist);

/* Allocates offsets (n + 1), index and weight (nnz) with host->alloc; dist stays NULL.
 * On failure everything is released, an error set and NMP_ERR_NOMEM returned. */
nmp_status aff_graph_alloc(const nmp_host *h, int64_t n, int64_t nnz, nmp_graph *g);
/* Frees what aff_graph_alloc (or aff_symmetrize) allocated, with host->free; zeroes g. */
void aff_graph_release(const nmp_host *h, nmp_graph *g);
/* New graph with src's offsets and index (copied in parallel), weight uninitialised, dist NULL. */
nmp_status aff_graph_clone_structure(const nmp_host *h, const nmp_graph *src, nmp_graph *out);

/* The frame of an affinity that keeps knn's edges and only weighs them: checks knn (errors name
 * `who`), gives out knn's structure, has weigh(state, knn, out, device) write out->weight, and
 * releases out when that fails. */
typedef nmp_status (*aff_weigh_fn)(const void *state, const nmp_graph *knn, nmp_graph *out, plugin_device device);
nmp_status aff_weigh_edges(const nmp_host *h, const char *who, const nmp_graph *knn, nmp_graph *out, aff_weigh_fn weigh,
                           const void *state, plugin_device device);

/* AFF_REGISTER_EDGE_WEIGHTS(name, version, summary, decls, create, weights_fn, state_type) registers
 * such an affinity, on either device: its weigh() is aff_weigh_edges with weights_fn (an
 * aff_weigh_fn); state_type's member `host` is the plugin's host, destroy is free. */
#define AFF_REGISTER_EDGE_WEIGHTS(name, version, summary, decls, create, weights_fn, state_type)                  \
    static nmp_status aff_weigh_on(const state_type *st, const nmp_graph *knn, nmp_graph *out, plugin_device dev) \
    {                                                                                                             \
        return aff_weigh_edges(st->host, name, knn, out, weights_fn, st, dev);                                    \
    }                                                                                                             \
    PLUGIN_REGISTER_ON_DEVICES(NMP_KIND_AFFINITY, name, version, summary, decls, create, free, weigh, aff_weigh_on, \
                               (void *state, const nmp_graph *knn, nmp_graph *out), state, knn, out)

/* Largest number of edges in one row. */
int64_t aff_max_degree(const nmp_graph *g);

/* out = A op A^T over the union of both edge sets, rows sorted by neighbour id. Duplicate
 * edges within a row of A are merged first, keeping the largest weight. A NULL a->weight
 * counts every edge as 1. Deterministic for any thread count. out is host->alloc'd. */
nmp_status aff_symmetrize(const nmp_host *h, const nmp_graph *a, aff_sym_op op, double mix, nmp_graph *out);
/* Replaces *g (which this code allocated) by its symmetrisation, releasing the old arrays. */
nmp_status aff_symmetrize_replace(const nmp_host *h, nmp_graph *g, aff_sym_op op, double mix);

/* Divides every row by its sum (rows summing to 0 stay as they are). */
void aff_normalize_rows(const nmp_host *h, nmp_graph *g);
/* Sum of all weights, reduced in worker order (deterministic for a given thread count). */
double aff_weight_total(const nmp_host *h, const nmp_graph *g);
/* Scales all weights so they sum to `total` (nothing happens if they sum to 0). */
void aff_scale_total(const nmp_host *h, nmp_graph *g, double total);
/* Removes edges of weight 0 in place (arrays keep their size; offsets are rewritten). */
void aff_drop_zeros(nmp_graph *g);

/* offsets[0] = 0 and offsets[i + 1] += offsets[i]: counts in [1..n] become CSR offsets. */
void aff_prefix_sum(int64_t *offsets, int64_t n);

#endif
