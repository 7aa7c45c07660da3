/* affinity/umap: UMAP's fuzzy simplicial set as umap-learn builds it (smooth_knn_dist,
 * compute_membership_strengths, fuzzy union), on the directed kNN graph. */
#include <math.h>
#include <stdlib.h>

#include "aff_csr.h"
#include "nomad/plugin.h"

static const nmp_param_decl umap_params[] = {
    {"local_connectivity", NMP_PARAM_DOUBLE, "1.0", 0.0, 1e4, NULL,
     "neighbours assumed fully connected: rho_i = distance to this (interpolated) nearest neighbour"},
    {"bandwidth", NMP_PARAM_DOUBLE, "1.0", 1e-6, 1e6, NULL,
     "sigma_i targets sum_j exp(-(d_ij - rho_i) / sigma_i) = bandwidth * log2(k)"},
    {"n_iter", NMP_PARAM_INT, "64", 1, 100000, NULL, "binary-search steps for sigma_i at most"},
    {"tol", NMP_PARAM_DOUBLE, "1e-5", 1e-14, 1.0, NULL,
     "search stops when |sum - target| < tol (umap-learn SMOOTH_K_TOLERANCE)"},
    {"min_dist_scale", NMP_PARAM_DOUBLE, "1e-3", 0.0, 1.0, NULL,
     "sigma_i >= min_dist_scale * mean distance of row i (umap-learn MIN_K_DIST_SCALE)"},
    {"set_op_mix_ratio", NMP_PARAM_DOUBLE, "1.0", 0.0, 1.0, NULL,
     "1: fuzzy union a + b - ab; 0: fuzzy intersection ab; in between: a mix"},
    {"distance", NMP_PARAM_ENUM, "sqrt", 1, 0, "sqrt|as_is",
     "sqrt: the ann's l2 distances are squared, UMAP wants Euclidean ones; as_is: use them (cosine)"},
    {"count_self", NMP_PARAM_BOOL, "false", 1, 0, NULL,
     "true: count the point as its own 0-distance neighbour like umap-learn (its n_neighbors = k + 1)"},
};

typedef struct {
    const nmp_host *host;
    double local_connectivity, bandwidth, tol, min_dist_scale, mix;
    int64_t n_iter;
    int take_sqrt, count_self;
} umap_state;

static nmp_status umap_create(const nmp_host *host, const nmp_params *params, void **state)
{
    umap_state *st = *state = nmp_state_new(host, sizeof *st, "umap");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->local_connectivity = nmp_param_double(params, "local_connectivity");
    st->bandwidth = nmp_param_double(params, "bandwidth");
    st->n_iter = nmp_param_int(params, "n_iter");
    st->tol = nmp_param_double(params, "tol");
    st->min_dist_scale = nmp_param_double(params, "min_dist_scale");
    st->mix = nmp_param_double(params, "set_op_mix_ratio");
    st->take_sqrt = nmp_param_is(params, "distance", "sqrt");
    st->count_self = (int)nmp_param_int(params, "count_self");
    return NMP_OK;
}

typedef struct {
    const umap_state *st;
    const nmp_graph *knn;
    nmp_graph *out;
    double *partial;    /* per worker: sum of distances (for the global mean) */
    double global_mean; /* mean distance over all edges (and self entries with count_self) */
} umap_ctx;

/* The distance UMAP sees for edge e; self edges are not neighbours and are skipped by callers. */
static double edge_dist(const umap_ctx *c, int64_t e)
{
    double d = c->knn->dist[e];
    return c->st->take_sqrt ? sqrt(d > 0.0 ? d : 0.0) : d;
}

static void mean_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    umap_ctx *c = ctx;
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++)
        for (int64_t e = c->knn->offsets[i]; e < c->knn->offsets[i + 1]; e++)
            if (c->knn->index[e] != i) sum += edge_dist(c, e);
    c->partial[worker] = sum;
}

/* rho_i: distance to the local_connectivity-th nearest neighbour at a positive distance,
 * interpolated between neighbours for a fractional value (umap-learn smooth_knn_dist). */
static double row_rho(const umap_ctx *c, int64_t i)
{
    double lc = c->st->local_connectivity, frac = lc - floor(lc), prev = 0.0, last = 0.0;
    int64_t want = (int64_t)floor(lc), seen = 0;
    for (int64_t e = c->knn->offsets[i]; e < c->knn->offsets[i + 1]; e++) {
        double d = edge_dist(c, e);
        if (c->knn->index[e] == i || !(d > 0.0)) continue;
        seen++;
        last = d;
        if (want == 0) return frac * d; /* lc < 1: a fraction of the nearest */
        if (seen == want && frac <= c->st->tol) return d;
        if (seen == want + 1) return prev + frac * (d - prev);
        prev = d;
    }
    return last; /* fewer positive distances than asked: the largest (0 if none) */
}

/* sum_j exp(-max(0, d_ij - rho) / sigma) over the row's real neighbours. */
static double row_psum(const umap_ctx *c, int64_t i, double rho, double sigma)
{
    double psum = 0.0;
    for (int64_t e = c->knn->offsets[i]; e < c->knn->offsets[i + 1]; e++) {
        if (c->knn->index[e] == i) continue;
        double d = edge_dist(c, e) - rho;
        psum += d > 0.0 ? exp(-d / sigma) : 1.0;
    }
    return psum;
}

/* sigma_i by umap-learn's bisection (start 1, double until bracketed), then its floor. */
static double row_sigma(const umap_ctx *c, int64_t i, double rho, int64_t k_real)
{
    const umap_state *st = c->st;
    double target = log2((double)(k_real + st->count_self)) * st->bandwidth;
    double lo = 0.0, hi = INFINITY, mid = 1.0, dsum = 0.0;
    for (int64_t step = 0; step < st->n_iter; step++) {
        double psum = row_psum(c, i, rho, mid);
        if (fabs(psum - target) < st->tol) break;
        if (psum > target) {
            hi = mid;
            mid = 0.5 * (lo + hi);
        } else {
            lo = mid;
            mid = isinf(hi) ? mid * 2.0 : 0.5 * (lo + hi);
        }
    }
    for (int64_t e = c->knn->offsets[i]; e < c->knn->offsets[i + 1]; e++)
        if (c->knn->index[e] != i) dsum += edge_dist(c, e);
    double row_mean = dsum / (double)(k_real + st->count_self);
    double floor_at = st->min_dist_scale * (rho > 0.0 ? row_mean : c->global_mean);
    return mid < floor_at ? floor_at : mid;
}

static void member_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    umap_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++) {
        int64_t k_real = 0;
        for (int64_t e = c->knn->offsets[i]; e < c->knn->offsets[i + 1]; e++) k_real += c->knn->index[e] != i;
        double rho = row_rho(c, i), sigma = k_real > 0 ? row_sigma(c, i, rho, k_real) : 1.0;
        for (int64_t e = c->knn->offsets[i]; e < c->knn->offsets[i + 1]; e++) {
            double d = edge_dist(c, e) - rho;
            double w = c->knn->index[e] == i ? 0.0 : (d <= 0.0 || sigma == 0.0) ? 1.0 : exp(-d / sigma);
            c->out->weight[e] = (float)w;
        }
    }
}

static nmp_status memberships(umap_state *st, const nmp_graph *knn, nmp_graph *out)
{
    const nmp_host *h = st->host;
    umap_ctx c = {st, knn, out, calloc((size_t)h->threads, sizeof(double)), 0.0};
    nmp_status s = c.partial ? aff_graph_clone_structure(h, knn, out) : NMP_ERR_NOMEM;
    if (s == NMP_OK) {
        h->parallel_for(h, knn->n, mean_body, &c);
        double sum = 0.0;
        for (int w = 0; w < h->threads; w++) sum += c.partial[w];
        double count = (double)nmp_graph_nnz(knn) + (st->count_self ? (double)knn->n : 0.0);
        c.global_mean = count > 0.0 ? sum / count : 0.0;
        h->parallel_for(h, knn->n, member_body, &c);
    } else if (!c.partial) {
        h->set_error(h, "umap: out of memory");
    }
    free(c.partial);
    return s;
}

static nmp_status umap_weigh(void *state, const nmp_graph *knn, nmp_graph *out)
{
    umap_state *st = state;
    const nmp_host *h = st->host;
    nmp_status s = aff_graph_check(h, "umap", knn, 1);
    if (s == NMP_OK) s = memberships(st, knn, out);
    if (s != NMP_OK) return s;
    s = aff_symmetrize_replace(h, out, AFF_SYM_FUZZY, st->mix);
    if (s != NMP_OK) {
        aff_graph_release(h, out);
        return s;
    }
    /* umap-learn eliminates zeros (self edges, underflowed weights); the weights are kept as
     * memberships in [0, 1], not normalised: the UMAP loss samples edges by weight itself. */
    aff_drop_zeros(out);
    return NMP_OK;
}

NMP_PLUGIN_REGISTER(NMP_KIND_AFFINITY, "umap", "1.0.0",
                    "UMAP fuzzy simplicial set: smooth kNN distances, fuzzy union, unnormalised memberships",
                    NMP_PARAMS(umap_params), umap_create, free, (.weigh = umap_weigh), NULL);
