/* Seeding of the kmeans partitioner: LSH buckets (the NOMAD reference), k-means++ and
 * uniform random points, all drawn from the Lloyd sample with the counter RNG. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans_internal.h"
#include "nomad/rng.h"
#include "part_common.h"

/* Copies sample rows at positions pos[0..count) into centroids from..from+count. */
static void copy_rows(km_run *r, const int32_t *pos, int64_t count, int32_t from)
{
    for (int64_t i = 0; i < count; i++)
        memcpy(r->centroids + (from + i) * r->d, r->x + (int64_t)r->rows[pos[i]] * r->d,
               (size_t)r->d * sizeof *r->centroids);
}

/* Centroids from..k-1 become distinct uniformly drawn sample points. */
static nmp_status seed_random_points(km_run *r, int32_t from, uint64_t purpose)
{
    int64_t count = r->k - from;
    if (count <= 0) return NMP_OK;
    int32_t *pos = malloc((size_t)count * sizeof *pos);
    if (!pos) return NMP_ERR_NOMEM;
    part_sample_sorted(r->h->seed, NMP_STREAM_PARTITION, purpose, count, r->m, pos);
    copy_rows(r, pos, count, from);
    free(pos);
    return NMP_OK;
}

/* ------------------------------------------------------------------ LSH */

typedef struct {
    uint64_t code;
    int32_t pos;
} coded;

static int coded_cmp(const void *a, const void *b)
{
    const coded *x = a, *y = b;
    if (x->code != y->code) return x->code < y->code ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

typedef struct {
    int64_t size, first; /* members are sorted[first .. first + size) */
    uint64_t code;
} bucket;

static int bucket_cmp(const void *a, const void *b)
{
    const bucket *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1; /* largest first */
    return x->code < y->code ? -1 : x->code > y->code;
}

/* Gaussian hyperplane normals (H x d) and their offsets at the sample mean (centring). */
static nmp_status lsh_planes(km_run *r, float *planes, double *offset)
{
    int H = r->st->hyperplanes;
    double *mean = malloc((size_t)r->d * sizeof *mean + 1);
    int64_t start[2] = {0, r->m};
    if (!mean) return NMP_ERR_NOMEM;
    part_cell_sums(r->h, r->x, r->d, start, r->rows, 1, mean);
    for (int64_t j = 0; j < r->d; j++) mean[j] /= (double)r->m;
    for (int64_t i = 0; i < H * r->d; i++) {
        uint64_t c = nmp_rng_counter2(KM_RNG_HYPERPLANE, 2 * (uint64_t)i);
        double u1 = nmp_rng_uniform(r->h->seed, NMP_STREAM_PARTITION, c) + 0x1.0p-54;
        double u2 = nmp_rng_uniform(r->h->seed, NMP_STREAM_PARTITION, c + 1);
        planes[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2)); /* Box-Muller */
    }
    for (int h = 0; h < H; h++) {
        offset[h] = 0.0;
        for (int64_t j = 0; j < r->d; j++) offset[h] += mean[j] * planes[h * r->d + j];
    }
    free(mean);
    return NMP_OK;
}

/* codes[p].code = sign bits of the centred projections of sample point p. */
static nmp_status lsh_codes(km_run *r, const float *planes, const double *offset, coded *codes)
{
    int H = r->st->hyperplanes;
    int64_t block = km_block_rows(r, H);
    if (block > r->m) block = r->m;
    float *buf = malloc((size_t)(block * r->d) * sizeof *buf + 1);
    float *proj = malloc((size_t)(block * H) * sizeof *proj + 1);
    if (!buf || !proj) {
        free(buf), free(proj);
        return NMP_ERR_NOMEM;
    }
    for (int64_t b0 = 0; b0 < r->m; b0 += block) {
        int64_t cnt = r->m - b0 < block ? r->m - b0 : block;
        km_gather(r, r->rows + b0, cnt, buf);
        r->h->gemm_abt(r->h, cnt, H, r->d, 1.0f, buf, r->d, planes, r->d, 0.0f, proj, H);
        for (int64_t i = 0; i < cnt; i++) {
            uint64_t code = 0;
            for (int h = 0; h < H; h++) code |= (uint64_t)((double)proj[i * H + h] > offset[h]) << h;
            codes[b0 + i] = (coded){code, (int32_t)(b0 + i)};
        }
    }
    free(buf), free(proj);
    return NMP_OK;
}

/* Means of the `top` largest buckets become centroids 0..top-1. */
static nmp_status lsh_bucket_means(km_run *r, const coded *sorted, const bucket *b, int32_t top)
{
    int32_t *cell = malloc((size_t)r->m * sizeof *cell + 1);
    float *means = malloc((size_t)(top + 1) * (size_t)r->d * sizeof *means);
    if (!cell || !means) {
        free(cell), free(means);
        return NMP_ERR_NOMEM;
    }
    for (int64_t p = 0; p < r->m; p++) cell[p] = top; /* the rest: a scratch cell */
    for (int32_t c = 0; c < top; c++)
        for (int64_t i = 0; i < b[c].size; i++) cell[sorted[b[c].first + i].pos] = c;
    nmp_status s = part_cell_means(r->h, r->x, r->d, cell, r->rows, r->m, top + 1, means, NULL);
    if (s == NMP_OK) memcpy(r->centroids, means, (size_t)top * (size_t)r->d * sizeof *means);
    free(cell), free(means);
    return s;
}

static nmp_status seed_lsh(km_run *r)
{
    int H = r->st->hyperplanes;
    float *planes = malloc((size_t)H * (size_t)r->d * sizeof *planes + 1);
    double *offset = malloc((size_t)H * sizeof *offset);
    coded *codes = malloc((size_t)r->m * sizeof *codes + 1);
    bucket *b = malloc((size_t)r->m * sizeof *b + 1);
    nmp_status s = (planes && offset && codes && b) ? NMP_OK : NMP_ERR_NOMEM;
    if (s == NMP_OK) s = lsh_planes(r, planes, offset);
    if (s == NMP_OK) s = lsh_codes(r, planes, offset, codes);
    if (s == NMP_OK) {
        qsort(codes, (size_t)r->m, sizeof *codes, coded_cmp);
        int64_t nb = 0;
        for (int64_t p = 0; p < r->m; p++) {
            if (p == 0 || codes[p].code != codes[p - 1].code) b[nb++] = (bucket){0, p, codes[p].code};
            b[nb - 1].size++;
        }
        qsort(b, (size_t)nb, sizeof *b, bucket_cmp);
        int32_t top = nb < r->k ? (int32_t)nb : r->k;
        r->h->log(r->h, NMP_LOG_DEBUG, "kmeans: %lld LSH buckets for %d cells", (long long)nb, r->k);
        s = lsh_bucket_means(r, codes, b, top);
        if (s == NMP_OK) s = seed_random_points(r, top, KM_RNG_FILL);
    }
    free(planes), free(offset), free(codes), free(b);
    return s;
}

/* ------------------------------------------------------------------ k-means++ */

typedef struct {
    const km_run *r;
    const float *centre;
    double *mind;           /* m: squared distance to the nearest chosen centre */
    double *part;           /* threads: sum of mind over the worker's range */
    int64_t *begin, *end;   /* threads: the worker's range */
} pp_ctx;

static void pp_update(void *vctx, int64_t b, int64_t e, int worker)
{
    pp_ctx *c = vctx;
    const km_run *r = c->r;
    double sum = 0.0;
    for (int64_t p = b; p < e; p++) {
        const float *row = r->x + (int64_t)r->rows[p] * r->d;
        double dd = 0.0;
        for (int64_t j = 0; j < r->d; j++) {
            double t = (double)row[j] - (double)c->centre[j];
            dd += t * t;
        }
        if (dd < c->mind[p]) c->mind[p] = dd;
        sum += c->mind[p];
    }
    c->part[worker] = sum, c->begin[worker] = b, c->end[worker] = e;
}

/* The sample position at which the running sum of mind first exceeds target. */
static int64_t pp_pick(const pp_ctx *c, int threads, double target)
{
    for (int w = 0; w < threads; w++) {
        if (c->end[w] <= c->begin[w]) continue;
        if (target >= c->part[w]) {
            target -= c->part[w];
            continue;
        }
        for (int64_t p = c->begin[w]; p < c->end[w]; p++) {
            if (target < c->mind[p]) return p;
            target -= c->mind[p];
        }
    }
    return -1; /* rounding ran past the end */
}

static nmp_status seed_plusplus(km_run *r)
{
    int t = r->h->threads;
    pp_ctx c = {r, NULL, malloc((size_t)r->m * sizeof(double) + 1), calloc((size_t)t, sizeof(double)),
                calloc((size_t)t, sizeof(int64_t)), calloc((size_t)t, sizeof(int64_t))};
    if (!c.mind || !c.part || !c.begin || !c.end) {
        free(c.mind), free(c.part), free(c.begin), free(c.end);
        return NMP_ERR_NOMEM;
    }
    for (int64_t p = 0; p < r->m; p++) c.mind[p] = INFINITY;
    int32_t pos = (int32_t)nmp_rng_below(r->h->seed, NMP_STREAM_PARTITION, nmp_rng_counter2(KM_RNG_PLUSPLUS, 0),
                                         (uint64_t)r->m);
    copy_rows(r, &pos, 1, 0);
    for (int32_t k = 1; k < r->k; k++) {
        c.centre = r->centroids + (int64_t)(k - 1) * r->d;
        for (int w = 0; w < t; w++) c.part[w] = 0.0, c.begin[w] = c.end[w] = 0;
        r->h->parallel_for(r->h, r->m, pp_update, &c);
        double total = 0.0;
        for (int w = 0; w < t; w++) total += c.part[w];
        uint64_t ctr = nmp_rng_counter2(KM_RNG_PLUSPLUS, (uint64_t)k);
        int64_t p = total > 0.0 ? pp_pick(&c, t, nmp_rng_uniform(r->h->seed, NMP_STREAM_PARTITION, ctr) * total) : -1;
        if (p < 0) /* every point sits on a centre already: any point will do */
            p = (int64_t)nmp_rng_below(r->h->seed, NMP_STREAM_PARTITION, ctr ^ 1, (uint64_t)r->m);
        pos = (int32_t)p;
        copy_rows(r, &pos, 1, k);
    }
    free(c.mind), free(c.part), free(c.begin), free(c.end);
    return NMP_OK;
}

nmp_status km_seed(km_run *r)
{
    nmp_status s;
    switch (r->st->seeding) {
    case KM_SEED_LSH: s = seed_lsh(r); break;
    case KM_SEED_PLUSPLUS: s = seed_plusplus(r); break;
    default: s = seed_random_points(r, 0, KM_RNG_RANDOM); break;
    }
    if (s == NMP_ERR_NOMEM) r->h->set_error(r->h, "kmeans: out of memory seeding %d cells", r->k);
    return s;
}
