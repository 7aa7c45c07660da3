/* Terms of the negative-sampling family (Neg-t-SNE with constant c; NCE with c = m Z),
 * shared by the neg and nce loss plugins. Formulas in docs/losses.md. */
#include <math.h>

#include "loss_batch.h"

/* One repulsive term -w log(1 - q/(q + c)) = w log(1 + q/c): adds to the loss and to
 * dL/dlog c, returns dL/d(d2) per unit weight. */
static inline double neg_repulsion(double d2, double w, double c, int want_loss, double *loss, double *dlogc)
{
    double q = loss_cauchy(d2);
    if (want_loss) *loss += w * log1p(q / c);
    *dlogc -= w * q / (q + c);
    return -q * q / (q + c);
}

double loss_neg_terms(const void *params, loss_terms *t)
{
    double c = *(const double *)params, a = t->exaggeration, loss = 0.0, dlogc = 0.0;
    for (int32_t j = 0; j < t->n_pos; j++) {
        /* -log(q/(q+c)) = log(1 + c(1 + d2)) for the Cauchy kernel. */
        double ap = a * t->pos_w[j], u = 1.0 + c * (1.0 + t->pos[j]);
        if (t->want_loss) loss += ap * log(u);
        dlogc += ap * (1.0 - 1.0 / u);
        t->pos[j] = a * c / u;
    }
    for (int32_t l = 0; l < t->n_neg; l++)
        t->neg[l] = neg_repulsion(t->neg[l], t->neg_w ? t->neg_w[l] : 1.0, c, t->want_loss, &loss, &dlogc);
    for (int32_t r = 0; r < t->n_approx; r++)
        t->approx[r] = neg_repulsion(t->approx[r], t->approx_w[r], c, t->want_loss, &loss, &dlogc);
    *t->extra += dlogc;
    return loss;
}
