/* The batch loop shared by the loss plugins (see loss_batch.h). Work goes row by row: a row
 * is a run of consecutive targets that share one draw of negatives (one target per row, the
 * whole batch when shared, or runs of a few targets, ABI 1.1). A row's negatives are gathered
 * once, coordinate by coordinate in double, so that every per-target loop over them is a
 * straight vector loop; their gradients are summed over the row and written once. */
#include "loss_batch.h"

#include <stdlib.h>
#include <string.h>

/* Widest layout the driver handles (layouts are 2-D or 3-D; 2 and 3 have vector paths). */
#define LOSS_MAX_DIMS 8

struct loss_batch {
    const nmp_host *host;
    int32_t dims;
    int threads;
    int64_t cap_pos, cap_neg, cap_approx; /* per-worker capacities, in terms */
    double *d_pos, *d_neg, *d_approx;     /* threads x cap: d2, then dL/d(d2) */
    double *approx_y;                     /* dims x cap_approx: the step's approximate points */
    double *neg_y;    /* threads x dims x cap_neg: the row's negatives, one coordinate after another */
    double *neg_acc;  /* threads x dims x cap_neg: dL/dy of the row's negatives, same layout */
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
    int32_t rows;
    const int32_t *row_start; /* NULL: row r is target r (rows == batch) or all (rows == 1) */
} run_ctx;

loss_batch *loss_batch_new(const nmp_host *host)
{
    loss_batch *lb = calloc(1, sizeof *lb);
    if (lb) lb->host = host;
    return lb;
}

static void free_scratch(loss_batch *lb)
{
    free(lb->d_pos), free(lb->d_neg), free(lb->d_approx), free(lb->approx_y);
    free(lb->neg_y), free(lb->neg_acc), free(lb->loss_acc), free(lb->extra_acc);
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
    size_t T = (size_t)lb->threads, D = (size_t)lb->dims;
    int ok = 1;
    if (n_pos > lb->cap_pos) {
        ok = GROW(d_pos, T * (size_t)n_pos);
        lb->cap_pos = ok ? n_pos : 0;
    }
    if (ok && n_neg > lb->cap_neg) {
        ok = GROW(d_neg, T * (size_t)n_neg) & GROW(neg_y, T * (size_t)n_neg * D) & GROW(neg_acc, T * (size_t)n_neg * D);
        lb->cap_neg = ok ? n_neg : 0;
    }
    if (ok && n_approx > lb->cap_approx) {
        ok = GROW(d_approx, T * (size_t)n_approx) & GROW(approx_y, D * (size_t)n_approx);
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

/* v = 2 c (y_i - y_z), each coordinate clipped when asked: the pair's dL/dy_i per unit weight. */
static inline void pair_grad(const double *yi, const float *yz, double c, double clip, int dims, double *v)
{
    for (int k = 0; k < dims; k++) {
        double g = 2.0 * c * (yi[k] - (double)yz[k]);
        if (clip > 0.0) g = g > clip ? clip : (g < -clip ? -clip : g);
        v[k] = g;
    }
}

static inline double clamp(double g, double clip) { return g > clip ? clip : (g < -clip ? -clip : g); }

/* d2[l] = |y_i - z_l|^2 over the row's m negatives (z: dims x m). */
static inline __attribute__((always_inline)) void neg_distances(const double *yi, const double *z, int m, int dims,
                                                                double *d2)
{
    if (dims == 2) {
        const double *z0 = z, *z1 = z + m;
#pragma omp simd
        for (int l = 0; l < m; l++) {
            double a = yi[0] - z0[l], b = yi[1] - z1[l];
            d2[l] = a * a + b * b;
        }
        return;
    }
    if (dims == 3) {
        const double *z0 = z, *z1 = z + m, *z2 = z + 2 * m;
#pragma omp simd
        for (int l = 0; l < m; l++) {
            double a = yi[0] - z0[l], b = yi[1] - z1[l], c = yi[2] - z2[l];
            d2[l] = a * a + b * b + c * c;
        }
        return;
    }
    for (int l = 0; l < m; l++) {
        double s = 0.0;
        for (int k = 0; k < dims; k++) s += (yi[k] - z[k * m + l]) * (yi[k] - z[k * m + l]);
        d2[l] = s;
    }
}

/* The negatives' pull on y_i (added to gi) and, when `move`, their own gradients (subtracted
 * from acc, dims x m). coef[l] = dL/d(d2) per unit weight; w: weights or NULL. The clipped
 * variant (UMAP) clips each coordinate of 2 c (y_i - z) before the weight. */
static inline __attribute__((always_inline)) void neg_apply(const double *yi, const double *z, int m, int dims,
                                                            const double *coef, const float *w, double clip,
                                                            int clipping, int move, double *acc, double *gi)
{
    if (dims == 2 || dims == 3) {
        const double *z0 = z, *z1 = z + m, *z2 = z + (dims == 3 ? 2 * m : 0);
        double *a0 = acc, *a1 = acc + m, *a2 = acc + (dims == 3 ? 2 * m : 0);
        double g0 = 0.0, g1 = 0.0, g2 = 0.0;
#pragma omp simd reduction(+ : g0, g1, g2)
        for (int l = 0; l < m; l++) {
            double wl = w ? (double)w[l] : 1.0, c2 = 2.0 * coef[l];
            double v0 = c2 * (yi[0] - z0[l]), v1 = c2 * (yi[1] - z1[l]);
            double v2 = dims == 3 ? c2 * (yi[2] - z2[l]) : 0.0;
            if (clipping) v0 = clamp(v0, clip), v1 = clamp(v1, clip), v2 = clamp(v2, clip);
            v0 *= wl, v1 *= wl, v2 *= wl;
            g0 += v0, g1 += v1, g2 += v2;
            if (move) {
                a0[l] -= v0, a1[l] -= v1;
                if (dims == 3) a2[l] -= v2;
            }
        }
        gi[0] += g0, gi[1] += g1;
        if (dims == 3) gi[2] += g2;
        return;
    }
    for (int l = 0; l < m; l++) {
        double wl = w ? (double)w[l] : 1.0;
        for (int k = 0; k < dims; k++) {
            double v = 2.0 * coef[l] * (yi[k] - z[k * m + l]);
            if (clipping) v = clamp(v, clip);
            v *= wl;
            gi[k] += v;
            if (move) acc[k * m + l] -= v;
        }
    }
}

/* One target b against its row's negatives z (dims x m, weights w): distances, the loss's
 * coefficients, then every gradient. Returns L_b. */
static inline __attribute__((always_inline)) double target_pass(const run_ctx *r, int worker, int32_t b,
                                                                const double *z, const float *w, double *acc,
                                                                int dims, int clipping, int move)
{
    loss_batch *lb = r->lb;
    const nmp_step *st = r->step;
    const nmp_negatives *ng = r->neg;
    double yi[LOSS_MAX_DIMS], gi[LOSS_MAX_DIMS], v[LOSS_MAX_DIMS], clip = r->apply.clip;
    const float *y = st->y + (int64_t)st->target[b] * dims;
    for (int k = 0; k < dims; k++) yi[k] = y[k], gi[k] = 0.0;

    loss_terms t = {.n_neg = ng->per_target, .neg_w = w, .exaggeration = r->exaggeration,
                    .want_loss = st->loss_every <= 1 || b % st->loss_every == 0, .extra = &lb->extra_acc[worker]};
    int64_t e0 = st->edge_offset[b];
    t.n_pos = (int32_t)(st->edge_offset[b + 1] - e0);
    t.pos_w = st->pos_weight + e0;
    t.pos = lb->d_pos + (size_t)worker * (size_t)lb->cap_pos;
    for (int32_t j = 0; j < t.n_pos; j++) t.pos[j] = sq_dist(yi, st->y + (int64_t)st->pos[e0 + j] * dims, dims);
    t.neg = lb->d_neg + (size_t)worker * (size_t)lb->cap_neg;
    neg_distances(yi, z, t.n_neg, dims, t.neg);
    t.n_approx = ng->approx_count;
    t.approx = lb->d_approx + (size_t)worker * (size_t)lb->cap_approx;
    t.approx_w = t.n_approx ? ng->approx_weight + (int64_t)b * t.n_approx : NULL;
    neg_distances(yi, lb->approx_y, t.n_approx, dims, t.approx);

    double loss = r->fn(r->params, &t);
    if (st->loss_every > 1) loss *= st->loss_every;

    for (int32_t j = 0; j < t.n_pos; j++) { /* the neighbour gets -w v */
        pair_grad(yi, st->y + (int64_t)st->pos[e0 + j] * dims, t.pos[j], clip, dims, v);
        double pw = t.pos_w[j];
        float *gj = r->out->pos + (e0 + j) * dims;
        for (int k = 0; k < dims; k++) gi[k] += pw * v[k], gj[k] = (float)(-pw * v[k]);
    }
    /* approximate points (means) receive no gradient: acc is only a valid, unwritten address */
    neg_apply(yi, lb->approx_y, t.n_approx, dims, t.approx, t.approx_w, clip, clipping, 0, lb->d_approx, gi);
    neg_apply(yi, z, t.n_neg, dims, t.neg, w, clip, clipping, move, acc, gi);
    for (int k = 0; k < dims; k++) r->out->target[(int64_t)b * dims + k] = (float)gi[k];
    return loss;
}

static inline void row_targets(const run_ctx *r, int64_t row, int64_t *b0, int64_t *b1)
{
    if (r->row_start) *b0 = r->row_start[row], *b1 = r->row_start[row + 1];
    else if (r->rows == 1) *b0 = 0, *b1 = r->step->batch;
    else *b0 = row, *b1 = row + 1;
}

/* Row `row`'s negatives into worker scratch (dims x m doubles), and its accumulator zeroed. */
static double *gather_row(const run_ctx *r, int worker, int64_t row, double **acc)
{
    loss_batch *lb = r->lb;
    int D = lb->dims, m = r->neg->per_target;
    size_t stride = (size_t)D * (size_t)lb->cap_neg;
    double *z = lb->neg_y + (size_t)worker * stride;
    *acc = lb->neg_acc + (size_t)worker * stride;
    memset(*acc, 0, (size_t)D * (size_t)m * sizeof **acc);
    if (m == 0) return z;
    const int32_t *idx = r->neg->index + row * m;
    for (int l = 0; l < m; l++)
        for (int k = 0; k < D; k++) z[k * m + l] = r->step->y[(int64_t)idx[l] * D + k];
    return z;
}

/* Targets [b0, b1) of one row, with the row's scratch. The branches on dims, clipping and
 * move are taken once here, so each combination gets its own straight inner loops. */
static double run_targets(const run_ctx *r, int worker, int64_t row, int64_t b0, int64_t b1, const double *z,
                          double *acc)
{
    const float *w = r->neg->weight && r->neg->per_target ? r->neg->weight + row * r->neg->per_target : NULL;
    int dims = r->lb->dims, clipping = r->apply.clip > 0.0, move = r->apply.move_negatives;
    double loss = 0.0;
#define RUN(D, C, M)                                                                                                   \
    for (int64_t b = b0; b < b1; b++) loss += target_pass(r, worker, (int32_t)b, z, w, acc, D, C, M)
    if (dims == 2 && !clipping && move) RUN(2, 0, 1);
    else if (dims == 2 && clipping && !move) RUN(2, 1, 0);
    else if (dims == 3 && !clipping && move) RUN(3, 0, 1);
    else RUN(dims, clipping, move);
#undef RUN
    return loss;
}

/* Writes a row's accumulated negative gradients (dims x m doubles) as floats, row-major. */
static void store_row(const run_ctx *r, int64_t row, const double *acc)
{
    int D = r->lb->dims, m = r->neg->per_target;
    float *out = r->out->neg + row * m * D;
    for (int l = 0; l < m; l++)
        for (int k = 0; k < D; k++) out[l * D + k] = (float)acc[k * m + l];
}

/* Many rows: whole rows per worker, so each row's sum needs no reduction across workers. */
static void rows_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const run_ctx *r = ctx;
    double loss = 0.0, *acc;
    for (int64_t row = begin; row < end; row++) {
        int64_t b0, b1;
        row_targets(r, row, &b0, &b1);
        const double *z = gather_row(r, worker, row, &acc);
        loss += run_targets(r, worker, row, b0, b1, z, acc);
        if (r->apply.move_negatives) store_row(r, row, acc);
    }
    r->lb->loss_acc[worker] += loss;
}

typedef struct {
    const run_ctx *r;
    int64_t row, b0;
} row_job;

/* Few rows (shared negatives): one row's targets split over the workers, each with its own
 * accumulator; reduce_row then sums them in worker order. */
static void row_targets_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const row_job *j = ctx;
    double *acc;
    const double *z = gather_row(j->r, worker, j->row, &acc);
    j->r->lb->loss_acc[worker] += run_targets(j->r, worker, j->row, j->b0 + begin, j->b0 + end, z, acc);
}

static void reduce_row(const run_ctx *r, int64_t row, int64_t workers)
{
    loss_batch *lb = r->lb;
    int D = lb->dims, m = r->neg->per_target;
    size_t stride = (size_t)D * (size_t)lb->cap_neg;
    float *out = r->out->neg + row * m * D;
    for (int l = 0; l < m; l++)
        for (int k = 0; k < D; k++) {
            double sum = 0.0;
            for (int64_t w = 0; w < workers; w++) sum += lb->neg_acc[(size_t)w * stride + (size_t)(k * m + l)];
            out[l * D + k] = (float)sum;
        }
}

/* Rows as the negatives plugin gave them: rows/row_start (ABI 1.1), else shared or per target. */
static nmp_status resolve_rows(const nmp_negatives *neg, int32_t batch, run_ctx *r, nmp_host const *h)
{
    if (neg->rows <= 0) {
        r->rows = neg->shared ? 1 : batch;
        r->row_start = NULL;
        return NMP_OK;
    }
    r->rows = neg->rows;
    r->row_start = neg->row_start;
    if (neg->row_start && neg->row_start[0] == 0 && neg->row_start[neg->rows] == batch) return NMP_OK;
    h->set_error(h, "negatives rows: row_start must run from 0 to the batch size %d", batch);
    return NMP_ERR_INVALID;
}

nmp_status loss_batch_run(loss_batch *lb, const nmp_step *step, const nmp_negatives *neg, double exaggeration,
                          loss_apply apply, loss_terms_fn fn, const void *params, nmp_grads *out,
                          double *extra_sum)
{
    if (lb->dims < 1) {
        lb->host->set_error(lb->host, "grad() called before prepare()");
        return NMP_ERR_RUNTIME;
    }
    run_ctx r = {lb, step, neg, exaggeration, apply, fn, params, out, 0, NULL};
    nmp_status s = resolve_rows(neg, step->batch, &r, lb->host);
    int64_t max_pos = 0;
    for (int32_t b = 0; b < step->batch; b++) {
        int64_t e = step->edge_offset[b + 1] - step->edge_offset[b];
        if (e > max_pos) max_pos = e;
    }
    if (s == NMP_OK) s = ensure_scratch(lb, max_pos, neg->per_target, neg->approx_count);
    if (s != NMP_OK) return s;
    for (int w = 0; w < lb->threads; w++) lb->loss_acc[w] = 0.0, lb->extra_acc[w] = 0.0;
    for (int32_t c = 0; c < neg->approx_count; c++) /* coordinate by coordinate, as a row's negatives */
        for (int k = 0; k < lb->dims; k++) lb->approx_y[k * neg->approx_count + c] = neg->approx_y[c * lb->dims + k];
    if (step->batch > 0 && r.rows >= 2 * lb->threads) {
        lb->host->parallel_for(lb->host, r.rows, rows_range, &r);
    } else if (step->batch > 0) {
        for (int64_t row = 0; row < r.rows; row++) {
            row_job j = {&r, row, 0};
            int64_t b1;
            row_targets(&r, row, &j.b0, &b1);
            /* zero every worker's accumulator: a worker with no targets adds nothing */
            for (int w = 0; w < lb->threads; w++)
                memset(lb->neg_acc + (size_t)w * (size_t)lb->dims * (size_t)lb->cap_neg, 0,
                       (size_t)lb->dims * (size_t)lb->cap_neg * sizeof *lb->neg_acc);
            lb->host->parallel_for(lb->host, b1 - j.b0, row_targets_range, &j);
            if (apply.move_negatives) reduce_row(&r, row, lb->threads);
        }
    }
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

const nmp_host *loss_batch_host(const loss_batch *lb) { return lb->host; }

void loss_state_destroy(void *state)
{
    loss_batch_free(*(loss_batch **)state);
    free(state);
}

nmp_status loss_state_prepare(void *state, const nmp_fit_info *fit)
{
    return loss_batch_prepare(*(loss_batch **)state, fit);
}
