/* Loss plugin "tsne": t-SNE's KL divergence, sampled. InfoNCE normalises each target by its own
 * negatives (Z_i); t-SNE by one Z over all pairs. Here Z is the batch mean of the Z_i the engine
 * sums (the same estimator as InfoNCE's, pooled over thousands of targets), taken from the
 * previous step: targets are repelled by -q^2 / max(Z, Z_i) and attracted by a p q, which with
 * p scaled to mean row sum 1 is t-SNE's gradient up to a constant (docs/losses.md). The first
 * step, with no estimate yet, normalises per target as InfoNCE does. */
#include <stdlib.h>
#include <string.h>

#include "plugin_checkpoint.h"
#include "nomad/loss_math.h"
#include "nomad/loss_tile.h"
#ifdef NOMAD_CUDA
#include "loss_cuda.h"
#endif

static const nmp_param_decl tsne_params[] = {
    {"z_decay", NMP_PARAM_DOUBLE, "0", 0, 0.999999, NULL,
     "weight of the old Z in each step's update: 0 = the previous step's batch mean alone"},
    {"z_max", NMP_PARAM_BOOL, "true", 1, 0, NULL,
     "repel a target by 1 / max(Z, Z_i), bounding a near negative's push (false: 1 / Z, t-SNE's own, "
     "diverges with few negatives)"},
};

typedef struct {
    const nmp_host *host;
    double decay;
    int z_max;
    double z;  /* the estimate the next step uses; 0 = none yet */
    float inv_z;
#ifdef NOMAD_CUDA
    nmp_gpu_buf pooled; /* the CUDA entry's Z and the step's sums of Z_i, on the device (sgd_loss.pooled) */
#endif
} tsne_state;

static nmp_status tsne_create(const nmp_host *host, const nmp_params *params, void **state)
{
    tsne_state *s = *state = nmp_state_new(host, sizeof *s, "tsne");
    if (!s) return NMP_ERR_NOMEM;
    s->host = host;
    s->decay = nmp_param_double(params, "z_decay");
    s->z_max = (int)nmp_param_int(params, "z_max");
    return NMP_OK;
}

/* Coupled, so that the repulsive coefficients wait for the target's scale (1 / max(Z, Z_i), or
 * 1 / Z_i on the first step); the repulsive term is InfoNCE's -q^2 with phi = q, which the engine inlines. */
static nmp_status tsne_prepare(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape)
{
    tsne_state *s = state;
    (void)fit;
    s->z = 0.0;
    shape->coupled = 1;
    shape->move_negatives = 1;
    shape->formula = NMP_FORMULA_INFONCE;
    return NMP_OK;
}

static nmp_status tsne_begin_step(void *state, const nmp_step *step, const nmp_negatives *neg)
{
    tsne_state *s = state;
    (void)step, (void)neg;
    s->inv_z = s->z > 0.0 ? (float)(1.0 / s->z) : 0.0f;
    return NMP_OK;
}

static inline float repel_term(const void *state, float d2, float *phi) { return nmp_infonce_repel(d2, phi); }
NMP_DEFINE_REPEL(tsne_repel, repel_term)

/* dL/d(d2) of a positive per unit p: a q (the normaliser is global: no q / (q + Z) term). */
static inline float attract_term(const void *state, float d2, float p, float z, float a, float *phi)
{
    (void)state, (void)z, (void)p;
    *phi = 0.0f;
    return a * nmp_cauchy(d2);
}
static inline void set_scale(const void *state, const nmp_attract_tile *t, int32_t r, float sum)
{
    const tsne_state *s = state;
    (void)sum;
    const float z = (float)t->z[r];
    /* 1 / max(Z, Z_i): where the target's own sample holds near negatives (Z_i > Z) it is
     * normalised by them, as InfoNCE is, which bounds each term's kick by q; with Z alone one
     * near negative of m pushes m Z / (mean Z_i) times harder, which diverges for small m. */
    const float zmax = s->inv_z > 0.0f && (!s->z_max || s->inv_z * z < 1.0f) ? 1.0f / s->inv_z : z;
    t->scale[r] = zmax > 0.0f ? 1.0f / zmax : 0.0f;
    t->stat[r] = z; /* this target's Z_i, pooled by end_step */
}
NMP_DEFINE_ATTRACT(tsne_attract, attract_term, set_scale)

static nmp_status tsne_end_step(void *state, const nmp_step *step, double stat_sum)
{
    tsne_state *s = state;
    if (step->batch <= 0 || !(stat_sum > 0.0)) return NMP_OK;
    const double mean = stat_sum / step->batch;
    s->z = s->z > 0.0 ? s->decay * s->z + (1.0 - s->decay) * mean : mean;
    return NMP_OK;
}

/* L_i = a sum_j p_j log(1 + d2_j) + log Z: summed over a batch, with Z its mean Z_i, the
 * coefficients above are its derivatives (t-SNE's KL up to constants and the factor n), but for
 * the targets whose own Z_i exceeds Z. */
static double tsne_value(const void *state, const nmp_loss_terms *t)
{
    const tsne_state *s = state;
    const float a = (float)t->exaggeration;
    float loss = 0.0f;
#pragma omp simd reduction(+ : loss)
    for (int32_t j = 0; j < t->n_pos; j++) loss += t->p[j] * a * nmp_ln(1.0f + t->d2_pos[j]);
    const double z = s->z > 0.0 ? s->z : t->z;
    return loss + (z > 0.0 ? (double)nmp_ln((float)z) : 0.0);
}

static void tsne_destroy(void *state)
{
#ifdef NOMAD_CUDA
    nmp_gpu_buf_free(&((tsne_state *)state)->pooled);
#endif
    free(state);
}

#ifdef NOMAD_CUDA
/* On the GPU, Z stays on the device from step to step (nothing is copied back per step): the
 * fit's start zeroes it, and the kernel pools each step's Z_i into it as end_step does. */
static nmp_status tsne_prepare_cuda(void *state, const nmp_fit_info *fit)
{
    tsne_state *s = state;
    (void)fit;
    const double zero[1 + SGD_POOL_PARTS] = {0.0};
    nmp_gpu_err e = {0};
    nmp_status st = nmp_gpu_buf_put(&s->pooled, zero, sizeof zero, "tsne's pooled Z", &e);
    if (st != NMP_OK) s->host->set_error(s->host, "%s", e.msg);
    return st;
}

static nmp_status tsne_grad_cuda(void *state, const nmp_step_cuda *step, const nmp_negatives *neg, double exaggeration,
                                 float *grad, double *loss)
{
    const tsne_state *s = state;
    const sgd_loss l = {
        .kind = SGD_LOSS_TSNE, .move_negatives = 1, .pooled = s->pooled.p, .z_decay = s->decay, .z_max = s->z_max};
    return loss_cuda_grad(state, l, step, neg, exaggeration, grad, loss);
}

static const nmp_loss_cuda_ops tsne_cuda_ops = {
    .struct_size = sizeof(nmp_loss_cuda_ops), .prepare = tsne_prepare_cuda, .grad = tsne_grad_cuda};
#endif

/* Z, the running estimate the next step uses, is what a resumed fit needs (CPU fits: the GPU fit
 * keeps Z in `pooled` on the device and writes no checkpoints). */
PLUGIN_CHECKPOINT_FIELD(tsne_z, tsne_state, z)

/* The checkpoint of Z, and (CUDA builds) the CUDA entry. */
static const void *tsne_extension(const char *uri)
{
#ifdef NOMAD_CUDA
    if (strcmp(uri, NMP_EXT_CUDA) == 0) return &tsne_cuda_ops;
#endif
    return tsne_z_extension(uri);
}

NMP_PLUGIN_REGISTER(NMP_KIND_LOSS, "tsne", "1.1.0",
                    "t-SNE's KL, sampled: attraction a p q, repulsion q^2 / max(Z, Z_i), Z the batch mean "
                    "of the targets' Z_i (previous step)",
                    NMP_PARAMS(tsne_params), tsne_create, tsne_destroy,
                    (.prepare = tsne_prepare, .begin_step = tsne_begin_step, .repel = tsne_repel,
                     .attract = tsne_attract, .value = tsne_value, .end_step = tsne_end_step, .no_edges = 1),
                    tsne_extension);
