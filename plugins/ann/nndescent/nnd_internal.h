/* Shared declarations of the nndescent ann plugin's files: parameters and the working graph
 * of one group (a cell, or all points). */
#ifndef NOMAD_NND_INTERNAL_H
#define NOMAD_NND_INTERNAL_H

#include "nomad/plugin.h"

/* Counter purposes on NMP_STREAM_ANN. */
enum { NND_RNG_INIT = 1, NND_RNG_FORWARD = 2, NND_RNG_REVERSE = 3, NND_RNG_CAP = 4, NND_RNG_TREE = 5 };

typedef struct {
    const nmp_host *host;
    int global;           /* scope: one group of all points instead of one per cell */
    int64_t iterations;
    double sample_rate;
    double delta;
    int64_t max_candidates;
    int64_t join_block;
    int64_t trees;     /* random projection trees for the initial graph (0 = random only) */
    int64_t leaf_size; /* most points in a tree leaf */
} nndescent_state;

/* A proposed edge target -> source at distance dist, from a local join. */
typedef struct {
    int32_t target, source;
    float dist;
} nnd_proposal;

/* An id with a random priority: samples keep the lowest priorities. */
typedef struct {
    uint64_t prio;
    int32_t id;
} nnd_ranked;

typedef struct {
    nnd_proposal *p;
    size_t n, cap;
} nnd_buffer;

/* One group's working graph; point ids are local (0..s-1), member maps them to global. */
typedef struct {
    const nmp_host *h;
    const nndescent_state *st;
    const nmp_matrix *x;
    nmp_metric metric;
    const float *inv_norm;   /* n, cosine only, else NULL */
    const int32_t *member;   /* s global ids */
    int64_t s;
    int32_t K;               /* neighbours per point (< s) */
    int32_t *nb;             /* s x K, each row sorted by (distance, id) */
    float *nd;               /* s x K */
    uint8_t *fresh;          /* s x K: 1 until the entry has taken part in a local join */
    int32_t R, wn, wo;       /* sample size; widths of the new / old candidate lists */
    int32_t *cn, *co;        /* s x wn, s x wo candidates */
    int32_t *cn_len, *co_len; /* s */
    nnd_buffer *buf;         /* host->threads proposal buffers */
    nnd_ranked *scratch;     /* host->threads x scratch_w */
    int64_t scratch_w;
    int64_t iter;
} nnd_group;

float nnd_distance(const nnd_group *g, int32_t u, int32_t v);
/* Random priority of (a, b) for purpose `what` in this iteration. */
uint64_t nnd_priority(const nnd_group *g, int what, int32_t a, int32_t b);

/* Orders nnd_ranked by (priority, id). */
int nnd_ranked_cmp(const void *a, const void *b);
/* Fills every row with K distinct random neighbours, sorted. */
void nnd_init_random(nnd_group *g);
/* Builds the new / old candidate lists of this iteration (Dong et al.: sampled forward and
 * reverse neighbours) and marks the sampled forward entries as no longer fresh. */
nmp_status nnd_candidates(nnd_group *g);
/* Proposes u <-> v to each row it would improve (against the graph as it is now) into b;
 * -1 when out of memory. */
int nnd_offer(const nnd_group *g, nnd_buffer *b, int32_t u, int32_t v);
/* Proposes source for target's row at dist if it beats the row's worst; -1 when out of memory. */
int nnd_propose(const nnd_group *g, nnd_buffer *b, int32_t target, int32_t source, float dist);
/* Sorts the proposals of every worker buffer and merges them row by row, then empties the
 * buffers; returns the number of graph entries replaced, -1 when out of memory. */
int64_t nnd_apply(nnd_group *g);
/* Improves the random graph with the leaves of random projection trees (all pairs in a
 * leaf proposed), as pynndescent does; NMP_ERR_NOMEM on failure. */
nmp_status nnd_rptree_init(nnd_group *g);
/* Local joins of every point, applied block by block; returns the number of graph entries
 * replaced, or -1 when out of memory. */
int64_t nnd_join(nnd_group *g);

#endif
