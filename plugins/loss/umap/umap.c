/* Loss plugin "umap": umap-learn's attraction and repulsion forces, as the gradient of a loss
 * (force = -gradient), per-coordinate clipping, negatives optionally left still. Formulas in
 * nomad/loss_math.h; docs/losses.md. */
#include <stdlib.h>

#include "plugin_device.h"
#include "nomad/loss_math.h"
#include "nomad/loss_tile.h"
#ifdef NOMAD_CUDA
#include "loss_cuda.h"
#endif
#include "umap_ab.h"

static const nmp_param_decl umap_params[] = {
    {"a", NMP_PARAM_DOUBLE, "0", 0, 1e6, NULL, "curve 1/(1 + a d^2b); 0 = fit a and b from min_dist and spread"},
    {"b", NMP_PARAM_DOUBLE, "0", 0, 1e3, NULL, "curve exponent; 0 = fit a and b from min_dist and spread"},
    {"min_dist", NMP_PARAM_DOUBLE, "0.1", 0, 1e6, NULL, "umap-learn min_dist, used when a or b is 0"},
    {"spread", NMP_PARAM_DOUBLE, "1.0", 1e-6, 1e6, NULL, "umap-learn spread, used when a or b is 0"},
    {"gamma", NMP_PARAM_DOUBLE, "1.0", 0, 1e6, NULL, "repulsion strength (umap-learn repulsion_strength)"},
    {"clip", NMP_PARAM_DOUBLE, "4.0", 0, 1e12, NULL, "clip each gradient coordinate of a pair to +-clip (0 = off)"},
    {"repulsion_eps", NMP_PARAM_DOUBLE, "0.001", 1e-12, 1e3, NULL,
     "eps in the repulsion 2 gamma b / ((eps + d^2)(1 + a d^2b))"},
    {"move_negatives", NMP_PARAM_BOOL, "false", 0, -1, NULL, "also push the negatives (umap-learn does not)"},
};

typedef struct {
    const nmp_host *host; /* first: see loss_cuda.h */
    nmp_umap_curve curve;
    float clip;
    int move_negatives;
} umap_state;

static nmp_status umap_create(const nmp_host *host, const nmp_params *params, void **state)
{
    double a = nmp_param_double(params, "a"), b = nmp_param_double(params, "b");
    if (!(a > 0.0 && b > 0.0)) {
        double min_dist = nmp_param_double(params, "min_dist"), spread = nmp_param_double(params, "spread");
        if (!umap_find_ab(min_dist, spread, &a, &b)) {
            host->set_error(host, "could not fit a, b to min_dist %g, spread %g", min_dist, spread);
            return NMP_ERR_INVALID;
        }
        host->log(host, NMP_LOG_INFO, "a = %.6f, b = %.6f (fitted to min_dist %g, spread %g)", a, b, min_dist, spread);
    }
    umap_state *s = *state = nmp_state_new(host, sizeof *s, "umap");
    if (!s) return NMP_ERR_NOMEM;
    *s = (umap_state){.host = host,
                      .curve = {(float)a, (float)b, (float)nmp_param_double(params, "gamma"),
                                (float)nmp_param_double(params, "repulsion_eps")},
                      .clip = (float)nmp_param_double(params, "clip"),
                      .move_negatives = (int)nmp_param_int(params, "move_negatives")};
    return NMP_OK;
}

static nmp_status umap_prepare(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape)
{
    const umap_state *s = state;
    (void)fit;
    shape->move_negatives = s->move_negatives;
    shape->clip = s->clip;
    shape->formula = NMP_FORMULA_UMAP; /* repel() is nmp_umap_repel: the engine may inline it */
    shape->param[0] = s->curve.a, shape->param[1] = s->curve.b, shape->param[2] = s->curve.gamma;
    shape->param[3] = s->curve.eps;
    return NMP_OK;
}

static inline float repel_term(const void *state, float d2, float *phi)
{
    *phi = 0.0f;
    return nmp_umap_repel(&((const umap_state *)state)->curve, d2);
}
NMP_DEFINE_REPEL(umap_repel, repel_term)

static inline float attract_term(const void *state, float d2, float p, float z, float a, float *phi)
{
    *phi = 0.0f;
    return nmp_umap_attract(&((const umap_state *)state)->curve, d2, a);
}
static inline void no_finish(const void *state, const nmp_attract_tile *t, int32_t r, float sum) {}
NMP_DEFINE_ATTRACT(umap_attract, attract_term, no_finish)

static double umap_value(const void *state, const nmp_loss_terms *t)
{
    const nmp_umap_curve k = ((const umap_state *)state)->curve;
    const float a = (float)t->exaggeration, *wn = t->w_neg, *wa = t->w_approx;
    float pos = 0.0f, neg = 0.0f, approx = 0.0f;
#pragma omp simd reduction(+ : pos)
    for (int32_t j = 0; j < t->n_pos; j++) pos += t->p[j] * nmp_umap_value_attract(&k, t->d2_pos[j], a);
    if (wn) { /* one loop per case, as loss_neg_value */
#pragma omp simd reduction(+ : neg)
        for (int32_t l = 0; l < t->n_neg; l++) neg += wn[l] * nmp_umap_value_repel(&k, t->d2_neg[l]);
    } else {
#pragma omp simd reduction(+ : neg)
        for (int32_t l = 0; l < t->n_neg; l++) neg += nmp_umap_value_repel(&k, t->d2_neg[l]);
    }
#pragma omp simd reduction(+ : approx)
    for (int32_t l = 0; l < t->n_approx; l++) approx += wa[l] * nmp_umap_value_repel(&k, t->d2_approx[l]);
    return (double)pos + neg + approx;
}

#ifdef NOMAD_CUDA
LOSS_CUDA_ENTRY(umap, umap_state,
                {.kind = SGD_LOSS_UMAP, .a = s->curve.a, .b = s->curve.b, .gamma = s->curve.gamma,
                 .eps = s->curve.eps, .clip = s->clip, .move_negatives = s->move_negatives})
#endif

NMP_PLUGIN_REGISTER(NMP_KIND_LOSS, "umap", "2.0.0",
                    "UMAP forces: attraction 2ab d^(2(b-1))/(1 + a d^2b),"
                    " repulsion 2 gamma b/((eps + d^2)(1 + a d^2b)), clipped",
                    NMP_PARAMS(umap_params), umap_create, free,
                    (.prepare = umap_prepare, .repel = umap_repel, .attract = umap_attract, .value = umap_value),
                    PLUGIN_CUDA_EXTENSION(umap));
