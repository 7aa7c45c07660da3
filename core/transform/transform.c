/* See transform.h. */
#include "transform.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "affinity_cpu.h"
#include "host.h"
#include "knn_cpu.h"
#include "pca_cpu.h"
#include "nomad/rng.h"
#include "transform_loss.h"

typedef struct {
    const nmp_config *c;
    int32_t dims, k;
    const float *y;        /* n x dims: the map, fixed */
    const int32_t *nbr;    /* m x k: each new point's training neighbours (-1: none) */
    float *p;              /* m x k: their distances, then their weights (each row sums to 1) */
    float *y_new;          /* m x dims */
    int64_t missed;        /* rows whose perplexity search missed its tolerance */
} job;

/* Gaussian weights at the transform's perplexity over each row's neighbour distances, and
 * the start: their weighted mean in the map. */
static void place_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    job *t = ctx;
    for (int64_t i = begin; i < end; i++) {
        float *row = t->p + i * t->k, d[1024];
        int32_t k = 0;
        while (k < t->k && t->nbr[i * t->k + k] >= 0) k++;
        memcpy(d, row, (size_t)k * sizeof *d);
        if (!affinity_perplexity_row_cpu(d, k, t->c->transform.perplexity, t->c->transform.perplexity_tol,
                                         t->c->transform.perplexity_iters, row))
            __atomic_add_fetch(&t->missed, 1, __ATOMIC_RELAXED);
        for (int32_t j = k; j < t->k; j++) row[j] = 0;
        for (int32_t a = 0; a < t->dims; a++) {
            double s = 0;
            for (int32_t j = 0; j < k; j++) s += (double)row[j] * t->y[(int64_t)t->nbr[i * t->k + j] * t->dims + a];
            t->y_new[i * t->dims + a] = (float)s;
        }
    }
}

/* Rows per GEMM of the covariance and the projections: a tiling, not a result. */
#define PCA_BLOCK 4096

/* x and x_new projected on the top p principal axes of x (xp: n x p, qp: m x p), fitted on
 * every (n / sample)-th row, at most `sample` (transform.pca_sample). */
static nmp_status project(const nmp_matrix *x, const nmp_matrix *x_new, int32_t p, int64_t sample, float *xp,
                          float *qp, nmp_err *err)
{
    const int64_t n = x->n, d = x->d, rows = n < sample ? n : sample;
    int64_t *ids = malloc((size_t)rows * sizeof *ids);
    double *mean = malloc((size_t)d * sizeof *mean), *cov = malloc((size_t)(d * d) * sizeof *cov);
    double *w = malloc((size_t)p * sizeof *w), *v = malloc((size_t)(d * p) * sizeof *v);
    float *vt = malloc((size_t)(d * p) * sizeof *vt);
    nmp_status s = ids && mean && cov && w && v && vt ? NMP_OK : NMP_ERR_NOMEM;
    for (int64_t r = 0; s == NMP_OK && r < rows; r++) ids[r] = r * n / rows;
    if (s == NMP_OK) {
        pca_mean_cpu(x->x, d, ids, rows, mean);
        s = pca_covariance_cpu(x->x, d, ids, rows, mean, PCA_BLOCK, cov);
    }
    int info = 0, found = 0;
    if (s == NMP_OK) s = pca_top_axes_cpu(cov, d, p, w, v, &info, &found);
    for (int32_t k = 0; s == NMP_OK && k < p; k++)
        for (int64_t j = 0; j < d; j++) vt[k * d + j] = (float)v[j * p + k];
    if (s == NMP_OK) s = pca_project_cpu(x->x, n, d, mean, vt, p, PCA_BLOCK, xp);
    if (s == NMP_OK) s = pca_project_cpu(x_new->x, x_new->n, d, mean, vt, p, PCA_BLOCK, qp);
    free(ids), free(mean), free(cov), free(w), free(v), free(vt);
    if (s == NMP_ERR_RUNTIME)
        return nmp_fail(err, s, "transform: the eigensolver found %d of %d axes of the %lld x %lld covariance "
                        "(LAPACK info %d); set transform.pca: 0", found, p, (long long)d, (long long)d, info);
    return s == NMP_OK ? NMP_OK : nmp_fail(err, s, "transform: out of memory projecting on %d principal axes", p);
}

typedef struct {
    const nmp_matrix *x, *x_new;
    nmp_metric metric;
    int32_t k, kc;
    const int32_t *cand; /* m x kc: candidates from the projection */
    int32_t *nbr;        /* m x k */
    float *dist;         /* m x k */
} refine_job;

/* A candidate's distance in the input space (knn_distance_cpu's definitions), in float: one
 * vector loop, where the double reference takes four times as long. */
static float row_distance(const float *a, const float *b, int64_t d, nmp_metric metric)
{
    float dot = 0, aa = 0, bb = 0, l2 = 0;
#pragma omp simd reduction(+ : dot, aa, bb, l2)
    for (int64_t t = 0; t < d; t++) {
        float u = a[t], v = b[t], e = u - v;
        dot += u * v, aa += u * u, bb += v * v, l2 += e * e;
    }
    if (metric == NMP_METRIC_L2) return l2;
    if (metric == NMP_METRIC_IP) return -dot;
    return aa > 0 && bb > 0 ? 1.0f - dot / sqrtf(aa * bb) : 1.0f; /* cosine; a zero row is at distance 1 */
}

/* The k nearest of each point's candidates by the exact distance (ties: the smaller id). */
static void refine_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const refine_job *r = ctx;
    for (int64_t i = begin; i < end; i++) {
        double best[1024];
        int32_t id[1024], kept = 0;
        for (int32_t c = 0; c < r->kc; c++) {
            int32_t b = r->cand[i * r->kc + c];
            if (b < 0) continue;
            double dd = row_distance(r->x_new->x + i * r->x_new->d, r->x->x + (int64_t)b * r->x->d, r->x->d, r->metric);
            int32_t at = kept < r->k ? kept++ : r->k;
            while (at > 0 && (best[at - 1] > dd || (best[at - 1] == dd && id[at - 1] > b))) {
                if (at < r->k) best[at] = best[at - 1], id[at] = id[at - 1];
                at--;
            }
            if (at < r->k) best[at] = dd, id[at] = b;
        }
        for (int32_t j = 0; j < r->k; j++) {
            r->nbr[i * r->k + j] = j < kept ? id[j] : -1;
            r->dist[i * r->k + j] = j < kept ? (float)best[j] : INFINITY;
        }
    }
}

/* Each new point's k nearest training points: exact, or (transform.pca) refine x k candidates
 * in the projection, then the k nearest of those by the exact distance. */
static nmp_status neighbours(const nmp_config *c, const nmp_matrix *x, const nmp_matrix *x_new, int32_t k,
                             int32_t *nbr, float *dist, nmp_err *err)
{
    const int64_t n = x->n, m = x_new->n;
    const int32_t p = (int32_t)c->transform.pca;
    if (p <= 0 || p >= x->d) {
        if (knn_topk_cpu(x_new->x, m, x->x, n, x->d, k, c->ann.metric, NULL, NULL, nbr, dist) != NMP_OK)
            return nmp_fail(err, NMP_ERR_NOMEM, "transform: out of memory finding %lld x %d neighbours", (long long)m, k);
        return NMP_OK;
    }
    int64_t kc64 = (int64_t)k * c->transform.refine;
    const int32_t kc = (int32_t)(kc64 < n ? (kc64 < 1024 ? kc64 : 1024) : n);
    float *xp = malloc((size_t)(n * p) * sizeof *xp), *qp = malloc((size_t)(m * p + 1) * sizeof *qp);
    int32_t *cand = malloc((size_t)(m * kc + 1) * sizeof *cand);
    float *cd = malloc((size_t)(m * kc + 1) * sizeof *cd);
    nmp_status s = xp && qp && cand && cd ? project(x, x_new, p, c->transform.pca_sample, xp, qp, err)
                                          : nmp_fail(err, NMP_ERR_NOMEM, "transform: out of memory");
    /* l2 and inner products keep their meaning in the projection; cosine is taken there too */
    if (s == NMP_OK && knn_topk_cpu(qp, m, xp, n, p, kc, c->ann.metric, NULL, NULL, cand, cd) != NMP_OK)
        s = nmp_fail(err, NMP_ERR_NOMEM, "transform: out of memory finding %lld x %d candidates", (long long)m, kc);
    if (s == NMP_OK) {
        refine_job r = {x, x_new, c->ann.metric, k, kc, cand, nbr, dist};
        nmp_parallel_for(m, refine_range, &r);
    }
    free(xp), free(qp), free(cand), free(cd);
    return s;
}

/* The steps' own arrays: [map; new points] as the engine's layout, the new points as its
 * targets, their neighbours as edges, one shared row of map points as negatives. */
typedef struct {
    float *y_all, *vel, *neg_w;
    int32_t *target, *pos, *neg_idx;
    int64_t *edge_offset;
    float *pos_w, cell_mean[3], cell_mass;
    float grad_scale; /* the step's multiple of the engine's dL/dy */
    double lr, momentum, max_grad;
    const float *grad;
    int64_t n;
    int32_t dims;
} steps;

static void update_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const steps *t = ctx;
    const int32_t D = t->dims;
    for (int64_t i = begin; i < end; i++) {
        double g[3], norm = 0;
        for (int32_t a = 0; a < D; a++) g[a] = (double)t->grad_scale * t->grad[i * D + a], norm += g[a] * g[a];
        norm = sqrt(norm);
        const double scale = norm > t->max_grad ? t->max_grad / norm : 1.0;
        float *yi = t->y_all + (t->n + i) * D;
        for (int32_t a = 0; a < D; a++) {
            float *v = t->vel + i * D + a;
            *v = (float)(t->momentum * *v - t->lr * scale * g[a]);
            yi[a] += *v;
        }
    }
}

static void steps_free(steps *t)
{
    free(t->y_all), free(t->vel), free(t->neg_w), free(t->target), free(t->pos), free(t->neg_idx);
    free(t->edge_offset), free(t->pos_w);
}

/* transform.steps of the run's loss on the new points alone (m of them, starting at y_new),
 * the map fixed; y_new gets where they end. */
static nmp_status run_steps(const nmp_config *c, const nmp_cfg_node *root, const float *y, int64_t n, int32_t dims,
                            int64_t m, int32_t k, const int32_t *nbr, const float *p, nmp_fit_balance balance,
                            float *y_new, nmp_err *err)
{
    const int64_t M = c->transform.negatives, total = n + m;
    if (m > INT32_MAX || total > INT32_MAX)
        return nmp_fail(err, NMP_ERR_INVALID, "transform: %lld new points on a map of %lld; at most %d in all",
                        (long long)m, (long long)n, INT32_MAX);
    steps t = {.n = n, .dims = dims, .lr = c->transform.lr, .momentum = c->transform.momentum,
               .max_grad = c->transform.max_grad};
    t.y_all = malloc((size_t)(total * dims) * sizeof *t.y_all);
    t.vel = calloc((size_t)(m * dims + 1), sizeof *t.vel);
    t.target = malloc((size_t)(m + 1) * sizeof *t.target);
    t.edge_offset = malloc((size_t)(m + 1) * sizeof *t.edge_offset);
    t.pos = malloc((size_t)(m * k + 1) * sizeof *t.pos);
    t.pos_w = malloc((size_t)(m * k + 1) * sizeof *t.pos_w);
    t.neg_idx = malloc((size_t)M * sizeof *t.neg_idx);
    t.neg_w = malloc((size_t)M * sizeof *t.neg_w);
    if (!t.y_all || !t.vel || !t.target || !t.edge_offset || !t.pos || !t.pos_w || !t.neg_idx || !t.neg_w) {
        steps_free(&t);
        return nmp_fail(err, NMP_ERR_NOMEM, "transform: out of memory for %lld new points", (long long)m);
    }
    memcpy(t.y_all, y, (size_t)(n * dims) * sizeof *y);
    memcpy(t.y_all + n * dims, y_new, (size_t)(m * dims) * sizeof *y_new);
    /* A loss that sums its terms (neg, umap) is balanced for the fit's positives' weight and
     * repulsive terms per target (run.json): the neighbours' weights (rows summing to 1) scale to
     * the first, and each of the M map points drawn here weighs fit / M of one. InfoNCE and tsne
     * normalise both away. */
    const float pw = balance.edge_weight > 0 ? (float)balance.edge_weight : 1.0f;
    const float w = balance.negatives > 0 ? (float)(balance.negatives / (double)M) : 1.0f;
    int64_t e = 0;
    for (int64_t i = 0; i < m; i++) {
        t.target[i] = (int32_t)(n + i);
        t.edge_offset[i] = e;
        for (int32_t j = 0; j < k && nbr[i * k + j] >= 0; j++, e++)
            t.pos[e] = nbr[i * k + j], t.pos_w[e] = pw * p[i * k + j];
    }
    t.edge_offset[m] = e;
    for (int64_t j = 0; j < M; j++) t.neg_w[j] = w;
    double mean[3] = {0};
    for (int64_t i = 0; i < n; i++)
        for (int32_t a = 0; a < dims; a++) mean[a] += y[i * dims + a];
    for (int32_t a = 0; a < dims; a++) t.cell_mean[a] = (float)(mean[a] / (double)n);
    t.cell_mass = (float)n;
    /* openTSNE's step (transform.lr, max_grad) is on 4 (a p q diff - q^2 diff / Z): the engine's
     * dL/dy of the Cauchy-kernel losses is half that */
    t.grad_scale = 2.0f;
    nmp_transform_loss loss;
    nmp_status s = nmp_transform_loss_open(&loss, c, root, total, dims, (int32_t)m, c->transform.steps, err);
    const uint64_t seed = (uint64_t)c->seed;
    for (int64_t step = 0; s == NMP_OK && step < c->transform.steps; step++) {
        for (int64_t j = 0; j < M; j++)
            t.neg_idx[j] = (int32_t)nmp_rng_below(seed, NMP_STREAM_TRANSFORM, (uint64_t)(step * M + j), (uint64_t)n);
        const nmp_step st = {.epoch = step, .step = step, .progress = (double)step / (double)c->transform.steps,
                             .y = t.y_all, .batch = (int32_t)m, .target = t.target, .edge_offset = t.edge_offset,
                             .pos = t.pos, .pos_weight = t.pos_w, .cell_mean = t.cell_mean, .cell_mass = &t.cell_mass,
                             .loss_every = INT32_MAX};
        const nmp_negatives neg = {.per_target = (int32_t)M, .shared = 1, .index = t.neg_idx, .weight = t.neg_w};
        nmp_engine_out out;
        s = nmp_transform_loss_step(&loss, &st, &neg, c->transform.exaggeration, &out, err);
        if (s != NMP_OK) break;
        t.grad = out.target;
        nmp_parallel_for(m, update_range, &t);
        nmp_progress("transform", (double)(step + 1) / (double)c->transform.steps);
    }
    nmp_transform_loss_close(&loss);
    if (s == NMP_OK) memcpy(y_new, t.y_all + n * dims, (size_t)(m * dims) * sizeof *y_new);
    steps_free(&t);
    return s;
}

nmp_status nmp_transform(const nmp_config *c, const nmp_cfg_node *root, const nmp_matrix *x, const float *y,
                         int32_t dims, const nmp_matrix *x_new, nmp_fit_balance balance, float *y_new, nmp_err *err)
{
    const int64_t n = x->n, m = x_new->n;
    const int32_t k = (int32_t)(c->transform.k < n ? c->transform.k : n);
    if (k > 1024) return nmp_fail(err, NMP_ERR_INVALID, "transform.k: %d is more than the 1024 neighbours it weighs", k);
    if (dims < 2 || dims > 3) return nmp_fail(err, NMP_ERR_INVALID, "transform: a map of %d dimensions; 2 or 3 expected", dims);
    int32_t *nbr = malloc((size_t)(m * k + 1) * sizeof *nbr);
    float *p = malloc((size_t)(m * k + 1) * sizeof *p);
    nmp_status s = nbr && p ? NMP_OK : nmp_fail(err, NMP_ERR_NOMEM, "transform: out of memory");
    double t0 = nmp_now();
    if (s == NMP_OK) s = neighbours(c, x, x_new, k, nbr, p, err);
    job t = {.c = c, .dims = dims, .k = k, .y = y, .nbr = nbr, .p = p, .y_new = y_new};
    if (s == NMP_OK) {
        nmp_log(NMP_LOG_INFO, "transform: %lld x %d neighbours among %lld training points in %.2f s", (long long)m, k,
                (long long)n, nmp_now() - t0);
        nmp_parallel_for(m, place_range, &t);
        if (t.missed)
            nmp_log(NMP_LOG_WARN, "transform: %lld of %lld points missed perplexity %g within %g nats in %lld steps "
                    "(transform.perplexity_tol, transform.perplexity_iters)", (long long)t.missed, (long long)m,
                    c->transform.perplexity, c->transform.perplexity_tol, (long long)c->transform.perplexity_iters);
    }
    if (s == NMP_OK && c->transform.steps > 0) s = run_steps(c, root, y, n, dims, m, k, nbr, p, balance, y_new, err);
    for (int64_t i = 0; s == NMP_OK && i < m * dims; i++)
        if (!isfinite(y_new[i]))
            s = nmp_fail(err, NMP_ERR_RUNTIME, "transform: point %lld left the map (NaN or Inf); lower transform.lr",
                         (long long)(i / dims));
    free(nbr), free(p);
    return s;
}
