/* Random projection tree initialisation for NN-Descent (as in pynndescent): each tree splits
 * the group by hyperplanes between two random points; points sharing a leaf are proposed to
 * each other, which gives the descent a far better start than random neighbours. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ann_common.h"
#include "nnd_internal.h"
#include "nomad/rng.h"

typedef struct {
    int64_t start, len;
} nnd_leaf;

typedef struct {
    nnd_group *g;
    int32_t **idx;    /* trees x s: local ids, reordered so every leaf is a contiguous range */
    nnd_leaf **leaf;  /* trees: leaves of each tree */
    int64_t *leaves;  /* trees: their count */
    int failed;
} tree_ctx;

static const float *row_of(const nnd_group *g, int32_t local) { return g->x->x + (int64_t)g->member[local] * g->x->d; }

/* The hyperplane between rows a and b (angular, through 0, for cosine and IP): its normal
 * into normal (d) and the returned offset; a point p is on a's side when
 * normal . x_p > offset. */
static double plane(const nnd_group *g, int32_t a, int32_t b, float *normal)
{
    const float *xa = row_of(g, a), *xb = row_of(g, b);
    int angular = g->metric != NMP_METRIC_L2;
    double na = 1.0, nb = 1.0, offset = 0.0;
    if (angular) {
        double aa = 0.0, bb = 0.0;
        for (int64_t j = 0; j < g->x->d; j++) aa += (double)xa[j] * xa[j], bb += (double)xb[j] * xb[j];
        na = aa > 0.0 ? 1.0 / sqrt(aa) : 0.0, nb = bb > 0.0 ? 1.0 / sqrt(bb) : 0.0;
    }
    for (int64_t j = 0; j < g->x->d; j++) {
        normal[j] = (float)(xa[j] * na - xb[j] * nb);
        if (!angular) offset += normal[j] * 0.5 * ((double)xa[j] + xb[j]);
    }
    return offset;
}

/* Splits idx[0..len) in place; returns the size of the first part (never 0 or len). */
static int64_t split(const nnd_group *g, int64_t tree, int64_t depth, int64_t start, int32_t *idx, int64_t len,
                     float *normal)
{
    uint64_t node = ((uint64_t)depth << 40) | (uint64_t)start;
    uint64_t ctr = nmp_rng_counter2(nmp_rng_counter2(NND_RNG_TREE, (uint64_t)tree), node);
    int64_t ia = (int64_t)nmp_rng_below(g->h->seed, NMP_STREAM_ANN, ctr, (uint64_t)len);
    int64_t ib = (int64_t)nmp_rng_below(g->h->seed, NMP_STREAM_ANN, ctr ^ 1, (uint64_t)(len - 1));
    ib += ib >= ia;
    double offset = plane(g, idx[ia], idx[ib], normal);
    int64_t left = 0;
    for (int64_t i = 0; i < len; i++) {
        /* -dot = the IP "distance" of the normal to the point, with the vectorised kernel */
        double sd = -(double)ann_distance(normal, row_of(g, idx[i]), g->x->d, NMP_METRIC_IP, 0, 0) - offset;
        /* on the plane (duplicates): a coin from the point's id keeps it deterministic */
        int first = sd > 0.0 || (sd == 0.0 && (nmp_rng_u64(g->h->seed, NMP_STREAM_ANN, ctr ^ (uint64_t)idx[i]) & 1));
        if (first) {
            int32_t t = idx[left];
            idx[left++] = idx[i], idx[i] = t;
        }
    }
    return (left == 0 || left == len) ? len / 2 : left; /* a degenerate split: halve */
}

/* Builds tree t with an explicit stack; leaves land in c->leaf[t]. */
static int build_tree(tree_ctx *c, int64_t t)
{
    const nnd_group *g = c->g;
    /* every part is non-empty, so there are at most s leaves and s pending nodes */
    int64_t nl = 0, top = 0;
    nnd_leaf *leaf = malloc((size_t)g->s * sizeof *leaf);
    int64_t(*stack)[3] = malloc((size_t)(g->s + 1) * sizeof *stack);
    float *normal = malloc((size_t)g->x->d * sizeof *normal + 1);
    int32_t *idx = c->idx[t];
    if (!leaf || !stack || !normal) return free(leaf), free(stack), free(normal), -1;
    for (int64_t i = 0; i < g->s; i++) idx[i] = (int32_t)i;
    stack[top][0] = 0, stack[top][1] = g->s, stack[top++][2] = 0;
    while (top > 0) {
        top--;
        int64_t start = stack[top][0], len = stack[top][1], depth = stack[top][2];
        if (len <= g->st->leaf_size) {
            leaf[nl++] = (nnd_leaf){start, len};
            continue;
        }
        int64_t left = split(g, t, depth, start, idx + start, len, normal);
        stack[top][0] = start + left, stack[top][1] = len - left, stack[top++][2] = depth + 1;
        stack[top][0] = start, stack[top][1] = left, stack[top++][2] = depth + 1;
    }
    free(stack), free(normal);
    c->leaf[t] = leaf, c->leaves[t] = nl;
    return 0;
}

static void build_range(void *vctx, int64_t b, int64_t e, int worker)
{
    (void)worker;
    tree_ctx *c = vctx;
    for (int64_t t = b; t < e; t++)
        if (build_tree(c, t) != 0) c->failed = 1;
}

typedef struct {
    nnd_group *g;
    const int32_t *idx;
    const nnd_leaf *leaf; /* this chunk's leaves */
    int failed;
} offer_ctx;

/* An unsigned key in the order of the float (negative IP distances included). */
static uint32_t float_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

/* One leaf: all its distances, then each point's K nearest in the leaf are proposed (not
 * all leaf - 1: the rest could rarely survive and would only fill the buffers). */
static int offer_leaf(nnd_group *g, nnd_buffer *buf, const int32_t *p, int64_t len, float *dist, nnd_ranked *order)
{
    for (int64_t i = 0; i < len; i++) {
        dist[i * len + i] = 0.0f;
        for (int64_t j = i + 1; j < len; j++) dist[i * len + j] = dist[j * len + i] = nnd_distance(g, p[i], p[j]);
    }
    int rc = 0;
    for (int64_t i = 0; i < len; i++) {
        int64_t m = 0;
        for (int64_t j = 0; j < len; j++)
            if (j != i) order[m++] = (nnd_ranked){(uint64_t)float_key(dist[i * len + j]), (int32_t)j};
        qsort(order, (size_t)m, sizeof *order, nnd_ranked_cmp);
        for (int64_t r = 0; r < m && r < g->K; r++)
            rc |= nnd_propose(g, buf, p[i], p[order[r].id], dist[i * len + order[r].id]);
    }
    return rc;
}

static void offer_range(void *vctx, int64_t b, int64_t e, int worker)
{
    offer_ctx *c = vctx;
    int64_t most = 1;
    for (int64_t l = b; l < e; l++) most = c->leaf[l].len > most ? c->leaf[l].len : most;
    float *dist = malloc((size_t)(most * most) * sizeof *dist);
    nnd_ranked *order = malloc((size_t)most * sizeof *order);
    int rc = dist && order ? 0 : -1;
    for (int64_t l = b; l < e && rc == 0; l++)
        rc = offer_leaf(c->g, &c->g->buf[worker], c->idx + c->leaf[l].start, c->leaf[l].len, dist, order);
    if (rc) c->failed = 1;
    free(dist), free(order);
}

/* Proposes the pairs of every leaf of tree t, applied after each join_block points. */
static int offer_tree(tree_ctx *c, int64_t t)
{
    nnd_group *g = c->g;
    for (int64_t l0 = 0; l0 < c->leaves[t];) {
        int64_t l1 = l0, points = 0;
        while (l1 < c->leaves[t] && points < g->st->join_block) points += c->leaf[t][l1++].len;
        offer_ctx o = {g, c->idx[t], c->leaf[t] + l0, 0};
        g->h->parallel_for(g->h, l1 - l0, offer_range, &o);
        if (o.failed || nnd_apply(g) < 0) return -1;
        l0 = l1;
    }
    return 0;
}

nmp_status nnd_rptree_init(nnd_group *g)
{
    int64_t T = g->st->trees;
    if (T <= 0) return NMP_OK;
    tree_ctx c = {g, calloc((size_t)T, sizeof(int32_t *)), calloc((size_t)T, sizeof(nnd_leaf *)),
                  calloc((size_t)T, sizeof(int64_t)), 0};
    int ok = c.idx && c.leaf && c.leaves;
    for (int64_t t = 0; ok && t < T; t++) ok = (c.idx[t] = malloc((size_t)g->s * sizeof(int32_t))) != NULL;
    if (ok) g->h->parallel_for(g->h, T, build_range, &c);
    ok = ok && !c.failed;
    for (int64_t t = 0; ok && t < T; t++) ok = offer_tree(&c, t) == 0;
    for (int64_t t = 0; c.idx && c.leaf && t < T; t++) free(c.idx[t]), free(c.leaf[t]);
    free(c.idx), free(c.leaf), free(c.leaves);
    return ok ? NMP_OK : NMP_ERR_NOMEM;
}
