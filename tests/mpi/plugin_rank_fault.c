/* Test plugin for the MPI failure tests: a loss whose gradients are zero (the layout stays
 * put) except on one rank from one step on, where it either writes NaN gradients (mode nan)
 * or fails the call (mode fail). Loaded by path from tests/mpi/run_failures.sh. */
#include <math.h>
#include <stdlib.h>

#include "nomad/plugin.h"

static const nmp_param_decl fault_params[] = {
    {"rank", NMP_PARAM_INT, "1", 0, 1e6, NULL, "the rank that goes wrong"},
    {"step", NMP_PARAM_INT, "3", 0, 1e12, NULL, "the first step it goes wrong at"},
    {"mode", NMP_PARAM_ENUM, "nan", 0, -1, "nan|fail", "NaN gradients, or a failed call"},
};

typedef struct {
    const nmp_host *host;
    int64_t rank, step;
    int fail;
    int active; /* this step is one where the plugin goes wrong */
} fault_state;

static nmp_status fault_create(const nmp_host *host, const nmp_params *params, void **state)
{
    fault_state *s = calloc(1, sizeof *s);
    if (!s) return NMP_ERR_NOMEM;
    s->host = host;
    s->rank = nmp_param_int(params, "rank");
    s->step = nmp_param_int(params, "step");
    s->fail = nmp_param_is(params, "mode", "fail");
    *state = s;
    return NMP_OK;
}

static void fault_destroy(void *state)
{
    free(state);
}

static nmp_status fault_prepare(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape)
{
    (void)state, (void)fit, (void)shape;
    return NMP_OK;
}

/* The rank and step decide here (begin_step may write the state; the tile calls may not). */
static nmp_status fault_begin_step(void *state, const nmp_step *step, const nmp_negatives *neg)
{
    fault_state *s = state;
    (void)neg;
    s->active = s->host->rank == s->rank && step->step >= s->step;
    if (s->active && s->fail) {
        s->host->set_error(s->host, "rank_fault: failing on purpose at step %lld", (long long)step->step);
        return NMP_ERR_RUNTIME;
    }
    return NMP_OK;
}

static void fault_repel(const void *state, const nmp_repel_tile *t)
{
    (void)state;
    for (int64_t i = 0; i < (int64_t)t->rows * t->n; i++) t->coef[i] = 0.0f;
    for (int32_t r = 0; r < t->rows; r++) t->z[r] = 0.0f;
}

static void fault_attract(const void *state, const nmp_attract_tile *t)
{
    const fault_state *s = state;
    for (int64_t j = 0; j < t->offset[t->rows]; j++) t->coef[j] = s->active ? NAN : 0.0f;
}

static double fault_value(const void *state, const nmp_loss_terms *t) { return (void)state, (void)t, 0.0; }

static const nmp_loss_ops fault_ops = {.struct_size = sizeof(nmp_loss_ops), .prepare = fault_prepare,
                                       .begin_step = fault_begin_step, .repel = fault_repel,
                                       .attract = fault_attract, .value = fault_value};

NMP_PLUGIN_DEFINE(fault_plugin, NMP_KIND_LOSS, "rank_fault", "1.0.0",
                  "test: zero gradients, NaN or a failure on one rank", NMP_PARAMS(fault_params), fault_create,
                  fault_destroy, &fault_ops, NULL);
NMP_PLUGIN_EXPORT(&fault_plugin);
