/* The fit on one GPU (device: cuda): nmp_optimize's loop with the layout, velocity, gradient,
 * graph and cell means resident on the device (kernels/sgd_step_cuda.h). Per step the host
 * draws and sorts the targets exactly as the CPU fit does and uploads them; the negatives and
 * loss plugins' CUDA entries take the step from there (nmp_step_cuda); the fused update then
 * moves every point and sums the new cell means on the device. Nothing comes back per step
 * and nothing waits for the device but the uploads (pageable copies wait for the previous
 * step's kernels): the layout, the loss sum and the host copy of the cell means come back
 * once per epoch. The one exception: a negatives plugin whose approximate points are not the
 * device means (cluster_mean's fixed sets copy rows of the host means) gets the host copy
 * refreshed after every step, as before (a copy and a wait per step).
 *
 * The loss curve is sampled twice over, so that it costs little and stays unbiased: in a
 * sampled step the kernel computes L_i for one target in loss_every, times loss_every (as the
 * CPU engine), and an epoch samples one step in `stride` = min(loss_every, steps per epoch),
 * those k with k % stride == o for an offset o drawn per epoch uniformly in [0, stride). Every
 * step is then sampled with probability 1 / stride, so stride x the sampled sum estimates the
 * epoch's sum without bias (trend within the epoch included), and each epoch has a sample.
 *
 * Timings: kernels run asynchronously, so the phases are what the host spends: batch = the
 * target draws; negatives = the sampler's CUDA entry (host draws and uploads); loss = the
 * loss's launch plus every wait for the device (the targets' upload waits for the previous
 * step's kernels, the epoch's end for the last ones): mostly the device's gradient and update
 * work; update = its launch. Their sum, the fit's wall time, is exact. */
#include <stdlib.h>
#include <string.h>

#include "fit_order.h"
#include "host.h"
#include "nomad/rng.h"
#include "optimizer.h"
#include "sgd_step_cuda.h"

typedef struct {
    const nmp_opt_settings *s;
    nmp_fit_order order;
    int64_t n;
    int dims;
    float *y;          /* n x dims, fit order: the host copy, refreshed once per epoch */
    int32_t *target, *scratch;
    int64_t *radix_count;
    float *cell_mean;  /* cells x dims: host copy of the means, refreshed once per epoch (every
                          step once the negatives bring approximate points of their own) */
    float *cell_mass;  /* cells */
    float *cell_spread; /* cells: each cell's layout spread, from the host copies, once per epoch */
    double *spread_acc; /* threads x cells: its sums, per worker */
    sgd_cuda *gpu;
    sgd_cuda_arrays dev;
    nmp_fit_info info;
    int host_means_every_step; /* the negatives' approx_y is not the device means: it may be copied
                                  from the host's, which must then be current */
    int64_t loss_stride, loss_offset; /* this epoch's sampled steps: k % stride == offset */
    const nmp_fit_request *req;
    int64_t total, spe;
    nmp_step hs;       /* the step as the host sees it (targets, epoch, progress) */
    nmp_step_cuda ds;  /* and as the plugins' CUDA entries see it */
} gpu_fit;

static nmp_status gpu_fail(const nmp_gpu_err *e, nmp_status s, const char *what, nmp_err *err)
{
    return nmp_fail(err, s, "optimize (device: cuda): %s: %s", what, e->msg[0] ? e->msg : "failed");
}

static void free_gpu_fit(gpu_fit *f)
{
    if (f->gpu) sgd_cuda_destroy(f->gpu);
    free(f->y), free(f->target), free(f->scratch), free(f->radix_count), free(f->cell_mean), free(f->cell_mass);
    free(f->cell_spread), free(f->spread_acc);
    nmp_fit_order_free(&f->order);
}

static nmp_status alloc_gpu_fit(gpu_fit *f, nmp_err *err)
{
    int64_t B = f->s->batch, C = f->order.cells.count, D = f->dims;
    f->y = malloc((size_t)(f->n * D) * sizeof *f->y + 1);
    f->target = malloc((size_t)B * sizeof *f->target);
    f->scratch = malloc((size_t)B * sizeof *f->scratch);
    f->radix_count = malloc(2049 * sizeof *f->radix_count);
    f->cell_mean = calloc((size_t)(C * D), sizeof *f->cell_mean);
    f->cell_mass = calloc((size_t)C, sizeof *f->cell_mass);
    f->cell_spread = calloc((size_t)C, sizeof *f->cell_spread);
    f->spread_acc = calloc((size_t)(nmp_host_settings()->threads * C), sizeof *f->spread_acc);
    if (!f->y || !f->target || !f->scratch || !f->radix_count || !f->cell_mean || !f->cell_mass || !f->cell_spread ||
        !f->spread_acc)
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for %lld points", (long long)f->n);
    nmp_opt_cell_mass(f->s, &f->order.cells, f->cell_mass);
    return NMP_OK;
}

/* The host copy of the cell means (a wait for the device). */
static nmp_status read_means(gpu_fit *f, nmp_err *err)
{
    nmp_gpu_err e = {0};
    nmp_status s = sgd_cuda_get_state(f->gpu, NULL, NULL, NULL, f->cell_mean, &e);
    return s == NMP_OK ? NMP_OK : gpu_fail(&e, s, "reading the cell means", err);
}

/* The cell spreads of the host copies of the layout and means (nmp_step.cell_spread, which
 * cluster_mean's opening test reads): once per epoch and before the first, as the CPU fit
 * takes them when it settles. */
static void spread_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    gpu_fit *f = ctx;
    nmp_opt_spread_sums(&f->order.cells, f->y, f->cell_mean, f->dims, begin, end,
                        f->spread_acc + (int64_t)worker * f->order.cells.count);
}

/* ... on every worker (the GPU waits meanwhile), their sums added in worker order. */
static void host_spreads(gpu_fit *f)
{
    const int64_t C = f->order.cells.count, T = nmp_host_settings()->threads;
    memset(f->spread_acc, 0, (size_t)(T * C) * sizeof *f->spread_acc);
    nmp_parallel_for(f->n, spread_range, f);
    for (int64_t w = 1; w < T; w++)
        for (int64_t c = 0; c < C; c++) f->spread_acc[c] += f->spread_acc[w * C + c];
    nmp_opt_spreads(f->spread_acc, f->cell_mass, (int32_t)C, f->cell_spread);
}

/* Graph, cells and the starting layout go up once; sgd_cuda_create refuses, with the bytes
 * asked, a fit that does not fit in device memory. */
static nmp_status upload(gpu_fit *f, nmp_err *err)
{
    const nmp_graph *g = &f->order.graph;
    const nmp_cells *cells = &f->order.cells;
    sgd_problem p = {.n = f->n, .dims = f->dims, .offsets = g->offsets, .index = g->index, .weight = g->weight,
                     .cells = cells->count, .cell_of = cells->cell_of, .cell_mass = f->cell_mass};
    nmp_gpu_err e = {0};
    nmp_status s = sgd_cuda_create(&p, f->y, &f->gpu, &e);
    if (s != NMP_OK) return gpu_fail(&e, s, "uploading the graph and layout", err);
    sgd_cuda_arrays_of(f->gpu, &f->dev);
    if ((s = read_means(f, err)) != NMP_OK) return s;
    host_spreads(f);
    return NMP_OK;
}

static nmp_status prepare_plugins(gpu_fit *f, const uint8_t *cell_local, int64_t spe, nmp_instance *negatives,
                                  nmp_instance *loss, nmp_err *err)
{
    f->info = nmp_opt_fit_info(f->s, f->n, spe, &f->order.graph, &f->order.cells, cell_local, f->cell_mass);
    const nmp_negatives_ops *ncpu = negatives->ref->desc->ops;
    const nmp_loss_ops *lcpu = loss->ref->desc->ops;
    const nmp_negatives_cuda_ops *ngpu = negatives->ops;
    const nmp_loss_cuda_ops *lgpu = loss->ops;
    nmp_status s;
    if (ncpu->prepare && (s = ncpu->prepare(negatives->state, &f->info)) != NMP_OK)
        return nmp_instance_fail(negatives, s, "prepare", err);
    if (ngpu->prepare && (s = ngpu->prepare(negatives->state, &f->info)) != NMP_OK)
        return nmp_instance_fail(negatives, s, "CUDA prepare", err);
    nmp_loss_shape shape = {0}; /* the CUDA entry applies the loss itself */
    if ((s = lcpu->prepare(loss->state, &f->info, &shape)) != NMP_OK)
        return nmp_instance_fail(loss, s, "prepare", err);
    if (lgpu->prepare && (s = lgpu->prepare(loss->state, &f->info)) != NMP_OK)
        return nmp_instance_fail(loss, s, "CUDA prepare", err);
    return NMP_OK;
}

/* Epoch e's sampled steps for the loss curve (see the top of the file). */
static void sample_loss_steps(gpu_fit *f, int64_t epoch, int64_t spe)
{
    int64_t every = f->s->loss_every > 1 ? f->s->loss_every : 1;
    f->loss_stride = every < spe ? every : spe;
    uint64_t counter = nmp_rng_counter2((uint64_t)epoch, UINT64_MAX); /* a slot no target draw uses */
    f->loss_offset = (int64_t)nmp_rng_below(f->s->seed, NMP_STREAM_BATCH, counter, (uint64_t)f->loss_stride);
}

/* The pair terms the kernel computes this step, as the CPU engine counts them: targets x
 * (negatives + approximate terms) + the targets' edges. */
static int64_t step_pairs(const gpu_fit *f, const nmp_negatives *neg)
{
    const int64_t *offsets = f->order.graph.offsets;
    int64_t edges = 0;
    for (int32_t b = 0; b < f->s->batch; b++) edges += offsets[f->target[b] + 1] - offsets[f->target[b]];
    return (int64_t)f->s->batch * (neg->per_target + neg->approx_count) + edges;
}

/* One step: targets (host, as the CPU fit draws them) -> negatives -> loss -> update, all
 * queued on the device; k is the step's index in its epoch. */
static nmp_status run_step(gpu_fit *f, nmp_step *hs, nmp_step_cuda *ds, int64_t k, nmp_instance *negatives,
                           nmp_instance *loss, double exaggeration, double lr, nmp_opt_result *res, nmp_err *err)
{
    const nmp_negatives_cuda_ops *nops = negatives->ops;
    const nmp_loss_cuda_ops *lops = loss->ops;
    nmp_gpu_err e = {0};
    double t0 = nmp_now();
    nmp_opt_draw_targets(f->s->seed, hs->step, f->n, f->s->batch, f->target, f->scratch, f->radix_count);
    hs->batch = f->s->batch;
    hs->target = f->target;
    double t1 = nmp_now();
    nmp_status s = sgd_cuda_put_targets(f->gpu, f->target, f->s->batch, &ds->target, &e);
    if (s != NMP_OK) return gpu_fail(&e, s, "uploading the targets", err);
    double t2 = nmp_now();
    nmp_negatives neg;
    memset(&neg, 0, sizeof neg);
    if ((s = nops->sample(negatives->state, ds, &neg)) != NMP_OK)
        return nmp_instance_fail(negatives, s, "CUDA sample", err);
    if (neg.approx_count > 0 && neg.approx_y != ds->cell_mean) f->host_means_every_step = 1;
    res->pairs += step_pairs(f, &neg);
    res->targets += hs->batch;
    res->repel_terms += (int64_t)hs->batch * (neg.per_target + neg.approx_count);
    double t3 = nmp_now();
    double *loss_sum = k % f->loss_stride == f->loss_offset ? f->dev.loss_sum : NULL; /* NULL: not sampled */
    if ((s = lops->grad(loss->state, ds, &neg, exaggeration, f->dev.grad, loss_sum)) != NMP_OK)
        return nmp_instance_fail(loss, s, "CUDA grad", err);
    double t4 = nmp_now();
    const sgd_update u = {.lr = lr, .momentum = f->s->momentum, .inv_batch = 1.0 / (double)f->s->batch,
                          .clip = f->s->clip};
    if ((s = sgd_cuda_update(f->gpu, &u, &e)) != NMP_OK) return gpu_fail(&e, s, "the update", err);
    double t5 = nmp_now();
    if (f->host_means_every_step && (s = read_means(f, err)) != NMP_OK) return s;
    double t6 = nmp_now();
    res->seconds_batch += t1 - t0, res->seconds_sample += t3 - t2;
    res->seconds_grad += (t2 - t1) + (t4 - t3) + (t6 - t5), res->seconds_update += t5 - t4;
    return NMP_OK;
}

/* The epoch's end: a wait for its last kernels (timed with the loss, see the top), its
 * sampled loss sum, the non-finite check, and the layout and cell means on the host. */
static nmp_status gpu_end_epoch(void *b, int64_t epoch, float *y, double unused, double *loss, nmp_opt_result *res,
                                nmp_err *err)
{
    (void)unused; /* the loss is summed on the device */
    gpu_fit *f = b;
    double loss_sum = 0;
    nmp_gpu_err e = {0};
    int bad = 0;
    double t0 = nmp_now();
    nmp_status s = nmp_cuda_sync(&e);
    res->seconds_grad += nmp_now() - t0;
    if (s == NMP_OK) s = sgd_cuda_take_loss(f->gpu, &loss_sum, &e);
    if (s == NMP_OK) s = sgd_cuda_take_nonfinite(f->gpu, &bad, &e);
    if (s == NMP_OK) s = sgd_cuda_get_state(f->gpu, f->y, NULL, NULL, f->cell_mean, &e);
    if (s != NMP_OK) return gpu_fail(&e, s, "the epoch's kernels", err);
    if (bad)
        return nmp_fail(err, NMP_ERR_RUNTIME,
                        "optimize: the layout became NaN or Inf during epoch %lld in the SGD update (device: cuda); "
                        "lower optimizer.lr_scale or set optimizer.clip",
                        (long long)epoch);
    host_spreads(f);
    nmp_fit_order_to_input(&f->order, f->y, y, f->dims);
    *loss = (double)f->loss_stride * loss_sum / ((double)f->spe * f->s->batch); /* the sampled steps, scaled up */
    return NMP_OK;
}

static nmp_status gpu_start(void *b, const nmp_fit_request *req, int64_t spe, int64_t total, nmp_err *err)
{
    gpu_fit *f = b;
    const nmp_opt_settings *s = req->settings;
    f->s = s, f->n = req->graph->n, f->dims = s->dims, f->req = req, f->spe = spe, f->total = total;
    nmp_status st = nmp_fit_order_build(&f->order, req->graph, req->cells, err);
    if (st == NMP_OK) st = alloc_gpu_fit(f, err);
    if (st == NMP_OK) nmp_fit_order_to_fit(&f->order, req->y, f->y, f->dims);
    if (st == NMP_OK) st = upload(f, err);
    if (st == NMP_OK) st = prepare_plugins(f, req->cell_local, spe, req->negatives, req->loss, err);
    f->hs = (nmp_step){
        .cell_mean = f->cell_mean, .cell_spread = f->cell_spread, .cell_mass = f->cell_mass, .loss_every = s->loss_every};
    f->ds = (nmp_step_cuda){.struct_size = sizeof f->ds, .host = &f->hs, .n = f->n, .dims = f->dims, .y = f->dev.y,
                            .offsets = f->dev.offsets, .index = f->dev.index, .weight = f->dev.weight,
                            .cells = f->order.cells.count, .cell_of = f->dev.cell_of,
                            .cell_mean = f->dev.cell_mean, .cell_mass = f->dev.cell_mass};
    return st;
}

static void gpu_begin_epoch(void *b, int64_t epoch, int64_t spe) { sample_loss_steps(b, epoch, spe); }

static nmp_status gpu_step(void *b, int64_t epoch, int64_t step, int64_t k, double exaggeration, double *loss_sum,
                           nmp_opt_result *res, nmp_err *err)
{
    (void)loss_sum; /* summed on the device, read at the epoch's end */
    gpu_fit *f = b;
    f->hs.epoch = epoch;
    f->hs.step = step;
    f->hs.progress = (double)step / (double)f->total;
    return run_step(f, &f->hs, &f->ds, k, f->req->negatives, f->req->loss, exaggeration,
                    nmp_opt_lr(f->s, step, f->total), res, err);
}

static void gpu_finish(void *b, nmp_opt_result *res)
{
    res->eager = 1; /* the GPU moves every point every step */
    free_gpu_fit(b);
}

/* No resume or checkpoint entry yet: the layout's velocity stays on the device. */
const nmp_fit_backend_ops nmp_fit_cuda = {.device = "cuda",
                                          .state_size = sizeof(gpu_fit),
                                          .start = gpu_start,
                                          .begin_epoch = gpu_begin_epoch,
                                          .step = gpu_step,
                                          .end_epoch = gpu_end_epoch,
                                          .finish = gpu_finish};

nmp_status nmp_optimize_cuda(const nmp_fit_request *req, nmp_opt_result *result, nmp_err *err)
{
    return nmp_fit_run(&nmp_fit_cuda, req, result, err);
}
