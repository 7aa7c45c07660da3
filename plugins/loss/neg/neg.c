/* Loss plugin "neg": Neg-t-SNE (Damrich et al., ICLR 2023) with normalisation constant c;
 * c = 1 is UMAP's effective constant. Formulas in nomad/loss_math.h; docs/losses.md. */
#include <stdlib.h>

#include "plugin_device.h"
#include "loss_neg.h"
#ifdef NOMAD_CUDA
#include "loss_cuda.h"
#endif

static const nmp_param_decl neg_params[] = {
    {"c", NMP_PARAM_DOUBLE, "1.0", 1e-12, 1e12, NULL,
     "normalisation constant: P(edge) = q/(q + c); larger c pulls harder relative to the push"},
};

static nmp_status neg_create(const nmp_host *host, const nmp_params *params, void **state)
{
    double c = nmp_param_double(params, "c");
    if (!(c > 0.0)) {
        host->set_error(host, "c must be > 0, got %g", c);
        return NMP_ERR_INVALID;
    }
    loss_neg *s = *state = nmp_state_new(host, sizeof *s, "neg");
    if (!s) return NMP_ERR_NOMEM;
    *s = (loss_neg){.host = host, .c = (float)c};
    return NMP_OK;
}

#ifdef NOMAD_CUDA
LOSS_CUDA_ENTRY(neg, loss_neg, {.kind = SGD_LOSS_NEG, .c = s->c, .move_negatives = 1})
#endif

NMP_PLUGIN_REGISTER(NMP_KIND_LOSS, "neg", "2.0.0",
                    "Neg-t-SNE: -a p_ij log(q_ij/(q_ij + c)) - sum_l w_l log(1 - q_il/(q_il + c))",
                    NMP_PARAMS(neg_params), neg_create, free,
                    (.prepare = loss_neg_prepare_fixed, .repel = loss_neg_repel, .attract = loss_neg_attract,
                     .value = loss_neg_value),
                    PLUGIN_CUDA_EXTENSION(neg));
