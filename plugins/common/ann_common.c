/* ann plugin helpers: groups of points, host-allocated CSR, exact kNN of one group. */
#include "ann_common.h"
#include "gather_rows.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knn_cpu.h"
#ifdef NOMAD_CUDA
#include "knn_cuda.h"
#endif
#include "nomad/rng.h"
#include "pca_common.h"

nmp_status ann_build_begin(const nmp_host *h, const char *who, int32_t k, nmp_graph *out)
{
    memset(out, 0, sizeof *out);
    if (k >= 1) return NMP_OK;
    h->set_error(h, "%s: k must be >= 1, got %d", who, k);
    return NMP_ERR_INVALID;
}

nmp_status ann_groups_make(const nmp_host *h, const nmp_cells *cells, int64_t n, int global, ann_groups *g)
{
    memset(g, 0, sizeof *g);
    if (cells && !global && cells->count > 0) {
        g->count = cells->count;
        g->start = cells->start;
        g->member = cells->member;
        return NMP_OK;
    }
    g->ids = malloc((size_t)n * sizeof *g->ids + 1);
    if (!g->ids) {
        h->set_error(h, "ann: out of memory for %lld point ids", (long long)n);
        return NMP_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) g->ids[i] = (int32_t)i;
    g->count = 1;
    g->single_start[0] = 0;
    g->single_start[1] = n;
    g->start = g->single_start;
    g->member = g->ids;
    return NMP_OK;
}

ann_group ann_groups_get(const ann_groups *g, int32_t c)
{
    ann_group r = {g->member + g->start[c], g->start[c + 1] - g->start[c]};
    return r;
}

void ann_groups_free(ann_groups *g)
{
    free(g->ids);
    memset(g, 0, sizeof *g);
}

void ann_graph_release(const nmp_host *h, nmp_graph *out)
{
    h->free(out->offsets), h->free(out->index), h->free(out->dist), h->free(out->weight);
    memset(out, 0, sizeof *out);
}

nmp_status ann_graph_alloc_groups(const nmp_host *h, const ann_groups *g, int64_t n, int32_t k, nmp_graph *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->offsets = h->alloc((size_t)(n + 1) * sizeof *out->offsets);
    if (out->offsets) {
        memset(out->offsets, 0, (size_t)(n + 1) * sizeof *out->offsets);
        for (int32_t c = 0; c < g->count; c++) {
            ann_group grp = ann_groups_get(g, c);
            int64_t len = grp.count - 1 < k ? grp.count - 1 : k;
            for (int64_t i = 0; i < grp.count; i++) out->offsets[grp.member[i] + 1] = len;
        }
        for (int64_t i = 0; i < n; i++) out->offsets[i + 1] += out->offsets[i];
        size_t nnz = (size_t)out->offsets[n];
        out->index = h->alloc(nnz * sizeof *out->index);
        out->dist = h->alloc(nnz * sizeof *out->dist);
    }
    if (!out->offsets || !out->index || !out->dist) {
        ann_graph_release(h, out);
        h->set_error(h, "ann: out of memory for a %lld-point graph with k = %d", (long long)n, k);
        return NMP_ERR_NOMEM;
    }
    return NMP_OK;
}


const float *ann_group_rows(const nmp_host *h, const nmp_matrix *x, ann_group grp, float **owned)
{
    *owned = NULL;
    if (grp.count == 0 || grp.member[grp.count - 1] - grp.member[0] == grp.count - 1)
        return x->x + (grp.count ? (int64_t)grp.member[0] * x->d : 0);
    *owned = malloc((size_t)grp.count * (size_t)x->d * sizeof **owned);
    if (!*owned) return NULL;
    nmp_gather_rows(h, x->x, x->d, grp.member, grp.count, *owned);
    return *owned;
}

static nmp_status search_nomem(const nmp_host *h, ann_group grp, int64_t d, int32_t k)
{
    h->set_error(h, "ann: out of memory searching a group of %lld points (d = %lld, k = %d)", (long long)grp.count,
                 (long long)d, k);
    return NMP_ERR_NOMEM;
}

/* knn_topk_cpu's call for queries [q0, q0 + nq) of the group against all of it, on `dev`;
 * sets the error on failure. */
static nmp_status group_topk(const nmp_host *h, const float *base, ann_group grp, int64_t q0, int64_t nq, int64_t d,
                             int32_t k, nmp_metric metric, plugin_device dev, int32_t *idx, float *dist)
{
#ifdef NOMAD_CUDA
    if (dev == PLUGIN_ON_CUDA) {
        nmp_gpu_err e = {0};
        nmp_status s = knn_topk_cuda(base + q0 * d, nq, base, grp.count, d, k, metric, grp.member + q0, grp.member,
                                     KNN_CUDA_F32, idx, dist, &e);
        return plugin_gpu_status(h, s, &e);
    }
#endif
    nmp_status s =
        knn_topk_cpu(base + q0 * d, nq, base, grp.count, d, k, metric, grp.member + q0, grp.member, idx, dist);
    return s == NMP_OK ? s : search_nomem(h, grp, d, k);
}

nmp_status ann_exact_group_on(const nmp_host *h, const nmp_matrix *x, ann_group grp, int32_t k, nmp_metric metric,
                              int64_t query_block, int64_t done, int64_t total, plugin_device dev, nmp_graph *out)
{
    int32_t kk = grp.count - 1 < k ? (int32_t)(grp.count - 1) : k;
    if (kk <= 0) return NMP_OK;
    int64_t qb = query_block < grp.count ? query_block : grp.count;
    float *owned;
    const float *base = ann_group_rows(h, x, grp, &owned);
    int32_t *idx = malloc((size_t)qb * (size_t)kk * sizeof *idx);
    float *dist = malloc((size_t)qb * (size_t)kk * sizeof *dist);
    nmp_status s = (base && idx && dist) ? NMP_OK : search_nomem(h, grp, x->d, k);
    for (int64_t q0 = 0; s == NMP_OK && q0 < grp.count; q0 += qb) {
        int64_t nq = grp.count - q0 < qb ? grp.count - q0 : qb;
        s = group_topk(h, base, grp, q0, nq, x->d, kk, metric, dev, idx, dist);
        for (int64_t q = 0; s == NMP_OK && q < nq; q++) {
            int64_t at = out->offsets[grp.member[q0 + q]];
            memcpy(out->index + at, idx + q * kk, (size_t)kk * sizeof *idx);
            memcpy(out->dist + at, dist + q * kk, (size_t)kk * sizeof *dist);
        }
        h->progress(h, "ann", total > 0 ? (double)(done + q0 + nq) / (double)total : 1.0);
    }
    free(owned), free(idx), free(dist);
    return s;
}

nmp_status ann_exact_group(const nmp_host *h, const nmp_matrix *x, ann_group grp, int32_t k, nmp_metric metric,
                           int64_t query_block, int64_t done, int64_t total, nmp_graph *out)
{
    return ann_exact_group_on(h, x, grp, k, metric, query_block, done, total, PLUGIN_ON_CPU, out);
}

/* Lanes of partial sums: independent accumulators let the compiler vectorise the loop
 * (a single float sum is a serial dependency), and the fixed lane order keeps the value
 * the same for (a, b) and (b, a). */
#define ANN_LANES 16

float ann_distance(const float *a, const float *b, int64_t d, nmp_metric metric, float inv_norm_a, float inv_norm_b)
{
    float lane[ANN_LANES] = {0};
    int64_t t = 0;
    if (metric == NMP_METRIC_L2) {
        for (; t + ANN_LANES <= d; t += ANN_LANES)
            for (int l = 0; l < ANN_LANES; l++) lane[l] += (a[t + l] - b[t + l]) * (a[t + l] - b[t + l]);
        for (; t < d; t++) lane[0] += (a[t] - b[t]) * (a[t] - b[t]);
    } else {
        for (; t + ANN_LANES <= d; t += ANN_LANES)
            for (int l = 0; l < ANN_LANES; l++) lane[l] += a[t + l] * b[t + l];
        for (; t < d; t++) lane[0] += a[t] * b[t];
    }
    float s = 0.0f;
    for (int l = 0; l < ANN_LANES; l++) s += lane[l];
    if (metric == NMP_METRIC_L2) return s;
    if (metric == NMP_METRIC_IP) return -s;
    if (inv_norm_a == 0.0f || inv_norm_b == 0.0f) return 1.0f;
    float v = 1.0f - s * (inv_norm_a * inv_norm_b); /* same value for (a, b) and (b, a) */
    return v > 0.0f ? v : 0.0f;
}

typedef struct {
    const nmp_matrix *x;
    float *out;
} norm_ctx;

static void norm_range(void *vctx, int64_t b, int64_t e, int worker)
{
    (void)worker;
    norm_ctx *c = vctx;
    for (int64_t i = b; i < e; i++) {
        const float *r = c->x->x + i * c->x->d;
        double s = 0.0;
        for (int64_t t = 0; t < c->x->d; t++) s += (double)r[t] * r[t];
        c->out[i] = s > 0.0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    }
}

float *ann_inverse_norms(const nmp_host *h, const nmp_matrix *x)
{
    float *out = malloc((size_t)x->n * sizeof *out + 1);
    if (!out) return NULL;
    norm_ctx c = {x, out};
    h->parallel_for(h, x->n, norm_range, &c);
    return out;
}

nmp_status ann_project(const nmp_host *h, const char *who, const nmp_matrix *x, int32_t p, int64_t sample,
                       plugin_device dev, nmp_matrix *out, float **proj)
{
    pca_model m;
    *proj = NULL;
    nmp_status s = pca_fit(h, who, x, sample, 8192, h->seed, NMP_STREAM_ANN, p, dev, &m);
    if (s == NMP_OK && !(*proj = malloc((size_t)(x->n * p) * sizeof **proj + 1))) {
        h->set_error(h, "%s: out of memory for the %lld x %d projection", who, (long long)x->n, p);
        s = NMP_ERR_NOMEM;
    }
    if (s == NMP_OK) s = pca_project(h, who, x, &m, 8192, *proj);
    if (s == NMP_OK) {
        double kept = 0.0;
        for (int32_t k = 0; k < p; k++) kept += m.variance[k];
        h->log(h, NMP_LOG_INFO, "%s: searching in %d principal components (%.1f%% of the variance)", who, p,
               m.total_variance > 0.0 ? 100.0 * kept / m.total_variance : 0.0);
        *out = (nmp_matrix){.n = x->n, .d = p, .x = *proj};
    } else {
        free(*proj);
        *proj = NULL;
    }
    pca_model_free(&m);
    return s;
}

typedef struct {
    const nmp_matrix *x;
    const uint8_t *bytes; /* x as bytes when every value is an integer in [0, 255] (see byte_rows), or NULL */
    const nmp_graph *cand;
    nmp_graph *out;
    float *scratch;       /* threads x 2 * most: (distance, id bits) pairs */
    int64_t most;         /* longest candidate row */
    const int32_t *order; /* the points in the order to refine them, or NULL */
} refine_ctx;

/* The refine reads refine x k whole input rows a point, from anywhere in the data: its time is
 * memory traffic. Pixel data (u1 on disk: Fashion-MNIST, SIFT's bvecs) hold integers in
 * [0, 255], which a byte holds exactly, so the refine reads a quarter of the bytes and sums
 * exact integers (the float sum it replaces is exact too below 2^24). */
typedef struct {
    const nmp_matrix *x;
    uint8_t *out;
    int bad; /* a value that is not an integer in [0, 255] was met */
} byte_ctx;

static void byte_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    byte_ctx *c = ctx;
    const int64_t d = c->x->d;
    for (int64_t i = begin; i < end; i++) {
        const float *r = c->x->x + i * d;
        uint8_t *o = c->out + i * d;
        int ok = 1;
#pragma omp simd reduction(& : ok)
        for (int64_t t = 0; t < d; t++) {
            const float v = r[t];
            ok &= v >= 0.0f && v <= 255.0f && v == (float)(int32_t)v; /* NaN fails the first test */
            o[t] = (uint8_t)(int32_t)(v >= 0.0f && v <= 255.0f ? v : 0.0f);
        }
        if (!ok) {
            __atomic_store_n(&c->bad, 1, __ATOMIC_RELAXED);
            return;
        }
        if ((i & 1023) == 0 && __atomic_load_n(&c->bad, __ATOMIC_RELAXED)) return;
    }
}

/* x as bytes, or NULL when a value is not an integer in [0, 255] (float data stop at their
 * first row), when a distance could overflow an int32 (d > 33,025) or memory is short. */
static uint8_t *byte_rows(const nmp_host *h, const nmp_matrix *x)
{
    if (x->d > INT32_MAX / (255 * 255)) return NULL;
    byte_ctx c = {x, malloc((size_t)(x->n * x->d) + 1), 0};
    if (!c.out) return NULL;
    h->parallel_for(h, x->n, byte_range, &c);
    if (!c.bad) return c.out;
    free(c.out);
    return NULL;
}

/* Squared L2 distance of two byte rows: the integer sum exact, rounded once to a float. */
static float byte_distance(const uint8_t *a, const uint8_t *b, int64_t d)
{
    int32_t s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t t = 0; t < d; t++) {
        const int32_t v = (int32_t)a[t] - (int32_t)b[t];
        s += v * v;
    }
    return (float)s;
}

static int cmp_pair(const void *pa, const void *pb)
{
    const float *a = pa, *b = pb;
    if (a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
    int32_t ia, ib;
    memcpy(&ia, a + 1, sizeof ia), memcpy(&ib, b + 1, sizeof ib);
    return (ia > ib) - (ia < ib);
}

/* Candidates ahead whose byte rows the refine fetches: a row comes from anywhere in the data,
 * and the distance loop would wait on each of its lines (nomad-paper's ann stage: 1.88 ->
 * 1.65 s). Float rows, four times as long, gained nothing measurable from it. */
#define REFINE_AHEAD 2

/* Asks for every line of byte row `row` (d bytes). */
static inline void fetch_row(const uint8_t *base, int64_t row, int64_t d)
{
    for (int64_t t = 0; t < d; t += 64) __builtin_prefetch(base + row * d + t);
}

static void refine_range(void *ctx, int64_t begin, int64_t end, int worker)
{
    const refine_ctx *r = ctx;
    int64_t d = r->x->d;
    float *pair = r->scratch + (size_t)worker * (size_t)(2 * r->most);
    for (int64_t t = begin; t < end; t++) {
        const int64_t i = r->order ? r->order[t] : t;
        const int32_t *c = r->cand->index + r->cand->offsets[i];
        int64_t len = r->cand->offsets[i + 1] - r->cand->offsets[i];
        int64_t at = r->out->offsets[i], keep = r->out->offsets[i + 1] - at;
        for (int64_t j = 0; j < len; j++) {
            if (j + REFINE_AHEAD < len && r->bytes) fetch_row(r->bytes, c[j + REFINE_AHEAD], d);
            pair[2 * j] =
                r->bytes ? byte_distance(r->bytes + i * d, r->bytes + (int64_t)c[j] * d, d)
                         : ann_distance(r->x->x + i * d, r->x->x + (int64_t)c[j] * d, d, NMP_METRIC_L2, 0.0f, 0.0f);
            memcpy(pair + 2 * j + 1, &c[j], sizeof c[j]);
        }
        qsort(pair, (size_t)len, 2 * sizeof *pair, cmp_pair);
        for (int64_t j = 0; j < keep && j < len; j++) {
            memcpy(&r->out->index[at + j], pair + 2 * j + 1, sizeof(int32_t));
            r->out->dist[at + j] = pair[2 * j];
        }
    }
}

nmp_status ann_refine(const nmp_host *h, const nmp_matrix *x, const nmp_graph *cand, const int32_t *order,
                      nmp_graph *out)
{
    refine_ctx r = {x, NULL, cand, out, NULL, 1, order};
    for (int64_t i = 0; i < x->n; i++)
        if (cand->offsets[i + 1] - cand->offsets[i] > r.most) r.most = cand->offsets[i + 1] - cand->offsets[i];
    r.scratch = malloc((size_t)h->threads * (size_t)(2 * r.most) * sizeof *r.scratch);
    if (!r.scratch) {
        h->set_error(h, "ann: out of memory refining %lld candidates per point", (long long)r.most);
        return NMP_ERR_NOMEM;
    }
    uint8_t *bytes = byte_rows(h, x);
    r.bytes = bytes;
    h->parallel_for(h, x->n, refine_range, &r);
    free(r.scratch);
    free(bytes);
    return NMP_OK;
}
