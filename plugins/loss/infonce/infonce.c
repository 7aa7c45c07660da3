/* Loss plugin "infonce": the NOMAD / InfoNC-t-SNE loss with exact negatives and weighted
 * approximate terms (cell means). Formulas and gradients in docs/losses.md. */
#include <math.h>
#include <stdlib.h>

#include "loss_batch.h"
#ifdef NOMAD_CUDA
#include "loss_cuda.h"
#endif

typedef struct {
    loss_batch *lb; /* first: see loss_state_new */
} infonce_state;

/* L_i = -sum_j p_j [a log q_j - log(q_j + Z_i)], Z_i = sum_l w_l q_l + sum_c a_c q(y_i, mu_c). */
static double infonce_terms(const void *params, loss_terms *t)
{
    (void)params;
    double a = t->exaggeration; /* q_l stay in t->neg / t->approx for the gradient pass */
    double z = loss_cauchy_sum(t->neg, t->neg_w, t->n_neg) + loss_cauchy_sum(t->approx, t->approx_w, t->n_approx);
    double loss = 0.0, s = 0.0; /* s = dL_i / dZ_i = sum_j p_j / (q_j + Z_i) */
    for (int32_t j = 0; j < t->n_pos; j++) {
        double d2 = t->pos[j], q = loss_cauchy(d2), p = t->pos_w[j];
        if (t->want_loss) loss += p * (a * log1p(d2) + log(q + z));
        s += p / (q + z);
        t->pos[j] = a * q - q * q / (q + z); /* d/dd2 of -a log q + log(q + Z), per unit p */
    }
    for (int32_t l = 0; l < t->n_neg; l++) t->neg[l] *= -s * t->neg[l]; /* dZ/dd2 = -w q^2 */
    for (int32_t c = 0; c < t->n_approx; c++) t->approx[c] *= -s * t->approx[c];
    return loss;
}

static nmp_status infonce_create(const nmp_host *host, const nmp_params *params, void **state)
{
    (void)params;
    infonce_state *s = loss_state_new(host, sizeof *s);
    if (!s) return NMP_ERR_NOMEM;
    *state = s;
    return NMP_OK;
}

static nmp_status infonce_grad(void *state, const nmp_step *step, const nmp_negatives *neg, double exaggeration,
                               nmp_grads *out)
{
    infonce_state *s = state;
    loss_apply apply = {.clip = 0.0, .move_negatives = 1};
    return loss_batch_run(s->lb, step, neg, exaggeration, apply, infonce_terms, NULL, out, NULL);
}

static const nmp_loss_ops infonce_ops = {sizeof(nmp_loss_ops), loss_state_prepare, infonce_grad};

#ifdef NOMAD_CUDA
static nmp_status infonce_grad_cuda(void *state, const nmp_step_cuda *step, const nmp_negatives *neg,
                                    double exaggeration, float *grad, double *loss)
{
    const sgd_loss l = {.kind = SGD_LOSS_INFONCE, .move_negatives = 1};
    return loss_cuda_grad(state, l, step, neg, exaggeration, grad, loss);
}
static const nmp_loss_cuda_ops infonce_cuda_ops = {sizeof(nmp_loss_cuda_ops), NULL, infonce_grad_cuda};
#define INFONCE_CUDA (&infonce_cuda_ops)
#else
#define INFONCE_CUDA NULL
#endif

static const nmp_plugin infonce_plugin = {
    NMP_ABI_MAJOR, NMP_ABI_MINOR, sizeof(nmp_plugin), NMP_KIND_LOSS, "infonce", "1.1.0",
    "NOMAD / InfoNC-t-SNE loss: -sum_j p_ij [a log q_ij - log(q_ij + sum_l w_l q_il + sum_c a_ic q(y_i, mu_c))]",
    NULL, 0, infonce_create, loss_state_destroy, &infonce_ops, INFONCE_CUDA};

NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i) { return i == 0 ? &infonce_plugin : NULL; }
