/* The negative-sampling family's maths over tiles (Neg-t-SNE with constant c; NCE with
 * c = m Z), shared by the neg and nce loss plugins. Formulas in nomad/loss_math.h. */
#ifndef NOMAD_LOSS_NEG_H
#define NOMAD_LOSS_NEG_H

#include "nomad/plugin.h"

/* The first member of the neg and nce states. */
typedef struct {
    const nmp_host *host;
    float c; /* the normalisation constant (> 0) this step */
} loss_neg;

/* Shape: uncoupled, negatives move; the _fixed form (c fixed for the fit: neg) also names the
 * formula, so the engine may inline it (nce's c changes every step). */
nmp_status loss_neg_prepare(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape);
nmp_status loss_neg_prepare_fixed(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape);
/* coef per term; z gets sum_l w_l q_l / (q_l + c) (the terms' -dL/d log c). */
void loss_neg_repel(const void *state, const nmp_repel_tile *t);
/* coef per positive; stat gets dL_i/d log c = a sum_j p_j (1 - 1 / (1 + c (1 + d2_j))) - z_i. */
void loss_neg_attract(const void *state, const nmp_attract_tile *t);
double loss_neg_value(const void *state, const nmp_loss_terms *t);

#endif
