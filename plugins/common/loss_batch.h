/* The batch loop shared by the loss plugins: squared distances of every (target, other)
 * pair, a per-target callback that turns them into dL/d(d2), then the gradient scatter. */
#ifndef NOMAD_LOSS_BATCH_H
#define NOMAD_LOSS_BATCH_H

#include "nomad/plugin.h"

/* One target's terms as a loss sees them. On entry pos/neg/approx hold the squared layout
 * distances d2 = |y_i - y_z|^2; the callback overwrites each with dL_i/d(d2) per unit weight
 * (the driver multiplies by the weight after any clipping) and returns L_i. */
typedef struct {
    int32_t n_pos, n_neg, n_approx;
    const float *pos_w;    /* n_pos affinities p_ij */
    const float *neg_w;    /* n_neg weights, or NULL: all 1 */
    const float *approx_w; /* n_approx weights; a term of weight 0 must add nothing (it is kept so
                              the loops over the terms stay straight vector loops) */
    double *pos, *neg, *approx;
    double exaggeration;   /* the step's attraction factor */
    int want_loss;         /* 0: the driver does not need L_i this time; skip its logarithms, return 0 */
    double *extra;         /* this worker's accumulator of a loss-specific batch sum */
} loss_terms;

typedef double (*loss_terms_fn)(const void *params, loss_terms *t);

/* The Cauchy kernel q = 1 / (1 + d2) of t-SNE, NOMAD and the NEG/NCE family. */
static inline double loss_cauchy(double d2) { return 1.0 / (1.0 + d2); }

/* Replaces d2[l] by q_l = 1 / (1 + d2[l]) and returns sum_l w_l q_l (w NULL: all 1). Four
 * partial sums in a fixed order: deterministic, and not one long chain of dependent adds. */
static inline double loss_cauchy_sum(double *d2, const float *w, int32_t n)
{
    for (int32_t l = 0; l < n; l++) d2[l] = 1.0 / (1.0 + d2[l]); /* vectorises on its own */
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    int32_t l = 0;
    for (; l + 4 <= n; l += 4)
        for (int k = 0; k < 4; k++) part[k] += (w ? w[l + k] : 1.0) * d2[l + k];
    for (; l < n; l++) part[0] += (w ? w[l] : 1.0) * d2[l];
    return (part[0] + part[1]) + (part[2] + part[3]);
}

/* Terms of Neg-t-SNE with normalisation constant c > 0 (params: const double *c), also NCE
 * with c = m Z: L = -a sum_j p_j log(q_j / (q_j + c)) - sum_l w_l log(1 - q_l / (q_l + c)).
 * Adds dL_i / d(log c) to *t->extra (NCE learns log Z from it). */
double loss_neg_terms(const void *params, loss_terms *t);

/* How pair gradients are applied. */
typedef struct {
    double clip;        /* > 0: clip each coordinate of 2 c (y_i - y_z) to +-clip (UMAP); 0: off */
    int move_negatives; /* 0: exact negatives receive no gradient (umap-learn) */
} loss_apply;

typedef struct loss_batch loss_batch;

/* Creates the driver (NULL on out-of-memory). Free with loss_batch_free. */
loss_batch *loss_batch_new(const nmp_host *host);
void loss_batch_free(loss_batch *lb);
/* Records the layout width; buffers grow on the first step and then stay. */
nmp_status loss_batch_prepare(loss_batch *lb, const nmp_fit_info *fit);
/* Fills out->target/pos/neg (each row of negatives summed over its targets) and out->loss:
 * with step->loss_every = k > 1, L_i of every k-th target times k, an unbiased estimate of
 * the batch's sum (the curve only: its logarithms would cost as much as the gradient).
 * extra_sum (may be NULL) receives the batch sum of the callbacks' *extra. */
nmp_status loss_batch_run(loss_batch *lb, const nmp_step *step, const nmp_negatives *neg, double exaggeration,
                          loss_apply apply, loss_terms_fn fn, const void *params, nmp_grads *out,
                          double *extra_sum);

/* Plugin states of the loss plugins start with their driver, so these serve as their
 * create helper, destroy() and prepare(). loss_state_new returns a zeroed state of `size`
 * bytes whose first member (a loss_batch *) is set, or NULL after host->set_error. */
void *loss_state_new(const nmp_host *host, size_t size);
void loss_state_destroy(void *state);
/* The host table the driver was made with (for a plugin's messages). */
const nmp_host *loss_batch_host(const loss_batch *lb);
nmp_status loss_state_prepare(void *state, const nmp_fit_info *fit);

#endif
