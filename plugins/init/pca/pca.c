/* init/pca: NOMAD's init. Top principal components of the centred data (pca_common.h: sample
 * covariance by blocked GEMM, top eigenvectors only), all points projected, scaled to
 * std(y[:,0]) = std. The CUDA entry takes the covariance and the projection to the GPU
 * (kernels/pca_cuda.h); the sample, the eigensolve and the scaling stay on the host. */
#include <stdlib.h>

#include "plugin_device.h"
#include "init_layout.h"
#include "nomad/rng.h"
#include "pca_common.h"

static const nmp_param_decl pca_params[] = {
    {"std", NMP_PARAM_DOUBLE, "1e-4", 1e-30, 1e6, NULL,
     "std of the first coordinate after scaling (same factor for all; NOMAD reference 1e-4)"},
    {"sample", NMP_PARAM_INT, "1000000", 2, 4e18, NULL,
     "rows (drawn with replacement from the INIT stream) used for the mean and covariance when n is larger"},
    {"block_rows", NMP_PARAM_INT, "8192", 1, 16777216, NULL,
     "rows per GEMM block for covariance and projection (memory d * block_rows floats; only rounding changes)"},
};

typedef struct {
    const nmp_host *host;
    double std;
    int64_t sample, block_rows;
} pca_state;

static nmp_status pca_create(const nmp_host *host, const nmp_params *params, void **state)
{
    pca_state *st = *state = nmp_state_new(host, sizeof *st, "pca");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->std = nmp_param_double(params, "std");
    st->sample = nmp_param_int(params, "sample");
    st->block_rows = nmp_param_int(params, "block_rows");
    return NMP_OK;
}

static nmp_status pca_check(const nmp_host *h, const nmp_matrix *x, int32_t dims, const float *y)
{
    if (!x || !x->x || !y || x->n < 2 || x->d < 1) {
        h->set_error(h, "pca: needs data with at least 2 rows and 1 column and an output buffer");
        return NMP_ERR_INVALID;
    }
    if (dims < 1 || dims > x->d) {
        h->set_error(h, "pca: dims = %d must be between 1 and the data dimension %lld", dims, (long long)x->d);
        return NMP_ERR_INVALID;
    }
    return NMP_OK;
}

static nmp_status pca_init_on(pca_state *st, const nmp_matrix *x, int32_t dims, float *y, plugin_device dev)
{
    const nmp_host *h = st->host;
    nmp_status s = pca_check(h, x, dims, y);
    if (s != NMP_OK) return s;
    pca_model m;
    s = pca_fit(h, "init", x, st->sample, st->block_rows, h->seed, NMP_STREAM_INIT, dims, dev, &m);
    if (s == NMP_OK) {
        double kept = 0.0;
        for (int32_t k = 0; k < dims; k++) kept += m.variance[k];
        h->log(h, NMP_LOG_INFO, "pca: %d components explain %.1f%% of the sampled variance", dims,
               m.total_variance > 0.0 ? 100.0 * kept / m.total_variance : 0.0);
        s = pca_project(h, "init", x, &m, st->block_rows, y);
    }
    if (s == NMP_OK) s = init_scale_first(h, "pca", y, x->n, dims, st->std);
    pca_model_free(&m);
    return s;
}

PLUGIN_REGISTER_ON_DEVICES(NMP_KIND_INIT, "pca", "1.2.0",
                           "principal components of the centred data, first coordinate scaled to a given std",
                           pca_params, pca_create, free, init, pca_init_on,
                           (void *state, const nmp_matrix *x, const nmp_graph *graph, int32_t dims, float *y), state, x,
                           dims, y);
