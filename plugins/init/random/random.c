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
    *state = NULL;
    nmp_status s = init_host_check(host, "random");
    if (s != NMP_OK) return s;
    random_state *st = calloc(1, sizeof *st);
    if (!st) {
        host->set_error(host, "random: out of memory");
        return NMP_ERR_NOMEM;
    }
    st->host = host;
    st->std = nmp_param_double(params, "std");
    *state = st;
    return NMP_OK;
}

static void random_destroy(void *state) { free(state); }

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

static const nmp_init_ops random_ops = {sizeof(nmp_init_ops), random_init};

static const nmp_plugin random_plugin = {
    .abi_major = NMP_ABI_MAJOR,
    .abi_minor = NMP_ABI_MINOR,
    .struct_size = sizeof(nmp_plugin),
    .kind = NMP_KIND_INIT,
    .name = "random",
    .version = "1.1.0",
    .summary = "Gaussian layout N(0, std^2) per coordinate",
    .params = random_params,
    .n_params = sizeof random_params / sizeof random_params[0],
    .create = random_create,
    .destroy = random_destroy,
    .ops = &random_ops,
    .cuda_ops = &random_ops, /* CUDA entry: the CPU call itself (O(n) bookkeeping, nothing worth moving to the GPU) */
};

NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i) { return i == 0 ? &random_plugin : NULL; }
