/* The batch loop shared by the loss plugins (see loss_batch.h): per-worker scratch that
 * grows once, double-precision pair terms, deterministic per-worker reductions. */
#include "loss_batch.h"

#include <stdlib.h>
#include <string.h>

/* Targets handled together: with shared negatives their gradients on a negative are summed
 * before touching the accumulator, which quarters the read-modify-write traffic. */
#define LOSS_TILE 4
/* Widest layout the loops keep in registers (layouts are 2-D or 3-D). */
#define LOSS_MAX_DIMS 8

struct loss_batch {
    const nmp_host *host;
    int32_t dims;
    int threads;
    int64_t cap_pos, cap_neg, cap_approx; /* per-slot capacities, in terms (slot = worker x tile) */
    double *d_pos, *d_neg, *d_approx;     /* slots x cap: d2, then dL/d(d2) */
    int32_t *approx_idx;                  /* slots x cap_approx: kept approximate terms */
    float *approx_w;                      /* slots x cap_approx: their weights */
    float *neg_y;     /* slots x cap_neg x dims: one target's negatives, gathered */
    double *neg_acc;  /* threads x cap_neg x dims: shared-negative gradients; zero between steps */
    float *shared_y;  /* cap_neg x dims: shared negatives, gathered once per step */
    double *loss_acc, *extra_acc; /* threads */
};

typedef struct {
    loss_batch *lb;
    const nmp_step *step;
    const nmp_negatives *neg;
    double exaggeration;
    loss_apply apply;
    loss_terms_fn fn;
    const void *params;
    nmp_grads *out;
} run_ctx;

/* One target of a tile: its layout position, gradient and terms. */
typedef struct {
    int32_t b;
    double yi[LOSS_MAX_DIMS], gi[LOSS_MAX_DIMS];
    loss_terms t;
} tile_target;

loss_batch *loss_batch_new(const nmp_host *host)
{
    loss_batch *lb = calloc(1, sizeof *lb);
    if (lb) lb->host = host;
    return lb;
}

static void free_scratch(loss_batch *lb)
{
    free(lb->d_pos), free(lb->d_neg), free(lb->d_approx), free(lb->approx_idx), free(lb->approx_w);
    free(lb->neg_y), free(lb->neg_acc), free(lb->shared_y), free(lb->loss_acc), free(lb->extra_acc);
}

void loss_batch_free(loss_batch *lb)
{
    if (!lb) return;
    free_scratch(lb);
    free(lb);
}

/* Frees `old` and returns a zeroed block of `bytes` (NULL on failure). */
static void *regrow(void *old, size_t bytes)
{
    free(old);
    return calloc(1, bytes ? bytes : 1);
}
/* Replaces lb->field by `count` zeroed elements; true on success. */
#define GROW(field, count) ((lb->field = regrow(lb->field, (size_t)(count) * sizeof *lb->field)) != NULL)

nmp_status loss_batch_prepare(loss_batch *lb, const nmp_fit_info *fit)
{
    if (fit->dims < 1 || fit->dims > LOSS_MAX_DIMS) {
        lb->host->set_error(lb->host, "layout dims must be in [1, %d], got %d", LOSS_MAX_DIMS, fit->dims);
        return fit->dims < 1 ? NMP_ERR_INVALID : NMP_ERR_UNSUPPORTED;
    }
    lb->threads = lb->host->threads;
    size_t T = (size_t)lb->threads;
    if (!(GROW(loss_acc, T) & GROW(extra_acc, T))) {
        lb->host->set_error(lb->host, "out of memory for loss scratch");
        return NMP_ERR_NOMEM;
    }
    lb->dims = fit->dims; /* set last: run() refuses while it is 0 */
    return NMP_OK;
}

/* Grows the scratch to hold a step's largest target (only the first steps allocate). */
static nmp_status ensure_scratch(loss_batch *lb, int64_t n_pos, int64_t n_neg, int64_t n_approx)
{
    size_t T = (size_t)lb->threads * LOSS_TILE, D = (size_t)lb->dims; /* slots */
    int ok = 1;
    if (n_pos > lb->cap_pos) {
        ok = GROW(d_pos, T * (size_t)n_pos);
        lb->cap_pos = ok ? n_pos : 0;
    }
    if (ok && n_neg > lb->cap_neg) {
        ok = GROW(d_neg, T * (size_t)n_neg) & GROW(neg_y, T * (size_t)n_neg * D) &
             GROW(neg_acc, (size_t)lb->threads * (size_t)n_neg * D) & GROW(shared_y, (size_t)n_neg * D);
        lb->cap_neg = ok ? n_neg : 0;
    }
    if (ok && n_approx > lb->cap_approx) {
        ok = GROW(d_approx, T * (size_t)n_approx) & GROW(approx_idx, T * (size_t)n_approx) &
             GROW(approx_w, T * (size_t)n_approx);
        lb->cap_approx = ok ? n_approx : 0;
    }
    if (ok) return NMP_OK;
    lb->host->set_error(lb->host, "out of memory for loss scratch (%lld negatives, %lld approximate terms per target)",
                        (long long)n_neg, (long long)n_approx);
    return NMP_ERR_NOMEM;
}

static inline double sq_dist(const double *yi, const float *yz, int dims)
{
    double s = 0.0;
    for (int k = 0; k < dims; k++) {
        double d = yi[k] - (double)yz[k];
        s += d * d;
    }
    return s;
}

/* Fills a target's squared distances into its slot's scratch and points tt->t at them. */
static inline __attribute__((always_inline)) void measure(const run_ctx *r, size_t slot, int dims, tile_target *tt)
{
    loss_batch *lb = r->lb;
    const nmp_step *st = r->step;
    const nmp_negatives *ng = r->neg;
    loss_terms *t = &tt->t;
    const double *yi = tt->yi;
    int64_t e0 = st->edge_offset[tt->b];
    t->n_pos = (int32_t)(st->edge_offset[tt->b + 1] - e0);
    t->pos_w = st->pos_weight + e0;
    t->pos = lb->d_pos + slot * (size_t)lb->cap_pos;
    for (int32_t j = 0; j < t->n_pos; j++) t->pos[j] = sq_dist(yi, st->y + (int64_t)st->pos[e0 + j] * dims, dims);

    int64_t row = ng->shared ? 0 : tt->b;
    t->n_neg = ng->per_target;
    t->neg_w = ng->weight ? ng->weight + row * ng->per_target : NULL;
    t->neg = lb->d_neg + slot * (size_t)lb->cap_neg;
    const float *ny = lb->shared_y;
    if (!ng->shared) { /* gather once: the apply pass reads them again */
        float *g = lb->neg_y + slot * (size_t)lb->cap_neg * (size_t)dims;
        const int32_t *idx = ng->index + row * ng->per_target;
        for (int32_t l = 0; l < t->n_neg; l++)
            for (int k = 0; k < dims; k++) g[l * dims + k] = st->y[(int64_t)idx[l] * dims + k];
        ny = g;
    }
    for (int32_t l = 0; l < t->n_neg; l++) t->neg[l] = sq_dist(yi, ny + (int64_t)l * dims, dims);

    int32_t *aidx = lb->approx_idx + slot * (size_t)lb->cap_approx;
    float *aw = lb->approx_w + slot * (size_t)lb->cap_approx;
    t->approx = lb->d_approx + slot * (size_t)lb->cap_approx;
    t->n_approx = 0;
    for (int32_t c = 0; c < ng->approx_count; c++) {
        float w = ng->approx_weight[(int64_t)tt->b * ng->approx_count + c];
        if (w == 0.0f) continue;
        aidx[t->n_approx] = c;
        aw[t->n_approx] = w;
        t->approx[t->n_approx++] = sq_dist(yi, ng->approx_y + (int64_t)c * dims, dims);
    }
    t->approx_w = aw;
}

/* v = 2 c (y_i - y_z), each coordinate clipped when asked: the pair's dL/dy_i per unit weight. */
static inline void pair_grad(const double *yi, const float *yz, double c, double clip, int dims, double *v)
{
    for (int k = 0; k < dims; k++) {
        double g = 2.0 * c * (yi[k] - (double)yz[k]);
        if (clip > 0.0) g = g > clip ? clip : (g < -clip ? -clip : g);
        v[k] = g;
    }
}

/* The target's own pairs: positives (the other point gets -w v), approximate terms (no
 * gradient) and per-target negatives. Shared negatives are left to apply_shared. */
static inline __attribute__((always_inline)) void apply_own(const run_ctx *r, size_t slot, int dims, tile_target *tt)
{
    const nmp_step *st = r->step;
    const nmp_negatives *ng = r->neg;
    const loss_terms *t = &tt->t;
    double clip = r->apply.clip, v[LOSS_MAX_DIMS], *gi = tt->gi;
    int64_t e0 = st->edge_offset[tt->b];
    for (int32_t j = 0; j < t->n_pos; j++) {
        pair_grad(tt->yi, st->y + (int64_t)st->pos[e0 + j] * dims, t->pos[j], clip, dims, v);
        double w = t->pos_w[j];
        float *gj = r->out->pos + (e0 + j) * dims;
        for (int k = 0; k < dims; k++) gi[k] += w * v[k], gj[k] = (float)(-w * v[k]);
    }
    const int32_t *aidx = r->lb->approx_idx + slot * (size_t)r->lb->cap_approx;
    for (int32_t c = 0; c < t->n_approx; c++) {
        pair_grad(tt->yi, ng->approx_y + (int64_t)aidx[c] * dims, t->approx[c], clip, dims, v);
        for (int k = 0; k < dims; k++) gi[k] += t->approx_w[c] * v[k];
    }
    if (ng->shared) return;
    const float *ny = r->lb->neg_y + slot * (size_t)r->lb->cap_neg * (size_t)dims;
    float *gneg = r->out->neg + (int64_t)tt->b * ng->per_target * dims;
    for (int32_t l = 0; l < t->n_neg; l++) {
        pair_grad(tt->yi, ny + (int64_t)l * dims, t->neg[l], clip, dims, v);
        double w = t->neg_w ? t->neg_w[l] : 1.0;
        for (int k = 0; k < dims; k++) gi[k] += w * v[k];
        if (r->apply.move_negatives)
            for (int k = 0; k < dims; k++) gneg[l * dims + k] = (float)(-w * v[k]);
    }
}

/* Shared negatives for a tile of nt targets: each negative's pull from the whole tile is
 * summed, then added once to the worker's accumulator. `clipping` and `move` are constants
 * at each call so the compiler drops their branches from the inner loop. */
static inline __attribute__((always_inline)) void apply_shared_loop(const run_ctx *r, int worker, int nt, int dims,
                                                                    tile_target *tile, int clipping, int move)
{
    const nmp_negatives *ng = r->neg;
    const float *w = ng->weight;
    double clip = clipping ? r->apply.clip : 0.0, gi[LOSS_TILE][LOSS_MAX_DIMS];
    double *acc = r->lb->neg_acc + (size_t)worker * (size_t)r->lb->cap_neg * (size_t)dims;
    for (int s = 0; s < nt; s++)
        for (int k = 0; k < dims; k++) gi[s][k] = tile[s].gi[k];
    for (int32_t l = 0; l < ng->per_target; l++) {
        const float *yl = r->lb->shared_y + (int64_t)l * dims;
        double wl = w ? w[l] : 1.0, sum[LOSS_MAX_DIMS], v[LOSS_MAX_DIMS];
        for (int k = 0; k < dims; k++) sum[k] = 0.0;
        for (int s = 0; s < nt; s++) {
            pair_grad(tile[s].yi, yl, tile[s].t.neg[l], clip, dims, v);
            for (int k = 0; k < dims; k++) gi[s][k] += wl * v[k], sum[k] += wl * v[k];
        }
        if (move)
            for (int k = 0; k < dims; k++) acc[l * dims + k] -= sum[k];
    }
    for (int s = 0; s < nt; s++)
        for (int k = 0; k < dims; k++) tile[s].gi[k] = gi[s][k];
}

static inline __attribute__((always_inline)) void apply_shared(const run_ctx *r, int worker, int nt, int dims,
                                                               tile_target *tile)
{
    if (r->apply.clip > 0.0) apply_shared_loop(r, worker, nt, dims, tile, 1, r->apply.move_negatives);
    else if (r->apply.move_negatives) apply_shared_loop(r, worker, nt, dims, tile, 0, 1);
    else apply_shared_loop(r, worker, nt, dims, tile, 0, 0);
}

/* Targets [b0, b0 + nt) of one worker: distances, the loss's coefficients, gradients. */
static inline __attribute__((always_inline)) double run_tile(const run_ctx *r, int worker, int64_t b0, int nt,
                                                             int dims)
{
    tile_target tile[LOSS_TILE];
    double loss = 0.0;
    for (int s = 0; s < nt; s++) {
        tile_target *tt = &tile[s];
        size_t slot = (size_t)worker * LOSS_TILE + (size_t)s;
        tt->b = (int32_t)(b0 + s);
        const float *y = r->step->y + (int64_t)r->step->target[tt->b] * dims;
        for (int k = 0; k < dims; k++) tt->yi[k] = y[k], tt->gi[k] = 0.0;
        measure(r, slot, dims, tt);
        tt->t.exaggeration = r->exaggeration;
        tt->t.extra = &r->lb->extra_acc[worker];
        loss += r->fn(r->params, &tt->t);
        apply_own(r, slot, dims, tt);
    }
    if (r->neg->shared) apply_shared(r, worker, nt, dims, tile);
    for (int s = 0; s < nt; s++)
        for (int k = 0; k < dims; k++) r->out->target[(int64_t)tile[s].b * dims + k] = (float)tile[s].gi[k];
    return loss;
}

static void run_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const run_ctx *r = ctx;
    double loss = 0.0;
    for (int64_t b0 = begin; b0 < end; b0 += LOSS_TILE) {
        int nt = end - b0 < LOSS_TILE ? (int)(end - b0) : LOSS_TILE;
        if (r->lb->dims == 2 && nt == LOSS_TILE) /* the common case, with its sizes known to the compiler */
            loss += run_tile(r, worker, b0, LOSS_TILE, 2);
        else
            loss += run_tile(r, worker, b0, nt, r->lb->dims);
    }
    r->lb->loss_acc[worker] = loss;
}

/* out->neg[l] = sum over workers, in worker order, of their shared-negative gradients; the
 * accumulators are zeroed on the way for the next step. */
static void reduce_shared(void *ctx, int64_t begin, int64_t end, int worker)
{
    const run_ctx *r = ctx;
    loss_batch *lb = r->lb;
    size_t stride = (size_t)lb->cap_neg * (size_t)lb->dims;
    for (int64_t s = begin * lb->dims; s < end * lb->dims; s++) {
        double sum = 0.0;
        for (int w = 0; w < lb->threads; w++) {
            double *acc = lb->neg_acc + (size_t)w * stride + (size_t)s;
            sum += *acc, *acc = 0.0;
        }
        r->out->neg[s] = (float)sum;
    }
}

static void gather_shared(void *ctx, int64_t begin, int64_t end, int worker)
{
    const run_ctx *r = ctx;
    int D = r->lb->dims;
    for (int64_t l = begin; l < end; l++)
        for (int k = 0; k < D; k++) r->lb->shared_y[l * D + k] = r->step->y[(int64_t)r->neg->index[l] * D + k];
}

nmp_status loss_batch_run(loss_batch *lb, const nmp_step *step, const nmp_negatives *neg, double exaggeration,
                          loss_apply apply, loss_terms_fn fn, const void *params, nmp_grads *out,
                          double *extra_sum)
{
    if (lb->dims < 1) {
        lb->host->set_error(lb->host, "grad() called before prepare()");
        return NMP_ERR_RUNTIME;
    }
    int64_t max_pos = 0;
    for (int32_t b = 0; b < step->batch; b++) {
        int64_t e = step->edge_offset[b + 1] - step->edge_offset[b];
        if (e > max_pos) max_pos = e;
    }
    nmp_status s = ensure_scratch(lb, max_pos, neg->per_target, neg->approx_count);
    if (s != NMP_OK) return s;
    run_ctx r = {lb, step, neg, exaggeration, apply, fn, params, out};
    for (int w = 0; w < lb->threads; w++) lb->loss_acc[w] = 0.0, lb->extra_acc[w] = 0.0;
    if (neg->shared && neg->per_target > 0) lb->host->parallel_for(lb->host, neg->per_target, gather_shared, &r);
    lb->host->parallel_for(lb->host, step->batch, run_range, &r);
    if (neg->shared && apply.move_negatives && neg->per_target > 0)
        lb->host->parallel_for(lb->host, neg->per_target, reduce_shared, &r);
    double loss = 0.0, extra = 0.0;
    for (int w = 0; w < lb->threads; w++) loss += lb->loss_acc[w], extra += lb->extra_acc[w];
    out->loss = loss;
    if (extra_sum) *extra_sum = extra;
    return NMP_OK;
}

void *loss_state_new(const nmp_host *host, size_t size)
{
    loss_batch **s = calloc(1, size);
    if (s) *s = loss_batch_new(host);
    if (!s || !*s) {
        free(s);
        host->set_error(host, "out of memory");
        return NULL;
    }
    return s;
}

void loss_state_destroy(void *state)
{
    loss_batch_free(*(loss_batch **)state);
    free(state);
}

nmp_status loss_state_prepare(void *state, const nmp_fit_info *fit)
{
    return loss_batch_prepare(*(loss_batch **)state, fit);
}
