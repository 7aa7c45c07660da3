/* NN-Descent local join, made deterministic: proposals are computed against a frozen graph
 * (per-worker buffers), then sorted and merged row by row, so neither the thread count nor
 * the scheduling changes the result. */
#include <stdlib.h>
#include <string.h>

#include "nnd_internal.h"

static int push(nnd_buffer *b, int32_t target, int32_t source, float dist)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096;
        nnd_proposal *p = realloc(b->p, cap * sizeof *p);
        if (!p) return -1;
        b->p = p, b->cap = cap;
    }
    b->p[b->n++] = (nnd_proposal){target, source, dist};
    return 0;
}

int nnd_propose(const nnd_group *g, nnd_buffer *b, int32_t target, int32_t source, float dist)
{
    return dist < g->nd[(int64_t)target * g->K + g->K - 1] ? push(b, target, source, dist) : 0;
}

int nnd_offer(const nnd_group *g, nnd_buffer *b, int32_t u, int32_t v)
{
    float d = nnd_distance(g, u, v);
    return nnd_propose(g, b, u, v, d) | nnd_propose(g, b, v, u, d);
}

typedef struct {
    nnd_group *g;
    int64_t first; /* the block's first point: parallel_for ranges start at 0 */
    int failed;
} join_ctx;

static void join_range(void *vctx, int64_t b, int64_t e, int worker)
{
    join_ctx *c = vctx;
    nnd_group *g = c->g;
    nnd_buffer *buf = &g->buf[worker];
    int rc = 0;
    for (int64_t l = c->first + b; l < c->first + e; l++) {
        const int32_t *nw = g->cn + l * g->wn, *od = g->co + l * g->wo;
        int32_t nn = g->cn_len[l], no = g->co_len[l];
        for (int32_t i = 0; i < nn; i++) {
            for (int32_t j = i + 1; j < nn; j++) rc |= nnd_offer(g, buf, nw[i], nw[j]);
            for (int32_t j = 0; j < no; j++)
                if (nw[i] != od[j]) rc |= nnd_offer(g, buf, nw[i], od[j]);
        }
    }
    if (rc) c->failed = 1; /* a plain store: any worker may set it, none clears it */
}

static int proposal_cmp(const void *a, const void *b)
{
    const nnd_proposal *x = a, *y = b;
    if (x->target != y->target) return x->target < y->target ? -1 : 1;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return (x->source > y->source) - (x->source < y->source);
}

static int row_has(const int32_t *id, int32_t count, int32_t v)
{
    for (int32_t i = 0; i < count; i++)
        if (id[i] == v) return 1;
    return 0;
}

/* Merges sorted proposals p[0..n) (one target) into its row; returns entries replaced. */
static int64_t merge_row(nnd_group *g, const nnd_proposal *p, int64_t n, nnd_ranked *tmp)
{
    const int32_t K = g->K;
    int64_t base = (int64_t)p[0].target * K, i = 0, j = 0, added = 0;
    int32_t *id = g->nb + base, *out_id = (int32_t *)tmp;
    float *dist = g->nd + base, *out_d = (float *)(out_id + K);
    uint8_t *fresh = g->fresh + base, *out_f = (uint8_t *)(out_d + K);
    for (int32_t m = 0; m < K; m++) {
        while (j < n && ((j > 0 && p[j].source == p[j - 1].source) || row_has(id, K, p[j].source))) j++;
        int take = j < n && (i >= K || p[j].dist < dist[i] || (p[j].dist == dist[i] && p[j].source < id[i]));
        if (take) out_id[m] = p[j].source, out_d[m] = p[j].dist, out_f[m] = 1, j++, added++;
        else out_id[m] = id[i], out_d[m] = dist[i], out_f[m] = fresh[i], i++;
    }
    memcpy(id, out_id, (size_t)K * sizeof *id);
    memcpy(dist, out_d, (size_t)K * sizeof *dist);
    memcpy(fresh, out_f, (size_t)K);
    return added;
}

typedef struct {
    nnd_group *g;
    const nnd_proposal *p;
    const int64_t *run; /* runs + 1 starts of each target's proposals */
    int64_t *added;     /* host->threads */
} apply_ctx;

static void apply_range(void *vctx, int64_t b, int64_t e, int worker)
{
    apply_ctx *c = vctx;
    int64_t added = 0;
    for (int64_t r = b; r < e; r++)
        added += merge_row(c->g, c->p + c->run[r], c->run[r + 1] - c->run[r], c->g->scratch + worker * c->g->scratch_w);
    c->added[worker] += added;
}

int64_t nnd_apply(nnd_group *g)
{
    const int t = g->h->threads;
    size_t total = 0;
    for (int w = 0; w < t; w++) total += g->buf[w].n;
    if (total == 0) return 0;
    nnd_proposal *all = malloc(total * sizeof *all);
    int64_t *run = malloc((total + 1) * sizeof *run);
    int64_t *added = calloc((size_t)t, sizeof *added);
    int64_t sum = -1;
    if (all && run && added) {
        size_t at = 0;
        for (int w = 0; w < t; w++) {
            memcpy(all + at, g->buf[w].p, g->buf[w].n * sizeof *all);
            at += g->buf[w].n;
        }
        qsort(all, total, sizeof *all, proposal_cmp);
        int64_t runs = 0;
        for (size_t i = 0; i < total; i++)
            if (i == 0 || all[i].target != all[i - 1].target) run[runs++] = (int64_t)i;
        run[runs] = (int64_t)total;
        apply_ctx c = {g, all, run, added};
        g->h->parallel_for(g->h, runs, apply_range, &c);
        sum = 0;
        for (int w = 0; w < t; w++) sum += added[w];
    }
    free(all), free(run), free(added);
    for (int w = 0; w < t; w++) g->buf[w].n = 0;
    return sum;
}

int64_t nnd_join(nnd_group *g)
{
    int64_t block = g->st->join_block, updates = 0;
    for (int64_t b0 = 0; b0 < g->s; b0 += block) {
        int64_t cnt = g->s - b0 < block ? g->s - b0 : block;
        join_ctx c = {g, b0, 0};
        g->h->parallel_for(g->h, cnt, join_range, &c);
        int64_t added = c.failed ? -1 : nnd_apply(g);
        if (added < 0) return -1;
        updates += added;
    }
    return updates;
}
