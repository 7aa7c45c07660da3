/* init/spectral: the leading nontrivial eigenvectors of the normalised affinity graph (as UMAP's
 * spectral init), by subspace iteration with a final Rayleigh-Ritz step, scaled to std(y[:,0]). */
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aff_csr.h"
#include "init_layout.h"
#include "nomad/plugin.h"
#include "spectral_block.h"

#define SPEC_MAX_DIMS 64 /* block matrices live on the stack; a spectral init wider than this makes no sense */

static const nmp_param_decl spectral_params[] = {
    {"iterations", NMP_PARAM_INT, "100", 1, 1000000, NULL, "subspace-iteration steps at most"},
    {"tol", NMP_PARAM_DOUBLE, "1e-6", 0.0, 1.0, NULL,
     "stop when every new basis vector has at most this squared sine of angle to the previous subspace"},
    {"oversample", NMP_PARAM_INT, "4", 0, 64, NULL, "extra basis vectors beyond dims (faster convergence)"},
    {"regularization", NMP_PARAM_DOUBLE, "1e-4", 0.0, 1.0, NULL,
     "all-pairs edges of total weight regularization * mean degree per point: keeps a disconnected graph finite"},
    {"std", NMP_PARAM_DOUBLE, "1e-4", 1e-30, 1e6, NULL,
     "std of the first coordinate after scaling (same factor for all)"},
};

typedef struct {
    const nmp_host *host;
    int64_t iterations, oversample;
    double tol, regularization, std;
} spectral_state;

static nmp_status spectral_create(const nmp_host *host, const nmp_params *params, void **state)
{
    gsl_set_error_handler_off();
    spectral_state *st = *state = nmp_state_new(host, sizeof *st, "spectral");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->iterations = nmp_param_int(params, "iterations");
    st->oversample = nmp_param_int(params, "oversample");
    st->tol = nmp_param_double(params, "tol");
    st->regularization = nmp_param_double(params, "regularization");
    st->std = nmp_param_double(params, "std");
    return NMP_OK;
}

typedef struct {
    const nmp_graph *w;
    double *degree, *dinv, *u0;
    double extra, norm; /* teleport weight per row; 1 / ||sqrt(D)|| */
    double *block;      /* gaussian start: n x b */
    int b;
    uint64_t seed;
} setup_ctx;

static void degree_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    setup_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++) {
        double sum = 0.0;
        for (int64_t e = c->w->offsets[i]; e < c->w->offsets[i + 1]; e++) sum += c->w->weight[e];
        c->degree[i] = sum;
    }
}

static void dinv_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    setup_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++) {
        double d = c->degree[i] + c->extra;
        c->dinv[i] = 1.0 / sqrt(d);
        c->u0[i] = sqrt(d) * c->norm;
    }
}

static void start_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    setup_ctx *c = ctx;
    for (int64_t v = begin * c->b; v < end * c->b; v++) c->block[v] = init_gaussian(c->seed, (uint64_t)v);
}

/* Degrees, D^-1/2, the trivial eigenvector u0 = sqrt(D) / ||.|| and the teleport weight. */
static nmp_status setup_operator(const spectral_state *st, spec_op *op, setup_ctx *c)
{
    const nmp_host *h = st->host;
    h->parallel_for(h, op->n, degree_body, c);
    double total = 0.0; /* serial sum in point order: deterministic for any thread count */
    for (int64_t i = 0; i < op->n; i++) total += c->degree[i];
    double mean = total / (double)op->n;
    c->extra = st->regularization * (mean > 0.0 ? mean : 1.0);
    double mass = total + c->extra * (double)op->n;
    for (int64_t i = 0; i < op->n; i++)
        if (!(c->degree[i] + c->extra > 0.0) || !isfinite(c->degree[i])) {
            h->set_error(h, "spectral: point %lld has degree %g (isolated or negative weights); raise regularization",
                         (long long)i, c->degree[i]);
            return NMP_ERR_INVALID;
        }
    c->norm = 1.0 / sqrt(mass);
    h->parallel_for(h, op->n, dinv_body, c);
    op->dinv = c->dinv;
    op->teleport = c->extra / (double)op->n;
    return NMP_OK;
}

/* Largest squared sine of the angle between a new basis vector and the previous subspace. */
static double subspace_change(const spec_op *op, const double *old, const double *new)
{
    int b = op->b;
    double cross[b * b], worst = 0.0;
    spec_gram(op, old, b, new, b, cross);
    for (int s = 0; s < b; s++) {
        double inside = 0.0;
        for (int r = 0; r < b; r++) inside += cross[r * b + s] * cross[r * b + s];
        if (1.0 - inside > worst) worst = 1.0 - inside;
    }
    return worst;
}

/* Orthogonal iteration on M restricted to u0's complement; *q ends holding the basis. */
static nmp_status iterate(const spectral_state *st, const spec_op *op, const double *u0, double **q, double **z)
{
    const nmp_host *h = st->host;
    spec_deflate(op, u0, *q);
    nmp_status s = spec_orthonormalize(op, *q);
    for (int64_t it = 0; s == NMP_OK && it < st->iterations; it++) {
        spec_apply(op, *q, *z);
        spec_deflate(op, u0, *z); /* rounding re-introduces u0, which M would then amplify */
        s = spec_orthonormalize(op, *z);
        if (s != NMP_OK) break;
        double change = subspace_change(op, *q, *z);
        double *swap = *q;
        *q = *z, *z = swap;
        h->progress(h, "init", (double)(it + 1) / (double)st->iterations);
        if (change <= st->tol) {
            h->log(h, NMP_LOG_INFO, "spectral: converged after %lld iterations (change %.3g)", (long long)(it + 1),
                   change);
            return NMP_OK;
        }
        if (it + 1 == st->iterations)
            h->log(h, NMP_LOG_INFO, "spectral: stopped at %lld iterations (change %.3g > tol %g)",
                   (long long)st->iterations, change, st->tol);
    }
    return s;
}

typedef struct {
    const double *q, *v; /* n x b basis, b x dims rotation */
    double *out;         /* n x dims */
    float *y;
    int b, dims;
} rotate_ctx;

static void rotate_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    rotate_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++)
        for (int k = 0; k < c->dims; k++) {
            double sum = 0.0;
            for (int s = 0; s < c->b; s++) sum += c->q[i * c->b + s] * c->v[s * c->dims + k];
            c->out[i * c->dims + k] = sum;
        }
}

static void store_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    rotate_ctx *c = ctx;
    for (int64_t v = begin * c->dims; v < end * c->dims; v++) c->y[v] = (float)c->out[v];
}

/* Eigenvectors of H = Q^T M Q, largest first, into v (b x dims); logs S's eigenvalues. */
static nmp_status ritz_rotation(const spec_op *op, const double *q, double *z, int dims, double *v)
{
    int b = op->b;
    double hm[b * b];
    spec_apply(op, q, z);
    spec_gram(op, q, b, z, b, hm);
    for (int r = 0; r < b; r++)
        for (int s = 0; s < r; s++) hm[r * b + s] = hm[s * b + r] = 0.5 * (hm[r * b + s] + hm[s * b + r]);
    gsl_matrix_view a = gsl_matrix_view_array(hm, (size_t)b, (size_t)b);
    gsl_vector *eval = gsl_vector_alloc((size_t)b);
    gsl_matrix *evec = gsl_matrix_alloc((size_t)b, (size_t)b);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)b);
    int rc = (eval && evec && ws) ? gsl_eigen_symmv(&a.matrix, eval, evec, ws) : GSL_ENOMEM;
    if (rc == GSL_SUCCESS) {
        gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC);
        for (int s = 0; s < b; s++)
            for (int k = 0; k < dims; k++) v[s * dims + k] = gsl_matrix_get(evec, (size_t)s, (size_t)k);
        op->h->log(op->h, NMP_LOG_INFO, "spectral: leading nontrivial eigenvalues of D^-1/2 W D^-1/2: %.6f, %.6f",
                   2.0 * gsl_vector_get(eval, 0) - 1.0, 2.0 * gsl_vector_get(eval, b > 1 ? 1 : 0) - 1.0);
    } else {
        op->h->set_error(op->h, "spectral: Rayleigh-Ritz eigendecomposition failed: %s", gsl_strerror(rc));
    }
    if (ws) gsl_eigen_symmv_free(ws);
    if (evec) gsl_matrix_free(evec);
    if (eval) gsl_vector_free(eval);
    return rc == GSL_SUCCESS ? NMP_OK : NMP_ERR_RUNTIME;
}

/* y = Q V (Ritz vectors), signs fixed, scaled so std(y[:,0]) = std. z is n x b scratch. */
static nmp_status ritz_layout(const spectral_state *st, const spec_op *op, const double *q, double *z, int32_t dims,
                              float *y)
{
    const nmp_host *h = st->host;
    double v[op->b * dims];
    nmp_status s = ritz_rotation(op, q, z, dims, v);
    if (s != NMP_OK) return s;
    rotate_ctx c = {q, v, z, y, op->b, dims}; /* z is n x b >= n x dims: reuse it for Q V */
    h->parallel_for(h, op->n, rotate_body, &c);
    init_flip_signs(z, op->n, dims, dims);
    h->parallel_for(h, op->n, store_body, &c);
    return init_scale_first(h, "spectral", y, op->n, dims, st->std);
}

static nmp_status spectral_check(const nmp_host *h, const nmp_matrix *x, const nmp_graph *graph, int32_t dims,
                                 const float *y)
{
    if (!graph || !y) {
        h->set_error(h, "spectral: needs the affinity graph and an output buffer");
        return NMP_ERR_INVALID;
    }
    if (x && x->n != graph->n) {
        h->set_error(h, "spectral: graph has %lld points but the data %lld", (long long)graph->n, (long long)x->n);
        return NMP_ERR_INVALID;
    }
    if (dims < 1 || dims > SPEC_MAX_DIMS || graph->n < (int64_t)dims + 2) {
        h->set_error(h, "spectral: dims = %d needs 1 <= dims <= %d and at least dims + 2 points (have %lld)", dims,
                     SPEC_MAX_DIMS, (long long)graph->n);
        return NMP_ERR_INVALID;
    }
    return aff_graph_check(h, "spectral", graph, 0);
}

/* Everything after the symmetric graph exists: buffers, operator, iteration, layout. */
static nmp_status spectral_solve(const spectral_state *st, const nmp_graph *w, int32_t dims, float *y)
{
    const nmp_host *h = st->host;
    int64_t n = w->n;
    int b = (int)((int64_t)dims + st->oversample < n - 1 ? (int64_t)dims + st->oversample : n - 1);
    spec_op op = {.h = h, .w = w, .n = n, .b = b};
    setup_ctx c = {.w = w, .b = b, .seed = h->seed};
    c.degree = malloc((size_t)n * sizeof(double));
    c.dinv = malloc((size_t)n * sizeof(double));
    c.u0 = malloc((size_t)n * sizeof(double));
    double *q = malloc((size_t)(n * b) * sizeof *q), *z = malloc((size_t)(n * b) * sizeof *z);
    op.partial = malloc((size_t)(h->threads * b * b) * sizeof(double));
    nmp_status s = (c.degree && c.dinv && c.u0 && q && z && op.partial) ? NMP_OK : NMP_ERR_NOMEM;
    if (s == NMP_OK) s = setup_operator(st, &op, &c);
    else h->set_error(h, "spectral: out of memory for %lld x %d blocks", (long long)n, b);
    if (s == NMP_OK) {
        c.block = q;
        h->parallel_for(h, n, start_body, &c);
        s = iterate(st, &op, c.u0, &q, &z);
    }
    if (s == NMP_OK) s = ritz_layout(st, &op, q, z, dims, y);
    free(c.degree), free(c.dinv), free(c.u0), free(q), free(z), free(op.partial);
    return s;
}

static nmp_status spectral_init(void *state, const nmp_matrix *x, const nmp_graph *graph, int32_t dims, float *y)
{
    spectral_state *st = state;
    const nmp_host *h = st->host;
    nmp_status s = spectral_check(h, x, graph, dims, y);
    if (s != NMP_OK) return s;
    nmp_graph w; /* (W + W^T) / 2: the eigenproblem needs a symmetric operator */
    s = aff_symmetrize(h, graph, AFF_SYM_MEAN, 0.0, &w);
    if (s != NMP_OK) return s;
    s = spectral_solve(st, &w, dims, y);
    aff_graph_release(h, &w);
    return s;
}

NMP_PLUGIN_REGISTER(NMP_KIND_INIT, "spectral", "1.0.0",
                    "leading eigenvectors of the normalised symmetrised graph (UMAP-style spectral init)",
                    NMP_PARAMS(spectral_params), spectral_create, free, (.init = spectral_init), NULL);
