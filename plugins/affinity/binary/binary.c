/* affinity/binary: every kNN edge weighs 1/k_i; optionally symmetrised (max: A union A^T as in
 * InfoNC-t-SNE's symmetric kNN graph; mean: (A + A^T)/2), then normalised by rows or globally.
 * The CUDA entry computes the uniform weights and the row normalisation on the GPU
 * (affinity_cuda.h, the same bits); symmetrising and the global scale stay on the host. */
#include <stdlib.h>

#include "aff_csr.h"
#include "affinity_cpu.h"
#include "nomad/plugin.h"
#include "plugin_device.h"
#ifdef NOMAD_CUDA
#include "affinity_cuda.h"
#endif

static const nmp_param_decl binary_params[] = {
    {"symmetrize", NMP_PARAM_ENUM, "none", 1, 0, "none|max|mean",
     "none: directed kNN; max: union with weights max(a_ij, a_ji); mean: (a_ij + a_ji) / 2"},
    {"normalize", NMP_PARAM_ENUM, "rows", 1, 0, "rows|global|none",
     "after symmetrising: rows sum to 1; global: all weights sum to n (mean row sum 1); none"},
};

typedef enum { BINARY_SYM_NONE, BINARY_SYM_MAX, BINARY_SYM_MEAN } binary_sym;
typedef enum { BINARY_NORM_ROWS, BINARY_NORM_GLOBAL, BINARY_NORM_NONE } binary_norm;

typedef struct {
    const nmp_host *host;
    binary_sym symmetrize;
    binary_norm normalize;
} binary_state;

static nmp_status binary_create(const nmp_host *host, const nmp_params *params, void **state)
{
    binary_state *st = *state = nmp_state_new(host, sizeof *st, "binary");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->symmetrize = nmp_param_is(params, "symmetrize", "max")    ? BINARY_SYM_MAX
                     : nmp_param_is(params, "symmetrize", "mean") ? BINARY_SYM_MEAN
                                                                  : BINARY_SYM_NONE;
    st->normalize = nmp_param_is(params, "normalize", "global") ? BINARY_NORM_GLOBAL
                    : nmp_param_is(params, "normalize", "none") ? BINARY_NORM_NONE
                                                                : BINARY_NORM_ROWS;
    return NMP_OK;
}

static void uniform_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    nmp_graph *g = ctx;
    affinity_uniform_cpu(g->offsets, begin, end, g->weight);
}

/* g->weight = 1/k per row, then (normalize_rows) each row divided by its sum, on `dev`. */
static nmp_status uniform_on(const nmp_host *h, nmp_graph *g, int normalize_rows, plugin_device dev)
{
#ifdef NOMAD_CUDA
    if (dev == PLUGIN_ON_CUDA) {
        nmp_gpu_err e = {0};
        return plugin_gpu_status(h, affinity_uniform_cuda(g->offsets, g->n, normalize_rows, g->weight, &e), &e);
    }
#endif
    h->parallel_for(h, g->n, uniform_body, g);
    if (normalize_rows) aff_normalize_rows(h, g);
    return NMP_OK;
}

static nmp_status normalize_rows_on(const nmp_host *h, nmp_graph *g, plugin_device dev)
{
#ifdef NOMAD_CUDA
    if (dev == PLUGIN_ON_CUDA) {
        nmp_gpu_err e = {0};
        return plugin_gpu_status(h, affinity_normalize_rows_cuda(g->offsets, g->n, g->weight, &e), &e);
    }
#endif
    aff_normalize_rows(h, g);
    return NMP_OK;
}

/* The weights of out (knn's structure): row normalisation folded into the uniform pass when
 * nothing comes between them. */
static nmp_status binary_weights(const void *state, const nmp_graph *knn, nmp_graph *out, plugin_device dev)
{
    (void)knn;
    const binary_state *st = state;
    const nmp_host *h = st->host;
    int rows = st->normalize == BINARY_NORM_ROWS;
    if (st->symmetrize == BINARY_SYM_NONE) return uniform_on(h, out, rows, dev);
    nmp_status s = uniform_on(h, out, 0, dev);
    if (s == NMP_OK)
        s = aff_symmetrize_replace(h, out, st->symmetrize == BINARY_SYM_MAX ? AFF_SYM_MAX : AFF_SYM_MEAN, 0.0);
    if (s == NMP_OK && rows) s = normalize_rows_on(h, out, dev);
    if (s == NMP_OK && st->normalize == BINARY_NORM_GLOBAL) aff_scale_total(h, out, (double)out->n);
    return s;
}

AFF_REGISTER_EDGE_WEIGHTS("binary", "1.1.0",
                          "uniform kNN weights 1/k, optionally symmetrised (max / mean) and normalised",
                          binary_params, binary_create, binary_weights, binary_state);
