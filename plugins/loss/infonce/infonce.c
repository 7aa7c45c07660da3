/* Loss plugin "infonce": the NOMAD / InfoNC-t-SNE loss with exact negatives and weighted
 * approximate terms (cell means). Its formulas are nomad/loss_math.h's; docs/losses.md. */
#include <stdlib.h>

#include "plugin_device.h"
#include "nomad/loss_math.h"
#include "nomad/loss_tile.h"
#include "plugin_state.h"
#ifdef NOMAD_CUDA
#include "loss_cuda.h"
#endif

static nmp_status infonce_create(const nmp_host *host, const nmp_params *params, void **state)
{
    (void)params;
    return plugin_host_state_new(host, "infonce", state);
}

/* Z_i couples a target's terms: each repulsive coefficient is -S_i q^2. */
static nmp_status infonce_prepare(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape)
{
    (void)state, (void)fit;
    shape->coupled = 1;
    shape->move_negatives = 1;
    shape->formula = NMP_FORMULA_INFONCE; /* repel() is nmp_infonce_repel: the engine may inline it */
    return NMP_OK;
}

static inline float repel_term(const void *state, float d2, float *phi) { return nmp_infonce_repel(d2, phi); }
NMP_DEFINE_REPEL(infonce_repel, repel_term)

static inline float attract_term(const void *state, float d2, float p, float z, float a, float *s)
{
    return nmp_infonce_attract(d2, p, z, a, s);
}
static inline void set_scale(const void *state, const nmp_attract_tile *t, int32_t r, float s)
{
    t->scale[r] = s; /* S_i = dL_i/dZ_i */
}
NMP_DEFINE_ATTRACT(infonce_attract, attract_term, set_scale)

static double infonce_value(const void *state, const nmp_loss_terms *t)
{
    const float z = (float)t->z, a = (float)t->exaggeration;
    float loss = 0.0f;
#pragma omp simd reduction(+ : loss)
    for (int32_t j = 0; j < t->n_pos; j++) loss += nmp_infonce_value(t->d2_pos[j], t->p[j], z, a);
    return loss;
}

#ifdef NOMAD_CUDA
LOSS_CUDA_ENTRY(infonce, plugin_host_state, {.kind = SGD_LOSS_INFONCE, .move_negatives = 1})
#endif

NMP_PLUGIN_REGISTER(NMP_KIND_LOSS, "infonce", "2.0.0",
                    "NOMAD / InfoNC-t-SNE loss: -sum_j p_ij [a log q_ij - log(q_ij + sum_l w_l q_il"
                    " + sum_c a_ic q(y_i, mu_c))]",
                    NMP_NO_PARAMS, infonce_create, free,
                    (.prepare = infonce_prepare, .repel = infonce_repel, .attract = infonce_attract,
                     .value = infonce_value),
                    PLUGIN_CUDA_EXTENSION(infonce));
