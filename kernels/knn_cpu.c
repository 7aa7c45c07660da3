/* Exact kNN on the CPU: query x base distance tiles (BLAS GEMM, or a direct loop for tiny d),
 * each query's k best kept in a buffer that is cut back to the k best whenever it fills. */
#include "knn_cpu.h"

#include <cblas.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "knn_u8.h"

/* Base rows per tile: with <= 1024 query rows the tile stays at <= 8 MiB per thread. */
#define KNN_BASE_BLOCK 2048
#define KNN_QUERY_BLOCK_MAX 1024
#define KNN_QUERY_BLOCK_MIN 128 /* 64 repacked the base every 64 queries: recall's 250, 0.21 -> 0.17 s */
#define KNN_QUERY_BLOCKS 32
/* Up to this width distances are computed directly: a GEMM gains nothing there, and the
 * difference form avoids the cancellation of |q|^2 + |b|^2 - 2 q.b (2-D layouts). */
#define KNN_DIRECT_MAX_D 8

/* A candidate as one 64-bit key: the distance's bits mapped to an unsigned integer of the
 * same order, above the id. Comparing keys is the total order used everywhere (distance,
 * then smaller id), in one integer compare instead of two branchy float and id tests. */
typedef uint64_t knn_cand;

/* A float as an unsigned integer of the same order (-0 as +0, which equals it as a float). */
static inline uint32_t float_key(float v)
{
    uint32_t u;
    v += 0.0f;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float key_float(uint32_t u)
{
    u = (u & 0x80000000u) ? (u ^ 0x80000000u) : ~u;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline knn_cand cand_make(float dist, int32_t id)
{
    return ((uint64_t)float_key(dist) << 32) | (uint32_t)id;
}

static inline float cand_dist(knn_cand c)
{
    return key_float((uint32_t)(c >> 32));
}

static inline int32_t cand_id(knn_cand c) { return (int32_t)(uint32_t)c; }


/* Everything a worker needs; norms are per-row squared norms (L2), inverse norms (cosine)
 * or NULL (inner product). */
typedef struct {
    const float *query, *base;
    int64_t nq, nb, d;
    int32_t k;
    nmp_metric metric;
    const int32_t *query_id, *base_id;
    const float *qnorm, *bnorm;
    int32_t *out_idx;
    float *out_dist;
    const int32_t *probe; /* nq x m, or NULL */
    int32_t m;
    int64_t *out_rank;
    const knn_u8_rows *q8, *b8; /* both sides as bytes (knn_u8.h), or NULL: the float GEMM */
} knn_job;

/* Each query's candidates go to a buffer of KNN_BUF_FACTOR x k slots; when it fills, a
 * selection keeps the k best and their worst becomes the bar a new row must reach. An offer
 * costs one store, where a heap's sift-down cost log k branchy compares: at k = 180 (t-SNE's
 * 3 x perplexity) the heap took more time than the GEMM. */
#define KNN_BUF_FACTOR 2

static inline void cand_swap(knn_cand *a, knn_cand *b)
{
    knn_cand t = *a;
    *a = *b;
    *b = t;
}

/* Reorders c[0..n) so that its k smallest keys come first, c[k - 1] the k-th. Quickselect
 * with a median-of-three pivot and a partition without branches on the keys (each key goes
 * left or stays by a conditional move): a buffer's keys arrive in no order, and a branchy
 * partition mispredicted about every other compare. Keys are distinct (ids differ), so the
 * set kept, and hence the result, does not depend on how it is found. */
static void cand_select(knn_cand *c, int32_t n, int32_t k)
{
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (c[mid] < c[lo]) cand_swap(&c[lo], &c[mid]);
        if (c[hi] < c[mid]) cand_swap(&c[mid], &c[hi]);
        if (c[mid] < c[lo]) cand_swap(&c[lo], &c[mid]);
        cand_swap(&c[mid], &c[hi]); /* the pivot waits at hi */
        const knn_cand p = c[hi];
        int32_t s = lo;
        for (int32_t i = lo; i < hi; i++) {
            const knn_cand v = c[i], w = c[s], less = -(knn_cand)(v < p); /* all ones or zero */
            c[i] = (w & less) | (v & ~less); /* masks, not ?: which GCC compiles to a branch */
            c[s] = (v & less) | (w & ~less);
            s += (int32_t)(less & 1);
        }
        cand_swap(&c[s], &c[hi]); /* c[lo..s) < p = c[s] < c(s..hi] */
        if (s == k - 1) break;
        if (k - 1 < s)
            hi = s - 1;
        else
            lo = s + 1;
    }
}

/* Keeps the k best of a full buffer; returns the distance of the worst one kept. */
static float cand_compact(knn_cand *c, int32_t *count, int32_t k)
{
    cand_select(c, *count, k);
    *count = k;
    return cand_dist(c[k - 1]);
}

/* Sorts c[0..n) by key, using tmp (n). LSD radix on the distance half, a byte a pass (a
 * pass whose byte is the same everywhere is skipped), then insertion on the whole key, which
 * only moves equal distances into id order. Several times faster than qsort for the few
 * hundred candidates of a row. */
static void cand_sort(knn_cand *c, int32_t n, knn_cand *tmp)
{
    knn_cand *src = c, *dst = tmp;
    for (int shift = 32; n > 32 && shift < 64; shift += 8) {
        int32_t count[256] = {0};
        for (int32_t i = 0; i < n; i++) count[(src[i] >> shift) & 0xff]++;
        if (count[(src[0] >> shift) & 0xff] == n) continue;
        for (int32_t b = 0, at = 0; b < 256; b++) {
            int32_t m = count[b];
            count[b] = at;
            at += m;
        }
        for (int32_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 0xff]++] = src[i];
        knn_cand *t = src;
        src = dst;
        dst = t;
    }
    if (src != c) memcpy(c, src, (size_t)n * sizeof *c);
    for (int32_t i = 1; i < n; i++) {
        knn_cand v = c[i];
        int32_t j = i;
        for (; j > 0 && c[j - 1] > v; j--) c[j] = c[j - 1];
        c[j] = v;
    }
}

/* Per-row norms the metric needs (see knn_job). */
static void row_norms(const float *x, int64_t n, int64_t d, nmp_metric metric, float *out)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        double s = 0.0;
        for (int64_t t = 0; t < d; t++)
            s += (double)r[t] * r[t];
        /* A zero row has no direction: its cosine distance to everything is taken as 1. */
        out[i] = metric == NMP_METRIC_L2 ? (float)s : (s > 0.0 ? (float)(1.0 / sqrt(s)) : 0.0f);
    }
}

/* row (bn dot products of query q with base rows b0..) -> distances, in place. One loop
 * per metric, so each vectorises. */
static void dots_to_dists(const knn_job *j, int64_t q, int64_t b0, int64_t bn, float *row)
{
    if (j->metric == NMP_METRIC_L2) {
        const float qq = j->qnorm[q], *bb = j->bnorm + b0;
        for (int64_t c = 0; c < bn; c++) {
            float v = qq + bb[c] - 2.0f * row[c];
            row[c] = v > 0.0f ? v : 0.0f; /* rounding can make a tiny negative */
        }
    } else if (j->metric == NMP_METRIC_COSINE) {
        const float qi = j->qnorm[q], *bi = j->bnorm + b0;
        for (int64_t c = 0; c < bn; c++) {
            float v = 1.0f - row[c] * qi * bi[c];
            row[c] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (int64_t c = 0; c < bn; c++)
            row[c] = -row[c];
    }
}

/* src (rows x cols) into dst (cols x rows), in 16 x 16 squares that stay in L1. (An 8 x 8
 * transpose in AVX registers was no faster: the time is the tiles' memory traffic.) */
static void transpose_tile(const float *src, int64_t rows, int64_t cols, float *dst)
{
    for (int64_t i0 = 0; i0 < rows; i0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            const int64_t i1 = i0 + 16 < rows ? i0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t i = i0; i < i1; i++)
                    dst[c * rows + i] = src[i * cols + c];
        }
}

/* Small d: the base block is transposed into `columns` (d x bn) once, so that the loop over
 * base rows in direct_row is contiguous and vectorises. */
static void transpose_block(const knn_job *j, int64_t b0, int64_t bn, float *columns)
{
    transpose_tile(j->base + b0 * j->d, bn, j->d, columns);
}

/* out (bn) = distances of query row q to the transposed base block. Row by row, so that the
 * selection reads it from L1 right after. */
static void direct_row(const knn_job *j, int64_t q, int64_t b0, int64_t bn, const float *columns, float *out)
{
    const int l2 = j->metric == NMP_METRIC_L2;
    const float *x = j->query + q * j->d;
    for (int64_t t = 0; t < j->d; t++) {
        const float qt = x[t], *col = columns + t * bn;
        if (t == 0) /* the first column starts the sums: no separate clearing pass */
            for (int64_t c = 0; c < bn; c++)
                out[c] = l2 ? (qt - col[c]) * (qt - col[c]) : qt * col[c];
        else if (l2)
            for (int64_t c = 0; c < bn; c++)
                out[c] += (qt - col[c]) * (qt - col[c]);
        else
            for (int64_t c = 0; c < bn; c++)
                out[c] += qt * col[c];
    }
    if (!l2)
        dots_to_dists(j, q, b0, bn, out);
}

/* tile (qn x bn) = distances of query rows q0.. to base rows b0.., by one GEMM (or, on bytes,
 * the integer kernel: q0 and b0 are multiples of 16 on every path below). */
static void gemm_tile(const knn_job *j, int64_t q0, int64_t qn, int64_t b0, int64_t bn, float *tile)
{
    if (j->b8) {
        knn_u8_tile(j->q8, q0, qn, j->b8, b0, bn, j->metric == NMP_METRIC_L2, tile);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qn, (int)bn, (int)j->d, 1.0f, j->query + q0 * j->d,
                (int)j->d, j->base + b0 * j->d, (int)j->d, 0.0f, tile, (int)bn);
    for (int64_t i = 0; i < qn; i++)
        dots_to_dists(j, q0 + i, b0, bn, tile + i * bn);
}

/* A probe of one query: its exact distance, and `fdist`, the smallest float >= dist, so
 * that for any float v: v < dist <=> v < fdist; v == dist only if `exact`. */
typedef struct {
    double dist;
    float fdist;
    int32_t exact;
    int32_t id, row, slot;
    int32_t is_self; /* the query itself: ranked, but never counted before another probe */
} knn_probe;

/* The probes of one query, sorted by (dist, id), and how many rows precede each. */
typedef struct {
    knn_probe *p;
    int64_t *before; /* m */
    int32_t n;
} knn_probe_set;

static int probe_compare(const void *a, const void *b)
{
    const knn_probe *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

double knn_distance_cpu(const float *a, const float *b, int64_t d, nmp_metric metric)
{
    double dot = 0.0, aa = 0.0, bb = 0.0, l2 = 0.0;
    for (int64_t t = 0; t < d; t++) {
        const double u = a[t], v = b[t];
        dot += u * v;
        aa += u * u;
        bb += v * v;
        l2 += (u - v) * (u - v);
    }
    if (metric == NMP_METRIC_L2)
        return l2;
    if (metric == NMP_METRIC_IP)
        return -dot;
    return (aa > 0.0 && bb > 0.0) ? 1.0 - dot / sqrt(aa * bb) : 1.0;
}

static void probe_prepare(const knn_job *j, int64_t q, knn_probe_set *ps)
{
    ps->n = 0;
    for (int32_t t = 0; t < j->m; t++) {
        int32_t row = j->probe[q * j->m + t];
        if (row < 0)
            continue;
        double dist = knn_distance_cpu(j->query + q * j->d, j->base + (int64_t)row * j->d, j->d, j->metric);
        float f = (float)dist;
        if ((double)f < dist)
            f = nextafterf(f, INFINITY);
        int32_t id = j->base_id ? j->base_id[row] : row;
        int32_t is_self = j->query_id && j->query_id[q] == id;
        ps->p[ps->n++] = (knn_probe){dist, f, (double)f == dist, id, row, t, is_self};
    }
    qsort(ps->p, (size_t)ps->n, sizeof *ps->p, probe_compare);
    memset(ps->before, 0, (size_t)j->m * sizeof *ps->before);
}

/* Does a row at (v, id) come before probe p? The order of the top-k: distance, then id. */
static inline int precedes(const knn_probe *p, float v, int32_t id)
{
    return v < p->fdist || (p->exact && v == p->fdist && id < p->id);
}

/* The base row of query q's own id inside block [b0, b0 + bn), or -1. */
static int64_t self_row(const knn_job *j, int64_t q, int64_t b0, int64_t bn)
{
    if (!j->query_id)
        return -1;
    const int32_t self = j->query_id[q];
    if (!j->base_id)
        return self >= b0 && self < b0 + bn ? self : -1;
    for (int64_t c = 0; c < bn; c++)
        if (j->base_id[b0 + c] == self)
            return b0 + c;
    return -1;
}

/* Takes back what a counted row (the query itself, or a probe: probes are ordered exactly
 * in probe_emit) added to every probe's count. */
static void probe_uncount(knn_probe_set *ps, float v, int32_t id)
{
    for (int32_t t = 0; t < ps->n; t++)
        ps->before[t] -= precedes(&ps->p[t], v, id);
}

/* Counts, for every probe, the rows of one tile row that precede it: a branch-free loop
 * the compiler vectorises (the rank of a far probe means counting most of the row), then
 * exact ties by id, then the corrections for the query's own row and the probe rows. */
static void probe_count_row(const knn_job *j, int64_t q, const float *row, int64_t b0, int64_t bn,
                            knn_probe_set *ps)
{
    for (int32_t t0 = 0; t0 < ps->n; t0 += 4) {
        /* Four probes per pass, so that each load serves four pairs of compares; a missing
         * fourth repeats the last probe and is dropped. Ties (v == f) are counted alongside,
         * since integer-valued data (uint8 pixels) has real ones. */
        const int32_t tn = ps->n - t0 < 4 ? ps->n - t0 : 4;
        float f[4];
        for (int32_t u = 0; u < 4; u++)
            f[u] = ps->p[t0 + (u < tn ? u : tn - 1)].fdist;
        int32_t lt0 = 0, lt1 = 0, lt2 = 0, lt3 = 0, le0 = 0, le1 = 0, le2 = 0, le3 = 0;
        for (int64_t c = 0; c < bn; c++) {
            const float v = row[c];
            lt0 += v < f[0];
            lt1 += v < f[1];
            lt2 += v < f[2];
            lt3 += v < f[3];
            le0 += v <= f[0];
            le1 += v <= f[1];
            le2 += v <= f[2];
            le3 += v <= f[3];
        }
        const int32_t lt[4] = {lt0, lt1, lt2, lt3}, le[4] = {le0, le1, le2, le3};
        for (int32_t u = 0; u < tn; u++) {
            const knn_probe *p = &ps->p[t0 + u];
            int32_t below = lt[u];
            /* Equal distances count only for an exact probe, and only below its id. The
             * probe's own row ties with it wherever the tile's distances are exact (bytes) and
             * never counts: the scan runs only for other ties. */
            const int own = p->row >= b0 && p->row < b0 + bn && row[p->row - b0] == p->fdist;
            for (int64_t c = 0; p->exact && le[u] - lt[u] > own && c < bn; c++)
                below += row[c] == p->fdist && (j->base_id ? j->base_id[b0 + c] : (int32_t)(b0 + c)) < p->id;
            ps->before[t0 + u] += below;
        }
    }
    int64_t self = self_row(j, q, b0, bn);
    if (self >= 0)
        probe_uncount(ps, row[self - b0], j->query_id[q]);
    for (int32_t t = 0; t < ps->n; t++)
        if (!ps->p[t].is_self && ps->p[t].row >= b0 && ps->p[t].row < b0 + bn)
            probe_uncount(ps, row[ps->p[t].row - b0], ps->p[t].id);
}

/* Writes 1-based ranks: rows counted before probe t, plus the probes before it, plus one. */
static void probe_emit(const knn_job *j, int64_t q, const knn_probe_set *ps)
{
    int64_t *rank = j->out_rank + q * j->m, probes_before = 0;
    for (int32_t t = 0; t < j->m; t++)
        rank[t] = 0;
    for (int32_t t = 0; t < ps->n; t++) {
        rank[ps->p[t].slot] = ps->before[t] + probes_before + 1;
        probes_before += !ps->p[t].is_self;
    }
}

/* Columns the selection tests at once: one vector compare rejects a whole chunk. */
#define KNN_SELECT_CHUNK 16

/* Bit c set where r[c] <= bar, c < KNN_SELECT_CHUNK; NaNs never pass. One compare into a mask
 * register where the CPU has one: the portable loop compiles to a select and a reduction of
 * the bits, several times the instructions (the selection was a quarter of a 64-d search). */
static inline uint32_t chunk_at_most(const float *r, float bar)
{
#if defined(__AVX512F__)
    return _mm512_cmp_ps_mask(_mm512_loadu_ps(r), _mm512_set1_ps(bar), _CMP_LE_OQ);
#elif defined(__AVX__)
    const __m256 b = _mm256_set1_ps(bar);
    return (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(r), b, _CMP_LE_OQ)) |
           (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(r + 8), b, _CMP_LE_OQ)) << 8;
#else
    uint32_t pass = 0;
    for (int c = 0; c < KNN_SELECT_CHUNK; c++) pass |= (uint32_t)(r[c] <= bar) << c;
    return pass;
#endif
}

/* Rows a first bar is guessed from: a few hundred is enough to place the k-th of thousands. */
#define KNN_BAR_SAMPLE 256

/* The j-th smallest of n keys (1 <= j <= n): the least K with j keys at or below it, by
 * bisection over the keys' range, each step one vector count (a quickselect's branches and
 * swaps cost several times more on a few hundred keys). */
static uint32_t kth_key(const uint32_t *key, int32_t n, int32_t j)
{
    uint32_t lo = 0, hi = UINT32_MAX;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        int32_t at_most = 0;
#pragma omp simd reduction(+ : at_most)
        for (int32_t t = 0; t < n; t++) at_most += key[t] <= mid;
        if (at_most >= j)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* A bar for an empty buffer, so that the first tile row does not pass whole into it: a
 * distance with at least k + 1 of the row at or below it (k once the query itself is
 * skipped), guessed from a sample and checked by counting. INFINITY when none is found
 * cheaply. Any bar that k rows reach is safe: it only ever drops rows outside the top k. */
static float first_bar(const float *row, int64_t bn, int32_t k)
{
    if (bn < 4 * (int64_t)k + 4 * KNN_SELECT_CHUNK)
        return INFINITY;
    uint32_t sample[KNN_BAR_SAMPLE];
    const int32_t ns = bn < KNN_BAR_SAMPLE ? (int32_t)bn : KNN_BAR_SAMPLE;
    for (int32_t t = 0; t < ns; t++) { /* value t * bn / ns: a shift, ns being the power of two */
        const float x = row[ns == bn ? t : (int64_t)t * bn / KNN_BAR_SAMPLE];
        sample[t] = float_key(x == x ? x : INFINITY);
    }
    /* aim 25% above the expected rank, so that the check rarely fails */
    int32_t j = (int32_t)((double)(k + 1) * ns / (double)bn * 1.25) + 1;
    while (j <= ns) {
        const float bar = key_float(kth_key(sample, ns, j));
        int64_t below = 0;
#pragma omp simd reduction(+ : below)
        for (int64_t c = 0; c < bn; c++)
            below += row[c] <= bar;
        if (below > k && bar < INFINITY)
            return bar;
        if (j == ns)
            break;
        j = 2 * j < ns ? 2 * j : ns;
    }
    return INFINITY;
}

/* Offers one tile row to query q's buffer, skipping its own id and NaNs. A row must reach
 * `worst`, the k-th best distance at the last compaction; a chunk with no such row (nearly
 * all of them once the buffer has been compacted) costs one vector compare, and NaNs never
 * pass. */
static void tile_select(const knn_job *j, int64_t q, const float *row, int64_t b0, int64_t bn, knn_cand *buf,
                        int32_t *count, float *worst_io)
{
    const int32_t self = j->query_id ? j->query_id[q] : -1;
    const int check_self = j->query_id != NULL;
    const int32_t cap = KNN_BUF_FACTOR * j->k;
    float worst = *count == 0 ? first_bar(row, bn, j->k) : *worst_io;
    for (int64_t c0 = 0; c0 < bn; c0 += KNN_SELECT_CHUNK) {
        const int64_t cn = bn - c0 < KNN_SELECT_CHUNK ? bn - c0 : KNN_SELECT_CHUNK;
        /* which of the chunk's columns pass the bar, as bits: only those are visited (most
         * chunks have none or one once the bar has tightened) */
        uint32_t pass = cn == KNN_SELECT_CHUNK ? chunk_at_most(row + c0, worst) : (1u << cn) - 1;
        for (; pass; pass &= pass - 1) {
            const int64_t c = c0 + __builtin_ctz(pass);
            const float dist = row[c];
            if (!(dist <= worst)) /* the bar may have tightened since */
                continue;
            int32_t id = j->base_id ? j->base_id[b0 + c] : (int32_t)(b0 + c);
            if (check_self && id == self)
                continue;
            buf[(*count)++] = cand_make(dist, id);
            if (*count == cap)
                worst = cand_compact(buf, count, j->k);
        }
    }
    *worst_io = worst;
}

/* Sorts a query's k best into the output row and pads it. */
static void cands_emit(const knn_job *j, int64_t q, knn_cand *buf, int32_t count)
{
    if (count > j->k) {
        cand_select(buf, count, j->k);
        count = j->k;
    }
    cand_sort(buf, count, buf + j->k); /* the buffer's second half is free now */
    int32_t *idx = j->out_idx + q * j->k;
    float *dist = j->out_dist + q * j->k;
    for (int32_t t = 0; t < j->k; t++) {
        idx[t] = t < count ? cand_id(buf[t]) : -1;
        dist[t] = t < count ? cand_dist(buf[t]) : INFINITY;
    }
}

/* A worker's own buffers, sized for one query block of qb rows. */
typedef struct {
    float *tile;
    float *columns;        /* KNN_DIRECT_MAX_D x bb: a transposed base block (small d) */
    knn_cand *cands;       /* qb x KNN_BUF_FACTOR k */
    int32_t *counts;       /* qb */
    float *worst;          /* qb */
    knn_probe *probes;     /* qb x m */
    int64_t *before;       /* qb x m */
    knn_probe_set *sets;   /* qb, or NULL without probes */
} knn_work;

static int work_alloc(const knn_job *j, int64_t qb, int64_t bb, knn_work *w)
{
    size_t q = (size_t)qb, m = (size_t)j->m;
    *w = (knn_work){malloc(q * (size_t)bb * sizeof(float)), malloc(KNN_DIRECT_MAX_D * (size_t)bb * sizeof(float)),
                    malloc((q * KNN_BUF_FACTOR * (size_t)j->k + 1) * sizeof(knn_cand)),
                    malloc(q * sizeof(int32_t)), malloc(q * sizeof(float)), NULL, NULL, NULL};
    if (j->probe) {
        w->probes = malloc((q * m + 1) * sizeof(knn_probe));
        w->before = malloc((q * m + 1) * sizeof(int64_t));
        w->sets = malloc(q * sizeof(knn_probe_set));
    }
    if (!w->tile || !w->columns || !w->cands || !w->counts || !w->worst ||
        (j->probe && (!w->probes || !w->before || !w->sets)))
        return 0;
    for (size_t i = 0; j->probe && i < q; i++)
        w->sets[i] = (knn_probe_set){w->probes + i * m, w->before + i * m, 0};
    return 1;
}

static void work_free(knn_work *w)
{
    free(w->tile);
    free(w->columns);
    free(w->cands);
    free(w->counts);
    free(w->worst);
    free(w->probes);
    free(w->before);
    free(w->sets);
}

/* One query block against every base block. */
static void query_block(const knn_job *j, int64_t q0, int64_t qn, knn_work *w)
{
    const int direct = j->d <= KNN_DIRECT_MAX_D;
    memset(w->counts, 0, (size_t)qn * sizeof *w->counts);
    for (int64_t i = 0; i < qn; i++)
        w->worst[i] = INFINITY;
    for (int64_t i = 0; w->sets && i < qn; i++)
        probe_prepare(j, q0 + i, &w->sets[i]);
    for (int64_t b0 = 0; b0 < j->nb; b0 += KNN_BASE_BLOCK) {
        int64_t bn = j->nb - b0 < KNN_BASE_BLOCK ? j->nb - b0 : KNN_BASE_BLOCK;
        if (direct)
            transpose_block(j, b0, bn, w->columns);
        else
            gemm_tile(j, q0, qn, b0, bn, w->tile);
        for (int64_t i = 0; i < qn; i++) {
            float *row = direct ? w->tile : w->tile + i * bn;
            if (direct)
                direct_row(j, q0 + i, b0, bn, w->columns, row);
            if (j->k > 0)
                tile_select(j, q0 + i, row, b0, bn, w->cands + i * KNN_BUF_FACTOR * j->k, &w->counts[i],
                            &w->worst[i]);
            if (w->sets)
                probe_count_row(j, q0 + i, row, b0, bn, &w->sets[i]);
        }
    }
    for (int64_t i = 0; i < qn; i++) {
        if (j->k > 0)
            cands_emit(j, q0 + i, w->cands + i * KNN_BUF_FACTOR * j->k, w->counts[i]);
        if (w->sets)
            probe_emit(j, q0 + i, &w->sets[i]);
    }
}

/* Query rows per block: at most KNN_QUERY_BLOCK_MAX, but about KNN_QUERY_BLOCKS blocks so
 * that threads can balance them. Not a function of the thread count, so that the tiles (and
 * the GEMM's rounding) and hence the result are the same with any number of threads. */
static int64_t query_block_rows(int64_t nq)
{
    int64_t rows = (nq + KNN_QUERY_BLOCKS - 1) / KNN_QUERY_BLOCKS;
    rows = (rows + 15) / 16 * 16;
    if (rows > KNN_QUERY_BLOCK_MAX)
        rows = KNN_QUERY_BLOCK_MAX;
    return rows < KNN_QUERY_BLOCK_MIN ? KNN_QUERY_BLOCK_MIN : rows;
}

/* Runs the query blocks in parallel, one single-threaded GEMM per worker at a time. */
static nmp_status run_blocks(const knn_job *j)
{
    /* Exact integer tiles (bytes) give the same distances in any blocking: their blocks are
     * the largest that still give every thread four, so each base panel serves more queries
     * while it is in L1. */
    int64_t qb = query_block_rows(j->nq);
    if (j->b8) {
        const int64_t per = (j->nq + 4 * omp_get_max_threads() - 1) / (4 * omp_get_max_threads());
        const int64_t big = (per + 15) / 16 * 16;
        qb = big > KNN_QUERY_BLOCK_MAX ? KNN_QUERY_BLOCK_MAX : big > qb ? big : qb;
    }
    const int64_t nblocks = (j->nq + qb - 1) / qb;
    const int64_t bb = j->nb < KNN_BASE_BLOCK ? j->nb : KNN_BASE_BLOCK;
    int failed = 0;
    /* OpenBLAS's own threads would fight the OpenMP workers for the cores. */
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel
    {
        knn_work w;
        if (!work_alloc(j, qb, bb, &w)) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop)
                continue;
            int64_t q0 = blk * qb;
            query_block(j, q0, j->nq - q0 < qb ? j->nq - q0 : qb, &w);
        }
        work_free(&w);
    }
    openblas_set_num_threads(blas_threads);
    return failed ? NMP_ERR_NOMEM : NMP_OK;
}

/* ------------------------------------------------------------------ self search */
/* When the queries are the base rows themselves (a cell's or a whole set's own kNN), the
 * distance of a pair is the same both ways, so each pair is computed once: tile (I, J) of
 * blocks I < J offers its rows to I's queries and its columns to J's, and half the tiles (and
 * of the GEMM) are skipped. Tiles run in rounds in which no two share a block (a round-robin
 * tournament), so that the queries' buffers need no locks, and the blocks depend only on n,
 * so the result does not depend on the thread count. */

/* Rows per block of a self search: about 16 blocks (so that each round has tiles for every
 * thread of a small machine), a tile of at most 1 MiB. */
#define KNN_SELF_BLOCKS 16
#define KNN_SELF_BLOCK_MIN 128
#define KNN_SELF_BLOCK_MAX 512
/* A self search keeps every query's buffer at once (n x KNN_BUF_FACTOR k keys); above this
 * it searches query block by query block as any other. */
#define KNN_SELF_MAX_BYTES ((size_t)256 << 20)

static int64_t self_block_rows(int64_t n)
{
    int64_t rows = (n + KNN_SELF_BLOCKS - 1) / KNN_SELF_BLOCKS;
    rows = (rows + 15) / 16 * 16;
    return rows < KNN_SELF_BLOCK_MIN ? KNN_SELF_BLOCK_MIN : rows > KNN_SELF_BLOCK_MAX ? KNN_SELF_BLOCK_MAX : rows;
}

/* Whether the search can go the self way: the same rows on both sides, neighbours only (no
 * probes), the GEMM path, and every buffer within KNN_SELF_MAX_BYTES. The ids need no
 * relation: each offer names its candidate by base_id and skips by query_id, as before. */
static int self_search(const knn_job *j)
{
    return j->query == j->base && j->nq == j->nb && !j->probe && j->k > 0 && j->d > KNN_DIRECT_MAX_D &&
           (size_t)j->nq * KNN_BUF_FACTOR * (size_t)j->k * sizeof(knn_cand) <= KNN_SELF_MAX_BYTES;
}

/* Round r of the tournament among p blocks (p' = p rounded up to even; block p' - 1 sits
 * still, the others turn): its tiles (a <= b) into t, their count returned. Rounds 0 .. p' - 2
 * pair every two blocks once; a block paired with the missing p-th (p odd) gets its own
 * diagonal tile that round, and with p even the diagonals take a last round, p' - 1. */
static int64_t self_round(int64_t p, int64_t r, int64_t *t)
{
    const int64_t pe = p + (p & 1);
    int64_t n = 0;
    if (r == pe - 1) {
        for (int64_t a = 0; a < p; a++) t[2 * n] = a, t[2 * n + 1] = a, n++;
        return n;
    }
    for (int64_t i = 0; i < pe / 2; i++) {
        int64_t a = i == 0 ? r : (r + i) % (pe - 1), b = i == 0 ? pe - 1 : (r + pe - 1 - i) % (pe - 1);
        if (a > b) {
            const int64_t c = a;
            a = b, b = c;
        }
        if (b == p) b = a; /* the missing block: a's diagonal */
        t[2 * n] = a, t[2 * n + 1] = b, n++;
    }
    return n;
}

/* Tile (a, b) of blocks of S rows: its distances offered to a's queries by rows and, off the
 * diagonal, to b's by columns. */
static void self_tile(const knn_job *j, int64_t S, int64_t a, int64_t b, float *tile, float *flip, knn_cand *cands,
                      int32_t *counts, float *worst)
{
    const int64_t q0 = a * S, qn = j->nq - q0 < S ? j->nq - q0 : S;
    const int64_t b0 = b * S, bn = j->nq - b0 < S ? j->nq - b0 : S, cap = KNN_BUF_FACTOR * (int64_t)j->k;
    gemm_tile(j, q0, qn, b0, bn, tile);
    for (int64_t i = 0; i < qn; i++)
        tile_select(j, q0 + i, tile + i * bn, b0, bn, cands + (q0 + i) * cap, &counts[q0 + i], &worst[q0 + i]);
    if (a == b)
        return;
    transpose_tile(tile, qn, bn, flip);
    for (int64_t c = 0; c < bn; c++)
        tile_select(j, b0 + c, flip + c * qn, q0, qn, cands + (b0 + c) * cap, &counts[b0 + c], &worst[b0 + c]);
}

static nmp_status run_self(const knn_job *j)
{
    const int64_t n = j->nq, S = self_block_rows(n), p = (n + S - 1) / S, pe = p + (p & 1);
    const int64_t cap = KNN_BUF_FACTOR * (int64_t)j->k, rounds = pe - 1 + !(p & 1);
    knn_cand *cands = malloc(((size_t)n * (size_t)cap + 1) * sizeof *cands);
    int32_t *counts = calloc((size_t)n, sizeof *counts);
    float *worst = malloc((size_t)n * sizeof *worst);
    int64_t *tiles = malloc((size_t)(2 * (p + 1)) * sizeof *tiles);
    int failed = !cands || !counts || !worst || !tiles;
    for (int64_t i = 0; !failed && i < n; i++)
        worst[i] = INFINITY;
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel if (!failed)
    {
        float *tile = malloc((size_t)(S * S) * sizeof *tile), *flip = malloc((size_t)(S * S) * sizeof *flip);
        if (!tile || !flip) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp barrier
        for (int64_t r = 0; r < rounds; r++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop) /* every thread sees the same value after the barrier that ends each round */
                break;
#pragma omp single
            tiles[2 * p + 1] = self_round(p, r, tiles);
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < tiles[2 * p + 1]; t++)
                self_tile(j, S, tiles[2 * t], tiles[2 * t + 1], tile, flip, cands, counts, worst);
        }
        free(tile);
        free(flip);
    }
    openblas_set_num_threads(blas_threads);
    if (!failed) {
#pragma omp parallel for schedule(static)
        for (int64_t q = 0; q < n; q++)
            cands_emit(j, q, cands + q * cap, counts[q]);
    }
    free(cands), free(counts), free(worst), free(tiles);
    return failed ? NMP_ERR_NOMEM : NMP_OK;
}

/* No base rows: every row padded, every rank 0. */
static void empty_result(const knn_job *j)
{
    for (int64_t t = 0; t < j->nq * j->k; t++) {
        j->out_idx[t] = -1;
        j->out_dist[t] = INFINITY;
    }
    for (int64_t t = 0; j->probe && t < j->nq * j->m; t++)
        j->out_rank[t] = 0;
}

/* Byte data (pixels; SIFT's bvecs) go through the integer kernel where the CPU has it: four
 * times float32 GEMM's products an instruction, and exact sums (Fashion-MNIST's 784 x 255^2
 * passes 2^24, where float sums round). Packs both sides; 0 (nothing packed) for float data,
 * cosine (its normalised dots are not integers), small d (the direct loop), or no memory. */
static int bytes_path(const knn_job *j, knn_u8_rows *q8, knn_u8_rows *b8)
{
    if (j->metric == NMP_METRIC_COSINE || j->d <= KNN_DIRECT_MAX_D || !knn_u8_available()) return 0;
    /* the queries first: fewer rows as a rule, and a float query (transform's new points) then
     * spares the base's whole pack */
    if (knn_u8_pack(j->query, j->nq, j->d, 1, q8) && knn_u8_pack(j->base, j->nb, j->d, 0, b8)) return 1;
    knn_u8_free(q8);
    return 0;
}

nmp_status knn_topk_rank_cpu(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                             nmp_metric metric, const int32_t *query_id, const int32_t *base_id, int32_t *out_idx,
                             float *out_dist, const int32_t *probe, int32_t m, int64_t *out_rank)
{
    if (k < 0)
        k = 0;
    if (!probe || m <= 0) {
        probe = NULL;
        m = 0;
    }
    knn_job j = {.query = query,
                 .base = base,
                 .nq = nq,
                 .nb = nb,
                 .d = d,
                 .k = k,
                 .metric = metric,
                 .query_id = query_id,
                 .base_id = base_id,
                 .out_idx = out_idx,
                 .out_dist = out_dist,
                 .probe = probe,
                 .m = m,
                 .out_rank = out_rank};
    if (nq <= 0 || (k == 0 && !probe))
        return NMP_OK;
    if (nb <= 0) {
        empty_result(&j);
        return NMP_OK;
    }
    knn_u8_rows q8 = {0}, b8 = {0};
    if (bytes_path(&j, &q8, &b8)) j.q8 = &q8, j.b8 = &b8;
    float *qnorm = NULL, *bnorm = NULL; /* what dots_to_dists needs: the float paths' */
    if (metric != NMP_METRIC_IP && !j.b8) {
        qnorm = malloc((size_t)nq * sizeof *qnorm);
        bnorm = malloc((size_t)nb * sizeof *bnorm);
        if (!qnorm || !bnorm) {
            free(qnorm);
            free(bnorm);
            return NMP_ERR_NOMEM;
        }
        row_norms(query, nq, d, metric, qnorm);
        row_norms(base, nb, d, metric, bnorm);
    }
    j.qnorm = qnorm;
    j.bnorm = bnorm;
    nmp_status st = self_search(&j) ? run_self(&j) : run_blocks(&j);
    knn_u8_free(&q8);
    knn_u8_free(&b8);
    free(qnorm);
    free(bnorm);
    return st;
}

nmp_status knn_topk_cpu(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                        nmp_metric metric, const int32_t *query_id, const int32_t *base_id, int32_t *out_idx,
                        float *out_dist)
{
    return knn_topk_rank_cpu(query, nq, base, nb, d, k, metric, query_id, base_id, out_idx, out_dist, NULL, 0,
                             NULL);
}
