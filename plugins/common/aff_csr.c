/* CSR helpers shared by the affinity plugins: input checks, allocation through the host,
 * row and global normalisation, removal of zero-weight edges. Symmetrisation is aff_sym.c. */
#include "aff_csr.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ checks */

typedef struct {
    const nmp_graph *g;
    int64_t first_bad; /* smallest bad row seen; INT64_MAX when none (atomic min) */
} check_ctx;

static void atomic_min_i64(int64_t *slot, int64_t value)
{
    int64_t seen = __atomic_load_n(slot, __ATOMIC_RELAXED);
    while (value < seen &&
           !__atomic_compare_exchange_n(slot, &seen, value, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static void check_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    check_ctx *c = ctx;
    const nmp_graph *g = c->g;
    for (int64_t i = begin; i < end; i++) {
        int ok = g->offsets[i] >= 0 && g->offsets[i + 1] >= g->offsets[i] && g->offsets[i + 1] <= g->offsets[g->n];
        for (int64_t e = g->offsets[i]; ok && e < g->offsets[i + 1]; e++)
            ok = g->index[e] >= 0 && g->index[e] < g->n;
        if (!ok) {
            atomic_min_i64(&c->first_bad, i);
            return; /* the minimum over workers is still found: each reports its first */
        }
    }
}

nmp_status aff_graph_check(const nmp_host *h, const char *who, const nmp_graph *g, int need_dist)
{
    if (!g || g->n < 0 || !g->offsets || (g->n > 0 && !g->index && g->offsets[g->n] > 0)) {
        h->set_error(h, "%s: input graph is missing its offsets or index arrays", who);
        return NMP_ERR_INVALID;
    }
    if (g->offsets[0] != 0) {
        h->set_error(h, "%s: input graph offsets[0] is %lld, not 0", who, (long long)g->offsets[0]);
        return NMP_ERR_INVALID;
    }
    if (need_dist && !g->dist && nmp_graph_nnz(g) > 0) {
        h->set_error(h, "%s: needs the kNN distances but the input graph has none (dist is NULL)", who);
        return NMP_ERR_INVALID;
    }
    if (g->offsets[g->n] > INT64_MAX / 16) {
        h->set_error(h, "%s: input graph has an impossible edge count", who);
        return NMP_ERR_INVALID;
    }
    check_ctx c = {g, INT64_MAX};
    h->parallel_for(h, g->n, check_body, &c);
    if (c.first_bad != INT64_MAX) {
        h->set_error(h, "%s: input graph row %lld has decreasing offsets or a neighbour id outside [0, %lld)",
                     who, (long long)c.first_bad, (long long)g->n);
        return NMP_ERR_INVALID;
    }
    return NMP_OK;
}

/* ------------------------------------------------------------------ allocation */

nmp_status aff_graph_alloc(const nmp_host *h, int64_t n, int64_t nnz, nmp_graph *g)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    g->offsets = h->alloc((size_t)(n + 1) * sizeof *g->offsets);
    size_t edges = nnz > 0 ? (size_t)nnz : 1; /* a host's alloc(0) may return NULL */
    g->index = h->alloc(edges * sizeof *g->index);
    g->weight = h->alloc(edges * sizeof *g->weight);
    if (g->offsets && g->index && g->weight) return NMP_OK;
    aff_graph_release(h, g);
    h->set_error(h, "out of memory for a graph of %lld points and %lld edges", (long long)n, (long long)nnz);
    return NMP_ERR_NOMEM;
}

void aff_graph_release(const nmp_host *h, nmp_graph *g)
{
    if (g->offsets) h->free(g->offsets);
    if (g->index) h->free(g->index);
    if (g->dist) h->free(g->dist);
    if (g->weight) h->free(g->weight);
    memset(g, 0, sizeof *g);
}

typedef struct {
    const nmp_graph *src;
    nmp_graph *dst;
} clone_ctx;

static void clone_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    clone_ctx *c = ctx;
    const int64_t *off = c->src->offsets;
    memcpy(c->dst->offsets + begin + 1, off + begin + 1, (size_t)(end - begin) * sizeof *off);
    if (off[end] > off[begin]) /* index may be NULL in a graph without edges */
        memcpy(c->dst->index + off[begin], c->src->index + off[begin],
               (size_t)(off[end] - off[begin]) * sizeof(int32_t));
}

nmp_status aff_graph_clone_structure(const nmp_host *h, const nmp_graph *src, nmp_graph *out)
{
    nmp_status s = aff_graph_alloc(h, src->n, nmp_graph_nnz(src), out);
    if (s != NMP_OK) return s;
    out->offsets[0] = 0;
    clone_ctx c = {src, out};
    h->parallel_for(h, src->n, clone_body, &c);
    return NMP_OK;
}

nmp_status aff_weigh_edges(const nmp_host *h, const char *who, const nmp_graph *knn, nmp_graph *out,
                           aff_weigh_fn weigh, const void *state, plugin_device device)
{
    nmp_status s = aff_graph_check(h, who, knn, 0);
    if (s == NMP_OK) s = aff_graph_clone_structure(h, knn, out);
    if (s != NMP_OK) return s; /* out untouched, or released by the clone */
    s = weigh(state, knn, out, device);
    if (s != NMP_OK) aff_graph_release(h, out);
    return s;
}

int64_t aff_max_degree(const nmp_graph *g)
{
    int64_t most = 0;
    for (int64_t i = 0; i < g->n; i++)
        if (g->offsets[i + 1] - g->offsets[i] > most) most = g->offsets[i + 1] - g->offsets[i];
    return most;
}

void aff_prefix_sum(int64_t *offsets, int64_t n)
{
    offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) offsets[i + 1] += offsets[i];
}

/* ------------------------------------------------------------------ normalisation */

static void rows_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    nmp_graph *g = ctx;
    for (int64_t i = begin; i < end; i++) {
        double sum = 0.0;
        for (int64_t e = g->offsets[i]; e < g->offsets[i + 1]; e++) sum += g->weight[e];
        if (sum <= 0.0) continue;
        for (int64_t e = g->offsets[i]; e < g->offsets[i + 1]; e++) g->weight[e] = (float)(g->weight[e] / sum);
    }
}

void aff_normalize_rows(const nmp_host *h, nmp_graph *g) { h->parallel_for(h, g->n, rows_body, g); }

typedef struct {
    nmp_graph *g;
    double *partial; /* one per worker */
    double factor;
} total_ctx;

static void total_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    total_ctx *c = ctx;
    double sum = 0.0;
    for (int64_t e = c->g->offsets[begin]; e < c->g->offsets[end]; e++) sum += c->g->weight[e];
    c->partial[worker] = sum;
}

double aff_weight_total(const nmp_host *h, const nmp_graph *g)
{
    double stack[64];
    double *partial = h->threads <= 64 ? stack : calloc((size_t)h->threads, sizeof *partial);
    if (!partial) return 0.0; /* callers treat 0 as "leave the weights alone" */
    memset(partial, 0, (size_t)h->threads * sizeof *partial);
    total_ctx c = {(nmp_graph *)g, partial, 0.0};
    h->parallel_for(h, g->n, total_body, &c);
    double total = 0.0;
    for (int w = 0; w < h->threads; w++) total += partial[w]; /* worker order: deterministic */
    if (partial != stack) free(partial);
    return total;
}

static void scale_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    total_ctx *c = ctx;
    for (int64_t e = c->g->offsets[begin]; e < c->g->offsets[end]; e++)
        c->g->weight[e] = (float)(c->g->weight[e] * c->factor);
}

void aff_scale_total(const nmp_host *h, nmp_graph *g, double total)
{
    double sum = aff_weight_total(h, g);
    if (!(sum > 0.0)) return;
    total_ctx c = {g, NULL, total / sum};
    h->parallel_for(h, g->n, scale_body, &c);
}

void aff_drop_zeros(nmp_graph *g)
{
    /* Serial: rows move towards the front in place, so a later row may overwrite an earlier
     * row's old slots; one O(nnz) pass is cheap next to building the graph. */
    int64_t write = 0, read = 0;
    for (int64_t i = 0; i < g->n; i++) {
        int64_t end = g->offsets[i + 1];
        for (; read < end; read++) {
            if (g->weight[read] == 0.0f) continue;
            g->index[write] = g->index[read];
            g->weight[write] = g->weight[read];
            if (g->dist) g->dist[write] = g->dist[read];
            write++;
        }
        g->offsets[i + 1] = write;
    }
}
