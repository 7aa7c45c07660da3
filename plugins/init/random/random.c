/* init/random: i.i.d. Gaussian layout with a given std, from the counter-based INIT stream
 * (value of point i, coordinate c is draw i * dims + c: independent of the thread count). */
#include <stdlib.h>

#include "init_layout.h"
#include "nomad/plugin.h"

static const nmp_param_decl random_params[] = {
    {"std", NMP_PARAM_DOUBLE, "1e-4", 0.0, 1e6, NULL, "standard deviation of every coordinate"},
};

typedef struct {
    const nmp_host *host;
    double std;
} random_state;

static nmp_status random_create(const nmp_host *host, const nmp_params *params, void **state)
{
    random_state *st = *state = nmp_state_new(host, sizeof *st, "random");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->std = nmp_param_double(params, "std");
    return NMP_OK;
}

typedef struct {
    uint64_t seed;
    double std;
    int32_t dims;
    float *y;
} fill_ctx;

static void fill_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    fill_ctx *c = ctx;
    for (int64_t v = begin * c->dims; v < end * c->dims; v++)
        c->y[v] = (float)(c->std * init_gaussian(c->seed, (uint64_t)v));
}

static nmp_status random_init(void *state, const nmp_matrix *x, const nmp_graph *graph, int32_t dims, float *y)
{
    random_state *st = state;
    const nmp_host *h = st->host;
    int64_t n = x ? x->n : graph ? graph->n : -1;
    if (n < 0 || dims < 1 || !y) {
        h->set_error(h, "random: needs the data (or a graph) for n, dims >= 1 and an output buffer");
        return NMP_ERR_INVALID;
    }
    fill_ctx c = {h->seed, st->std, dims, y};
    h->parallel_for(h, n, fill_body, &c);
    return NMP_OK;
}

NMP_PLUGIN_REGISTER(NMP_KIND_INIT, "random", "1.1.0", "Gaussian layout N(0, std^2) per coordinate",
                    NMP_PARAMS(random_params), random_create, free, (.init = random_init), NULL);
