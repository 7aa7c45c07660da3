/* Negatives plugin "in_batch" (NOMAD reference code): n_noise negatives shared by the batch,
 * drawn from the batch's neighbour pool, plus one mean per cell not on this rank. */
#include <stdlib.h>
#include <string.h>

#include "neg_common.h"

static const nmp_param_decl in_batch_params[] = {
    {"n_noise", NMP_PARAM_INT, "10000", 1, 10000000, NULL,
     "negatives shared by the whole batch, drawn with replacement from its neighbours"},
    {"weighting", NMP_PARAM_ENUM, "unweighted", 0, -1, "unweighted|mass",
     "weight of a remote cell's mean: 1, or n_noise * |cell| / n (the paper's bound)"},
};

typedef struct {
    const nmp_host *host;
    uint64_t seed;
    int32_t n_noise, batch;
    int mass;
    int32_t *index;            /* n_noise */
    neg_fixed_approx remote;   /* means of the cells on other ranks */
} in_batch_state;

typedef struct {
    const in_batch_state *s;
    const nmp_step *step;
    int64_t first, pool; /* edges of the step: the neighbour pool */
} draw_ctx;

static nmp_status in_batch_create(const nmp_host *host, const nmp_params *params, void **state)
{
    in_batch_state *s = *state = nmp_state_new(host, sizeof *s, "in_batch");
    if (!s) return NMP_ERR_NOMEM;
    s->host = host;
    s->seed = neg_seed(host);
    s->n_noise = (int32_t)nmp_param_int(params, "n_noise");
    s->mass = nmp_param_is(params, "weighting", "mass");
    return NMP_OK;
}

static void in_batch_destroy(void *state)
{
    in_batch_state *s = state;
    neg_fixed_approx_free(&s->remote);
    free(s->index);
    free(s);
}

static nmp_status in_batch_prepare(void *state, const nmp_fit_info *fit)
{
    in_batch_state *s = state;
    s->index = malloc((size_t)s->n_noise * sizeof *s->index);
    uint8_t *remote = malloc((size_t)fit->cells->count + 1);
    if (!s->index || !remote) {
        free(remote);
        s->host->set_error(s->host, "out of memory for %d negatives", s->n_noise);
        return NMP_ERR_NOMEM;
    }
    for (int32_t c = 0; c < fit->cells->count; c++) remote[c] = !fit->cell_local[c];
    nmp_status st = neg_fixed_approx_init(&s->remote, s->host, fit, remote, s->n_noise, s->mass, 0.0);
    free(remote);
    if (st == NMP_OK) s->batch = fit->batch;
    return st;
}

static void draw_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const draw_ctx *d = ctx;
    for (int64_t l = begin; l < end; l++)
        d->s->index[l] = d->step->pos[d->first + (int64_t)neg_draw(d->s->seed, d->step->step, (uint64_t)l,
                                                                     (uint64_t)d->pool)];
}

static nmp_status in_batch_sample(void *state, const nmp_step *step, nmp_negatives *out)
{
    in_batch_state *s = state;
    nmp_status st = neg_check_step(s->host, step, s->batch);
    if (st != NMP_OK) return st;
    memset(out, 0, sizeof *out);
    draw_ctx d = {s, step, step->edge_offset[0], step->edge_offset[step->batch] - step->edge_offset[0]};
    if (d.pool > 0) { /* a batch without edges has no pool: no exact negatives */
        s->host->parallel_for(s->host, s->n_noise, draw_range, &d);
        out->per_target = s->n_noise;
        out->index = s->index;
    }
    out->shared = 1;
    return neg_fixed_approx_step(&s->remote, s->host, step, out);
}

NMP_PLUGIN_REGISTER(NMP_KIND_NEGATIVES, "in_batch", "1.0.0",
                    "NOMAD reference negatives: n_noise shared draws from the batch's neighbours + remote cell means",
                    NMP_PARAMS(in_batch_params), in_batch_create, in_batch_destroy,
                    (.prepare = in_batch_prepare, .sample = in_batch_sample), NULL);
