/* Loss plugin "heavy_tail": InfoNCE with the heavy-tailed kernel q = (1 + d2/alpha)^-alpha of
 * Kobak et al. 2019 (alpha = 1: the Cauchy kernel of t-SNE and NOMAD; alpha < 1: heavier
 * tails, finer clusters). docs/plugin-guide.md section 9 builds it: only the maths is here. */
#include <stdlib.h>
#include "nomad/loss_math.h"
#include "nomad/loss_tile.h"

typedef struct { float alpha; } heavy_tail;
static const nmp_param_decl params[] = {
    {"alpha", NMP_PARAM_DOUBLE, "0.5", 0.01, 100, NULL, "tail exponent: q = (1 + d2/alpha)^-alpha"}};

static nmp_status create(const nmp_host *host, const nmp_params *p, void **state)
{
    heavy_tail *s = nmp_state_new(host, sizeof *s, "heavy_tail");
    if (!s) return NMP_ERR_NOMEM;
    s->alpha = (float)nmp_param_double(p, "alpha"), *state = s;
    return NMP_OK;
}

static nmp_status prepare(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape)
{
    (void)state, (void)fit;
    shape->coupled = 1, shape->move_negatives = 1; /* as InfoNCE: a negative's coefficient is S_i dq/d(d2) */
    return NMP_OK;
}

static inline float kernel(const heavy_tail *s, float d2, float *dq) /* q, and dq/d(d2) = -q / (1 + d2/alpha) */
{
    float r = 1.0f / (1.0f + d2 / s->alpha), q = nmp_pow(r, s->alpha);
    return *dq = -q * r, q;
}

/* A negative: Z_i gets q, the coefficient is dq/d(d2) (the engine multiplies by S_i). */
static inline float repel_term(const void *s, float d2, float *phi) { float dq; *phi = kernel(s, d2, &dq); return dq; }
NMP_DEFINE_REPEL(repel, repel_term)

/* L_i = sum_j p_j [-a log q_j + log(q_j + Z_i)]: a positive's coefficient per unit p, and
 * its share p / (q + Z) of S_i = dL_i/dZ_i, which set_scale hands the engine. */
static inline float attract_term(const void *state, float d2, float p, float z, float a, float *s)
{
    float dq, q = kernel(state, d2, &dq);
    return *s = p / (q + z), -a * dq / q + dq / (q + z);
}
static inline void set_scale(const void *s, const nmp_attract_tile *t, int32_t r, float S) { (void)s, t->scale[r] = S; }
NMP_DEFINE_ATTRACT(attract, attract_term, set_scale)

static double value(const void *state, const nmp_loss_terms *t)
{
    double loss = 0.0;
    for (int32_t j = 0; j < t->n_pos; j++) {
        float dq, q = kernel(state, t->d2_pos[j], &dq);
        loss += t->p[j] * (-t->exaggeration * nmp_ln(q) + nmp_ln(q + (float)t->z));
    }
    return loss;
}

NMP_PLUGIN_REGISTER(NMP_KIND_LOSS, "heavy_tail", "1.0", "InfoNCE with the kernel (1 + d2/alpha)^-alpha",
                    NMP_PARAMS(params), create, free,
                    (.prepare = prepare, .repel = repel, .attract = attract, .value = value),
                    NULL /* extensions: none, so no CUDA entry (section 8) */);
