/* The closed forms behind lazy momentum SGD (see lazy_sgd.h). */
#include "lazy_sgd.h"

#include <math.h>
#include <stdlib.h>

double nmp_lazy_lr(const nmp_lazy_sgd *s, int64_t step)
{
    /* nmp_opt_lr: held while step / total <= hold, then linear to final_lr_fraction */
    double t = s->total > 0 ? (double)step / (double)s->total : 0.0;
    if (t <= s->hold || s->hold >= 1.0) return s->lr;
    double u = (t - s->hold) / (1.0 - s->hold);
    return s->lr * ((1.0 - u) + u * s->final_lr_fraction);
}

/* The last step at the peak lr: the largest s with s / total <= hold (every step when hold >= 1). */
static int64_t hold_end(double hold, int64_t total)
{
    if (hold >= 1.0 || total <= 0) return INT64_MAX / 4;
    int64_t s = (int64_t)floor(hold * (double)total);
    while ((double)(s + 1) / (double)total <= hold) s++;
    while (s >= 0 && (double)s / (double)total > hold) s--;
    return s;
}

nmp_status nmp_lazy_sgd_init(nmp_lazy_sgd *s, double lr, double momentum, double hold, double final_lr_fraction,
                             int64_t total, nmp_err *err)
{
    *s = (nmp_lazy_sgd){.lr = lr, .momentum = momentum, .hold = hold, .final_lr_fraction = final_lr_fraction,
                        .total = total, .hold_end = hold_end(hold, total)};
    if (hold < 1.0 && total > 0) { /* lr(s) = lr (1 - u (1 - f)), u = (s / total - hold) / (1 - hold) */
        s->beta = -lr * (1.0 - final_lr_fraction) / ((double)total * (1.0 - hold));
        s->alpha = lr - s->beta * hold * (double)total;
    }
    /* mu^k until it is below anything a float velocity can carry (mu = 0: just mu^0 = 1) */
    int64_t len = 1;
    for (double p = 1.0; p > 1e-300 && len <= total + 1; p *= momentum) len++;
    s->mu_pow = malloc((size_t)len * sizeof *s->mu_pow);
    if (!s->mu_pow) return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for the momentum table");
    s->mu_pow[0] = 1.0;
    for (int64_t k = 1; k < len; k++) s->mu_pow[k] = s->mu_pow[k - 1] * momentum;
    s->mu_pow_len = len;
    return NMP_OK;
}

void nmp_lazy_sgd_free(nmp_lazy_sgd *s)
{
    free(s->mu_pow);
    s->mu_pow = NULL;
}

/* sum_{j=1..k} mu^j and sum_{j=1..k} j mu^j. */
static void geometric(const nmp_lazy_sgd *s, int64_t k, double *g, double *h)
{
    double mu = s->momentum, mk = nmp_lazy_mu_pow(s, k);
    if (mu == 0.0 || k <= 0) {
        *g = *h = 0.0;
        return;
    }
    *g = mu * (1.0 - mk) / (1.0 - mu);
    *h = mu * (1.0 - (double)(k + 1) * mk + (double)k * mk * mu) / ((1.0 - mu) * (1.0 - mu));
}

double nmp_lazy_carry(const nmp_lazy_sgd *s, int64_t last, int64_t k)
{
    if (k <= 0) return 0.0;
    if (k <= 4) { /* the common case at small n: a few terms, summed as the eager loop would */
        double sum = 0.0, p = 1.0;
        for (int64_t j = 1; j <= k; j++) p *= s->momentum, sum += nmp_lazy_lr(s, last + j) * p;
        return sum;
    }
    int64_t held = s->hold_end - last; /* steps last+1 .. hold_end are at the peak */
    held = held < 0 ? 0 : (held > k ? k : held);
    double g, h, sum = 0.0;
    geometric(s, held, &g, &h);
    sum = s->lr * g;
    if (held == k) return sum;
    geometric(s, k - held, &g, &h); /* the linear part, from step last + held + 1 on */
    return sum + nmp_lazy_mu_pow(s, held) * ((s->alpha + s->beta * (double)(last + held)) * g + s->beta * h);
}
