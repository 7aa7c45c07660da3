/* The optimiser loop in core: per step, cell summaries -> negatives.sample -> loss.grad ->
 * momentum SGD over the whole layout (as torch.optim.SGD does in the reference). */
#ifndef NOMAD_OPTIMIZER_H
#define NOMAD_OPTIMIZER_H

#include "error.h"
#include "plugin_host.h"

/* A fit stopped at an epoch's end, enough to go on with it bit for bit: the layout and
 * velocity caught up to the epoch's last step (fit order, see fit_order.h), the loss curve so
 * far, and what the negatives and loss plugins keep between steps (their checkpoint entries,
 * NMP_EXT_CHECKPOINT; size 0 when a plugin has none). */
typedef struct {
    int64_t epochs_done;
    int64_t n;
    int32_t dims;
    float *y, *velocity;          /* n x dims each */
    double *loss, *epoch_seconds; /* epochs_done each */
    void *plugin[2];              /* negatives, loss */
    uint64_t plugin_size[2];
} nmp_opt_state;

typedef struct {
    int64_t epochs;
    int32_t batch;
    double lr;            /* peak learning rate (already N * lr_scale when that is asked) */
    double momentum;
    double hold;          /* fraction of steps at the peak lr, then linear anneal */
    double final_lr_fraction; /* lr at the end as a fraction of the peak */
    double clip;          /* per-coordinate gradient clip after averaging; 0 = off */
    double early_exaggeration;
    int64_t early_epochs;
    double late_exaggeration;
    double late_start;    /* fraction of epochs after which late exaggeration applies */
    int32_t loss_every;   /* loss curve from one target in this many (see nmp_step) */
    int update;           /* nmp_cfg_update: auto, eager or lazy (see optimizer.c) */
    int32_t dims;
    uint64_t seed;
    /* Distributed runs set these (zero otherwise): the points and cell sizes of all ranks,
     * and a hook that sums the per-cell layout sums (count doubles) over the ranks in place,
     * before the first step and after every update; it returns nonzero when a sum is not
     * finite on any rank, and the fit then stops on every rank at the same step. */
    int64_t n_total;         /* steps per epoch = n_total / (batch * ranks); 0: graph->n */
    const float *cell_mass;  /* cells: points per cell over all ranks; NULL: from `cells` */
    int (*reduce_cells)(void *ctx, double *sums, int64_t count);
    void *reduce_ctx;
    /* Checkpoints (CPU, one rank): every `checkpoint_every` epochs but the last (0: never) the
     * fit hands its state to on_checkpoint (with nmp_optimize's ctx; the state is valid during
     * the call); `resume`, when set, is a state to go on from instead of epoch 0. */
    int64_t checkpoint_every;
    nmp_status (*on_checkpoint)(void *ctx, const nmp_opt_state *state, nmp_err *err);
    const nmp_opt_state *resume;
} nmp_opt_settings;

/* Called at the end of every epoch (loss = mean per-target loss over the epoch). Returning
 * non-OK stops the fit with that status (err already filled). */
typedef nmp_status (*nmp_epoch_fn)(void *ctx, int64_t epoch, double loss, const float *y, nmp_err *err);

typedef struct {
    double *loss; /* epochs entries, malloc'd (caller frees) */
    double *epoch_seconds; /* wall time at the end of each epoch, since the fit started */
    int64_t steps;
    /* wall seconds spent in each phase of the steps, summed over the fit */
    double seconds_batch, seconds_sample, seconds_grad, seconds_update;
    int64_t pairs; /* pair terms computed over the fit (targets x (negatives + approximate terms) + edges) */
    int64_t targets, repel_terms; /* targets over the fit, and their negatives + approximate terms */
    int eager;     /* the update the fit used: 1 eager (every point, every step), 0 lazy */
} nmp_opt_result;

/* What a fit is asked to do: the settings, the layout to start from and write back (n x
 * dims, input order), the weighted graph and the cells (`cell_local` marks this rank's),
 * the negatives and loss instances, and an optional per-epoch callback with its context. */
typedef struct {
    const nmp_opt_settings *settings;
    float *y;
    const nmp_graph *graph;
    const nmp_cells *cells;
    const uint8_t *cell_local;
    nmp_instance *negatives, *loss;
    nmp_epoch_fn on_epoch;
    void *ctx;
} nmp_fit_request;

/* A fit back end: one device's part of the fit. The loop itself (fit_loop.c) is shared: it
 * owns the schedule (steps, epochs, exaggeration), the loss curve and its timing, the
 * progress line, the per-epoch callback, checkpoints and resuming; a back end keeps the
 * layout and does the steps. Its state is state_size bytes, zeroed before start. */
typedef struct {
    const char *device;
    size_t state_size;
    /* builds its state for the request: spe steps per epoch, total over the fit */
    nmp_status (*start)(void *b, const nmp_fit_request *req, int64_t spe, int64_t total, nmp_err *err);
    /* puts the layout, velocity and plugins' states where a checkpoint stopped (NULL: none) */
    nmp_status (*resume)(void *b, const nmp_opt_state *state, int64_t spe, nmp_err *err);
    void (*begin_epoch)(void *b, int64_t epoch, int64_t spe); /* NULL: nothing */
    /* step number `step`, the k-th of its epoch; adds what it measured of the loss to *loss_sum */
    nmp_status (*step)(void *b, int64_t epoch, int64_t step, int64_t k, double exaggeration, double *loss_sum,
                       nmp_opt_result *res, nmp_err *err);
    /* the epoch's end: every point current, the layout in input order into y, and the epoch's
     * mean loss per target from its loss_sum */
    nmp_status (*end_epoch)(void *b, int64_t epoch, float *y, double loss_sum, double *loss, nmp_opt_result *res,
                            nmp_err *err);
    /* hands the state after epoch `done` to settings->on_checkpoint (NULL: no checkpoints) */
    nmp_status (*checkpoint)(void *b, int64_t done, const nmp_opt_result *res, nmp_err *err);
    void (*finish)(void *b, nmp_opt_result *res); /* res->eager; frees what start made */
} nmp_fit_backend_ops;

/* The fit: the shared loop over a back end's steps. */
nmp_status nmp_fit_run(const nmp_fit_backend_ops *be, const nmp_fit_request *req, nmp_opt_result *result,
                       nmp_err *err);
/* The back end for a device ("cpu", "cuda"), or NULL when this build has none. A new back end
 * is one nmp_fit_backend_ops and one row of this table (fit_loop.c). */
const nmp_fit_backend_ops *nmp_fit_backend(const char *device);

/* The CPU back end (optimizer.c), and the CUDA one (optimizer_cuda.c, builds with NOMAD_CUDA):
 * the layout, graph and gradient on the GPU; the plugins' CUDA entries see each step as
 * nmp_step_cuda. */
extern const nmp_fit_backend_ops nmp_fit_cpu, nmp_fit_cuda;
/* nmp_fit_run on them. */
nmp_status nmp_optimize(const nmp_fit_request *req, nmp_opt_result *result, nmp_err *err);
nmp_status nmp_optimize_cuda(const nmp_fit_request *req, nmp_opt_result *result, nmp_err *err);

/* What the CPU and CUDA fits share, so that they cannot drift apart: steps per epoch (points
 * of all ranks / (batch x ranks), at least 1), each cell's mass (its points here, or
 * s->cell_mass over all ranks), and the facts handed to the plugins' prepare(). */
int64_t nmp_opt_steps_per_epoch(const nmp_opt_settings *s, int64_t n);
void nmp_opt_cell_mass(const nmp_opt_settings *s, const nmp_cells *cells, float *mass);
nmp_fit_info nmp_opt_fit_info(const nmp_opt_settings *s, int64_t n, int64_t spe, const nmp_graph *graph,
                              const nmp_cells *cells, const uint8_t *cell_local, const float *cell_mass);
/* The cell spreads (nmp_step.cell_spread) in two parts: acc[c] += the squared distances of the
 * points [begin, end) of y (fit order: each cell a range of ids) from their cell's mean; then
 * spread[c] = acc[c] / mass[c] (0 for a massless cell). */
void nmp_opt_spread_sums(const nmp_cells *cells, const float *y, const float *mean, int dims, int64_t begin,
                         int64_t end, double *acc);
void nmp_opt_spreads(const double *acc, const float *mass, int32_t cells, float *spread);

/* The targets of one step: `batch` ids drawn uniformly from [0, n) on the (seed, step)
 * stream, sorted ascending (in fit order, grouped by cell). scratch: batch ids; radix_count:
 * 2049 counts. The CPU and CUDA fits draw the same batches. */
void nmp_opt_draw_targets(uint64_t seed, int64_t step, int64_t n, int32_t batch, int32_t *target, int32_t *scratch,
                          int64_t *radix_count);

/* The lr at `step` of `total` (hold, then linear to final_lr_fraction). */
double nmp_opt_lr(const nmp_opt_settings *s, int64_t step, int64_t total);
/* The attraction factor at epoch e. */
double nmp_opt_exaggeration(const nmp_opt_settings *s, int64_t epoch);

#endif
