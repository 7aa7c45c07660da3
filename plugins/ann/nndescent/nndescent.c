/* The nndescent ann plugin: NN-Descent (Dong, Charikar, Li 2011) inside each cell or over all
 * points, from random neighbours, deterministic for a seed whatever the thread count. */
#include <math.h>
#include <stdlib.h>

#include "ann_common.h"
#include "nnd_internal.h"

static const nmp_param_decl nndescent_params[] = {
    {"scope", NMP_PARAM_ENUM, "cell", 0, -1, "cell|global", "search neighbours inside each cell or among all points"},
    {"iterations", NMP_PARAM_INT, "10", 0, 1e6, NULL, "most NN-Descent iterations (local-join rounds)"},
    {"sample_rate", NMP_PARAM_DOUBLE, "0.5", 1e-6, 1, NULL,
     "rho: fraction of k new forward and reverse neighbours sampled into each point's candidates"},
    {"delta", NMP_PARAM_DOUBLE, "0.001", 0, 1, NULL, "stop when fewer than delta * points * k entries change"},
    {"max_candidates", NMP_PARAM_INT, "50", 1, 1e6, NULL, "most new (and most old) candidates per point per round"},
    {"join_block", NMP_PARAM_INT, "4096", 1, 2147483647.0, NULL,
     "points whose local joins see the same graph before their updates are merged (bounds memory)"},
    {"trees", NMP_PARAM_INT, "8", 0, 1024, NULL,
     "random projection trees whose leaves improve the random initial graph (0 = random init only)"},
    {"leaf_size", NMP_PARAM_INT, "30", 2, 1e6, NULL, "most points in a random projection tree leaf"},
};

static nmp_status nndescent_create(const nmp_host *host, const nmp_params *params, void **state)
{
    nndescent_state *st = nmp_state_new(host, sizeof *st, "nndescent");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->global = nmp_param_is(params, "scope", "global");
    st->iterations = nmp_param_int(params, "iterations");
    st->sample_rate = nmp_param_double(params, "sample_rate");
    st->delta = nmp_param_double(params, "delta");
    st->max_candidates = nmp_param_int(params, "max_candidates");
    st->join_block = nmp_param_int(params, "join_block");
    st->trees = nmp_param_int(params, "trees");
    st->leaf_size = nmp_param_int(params, "leaf_size");
    if (st->leaf_size < 2 || st->trees < 0 || !(st->sample_rate > 0 && st->sample_rate <= 1) ||
        st->max_candidates < 1 || st->join_block < 1 || st->iterations < 0) {
        host->set_error(host, "nndescent: need 0 < sample_rate <= 1, max_candidates >= 1, join_block >= 1, "
                              "iterations >= 0, trees >= 0, leaf_size >= 2");
        free(st);
        return NMP_ERR_INVALID;
    }
    *state = st;
    return NMP_OK;
}

static void group_free(nnd_group *g)
{
    for (int w = 0; g->buf && w < g->h->threads; w++) free(g->buf[w].p);
    free(g->nb), free(g->nd), free(g->fresh), free(g->cn), free(g->co), free(g->cn_len), free(g->co_len);
    free(g->buf), free(g->scratch);
}

static nmp_status group_alloc(nnd_group *g)
{
    size_t s = (size_t)g->s, K = (size_t)g->K;
    int64_t maxc = g->st->max_candidates;
    g->R = (int32_t)ceil(g->st->sample_rate * g->K);
    if (g->R < 1) g->R = 1;
    if (g->R > g->K) g->R = g->K;
    g->wn = (int32_t)(2 * g->R < maxc ? 2 * g->R : maxc);
    g->wo = (int32_t)(g->K + g->R < maxc ? g->K + g->R : maxc);
    g->scratch_w = g->K + g->R; /* the largest list: old forward + sampled reverse */
    g->nb = malloc(s * K * sizeof *g->nb), g->nd = malloc(s * K * sizeof *g->nd), g->fresh = malloc(s * K);
    g->cn = malloc(s * (size_t)g->wn * sizeof *g->cn), g->co = malloc(s * (size_t)g->wo * sizeof *g->co);
    g->cn_len = malloc(s * sizeof *g->cn_len), g->co_len = malloc(s * sizeof *g->co_len);
    g->buf = calloc((size_t)g->h->threads, sizeof *g->buf);
    g->scratch = malloc((size_t)g->h->threads * (size_t)g->scratch_w * sizeof *g->scratch);
    if (g->nb && g->nd && g->fresh && g->cn && g->co && g->cn_len && g->co_len && g->buf && g->scratch) return NMP_OK;
    return NMP_ERR_NOMEM;
}

/* NN-Descent on one group (more than k + 1 points); rows land in out. */
static nmp_status group_run(nnd_group *g, nmp_graph *out, int64_t done, int64_t total, int64_t *rounds)
{
    nmp_status s = group_alloc(g);
    int64_t it = 0;
    if (s == NMP_OK) nnd_init_random(g);
    if (s == NMP_OK) s = nnd_rptree_init(g);
    for (; s == NMP_OK && it < g->st->iterations; it++) {
        g->iter = it + 1;
        s = nnd_candidates(g);
        int64_t updates = s == NMP_OK ? nnd_join(g) : -1;
        if (updates < 0) s = NMP_ERR_NOMEM;
        g->h->log(g->h, NMP_LOG_DEBUG, "nndescent: group of %lld, round %lld: %lld updates", (long long)g->s,
                  (long long)it + 1, (long long)updates);
        g->h->progress(g->h, "ann", (double)(done + g->s * (it + 1) / g->st->iterations) / (double)total);
        if (s == NMP_OK && (double)updates < g->st->delta * (double)g->s * g->K) {
            it++;
            break;
        }
    }
    for (int64_t l = 0; s == NMP_OK && l < g->s; l++) {
        int64_t at = out->offsets[g->member[l]];
        for (int32_t j = 0; j < g->K; j++) {
            out->index[at + j] = g->member[g->nb[l * g->K + j]];
            out->dist[at + j] = g->nd[l * g->K + j];
        }
    }
    if (s != NMP_OK)
        g->h->set_error(g->h, "nndescent: out of memory on a group of %lld points (k = %d)", (long long)g->s, g->K);
    *rounds = it;
    group_free(g);
    return s;
}

static nmp_status nndescent_build(void *state, const nmp_matrix *x, const nmp_cells *cells, int32_t k,
                                  nmp_metric metric, nmp_graph *out)
{
    nndescent_state *st = state;
    const nmp_host *h = st->host;
    nmp_status s = ann_build_begin(h, "nndescent", k, out);
    if (s != NMP_OK) return s;
    ann_groups groups;
    float *inv_norm = NULL;
    s = ann_groups_make(h, cells, x->n, st->global, &groups);
    if (s == NMP_OK) s = ann_graph_alloc_groups(h, &groups, x->n, k, out);
    if (s == NMP_OK && metric == NMP_METRIC_COSINE && !(inv_norm = ann_inverse_norms(h, x))) {
        h->set_error(h, "nndescent: out of memory for norms");
        s = NMP_ERR_NOMEM;
    }
    int64_t done = 0, most_rounds = 0;
    for (int32_t c = 0; s == NMP_OK && c < groups.count; c++) {
        ann_group grp = ann_groups_get(&groups, c);
        if (grp.count - 1 <= k) { /* every other point is a neighbour: exact is exact and cheap */
            s = ann_exact_group(h, x, grp, k, metric, grp.count > 0 ? grp.count : 1, done, x->n, out);
        } else {
            nnd_group g = {.h = h, .st = st, .x = x, .metric = metric, .inv_norm = inv_norm, .member = grp.member,
                           .s = grp.count, .K = k};
            int64_t rounds;
            s = group_run(&g, out, done, x->n, &rounds);
            if (rounds > most_rounds) most_rounds = rounds;
        }
        done += grp.count;
    }
    if (s == NMP_OK)
        h->log(h, NMP_LOG_INFO, "nndescent: %d groups, at most %lld rounds", groups.count, (long long)most_rounds);
    if (s != NMP_OK && out->offsets) ann_graph_release(h, out);
    free(inv_norm);
    ann_groups_free(&groups);
    return s;
}

NMP_PLUGIN_REGISTER(NMP_KIND_ANN, "nndescent", "1.0.0",
                    "NN-Descent kNN graph per cell or global, deterministic for a seed",
                    NMP_PARAMS(nndescent_params), nndescent_create, free, (.build = nndescent_build), NULL);
