/* Loss plugin "nce": noise-contrastive estimation with a learned normaliser Z (Damrich et
 * al., ICLR 2023): Neg-t-SNE's terms with c = m Z, log Z updated by SGD after each step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_checkpoint.h"
#include "loss_neg.h"

static const nmp_param_decl nce_params[] = {
    {"log_z_init", NMP_PARAM_DOUBLE, "0.0", -700, 700, NULL, "starting value of the learned log Z"},
    {"z_lr", NMP_PARAM_DOUBLE, "1e-3", 0, 1e6, NULL,
     "SGD learning rate of log Z on the batch-mean gradient (0 = Z fixed: Neg-t-SNE with c = m Z)"},
};

typedef struct {
    loss_neg terms; /* first: the shared neg maths read c from it */
    double log_z, z_lr;
} nce_state;

static nmp_status nce_create(const nmp_host *host, const nmp_params *params, void **state)
{
    nce_state *s = *state = nmp_state_new(host, sizeof *s, "nce");
    if (!s) return NMP_ERR_NOMEM;
    s->terms.host = host;
    s->log_z = nmp_param_double(params, "log_z_init");
    s->z_lr = nmp_param_double(params, "z_lr");
    return NMP_OK;
}

/* The step's terms use the current Z: c = m Z, m noise samples per data sample. */
static nmp_status nce_begin_step(void *state, const nmp_step *step, const nmp_negatives *neg)
{
    nce_state *s = state;
    (void)step;
    double m = neg->per_target > 0 ? neg->per_target : 1.0;
    s->terms.c = (float)(m * exp(s->log_z));
    return NMP_OK;
}

/* Then log Z takes one SGD step on the batch mean of dL_i/d log Z (= dL_i/d log c). */
static nmp_status nce_end_step(void *state, const nmp_step *step, double stat_sum)
{
    nce_state *s = state;
    if (step->batch > 0) s->log_z -= s->z_lr * stat_sum / step->batch;
    return NMP_OK;
}

/* log Z, learned step by step, is what a resumed fit needs. */
PLUGIN_CHECKPOINT_FIELD(nce, nce_state, log_z)

NMP_PLUGIN_REGISTER(NMP_KIND_LOSS, "nce", "2.0.0",
                    "NCE with learned Z: -a p_ij log(q_ij/(q_ij + m Z)) - sum_l w_l log(1 - q_il/(q_il + m Z))",
                    NMP_PARAMS(nce_params), nce_create, free,
                    (.prepare = loss_neg_prepare, .begin_step = nce_begin_step, .repel = loss_neg_repel,
                     .attract = loss_neg_attract, .value = loss_neg_value, .end_step = nce_end_step, .no_edges = 1),
                    nce_extension);
