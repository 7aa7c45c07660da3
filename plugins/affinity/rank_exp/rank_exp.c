/* affinity/rank_exp: NOMAD's directed rank weights p_ij = exp(t / r_j) / sum_{r=1..k_i} exp(t / r),
 * r_j = 1 for the nearest neighbour; t = 1 reproduces the paper and nomad-projection 0.0.1.
 * The CUDA entry computes the weights on the GPU (affinity_rank_exp_cuda, the same bits). */
#include <stdlib.h>

#include "aff_csr.h"
#include "affinity_cpu.h"
#include "nomad/plugin.h"
#include "plugin_device.h"
#ifdef NOMAD_CUDA
#include "affinity_cuda.h"
#endif

static const nmp_param_decl rank_exp_params[] = {
    {"temperature", NMP_PARAM_DOUBLE, "1.0", 0.0, 100.0, NULL,
     "extension: weights exp(temperature / rank); 1 is the NOMAD paper, 0 gives uniform 1/k"},
};

typedef struct {
    const nmp_host *host;
    double temperature;
} rank_exp_state;

static nmp_status rank_exp_create(const nmp_host *host, const nmp_params *params, void **state)
{
    rank_exp_state *st = *state = nmp_state_new(host, sizeof *st, "rank_exp");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->temperature = nmp_param_double(params, "temperature");
    return NMP_OK;
}

typedef struct {
    const nmp_graph *knn;
    nmp_graph *out;
    const double *term; /* term[r - 1] = exp(t / r) */
    const double *norm; /* norm[k] = sum_{r=1..k} term[r - 1] */
} weigh_ctx;

/* Rank = position in the row: ann rows come sorted by increasing distance. */
static void weigh_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    weigh_ctx *c = ctx;
    affinity_rank_exp_cpu(c->knn->offsets, begin, end, c->term, c->norm, c->out->weight);
}

static nmp_status weights_cpu(const rank_exp_state *st, const nmp_graph *knn, nmp_graph *out)
{
    const nmp_host *h = st->host;
    int64_t kmax = aff_max_degree(knn);
    double *term = malloc((size_t)(kmax + 1) * sizeof *term);
    double *norm = malloc((size_t)(kmax + 1) * sizeof *norm);
    nmp_status s = term && norm ? NMP_OK : NMP_ERR_NOMEM;
    if (s == NMP_OK) {
        affinity_rank_exp_table_cpu(st->temperature, kmax, term, norm);
        weigh_ctx c = {knn, out, term, norm};
        h->parallel_for(h, knn->n, weigh_body, &c);
    } else {
        h->set_error(h, "rank_exp: out of memory");
    }
    free(term), free(norm);
    return s;
}

/* out->weight of the edges of knn on `dev`; out already has knn's structure. */
static nmp_status weights_on(const void *state, const nmp_graph *knn, nmp_graph *out, plugin_device dev)
{
    const rank_exp_state *st = state;
#ifdef NOMAD_CUDA
    if (dev == PLUGIN_ON_CUDA) {
        nmp_gpu_err e = {0};
        return plugin_gpu_status(st->host,
                                 affinity_rank_exp_cuda(knn->offsets, knn->n, st->temperature, out->weight, &e), &e);
    }
#endif
    (void)dev;
    return weights_cpu(st, knn, out);
}

AFF_REGISTER_EDGE_WEIGHTS("rank_exp", "1.1.0",
                          "NOMAD rank weights exp(1/r) / sum_r exp(1/r), directed, rows sum to 1",
                          rank_exp_params, rank_exp_create, weights_on, rank_exp_state);
