/* Momentum SGD that moves a point only when a step touches it, so a step costs O(batch),
 * not O(n). Between two touches a point's gradient is 0, so its k missed updates are
 * v <- mu^k v and y <- y - v sum_{j=1..k} lr(last + j) mu^j. With the tail sums
 * T(s) = sum_{j>=1} lr(s + j) mu^j, tabulated once per fit (T(s) = mu (lr(s+1) + T(s+1))),
 * that carry is T(last) - mu^k T(last + k): two lookups, whatever the schedule. */
#ifndef NOMAD_LAZY_SGD_H
#define NOMAD_LAZY_SGD_H

#include <stdint.h>

#include "error.h"

typedef struct {
    double lr;       /* peak learning rate */
    double momentum; /* mu in [0, 1) */
    double hold;     /* fraction of steps at the peak, then linear */
    double final_lr_fraction;
    int64_t total;  /* steps of the fit */
    double *tail;   /* total + 1: tail[s + 1] = T(s) for s = -1 .. total - 1 (no step after the last) */
    double *mu_pow; /* mu^k for k < mu_pow_len (beyond: 0 in double) */
    int64_t mu_pow_len;
} nmp_lazy_sgd;

/* The schedule of a fit of `total` steps: NMP_ERR_NOMEM or OK. */
nmp_status nmp_lazy_sgd_init(nmp_lazy_sgd *s, double lr, double momentum, double hold, double final_lr_fraction,
                             int64_t total, nmp_err *err);
void nmp_lazy_sgd_free(nmp_lazy_sgd *s);

/* The learning rate of step `step`: held while step / total <= hold, then linear to
 * final_lr_fraction (the optimiser's schedule; nmp_opt_lr is this). */
double nmp_lazy_lr(const nmp_lazy_sgd *s, int64_t step);
static inline double nmp_lazy_mu_pow(const nmp_lazy_sgd *s, int64_t k)
{
    return k < s->mu_pow_len ? s->mu_pow[k] : 0.0;
}
/* sum_{j=1..k} lr(last + j) mu^j: how far k untouched steps after `last` carry a velocity
 * (last >= -1, last + k <= total - 1). */
static inline double nmp_lazy_carry(const nmp_lazy_sgd *s, int64_t last, int64_t k)
{
    return s->tail[last + 1] - nmp_lazy_mu_pow(s, k) * s->tail[last + k + 1];
}

/* Brings a point updated last at step `last` (y, v: dims floats) to the end of step `now`
 * (now >= last), as if every step in between had applied a zero gradient. */
static inline void nmp_lazy_catch_up(const nmp_lazy_sgd *s, float *y, float *v, int dims, int64_t last, int64_t now)
{
    int64_t k = now - last;
    if (k <= 0) return;
    double carry = nmp_lazy_carry(s, last, k), decay = nmp_lazy_mu_pow(s, k);
    for (int d = 0; d < dims; d++) {
        y[d] = (float)((double)y[d] - carry * (double)v[d]);
        v[d] = (float)(decay * (double)v[d]);
    }
}

#endif
