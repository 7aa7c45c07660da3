/* Lloyd's iterations of the kmeans partitioner: blocked GEMM assignment, empty-cell
 * reseeding and the relative-shift stopping rule; the CPU engine. */
#include <stdlib.h>
#include <string.h>

#include "kmeans_cpu.h"
#include "gather_rows.h"
#include "kmeans_internal.h"
#include "part_common.h"

/* Floats in each block buffer when block_rows is 0 (auto): 16 MiB keeps them in cache-ish
 * sizes while the GEMM stays large enough to run at full speed. */
#define KM_AUTO_BLOCK_FLOATS (1 << 22)

int64_t km_block_rows(const km_run *r, int64_t width)
{
    int64_t b = r->st->block_rows;
    if (b <= 0) {
        int64_t w = width > r->d ? width : r->d;
        b = KM_AUTO_BLOCK_FLOATS / (w > 0 ? w : 1);
        if (b < 64) b = 64;
    }
    return b;
}


void km_gather(const km_run *r, const int32_t *rows, int64_t count, float *buf)
{
    nmp_gather_rows(r->h, r->x, r->d, rows, count, buf);
}

typedef struct {
    const float *src, *dots, *cn;
    int64_t d;
    int32_t k;
    int32_t *assign;
    float *dist2;
} argmin_ctx;

static void argmin_range(void *vctx, int64_t b, int64_t e, int worker)
{
    (void)worker;
    argmin_ctx *c = vctx;
    kmeans_argmin_cpu(c->src + b * c->d, e - b, c->d, c->dots + b * c->k, c->k, c->cn, c->assign + b, c->dist2 + b);
}

nmp_status km_assign(const km_run *r, const int32_t *rows, int64_t m, int32_t *assign, float *dist2)
{
    const nmp_host *h = r->h;
    int64_t block = km_block_rows(r, r->k);
    if (block > m) block = m;
    float *dots = malloc((size_t)(block * r->k) * sizeof *dots + 1);
    float *buf = rows ? malloc((size_t)(block * r->d) * sizeof *buf + 1) : NULL;
    float *cn = malloc((size_t)r->k * sizeof *cn);
    if (!dots || !cn || (rows && !buf)) {
        free(dots), free(buf), free(cn);
        h->set_error(h, "kmeans: out of memory for a %lld-row assignment block", (long long)block);
        return NMP_ERR_NOMEM;
    }
    kmeans_row_norms_cpu(r->centroids, r->k, r->d, cn);
    for (int64_t b0 = 0; b0 < m; b0 += block) {
        int64_t cnt = m - b0 < block ? m - b0 : block;
        const float *src = r->x + b0 * r->d;
        if (rows) {
            km_gather(r, rows + b0, cnt, buf);
            src = buf;
        }
        h->gemm_abt(h, cnt, r->k, r->d, 1.0f, src, r->d, r->centroids, r->d, 0.0f, dots, r->k);
        argmin_ctx c = {src, dots, cn, r->d, r->k, assign + b0, dist2 + b0};
        h->parallel_for(h, cnt, argmin_range, &c);
    }
    free(dots), free(buf), free(cn);
    return NMP_OK;
}

int32_t km_count(const int32_t *assign, int64_t m, int32_t k, int64_t *counts)
{
    memset(counts, 0, (size_t)k * sizeof *counts);
    for (int64_t p = 0; p < m; p++) counts[assign[p]]++;
    int32_t empty = 0;
    for (int32_t c = 0; c < k; c++) empty += counts[c] == 0;
    return empty;
}

typedef struct {
    float dist2;
    int32_t pos;
} far_point;

static int far_cmp(const void *a, const void *b)
{
    const far_point *x = a, *y = b;
    if (x->dist2 != y->dist2) return x->dist2 > y->dist2 ? -1 : 1; /* farthest first */
    return (x->pos > y->pos) - (x->pos < y->pos);
}

nmp_status km_reseed(int64_t m, int32_t k, int32_t *assign, float *dist2, int64_t *counts)
{
    far_point *order = malloc((size_t)m * sizeof *order + 1);
    if (!order) return NMP_ERR_NOMEM;
    for (int64_t p = 0; p < m; p++) order[p] = (far_point){dist2[p], (int32_t)p};
    qsort(order, (size_t)m, sizeof *order, far_cmp);
    int64_t next = 0;
    for (int32_t c = 0; c < k; c++) {
        if (counts[c] > 0) continue;
        /* a point that is alone in its cell would only move the hole elsewhere */
        while (next < m && counts[assign[order[next].pos]] < 2) next++;
        if (next == m) break;
        int32_t p = order[next++].pos;
        counts[assign[p]]--;
        assign[p] = c;
        counts[c] = 1;
        dist2[p] = 0.0f;
    }
    free(order);
    return NMP_OK;
}

/* sum of squared shifts / sum of squared new norms, the relative change of the centroids */
static double km_shift(const float *old, const float *now, int64_t count)
{
    double moved = 0.0, norm = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double dlt = (double)now[i] - (double)old[i];
        moved += dlt * dlt;
        norm += (double)now[i] * (double)now[i];
    }
    return norm > 0.0 ? moved / norm : moved;
}

nmp_status km_lloyd(km_run *r, int64_t *iterations)
{
    const nmp_host *h = r->h;
    int32_t *assign = malloc((size_t)r->m * sizeof *assign + 1);
    float *dist2 = malloc((size_t)r->m * sizeof *dist2 + 1);
    float *old = malloc((size_t)(r->k * r->d) * sizeof *old + 1);
    int64_t *counts = malloc((size_t)r->k * sizeof *counts);
    nmp_status s = (assign && dist2 && old && counts) ? NMP_OK : NMP_ERR_NOMEM;
    if (s != NMP_OK) h->set_error(h, "kmeans: out of memory for Lloyd on %lld points", (long long)r->m);
    *iterations = 0;
    for (int64_t it = 1; s == NMP_OK && it <= r->st->max_iter; it++) {
        s = r->eng->assign(r, 0, assign, dist2);
        if (s != NMP_OK) break;
        int reseed = km_count(assign, r->m, r->k, counts) > 0 && !r->st->drop_empty;
        if (reseed && km_reseed(r->m, r->k, assign, dist2, counts) != NMP_OK) {
            h->set_error(h, "kmeans: out of memory reseeding empty cells");
            s = NMP_ERR_NOMEM;
            break;
        }
        memcpy(old, r->centroids, (size_t)(r->k * r->d) * sizeof *old);
        s = r->eng->means(r, 0, assign, reseed);
        *iterations = it;
        h->progress(h, "partition", (double)it / (double)r->st->max_iter);
        if (s != NMP_OK || km_shift(old, r->centroids, r->k * r->d) < r->st->tol) break;
    }
    free(assign), free(dist2), free(old), free(counts);
    return s;
}

static nmp_status cpu_assign(km_run *r, int all, int32_t *assign, float *dist2)
{
    return all ? km_assign(r, NULL, r->n, assign, dist2) : km_assign(r, r->rows, r->m, assign, dist2);
}

static nmp_status cpu_means(km_run *r, int all, const int32_t *assign, int moved)
{
    (void)moved;
    return part_cell_means(r->h, r->x, r->d, assign, all ? NULL : r->rows, all ? r->n : r->m, r->k, r->centroids, NULL);
}

const km_engine km_cpu_engine = {cpu_assign, cpu_means, NULL};
