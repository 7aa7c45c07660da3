/* Loss plugin "umap": umap-learn's attraction and repulsion forces, returned as gradients
 * (force = -gradient), per-coordinate clipping, negatives optionally left still. */
#include <math.h>
#include <stdlib.h>

#include "loss_batch.h"
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
    double a, b, gamma, eps;
} umap_curve;

typedef struct {
    loss_batch *lb; /* first: see loss_state_new */
    umap_curve curve;
    loss_apply apply;
} umap_state;

/* Repulsion of one pair: adds gamma w log((1 + a s)/(a s + eps)) (s = d2^b) to the loss and
 * returns dL/d(d2) = -gamma b / ((eps + d2)(1 + a s)); 0 at d2 = 0 as in umap-learn. */
static inline double umap_repulsion(const umap_curve *k, double d2, double w, int want_loss, double *loss)
{
    if (!(d2 > 0.0)) return 0.0;
    double as = k->a * pow(d2, k->b);
    if (want_loss) *loss += k->gamma * w * log((1.0 + as) / (as + k->eps));
    return -k->gamma * k->b / ((k->eps + d2) * (1.0 + as));
}

/* Attraction a_exag p log(1 + a d2^b): dL/d(d2) = a_exag a b d2^(b-1) / (1 + a d2^b). */
static double umap_terms(const void *params, loss_terms *t)
{
    const umap_curve *k = params;
    double ex = t->exaggeration, loss = 0.0;
    for (int32_t j = 0; j < t->n_pos; j++) {
        double d2 = t->pos[j];
        t->pos[j] = 0.0;
        if (!(d2 > 0.0)) continue;
        double s = pow(d2, k->b);
        if (t->want_loss) loss += ex * t->pos_w[j] * log1p(k->a * s);
        t->pos[j] = ex * k->a * k->b * (s / d2) / (1.0 + k->a * s);
    }
    for (int32_t l = 0; l < t->n_neg; l++)
        t->neg[l] = umap_repulsion(k, t->neg[l], t->neg_w ? t->neg_w[l] : 1.0, t->want_loss, &loss);
    for (int32_t c = 0; c < t->n_approx; c++) t->approx[c] = umap_repulsion(k, t->approx[c], t->approx_w[c], t->want_loss, &loss);
    return loss;
}

static nmp_status umap_create(const nmp_host *host, const nmp_params *params, void **state)
{
    umap_curve k = {nmp_param_double(params, "a"), nmp_param_double(params, "b"), nmp_param_double(params, "gamma"),
                    nmp_param_double(params, "repulsion_eps")};
    if (!(k.a > 0.0 && k.b > 0.0)) {
        double min_dist = nmp_param_double(params, "min_dist"), spread = nmp_param_double(params, "spread");
        if (!umap_find_ab(min_dist, spread, &k.a, &k.b)) {
            host->set_error(host, "could not fit a, b to min_dist %g, spread %g", min_dist, spread);
            return NMP_ERR_INVALID;
        }
        host->log(host, NMP_LOG_INFO, "a = %.6f, b = %.6f (fitted to min_dist %g, spread %g)", k.a, k.b, min_dist,
                  spread);
    }
    umap_state *s = loss_state_new(host, sizeof *s);
    if (!s) return NMP_ERR_NOMEM;
    s->curve = k;
    s->apply.clip = nmp_param_double(params, "clip");
    s->apply.move_negatives = (int)nmp_param_int(params, "move_negatives");
    *state = s;
    return NMP_OK;
}

static nmp_status umap_grad(void *state, const nmp_step *step, const nmp_negatives *neg, double exaggeration,
                            nmp_grads *out)
{
    umap_state *s = state;
    return loss_batch_run(s->lb, step, neg, exaggeration, s->apply, umap_terms, &s->curve, out, NULL);
}

static const nmp_loss_ops umap_ops = {sizeof(nmp_loss_ops), loss_state_prepare, umap_grad};

#ifdef NOMAD_CUDA
static nmp_status umap_grad_cuda(void *state, const nmp_step_cuda *step, const nmp_negatives *neg,
                                 double exaggeration, float *grad, double *loss)
{
    const umap_state *s = state;
    const sgd_loss l = {.kind = SGD_LOSS_UMAP, .a = s->curve.a, .b = s->curve.b, .gamma = s->curve.gamma,
                        .eps = s->curve.eps, .clip = s->apply.clip, .move_negatives = s->apply.move_negatives};
    return loss_cuda_grad(state, l, step, neg, exaggeration, grad, loss);
}
static const nmp_loss_cuda_ops umap_cuda_ops = {sizeof(nmp_loss_cuda_ops), NULL, umap_grad_cuda};
#define UMAP_CUDA (&umap_cuda_ops)
#else
#define UMAP_CUDA NULL
#endif

static const nmp_plugin umap_plugin = {
    NMP_ABI_MAJOR, NMP_ABI_MINOR, sizeof(nmp_plugin), NMP_KIND_LOSS, "umap", "1.1.0",
    "UMAP forces: attraction 2ab d^(2(b-1))/(1 + a d^2b), repulsion 2 gamma b/((eps + d^2)(1 + a d^2b)), clipped",
    umap_params, sizeof umap_params / sizeof umap_params[0], umap_create, loss_state_destroy, &umap_ops, UMAP_CUDA};

NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i) { return i == 0 ? &umap_plugin : NULL; }
