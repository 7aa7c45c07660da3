/* See loss_neg.h. */
#include "loss_neg.h"

#include "nomad/loss_math.h"
#include "nomad/loss_tile.h"

nmp_status loss_neg_prepare(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape)
{
    (void)fit;
    shape->move_negatives = 1;
    return NMP_OK;
}

nmp_status loss_neg_prepare_fixed(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape)
{
    loss_neg_prepare(state, fit, shape);
    shape->formula = NMP_FORMULA_NEG; /* c is fixed: the engine may inline nmp_neg_repel */
    shape->param[0] = ((const loss_neg *)state)->c;
    return NMP_OK;
}

static inline float neg_term(const void *state, float d2, float *phi)
{
    return nmp_neg_repel(d2, ((const loss_neg *)state)->c, phi);
}

NMP_DEFINE_REPEL(neg_repel, neg_term)
void loss_neg_repel(const void *state, const nmp_repel_tile *t) { neg_repel(state, t); }

/* phi: the positive's dL/d(log c) = a p (1 - 1 / (1 + c (1 + d2))). */
static inline float attract_term(const void *state, float d2, float p, float z, float a, float *phi)
{
    float coef = nmp_neg_attract(d2, ((const loss_neg *)state)->c, a, phi);
    *phi *= a * p;
    return coef;
}
static inline void set_stat(const void *state, const nmp_attract_tile *t, int32_t r, float dlogc)
{
    t->stat[r] = dlogc - (float)t->z[r];
}
NMP_DEFINE_ATTRACT(neg_attract, attract_term, set_stat)
void loss_neg_attract(const void *state, const nmp_attract_tile *t) { neg_attract(state, t); }

double loss_neg_value(const void *state, const nmp_loss_terms *t)
{
    const float c = ((const loss_neg *)state)->c, a = (float)t->exaggeration;
    const float *wn = t->w_neg, *wa = t->w_approx;
    float pos = 0.0f, neg = 0.0f, approx = 0.0f;
#pragma omp simd reduction(+ : pos)
    for (int32_t j = 0; j < t->n_pos; j++) pos += t->p[j] * nmp_neg_value_attract(t->d2_pos[j], c, a);
    /* one loop per case: with the weight chosen inside, GCC unswitches the loop and leaves the
     * unweighted copy (uniform negatives) scalar, an eighth of the neg fit */
    if (wn) {
#pragma omp simd reduction(+ : neg)
        for (int32_t l = 0; l < t->n_neg; l++) neg += wn[l] * nmp_neg_value_repel(t->d2_neg[l], c);
    } else {
#pragma omp simd reduction(+ : neg)
        for (int32_t l = 0; l < t->n_neg; l++) neg += nmp_neg_value_repel(t->d2_neg[l], c);
    }
#pragma omp simd reduction(+ : approx)
    for (int32_t l = 0; l < t->n_approx; l++) approx += wa[l] * nmp_neg_value_repel(t->d2_approx[l], c);
    return (double)pos + neg + approx;
}
