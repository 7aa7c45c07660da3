/* init/pca: NOMAD's init. Top principal components of the centred data (covariance by blocked
 * GEMM over a row sample, GSL eigensolver), all points projected, scaled to std(y[:,0]) = std. */
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <stdlib.h>
#include <string.h>

#include "init_layout.h"
#include "nomad/plugin.h"

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
    *state = NULL;
    nmp_status s = init_host_check(host, "pca");
    if (s != NMP_OK) return s;
    gsl_set_error_handler_off();
    pca_state *st = calloc(1, sizeof *st);
    if (!st) {
        host->set_error(host, "pca: out of memory");
        return NMP_ERR_NOMEM;
    }
    st->host = host;
    st->std = nmp_param_double(params, "std");
    st->sample = nmp_param_int(params, "sample");
    st->block_rows = nmp_param_int(params, "block_rows");
    *state = st;
    return NMP_OK;
}

static void pca_destroy(void *state) { free(state); }

/* Work shared by the parallel bodies. Sample position s stands for data row rows[s] (or s). */
typedef struct {
    const nmp_matrix *x;
    const int64_t *rows; /* m sampled row ids (sorted), or NULL: all rows */
    int64_t first, ld;   /* current block: first position, leading dimension of buf */
    double *mean;        /* d */
    double *partial;     /* threads x d: per-worker sums for the mean */
    float *buf;          /* d x ld (transposed block) or block x d (row block) */
    double *cov;         /* d x d accumulated in double */
    const float *cov_block;
} pca_ctx;

static inline const float *sample_row(const pca_ctx *c, int64_t s)
{
    return c->x->x + (c->rows ? c->rows[s] : s) * c->x->d;
}

static void mean_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    pca_ctx *c = ctx;
    double *acc = c->partial + (int64_t)worker * c->x->d;
    for (int64_t s = begin; s < end; s++) {
        const float *row = sample_row(c, s);
        for (int64_t j = 0; j < c->x->d; j++) acc[j] += row[j];
    }
}

static void transpose_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    pca_ctx *c = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *row = sample_row(c, c->first + r);
        for (int64_t j = 0; j < c->x->d; j++) c->buf[j * c->ld + r] = (float)(row[j] - c->mean[j]);
    }
}

static void accumulate_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    pca_ctx *c = ctx;
    for (int64_t v = begin * c->x->d; v < end * c->x->d; v++) c->cov[v] += c->cov_block[v];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t p = *(const int64_t *)a, q = *(const int64_t *)b;
    return (p > q) - (p < q);
}

/* Mean of the m sampled rows, per-worker sums reduced in worker order. */
static void sample_mean(const nmp_host *h, pca_ctx *c, int64_t m)
{
    int64_t d = c->x->d;
    memset(c->partial, 0, (size_t)(h->threads * d) * sizeof *c->partial);
    h->parallel_for(h, m, mean_body, c);
    for (int64_t j = 0; j < d; j++) c->mean[j] = 0.0;
    for (int w = 0; w < h->threads; w++)
        for (int64_t j = 0; j < d; j++) c->mean[j] += c->partial[w * d + j];
    for (int64_t j = 0; j < d; j++) c->mean[j] /= (double)m;
}

/* cov = sum over sampled rows of (x - mean)(x - mean)^T: float GEMM per block, double sum. */
static void covariance(const nmp_host *h, pca_ctx *c, int64_t m, int64_t block, float *cov_block)
{
    int64_t d = c->x->d;
    c->ld = block;
    c->cov_block = cov_block;
    for (c->first = 0; c->first < m; c->first += block) {
        int64_t count = m - c->first < block ? m - c->first : block;
        h->parallel_for(h, count, transpose_body, c);
        h->gemm_abt(h, d, d, count, 1.0f, c->buf, block, c->buf, block, 0.0f, cov_block, d);
        h->parallel_for(h, d, accumulate_body, c);
        h->progress(h, "init", 0.5 * (double)(c->first + count) / (double)m);
    }
}

/* Top `dims` eigenvectors of cov (destroyed) into v (d x dims, row-major), signs fixed. */
static nmp_status top_eigenvectors(const nmp_host *h, double *cov, int64_t d, int32_t dims, double *v)
{
    gsl_matrix_view a = gsl_matrix_view_array(cov, (size_t)d, (size_t)d);
    gsl_vector *eval = gsl_vector_alloc((size_t)d);
    gsl_matrix *evec = gsl_matrix_alloc((size_t)d, (size_t)d);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)d);
    int rc = (eval && evec && ws) ? gsl_eigen_symmv(&a.matrix, eval, evec, ws) : GSL_ENOMEM;
    if (rc == GSL_SUCCESS) {
        gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC);
        double total = 0.0, kept = 0.0;
        for (int64_t j = 0; j < d; j++) total += gsl_vector_get(eval, (size_t)j);
        for (int64_t j = 0; j < d; j++)
            for (int32_t k = 0; k < dims; k++) v[j * dims + k] = gsl_matrix_get(evec, (size_t)j, (size_t)k);
        for (int32_t k = 0; k < dims; k++) kept += gsl_vector_get(eval, (size_t)k);
        init_flip_signs(v, d, dims, dims);
        h->log(h, NMP_LOG_INFO, "pca: %d components explain %.1f%% of the sampled variance", dims,
               total > 0.0 ? 100.0 * kept / total : 0.0);
    } else {
        h->set_error(h, "pca: eigendecomposition of the %lld x %lld covariance failed: %s", (long long)d,
                     (long long)d, gsl_strerror(rc));
    }
    if (ws) gsl_eigen_symmv_free(ws);
    if (evec) gsl_matrix_free(evec);
    if (eval) gsl_vector_free(eval);
    return rc == GSL_SUCCESS ? NMP_OK : rc == GSL_ENOMEM ? NMP_ERR_NOMEM : NMP_ERR_RUNTIME;
}

static void center_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    pca_ctx *c = ctx;
    int64_t d = c->x->d;
    for (int64_t r = begin; r < end; r++) {
        const float *row = c->x->x + (c->first + r) * d;
        for (int64_t j = 0; j < d; j++) c->buf[r * d + j] = (float)(row[j] - c->mean[j]);
    }
}

/* y = (X - mean) V over all n rows, block by block (buf holds block x d centred rows). */
static void project(const nmp_host *h, pca_ctx *c, int64_t block, const float *vt, int32_t dims, float *y)
{
    int64_t n = c->x->n, d = c->x->d;
    for (c->first = 0; c->first < n; c->first += block) {
        int64_t count = n - c->first < block ? n - c->first : block;
        h->parallel_for(h, count, center_body, c);
        h->gemm_abt(h, count, dims, d, 1.0f, c->buf, d, vt, d, 0.0f, y + c->first * dims, dims);
        h->progress(h, "init", 0.5 + 0.5 * (double)(c->first + count) / (double)n);
    }
}

/* Row ids of the sample (sorted for locality), or NULL when every row is used. */
static int64_t *draw_sample(const nmp_host *h, int64_t n, int64_t m)
{
    if (m >= n) return NULL;
    int64_t *rows = malloc((size_t)m * sizeof *rows);
    if (!rows) return NULL;
    for (int64_t s = 0; s < m; s++)
        rows[s] = (int64_t)nmp_rng_below(h->seed, NMP_STREAM_INIT, (uint64_t)s, (uint64_t)n);
    qsort(rows, (size_t)m, sizeof *rows, cmp_i64);
    return rows;
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

static nmp_status pca_run(pca_state *st, pca_ctx *c, int32_t dims, float *y)
{
    const nmp_host *h = st->host;
    int64_t n = c->x->n, d = c->x->d, m = n < st->sample ? n : st->sample;
    int64_t block = st->block_rows < (n > m ? n : m) ? st->block_rows : (n > m ? n : m);
    float *cov_block = malloc((size_t)(d * d) * sizeof *cov_block);
    double *v = malloc((size_t)(d * dims) * sizeof *v);
    float *vt = malloc((size_t)(d * dims) * sizeof *vt);
    c->buf = malloc((size_t)(d * block) * sizeof *c->buf);
    c->rows = draw_sample(h, n, m);
    nmp_status s = (cov_block && v && vt && c->buf && (c->rows || m >= n)) ? NMP_OK : NMP_ERR_NOMEM;
    if (s == NMP_OK) {
        sample_mean(h, c, m);
        covariance(h, c, m, block, cov_block);
        s = top_eigenvectors(h, c->cov, d, dims, v);
    } else {
        h->set_error(h, "pca: out of memory (d = %lld, block_rows = %lld)", (long long)d, (long long)block);
    }
    if (s == NMP_OK) {
        for (int32_t k = 0; k < dims; k++)
            for (int64_t j = 0; j < d; j++) vt[k * d + j] = (float)v[j * dims + k];
        project(h, c, block, vt, dims, y);
        s = init_scale_first(h, "pca", y, n, dims, st->std);
    }
    free(cov_block), free(v), free(vt), free(c->buf), free((void *)c->rows);
    return s;
}

static nmp_status pca_init(void *state, const nmp_matrix *x, const nmp_graph *graph, int32_t dims, float *y)
{
    pca_state *st = state;
    const nmp_host *h = st->host;
    nmp_status s = pca_check(h, x, dims, y);
    if (s != NMP_OK) return s;
    pca_ctx c = {.x = x};
    c.mean = calloc((size_t)x->d, sizeof *c.mean);
    c.partial = calloc((size_t)(h->threads * x->d), sizeof *c.partial);
    c.cov = calloc((size_t)(x->d * x->d), sizeof *c.cov);
    if (c.mean && c.partial && c.cov) {
        s = pca_run(st, &c, dims, y);
    } else {
        h->set_error(h, "pca: out of memory for a %lld x %lld covariance", (long long)x->d, (long long)x->d);
        s = NMP_ERR_NOMEM;
    }
    free(c.mean), free(c.partial), free(c.cov);
    return s;
}

static const nmp_init_ops pca_ops = {sizeof(nmp_init_ops), pca_init};

static const nmp_plugin pca_plugin = {
    .abi_major = NMP_ABI_MAJOR,
    .abi_minor = NMP_ABI_MINOR,
    .struct_size = sizeof(nmp_plugin),
    .kind = NMP_KIND_INIT,
    .name = "pca",
    .version = "1.0.0",
    .summary = "principal components of the centred data, first coordinate scaled to a given std",
    .params = pca_params,
    .n_params = sizeof pca_params / sizeof pca_params[0],
    .create = pca_create,
    .destroy = pca_destroy,
    .ops = &pca_ops,
};

NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i) { return i == 0 ? &pca_plugin : NULL; }
