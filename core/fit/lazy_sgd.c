/* The tables behind lazy momentum SGD (see lazy_sgd.h). */
#include "lazy_sgd.h"

#include <stdlib.h>

double nmp_lazy_lr(const nmp_lazy_sgd *s, int64_t step)
{
    double t = s->total > 0 ? (double)step / (double)s->total : 0.0;
    if (t <= s->hold || s->hold >= 1.0) return s->lr;
    double u = (t - s->hold) / (1.0 - s->hold);
    return s->lr * ((1.0 - u) + u * s->final_lr_fraction);
}

nmp_status nmp_lazy_sgd_init(nmp_lazy_sgd *s, double lr, double momentum, double hold, double final_lr_fraction,
                             int64_t total, nmp_err *err)
{
    *s = (nmp_lazy_sgd){
        .lr = lr, .momentum = momentum, .hold = hold, .final_lr_fraction = final_lr_fraction, .total = total};
    /* mu^k until it is below anything a float velocity can carry (mu = 0: just mu^0 = 1) */
    int64_t len = 1;
    for (double p = 1.0; p > 1e-300 && len <= total + 1; p *= momentum) len++;
    s->mu_pow = malloc((size_t)len * sizeof *s->mu_pow);
    s->tail = malloc((size_t)(total + 1) * sizeof *s->tail);
    if (!s->mu_pow || !s->tail) {
        nmp_lazy_sgd_free(s);
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for the momentum tables (%lld steps)",
                        (long long)total);
    }
    s->mu_pow[0] = 1.0;
    for (int64_t k = 1; k < len; k++) s->mu_pow[k] = s->mu_pow[k - 1] * momentum;
    s->mu_pow_len = len;
    s->tail[total] = 0.0; /* T(total - 1): no step after the fit's last */
    for (int64_t i = total - 1; i >= 0; i--) s->tail[i] = momentum * (nmp_lazy_lr(s, i) + s->tail[i + 1]);
    return NMP_OK;
}

void nmp_lazy_sgd_free(nmp_lazy_sgd *s)
{
    free(s->mu_pow), free(s->tail);
    s->mu_pow = NULL, s->tail = NULL;
}
