/* Block operations of the spectral init's subspace iteration: n x b row-major double blocks,
 * the shifted normalised-adjacency operator, deflation and CholeskyQR2 orthonormalisation. */
#ifndef NOMAD_SPECTRAL_BLOCK_H
#define NOMAD_SPECTRAL_BLOCK_H

#include <stdint.h>

#include "nomad/plugin.h"

/* M = (S + I) / 2 with S = D^-1/2 (W + t 11^T) D^-1/2, D = diag(rowsum(W) + t n): the implicit
 * all-pairs edges of weight t (teleport) keep D > 0 and make S connected. M's eigenvalues lie in
 * [0, 1] and order like S's, so plain subspace iteration finds S's leading eigenvectors. */
typedef struct {
    const nmp_host *h;
    const nmp_graph *w; /* symmetric weighted graph (weights non-NULL) */
    const double *dinv; /* n: D^-1/2 */
    double teleport;    /* t */
    int64_t n;
    int b;              /* block width */
    double *partial;    /* threads x b x b scratch for reductions */
} spec_op;

/* out (p x q) = A^T B for row-major A (n x p) and B (n x q); per-worker sums reduced in
 * worker order, so the result depends only on the thread count. p, q <= op->b. */
void spec_gram(const spec_op *op, const double *a, int p, const double *bm, int q, double *out);
/* z = M q for a block q (n x b). */
void spec_apply(const spec_op *op, const double *q, double *z);
/* q -= u (u^T q) for a unit vector u (n): removes the trivial eigenvector. */
void spec_deflate(const spec_op *op, const double *u, double *q);
/* Makes the columns of q orthonormal (CholeskyQR, twice for accuracy). Sets an error and
 * returns NMP_ERR_RUNTIME if the block has collapsed numerically. */
nmp_status spec_orthonormalize(const spec_op *op, double *q);

#endif
