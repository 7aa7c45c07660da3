/* Block operations of the spectral init: Gram products, the operator M, deflation, CholeskyQR2. */
#include "spectral_block.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <string.h>

/* Relative diagonal shift added to a Gram matrix before its Cholesky factorisation: a floating-
 * point safeguard against a numerically rank-deficient block, not a tuning constant (the second
 * CholeskyQR pass removes its effect on orthogonality). */
#define SPEC_GRAM_JITTER 1e-13

typedef struct {
    const spec_op *op;
    const double *a, *bm;
    int p, q;
    double *out;
    const double *u, *coef, *colsum, *lower;
    double *z;
} block_ctx;

static void gram_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    block_ctx *c = ctx;
    double *acc = c->op->partial + (int64_t)worker * c->op->b * c->op->b;
    memset(acc, 0, (size_t)(c->p * c->q) * sizeof *acc);
    for (int64_t i = begin; i < end; i++)
        for (int r = 0; r < c->p; r++) {
            double ar = c->a[i * c->p + r];
            for (int s = 0; s < c->q; s++) acc[r * c->q + s] += ar * c->bm[i * c->q + s];
        }
}

void spec_gram(const spec_op *op, const double *a, int p, const double *bm, int q, double *out)
{
    int b2 = op->b * op->b;
    for (int w = 0; w < op->h->threads; w++) memset(op->partial + (int64_t)w * b2, 0, (size_t)(p * q) * sizeof(double));
    block_ctx c = {.op = op, .a = a, .bm = bm, .p = p, .q = q};
    op->h->parallel_for(op->h, op->n, gram_body, &c);
    memset(out, 0, (size_t)(p * q) * sizeof *out);
    for (int w = 0; w < op->h->threads; w++)
        for (int v = 0; v < p * q; v++) out[v] += op->partial[(int64_t)w * b2 + v];
}

static void apply_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    block_ctx *c = ctx;
    const spec_op *op = c->op;
    int b = op->b;
    for (int64_t i = begin; i < end; i++) {
        double *zi = c->z + i * b;
        for (int s = 0; s < b; s++) zi[s] = op->teleport * c->colsum[s];
        for (int64_t e = op->w->offsets[i]; e < op->w->offsets[i + 1]; e++) {
            int64_t j = op->w->index[e];
            double wj = op->w->weight[e] * op->dinv[j];
            for (int s = 0; s < b; s++) zi[s] += wj * c->a[j * b + s];
        }
        for (int s = 0; s < b; s++) zi[s] = 0.5 * (op->dinv[i] * zi[s] + c->a[i * b + s]);
    }
}

void spec_apply(const spec_op *op, const double *q, double *z)
{
    double colsum[op->b]; /* sum_j dinv_j q_j: the teleport edges' share, one number per column */
    spec_gram(op, op->dinv, 1, q, op->b, colsum);
    block_ctx c = {.op = op, .a = q, .colsum = colsum, .z = z};
    op->h->parallel_for(op->h, op->n, apply_body, &c);
}

static void deflate_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    block_ctx *c = ctx;
    int b = c->op->b;
    for (int64_t i = begin; i < end; i++)
        for (int s = 0; s < b; s++) c->z[i * b + s] -= c->u[i] * c->coef[s];
}

void spec_deflate(const spec_op *op, const double *u, double *q)
{
    double coef[op->b];
    spec_gram(op, u, 1, q, op->b, coef);
    block_ctx c = {.op = op, .u = u, .coef = coef, .z = q};
    op->h->parallel_for(op->h, op->n, deflate_body, &c);
}

/* Row i of q becomes L^-1 q_i (forward substitution): Q L^-T has orthonormal columns. */
static void solve_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    block_ctx *c = ctx;
    int b = c->op->b;
    for (int64_t i = begin; i < end; i++) {
        double *qi = c->z + i * b;
        for (int s = 0; s < b; s++) {
            double v = qi[s];
            for (int k = 0; k < s; k++) v -= c->lower[s * b + k] * qi[k];
            qi[s] = v / c->lower[s * b + s];
        }
    }
}

static nmp_status cholesky_qr(const spec_op *op, double *q)
{
    int b = op->b;
    double gram[b * b], trace = 0.0;
    spec_gram(op, q, b, q, b, gram);
    for (int s = 0; s < b; s++) trace += gram[s * b + s];
    for (int s = 0; s < b; s++) gram[s * b + s] += SPEC_GRAM_JITTER * trace / b;
    gsl_matrix_view g = gsl_matrix_view_array(gram, (size_t)b, (size_t)b);
    if (!(trace > 0.0) || !isfinite(trace) || gsl_linalg_cholesky_decomp1(&g.matrix) != GSL_SUCCESS) {
        op->h->set_error(op->h, "spectral: subspace iteration lost rank (Gram trace %g); the graph may be degenerate",
                         trace);
        return NMP_ERR_RUNTIME;
    }
    block_ctx c = {.op = op, .lower = gram, .z = q};
    op->h->parallel_for(op->h, op->n, solve_body, &c);
    return NMP_OK;
}

nmp_status spec_orthonormalize(const spec_op *op, double *q)
{
    nmp_status s = cholesky_qr(op, q);
    return s == NMP_OK ? cholesky_qr(op, q) : s;
}
