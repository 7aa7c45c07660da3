/* affinity/perplexity: t-SNE's Gaussian conditionals p_j|i on the kNN distances with a per-point
 * precision found by binary search to match the perplexity (as openTSNE), then symmetrised. */
#include <math.h>
#include <stdlib.h>

#include "aff_csr.h"
#include "affinity_cpu.h"
#include "nomad/plugin.h"

static const nmp_param_decl perplexity_params[] = {
    {"perplexity", NMP_PARAM_DOUBLE, "30", 1.0, 1e5, NULL,
     "target perplexity exp(H(P_i)); must be below k (openTSNE uses k = 3 * perplexity)"},
    {"tol", NMP_PARAM_DOUBLE, "1e-5", 1e-14, 1.0, NULL,
     "stop the search when |H(P_i) - log(perplexity)| <= tol (nats)"},
    {"max_steps", NMP_PARAM_INT, "200", 1, 100000, NULL, "binary-search steps per point at most"},
    {"symmetrize", NMP_PARAM_BOOL, "true", 1, 0, NULL,
     "true: joint P = (P + P^T) / (2n), stored times n so the mean row sum is 1; false: p_j|i"},
};

typedef struct {
    const nmp_host *host;
    double perplexity, tol;
    int64_t max_steps;
    int symmetrize;
} perplexity_state;

static nmp_status perplexity_create(const nmp_host *host, const nmp_params *params, void **state)
{
    perplexity_state *st = *state = nmp_state_new(host, sizeof *st, "perplexity");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->perplexity = nmp_param_double(params, "perplexity");
    st->tol = nmp_param_double(params, "tol");
    st->max_steps = nmp_param_int(params, "max_steps");
    st->symmetrize = (int)nmp_param_int(params, "symmetrize");
    return NMP_OK;
}

typedef struct {
    const perplexity_state *st;
    const nmp_graph *knn;
    nmp_graph *out;
    int64_t *missed; /* per worker: rows that did not reach the tolerance */
} search_ctx;

static void search_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    search_ctx *c = ctx;
    int64_t missed = 0;
    for (int64_t i = begin; i < end; i++) {
        int64_t first = c->knn->offsets[i], k = c->knn->offsets[i + 1] - first;
        if (k > 0) missed += !affinity_perplexity_row_cpu(c->knn->dist + first, k, c->st->perplexity, c->st->tol, c->st->max_steps,
                                                            c->out->weight + first);
    }
    c->missed[worker] = missed;
}

static nmp_status conditionals(perplexity_state *st, const nmp_graph *knn, nmp_graph *out)
{
    const nmp_host *h = st->host;
    int64_t *missed = calloc((size_t)h->threads, sizeof *missed);
    nmp_status s = missed ? aff_graph_clone_structure(h, knn, out) : NMP_ERR_NOMEM;
    if (s == NMP_OK) {
        search_ctx c = {st, knn, out, missed};
        h->parallel_for(h, knn->n, search_body, &c);
        int64_t total = 0;
        for (int w = 0; w < h->threads; w++) total += missed[w];
        if (total > 0)
            h->log(h, NMP_LOG_WARN,
                   "perplexity: %lld of %lld points missed perplexity %g within tol %g in %lld steps "
                   "(rows with few neighbours cannot reach it)",
                   (long long)total, (long long)knn->n, st->perplexity, st->tol, (long long)st->max_steps);
    } else if (!missed) {
        h->set_error(h, "perplexity: out of memory");
    }
    free(missed);
    return s;
}

static nmp_status perplexity_weigh(void *state, const nmp_graph *knn, nmp_graph *out)
{
    perplexity_state *st = state;
    const nmp_host *h = st->host;
    nmp_status s = aff_graph_check(h, "perplexity", knn, 1);
    if (s != NMP_OK) return s;
    int64_t kmax = aff_max_degree(knn);
    if (st->perplexity >= (double)kmax) {
        h->set_error(h, "perplexity: perplexity %g must be < k = %lld (neighbours per point); lower it or raise k",
                     st->perplexity, (long long)kmax);
        return NMP_ERR_INVALID;
    }
    s = conditionals(st, knn, out);
    if (s != NMP_OK || !st->symmetrize) return s;
    /* (P + P^T) / (2n) is the joint P of t-SNE; times n it is (P + P^T) / 2, whose rows sum to 1
     * on average, which suits an optimiser that draws targets uniformly and uses row weights. */
    s = aff_symmetrize_replace(h, out, AFF_SYM_MEAN, 0.0);
    if (s != NMP_OK) aff_graph_release(h, out);
    return s;
}

NMP_PLUGIN_REGISTER(NMP_KIND_AFFINITY, "perplexity", "1.0.0",
                    "t-SNE Gaussian affinities calibrated to a perplexity, symmetrised (openTSNE)",
                    NMP_PARAMS(perplexity_params), perplexity_create, free, (.weigh = perplexity_weigh), NULL);
