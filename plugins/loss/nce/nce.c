/* Loss plugin "nce": noise-contrastive estimation with a learned normaliser Z (Damrich et
 * al., ICLR 2023): Neg-t-SNE's terms with c = m Z, log Z updated by SGD inside grad(). */
#include <math.h>
#include <stdlib.h>

#include "loss_batch.h"

static const nmp_param_decl nce_params[] = {
    {"log_z_init", NMP_PARAM_DOUBLE, "0.0", -700, 700, NULL, "starting value of the learned log Z"},
    {"z_lr", NMP_PARAM_DOUBLE, "1e-3", 0, 1e6, NULL,
     "SGD learning rate of log Z on the batch-mean gradient (0 = Z fixed: Neg-t-SNE with c = m Z)"},
};

typedef struct {
    loss_batch *lb; /* first: see loss_state_new */
    double log_z, z_lr;
} nce_state;

static nmp_status nce_create(const nmp_host *host, const nmp_params *params, void **state)
{
    nce_state *s = loss_state_new(host, sizeof *s);
    if (!s) return NMP_ERR_NOMEM;
    s->log_z = nmp_param_double(params, "log_z_init");
    s->z_lr = nmp_param_double(params, "z_lr");
    *state = s;
    return NMP_OK;
}

/* The step's loss and gradients use the current Z; log Z then takes one SGD step on the
 * batch mean of dL_i/dlog Z (= dL_i/dlog c, since c = m Z), so results stay deterministic. */
static nmp_status nce_grad(void *state, const nmp_step *step, const nmp_negatives *neg, double exaggeration,
                           nmp_grads *out)
{
    nce_state *s = state;
    double m = neg->per_target > 0 ? neg->per_target : 1.0; /* noise samples per data sample */
    double c = m * exp(s->log_z), dlogz = 0.0;
    loss_apply apply = {.clip = 0.0, .move_negatives = 1};
    nmp_status st = loss_batch_run(s->lb, step, neg, exaggeration, apply, loss_neg_terms, &c, out, &dlogz);
    if (st == NMP_OK && step->batch > 0) s->log_z -= s->z_lr * dlogz / step->batch;
    return st;
}

static const nmp_loss_ops nce_ops = {sizeof(nmp_loss_ops), loss_state_prepare, nce_grad};

static const nmp_plugin nce_plugin = {
    NMP_ABI_MAJOR, NMP_ABI_MINOR, sizeof(nmp_plugin), NMP_KIND_LOSS, "nce", "1.0.0",
    "NCE with learned Z: -a p_ij log(q_ij/(q_ij + m Z)) - sum_l w_l log(1 - q_il/(q_il + m Z))",
    nce_params, sizeof nce_params / sizeof nce_params[0], nce_create, loss_state_destroy, &nce_ops,
    NULL /* no CUDA entry */};

NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i) { return i == 0 ? &nce_plugin : NULL; }
