/* The exact_cell ann plugin (NOMAD): exact kNN inside each cell by blocked GEMM + top-k.
 * Edges to other cells are lost by design (scope cell); cells of <= k points give rows of
 * size - 1. `lists` splits each searched group into k-means lists (ivf.h).
 * The CUDA entry runs each cell's search (knn_topk_cuda, f32) and, with pca, the covariance
 * and projection on the GPU; the eigensolve and the refine pass stay on the host. */
#include <stdint.h>
#include <stdlib.h>

#include "plugin_device.h"
#include "ann_common.h"
#include "ivf.h"
#ifdef NOMAD_CUDA
#include "knn_cuda.h"
#endif

static const nmp_param_decl exact_cell_params[] = {
    {"scope", NMP_PARAM_ENUM, "cell", 0, -1, "cell|global",
     "search neighbours inside each cell (NOMAD) or among all points (no edge lost at a cell border)"},
    {"query_block", NMP_PARAM_INT, "65536", 1, 2147483647.0, NULL,
     "queries per kernel call: bounds the scratch result buffers (query_block x k)"},
    {"pca", NMP_PARAM_INT, "0", 0, 1000000, NULL,
     "search in the top N principal components (l2 only; 0 or >= d: in the input space); the graph's "
     "distances are then the projected ones"},
    {"pca_sample", NMP_PARAM_INT, "20000", 2, 4e18, NULL, "rows drawn (ANN stream) to fit the principal axes"},
    {"refine", NMP_PARAM_INT, "3", 0, 1000, NULL,
     "with pca: search refine x k candidates in the projection, keep the k nearest in the input space "
     "(<= 1: keep the projected neighbours)"},
    {"lists", NMP_PARAM_INT, "0", 0, 2147483647.0, NULL,
     "0: every point against its whole cell; L >= 2: each cell split into up to L k-means lists (about k "
     "points or more each) and every point searched in its `probe` nearest lists only (CPU; IVF-flat)"},
    {"list_size", NMP_PARAM_INT, "0", 0, 2147483647.0, NULL,
     "with lists: a group of more than lists x list_size points gets about one list per list_size points, so a "
     "point's search costs the same at any n (0 = `lists` at any size)"},
    {"probe", NMP_PARAM_INT, "4", 1, 2147483647.0, NULL, "with lists: lists searched per point (more: slower, higher recall)"},
    {"list_iterations", NMP_PARAM_INT, "5", 0, 1000, NULL, "with lists: Lloyd iterations fitting each cell's lists"},
};

typedef struct {
    const nmp_host *host;
    int64_t query_block, pca, pca_sample, refine;
    int global;
    ivf_opts ivf;
} exact_cell_state;

static nmp_status exact_cell_create(const nmp_host *host, const nmp_params *params, void **state)
{
    exact_cell_state *st = *state = nmp_state_new(host, sizeof *st, "exact_cell");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->query_block = nmp_param_int(params, "query_block");
    st->pca = nmp_param_int(params, "pca");
    st->pca_sample = nmp_param_int(params, "pca_sample");
    st->refine = nmp_param_int(params, "refine");
    st->global = nmp_param_is(params, "scope", "global");
    st->ivf = (ivf_opts){nmp_param_int(params, "lists"), nmp_param_int(params, "list_size"),
                         nmp_param_int(params, "probe"), nmp_param_int(params, "list_iterations")};
    if (st->query_block < 1) st->query_block = 1;
    return NMP_OK;
}

static int projected(const exact_cell_state *st, const nmp_matrix *x) { return st->pca > 0 && st->pca < x->d; }

/* Neighbours searched per point in the projection before the refine pass. */
static int32_t candidates(const exact_cell_state *st, int32_t k)
{
    int64_t kc = (int64_t)k * st->refine;
    return kc > INT32_MAX ? INT32_MAX : (int32_t)kc;
}

/* The GPU top-k keeps at most KNN_CUDA_MAX_K neighbours per query: refuses, naming the
 * parameter, a build whose largest cell would need more. */
static nmp_status cuda_limits(const exact_cell_state *st, const nmp_matrix *x, const ann_groups *g, int32_t k)
{
#ifdef NOMAD_CUDA
    int64_t largest = 0;
    for (int32_t c = 0; c < g->count; c++)
        if (g->start[c + 1] - g->start[c] > largest) largest = g->start[c + 1] - g->start[c];
    int refining = projected(st, x) && st->refine > 1;
    int64_t want = refining ? candidates(st, k) : k;
    if (want > largest - 1) want = largest - 1;
    if (want <= KNN_CUDA_MAX_K) return NMP_OK;
    const nmp_host *h = st->host;
    if (refining)
        h->set_error(h, "exact_cell: device cuda keeps at most %d candidates per point, ann.refine x ann.k = %lld",
                     KNN_CUDA_MAX_K, (long long)st->refine * k);
    else
        h->set_error(h, "exact_cell: device cuda keeps at most %d neighbours per point, ann.k = %d", KNN_CUDA_MAX_K, k);
    return NMP_ERR_UNSUPPORTED;
#else
    return NMP_OK;
#endif
}

/* Does cell c of this build use inverted lists? */
static int uses_lists(const exact_cell_state *st, ann_group grp, int32_t k, nmp_metric metric, plugin_device dev)
{
    int32_t kk = grp.count - 1 < k ? (int32_t)(grp.count - 1) : k;
    return dev == PLUGIN_ON_CPU && metric == NMP_METRIC_L2 && ivf_lists_for(st->ivf, grp.count, kk) >= 2;
}

/* Exact kNN (k per point) of x inside each cell into out (with lists: in each point's nearest
 * lists of its cell). order (n, or NULL) receives the points cell by cell, list by list. */
static nmp_status search_cells(const exact_cell_state *st, const nmp_matrix *x, const ann_groups *g, int32_t k,
                               nmp_metric metric, plugin_device dev, int32_t *order, nmp_graph *out)
{
    const nmp_host *h = st->host;
    nmp_status s = ann_graph_alloc_groups(h, g, x->n, k, out);
    int64_t done = 0;
    /* cells one after another: the kernel spreads each cell's queries over all threads */
    for (int32_t c = 0; s == NMP_OK && c < g->count; c++) {
        ann_group grp = ann_groups_get(g, c);
        int32_t *at = order ? order + done : NULL;
        if (uses_lists(st, grp, k, metric, dev)) {
            s = ivf_search_group(h, x, grp, k, st->ivf, done, x->n, at, out);
        } else {
            s = ann_exact_group_on(h, x, grp, k, metric, st->query_block, done, x->n, dev, out);
            for (int64_t i = 0; at && i < grp.count; i++) at[i] = grp.member[i];
        }
        done += grp.count;
    }
    if (s != NMP_OK && out->offsets) ann_graph_release(h, out);
    return s;
}

/* The search in a projection: refine * k candidates per point there, the k nearest of them
 * by the input-space distance kept (refine <= 1: the projected neighbours as they are). */
static nmp_status search_projected(const exact_cell_state *st, const nmp_matrix *x, const ann_groups *g, int32_t k,
                                   plugin_device dev, nmp_graph *out)
{
    const nmp_host *h = st->host;
    float *proj = NULL;
    nmp_matrix xp;
    nmp_status s = ann_project(h, "ann", x, (int32_t)st->pca, st->pca_sample, dev, &xp, &proj);
    if (s == NMP_OK && st->refine <= 1) s = search_cells(st, &xp, g, k, NMP_METRIC_L2, dev, NULL, out);
    int32_t *order = NULL;
    if (s == NMP_OK && st->refine > 1 && !(order = malloc((size_t)x->n * sizeof *order + 1))) {
        h->set_error(h, "exact_cell: out of memory for the refine order of %lld points", (long long)x->n);
        s = NMP_ERR_NOMEM;
    }
    if (s == NMP_OK && st->refine > 1) {
        nmp_graph cand;
        s = search_cells(st, &xp, g, candidates(st, k), NMP_METRIC_L2, dev, order, &cand);
        if (s == NMP_OK) s = ann_graph_alloc_groups(h, g, x->n, k, out);
        if (s == NMP_OK) s = ann_refine(h, x, &cand, order, out);
        if (s != NMP_OK && out->offsets) ann_graph_release(h, out);
        if (cand.offsets) ann_graph_release(h, &cand);
    }
    free(order);
    free(proj);
    return s;
}

static nmp_status exact_cell_build_on(exact_cell_state *st, const nmp_matrix *x, const nmp_cells *cells, int32_t k,
                                      nmp_metric metric, nmp_graph *out, plugin_device dev)
{
    const nmp_host *h = st->host;
    nmp_status s = ann_build_begin(h, "exact_cell", k, out);
    if (s != NMP_OK) return s;
    if (cells && cells->n != x->n) {
        h->set_error(h, "exact_cell: partition has %lld points, data %lld", (long long)cells->n, (long long)x->n);
        return NMP_ERR_INVALID;
    }
    if (projected(st, x) && metric != NMP_METRIC_L2) {
        h->set_error(h, "exact_cell: pca = %lld works with ann.metric l2 only (the projection centres the data)",
                     (long long)st->pca);
        return NMP_ERR_INVALID;
    }
    if (st->ivf.lists > 1 && metric != NMP_METRIC_L2) {
        h->set_error(h, "exact_cell: lists = %lld works with ann.metric l2 only (k-means lists)",
                     (long long)st->ivf.lists);
        return NMP_ERR_INVALID;
    }
    if (st->ivf.lists > 1 && dev == PLUGIN_ON_CUDA)
        h->log(h, NMP_LOG_INFO, "exact_cell: lists apply to the CPU search; the GPU searches every cell whole");
    ann_groups g;
    s = ann_groups_make(h, cells, x->n, st->global, &g);
    if (s == NMP_OK && dev == PLUGIN_ON_CUDA) s = cuda_limits(st, x, &g, k);
    if (s == NMP_OK)
        s = projected(st, x) ? search_projected(st, x, &g, k, dev, out) : search_cells(st, x, &g, k, metric, dev, NULL, out);
    ann_groups_free(&g);
    return s;
}

PLUGIN_REGISTER_ON_DEVICES(NMP_KIND_ANN, "exact_cell", "1.3.0",
                           "Exact kNN inside each cell (GEMM + top-k), the NOMAD reference graph",
                           exact_cell_params, exact_cell_create, free, build, exact_cell_build_on,
                           (void *state, const nmp_matrix *x, const nmp_cells *cells, int32_t k, nmp_metric metric,
                            nmp_graph *out),
                           state, x, cells, k, metric, out);
