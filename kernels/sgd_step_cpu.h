/* What the GPU fit's kernels (kernels/sgd_step.cu) share with the CPU: the problem and batch
 * they read, the loss selector of the fused gradient kernel, the batch checks run on the host
 * before a kernel could read a bad id, and the CPU references of the update and cell means
 * (parity test tests/kernels/test_sgd_step.c). The gradient kernel's CPU reference is the CPU
 * step engine itself (core/fit/step_engine.c with the loss plugins); both take their pair
 * formulas from nomad/loss_math.h. */
#ifndef NOMAD_SGD_STEP_CPU_H
#define NOMAD_SGD_STEP_CPU_H

#include <stdint.h>

#include "nomad/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Widest layout the step handles (layouts are 2-D or 3-D). */
#define SGD_MAX_DIMS 8
/* Partial sums of tsne's Z_i (sgd_loss.pooled). */
#define SGD_POOL_PARTS 32

typedef enum { SGD_LOSS_INFONCE = 0, SGD_LOSS_NEG = 1, SGD_LOSS_UMAP = 2, SGD_LOSS_TSNE = 3 } sgd_loss_kind;

/* The fused gradient kernel's loss (one instantiation per shipped loss) and its parameters,
 * as the loss plugins' CUDA entries pass them. */
typedef struct {
    sgd_loss_kind kind;
    double exaggeration;     /* the step's attraction factor */
    double c;                /* neg: normalisation constant (> 0) */
    double a, b, gamma, eps; /* umap: curve 1/(1 + a d^2b), repulsion strength and eps */
    double clip;             /* > 0: clip each coordinate of a pair's 2 c (y_i - y_z) (umap); 0: off */
    int move_negatives;      /* 0: exact negatives receive no gradient (umap-learn) */
    int loss_every;          /* 0: no loss value (the gradient is the same); k >= 1: L_i of the targets b with
                                b % k == 0 only, times k (nmp_step.loss_every; 1: every target) */
    /* tsne (plugins/loss/tsne): one pooled normaliser Z, kept on the device between steps */
    double *pooled; /* device, 1 + SGD_POOL_PARTS doubles, zeroed before the fit: Z (0: none yet, each target
                       by its own Z_i), then the step's Z_i summed in parts (target t into part t % parts:
                       fewer atomics on one address); after the gradient, Z <- decay Z + (1 - decay) mean
                       Z_i (Z 0: the mean) and the parts are zeroed */
    double z_decay; /* weight of the old Z */
    int z_max;      /* repel by 1 / max(Z, Z_i) (else 1 / Z) */
} sgd_loss;

/* What stays fixed over a fit. Caller owns every array. */
typedef struct {
    int64_t n;
    int32_t dims;           /* 1 .. SGD_MAX_DIMS */
    const int64_t *offsets; /* n + 1: the weighted graph's rows (positives) */
    const int32_t *index;   /* nnz */
    const float *weight;    /* nnz, or NULL: every edge weighs 1 */
    int32_t cells;          /* >= 1 */
    const int32_t *cell_of; /* n */
    const float *cell_mass; /* cells: points in each cell (the divisor of the cell mean) */
} sgd_problem;

/* One step's targets and negatives (nmp_negatives' layout). Caller owns every array. */
typedef struct {
    int32_t batch;
    const int32_t *target;      /* batch, in [0, n) (repeats allowed) */
    int32_t per_target;         /* negatives per row */
    int32_t shared;             /* rows == 0: nonzero = one row for all targets, else one per target */
    int32_t rows;               /* > 0: row r serves targets [row_start[r], row_start[r + 1]) */
    const int32_t *row_start;   /* rows + 1, rising from 0 to batch (rows > 0 only) */
    const int32_t *neg_index;   /* rows x per_target, in [0, n) */
    const float *neg_weight;    /* rows x per_target, or NULL: all 1 */
    int32_t approx_count;       /* approximate terms per target (0: none) */
    const float *approx_y;      /* approx_count x dims, or NULL: the current cell means (approx_count == cells) */
    const float *approx_weight; /* batch x approx_count (0 drops a term); they receive no gradient */
} sgd_batch;

/* The update of one step. */
typedef struct {
    double lr, momentum;
    double inv_batch; /* the gradient's divisor: 1 / batch */
    double clip;      /* > 0: clip each averaged gradient coordinate to +-clip */
} sgd_update;

/* NULL when the batch is consistent with the problem, else what is wrong (a static string
 * the callers wrap into their errors). */
const char *sgd_batch_problem(const sgd_problem *p, const sgd_batch *b);

/* cell_mean (cells x dims) = per-cell mean of y by cell_of, summed in double, divided by
 * cell_mass (0 where the mass is 0). NMP_OK or NMP_ERR_NOMEM (cell_mean untouched). */
nmp_status sgd_cell_means_cpu(const sgd_problem *p, const float *y, float *cell_mean);

/* Momentum SGD on len coordinates: g = grad * inv_batch (clipped), velocity = momentum *
 * velocity + g, y -= lr * velocity, grad zeroed. One vector loop; returns 1 if some new y is
 * NaN or Inf, else 0. */
int sgd_momentum_cpu(const sgd_update *u, float *y, float *velocity, float *grad, int64_t len);

/* The fused update over all n points (float): velocity and y move, grad is
 * zeroed, cell_mean (cells x dims) becomes the new layout's cell means; *nonfinite is 1 if
 * some coordinate of y became NaN or Inf, else 0. NMP_OK or NMP_ERR_NOMEM. One thread. */
nmp_status sgd_update_cpu(const sgd_problem *p, const sgd_update *u, float *y, float *velocity, float *grad,
                          float *cell_mean, int *nonfinite);

#ifdef __cplusplus
}
#endif
#endif
