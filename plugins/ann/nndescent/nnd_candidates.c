/* NN-Descent graph setup and candidate lists: random initial neighbours, then per iteration
 * the sampled forward and reverse neighbours (new and old) that the local join pairs up. */
#include <stdlib.h>
#include <string.h>

#include "ann_common.h"
#include "nnd_internal.h"
#include "nomad/rng.h"

float nnd_distance(const nnd_group *g, int32_t u, int32_t v)
{
    int64_t a = g->member[u], b = g->member[v], d = g->x->d;
    return ann_distance(g->x->x + a * d, g->x->x + b * d, d, g->metric, g->inv_norm ? g->inv_norm[a] : 0.0f,
                        g->inv_norm ? g->inv_norm[b] : 0.0f);
}

uint64_t nnd_priority(const nnd_group *g, int what, int32_t a, int32_t b)
{
    uint64_t pair = ((uint64_t)(uint32_t)g->member[a] << 32) | (uint32_t)g->member[b];
    return nmp_rng_u64(g->h->seed, NMP_STREAM_ANN, nmp_rng_counter2((uint64_t)g->iter * 8 + (uint64_t)what, pair));
}

/* Insertion sort of one row by (distance, id); rows are short. */
static void sort_row(int32_t *id, float *dist, uint8_t *fresh, int32_t K)
{
    for (int32_t i = 1; i < K; i++) {
        int32_t ti = id[i];
        float td = dist[i];
        uint8_t tf = fresh[i];
        int32_t j = i;
        for (; j > 0 && (dist[j - 1] > td || (dist[j - 1] == td && id[j - 1] > ti)); j--)
            id[j] = id[j - 1], dist[j] = dist[j - 1], fresh[j] = fresh[j - 1];
        id[j] = ti, dist[j] = td, fresh[j] = tf;
    }
}

static int row_has(const int32_t *id, int32_t count, int32_t v)
{
    for (int32_t i = 0; i < count; i++)
        if (id[i] == v) return 1;
    return 0;
}

static void init_range(void *vctx, int64_t b, int64_t e, int worker)
{
    (void)worker;
    nnd_group *g = vctx;
    const int32_t K = g->K;
    for (int64_t l = b; l < e; l++) {
        int32_t *id = g->nb + l * K, got = 0;
        uint64_t gid = (uint64_t)(uint32_t)g->member[l];
        for (uint64_t a = 0; got < K && a < 16 * (uint64_t)K + 64; a++) {
            uint64_t c = nmp_rng_counter2(NND_RNG_INIT, (gid << 32) | a);
            int32_t v = (int32_t)nmp_rng_below(g->h->seed, NMP_STREAM_ANN, c, (uint64_t)(g->s - 1));
            v += v >= l; /* skip self */
            if (!row_has(id, got, v)) id[got++] = v;
        }
        /* unlucky draws (rows close to the whole group): fill with the next unused ids */
        for (int32_t v = (int32_t)((l + 1) % g->s); got < K; v = (int32_t)((v + 1) % g->s))
            if (v != l && !row_has(id, got, v)) id[got++] = v;
        for (int32_t j = 0; j < K; j++) {
            g->nd[l * K + j] = nnd_distance(g, (int32_t)l, id[j]);
            g->fresh[l * K + j] = 1;
        }
        sort_row(id, g->nd + l * K, g->fresh + l * K, K);
    }
}

void nnd_init_random(nnd_group *g) { g->h->parallel_for(g->h, g->s, init_range, g); }

/* ------------------------------------------------------------------ candidates */

int nnd_ranked_cmp(const void *a, const void *b)
{
    const nnd_ranked *x = a, *y = b;
    if (x->prio != y->prio) return x->prio < y->prio ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Forward samples: fresh entries with the R lowest priorities (then no longer fresh) and all
 * entries that were already old. fwd holds rows of R new then K old ids. */
typedef struct {
    nnd_group *g;
    int32_t *fwd, *fwd_new_len, *fwd_old_len;
} fwd_ctx;

static void forward_range(void *vctx, int64_t b, int64_t e, int worker)
{
    fwd_ctx *c = vctx;
    nnd_group *g = c->g;
    const int32_t K = g->K, W = g->R + K;
    nnd_ranked *tmp = g->scratch + worker * g->scratch_w;
    for (int64_t l = b; l < e; l++) {
        int32_t nn = 0, no = 0, *row = g->nb + l * K;
        uint8_t *fresh = g->fresh + l * K;
        for (int32_t j = 0; j < K; j++) {
            if (fresh[j]) tmp[nn++] = (nnd_ranked){nnd_priority(g, NND_RNG_FORWARD, (int32_t)l, row[j]), j};
            else c->fwd[l * W + g->R + no++] = row[j];
        }
        qsort(tmp, (size_t)nn, sizeof *tmp, nnd_ranked_cmp);
        if (nn > g->R) nn = g->R;
        for (int32_t i = 0; i < nn; i++) {
            c->fwd[l * W + i] = row[tmp[i].id];
            fresh[tmp[i].id] = 0;
        }
        c->fwd_new_len[l] = nn, c->fwd_old_len[l] = no;
    }
}

/* Reverse lists: rev[start[v] .. start[v+1]) = the points l whose forward list (new part
 * when old == 0, old part otherwise) holds v, in increasing l. start: s + 1. */
static void reverse_lists(const nnd_group *g, const fwd_ctx *f, int old, int64_t *start, nnd_ranked *rev)
{
    const int32_t W = g->R + g->K;
    const int32_t *len = old ? f->fwd_old_len : f->fwd_new_len;
    int32_t off = old ? g->R : 0;
    memset(start, 0, (size_t)(g->s + 1) * sizeof *start);
    for (int64_t l = 0; l < g->s; l++)
        for (int32_t j = 0; j < len[l]; j++) start[f->fwd[l * W + off + j] + 1]++;
    for (int64_t v = 0; v < g->s; v++) start[v + 1] += start[v];
    for (int64_t l = 0; l < g->s; l++)
        for (int32_t j = 0; j < len[l]; j++) {
            int32_t v = f->fwd[l * W + off + j];
            rev[start[v]++].id = (int32_t)l;
        }
    for (int64_t v = g->s; v > 0; v--) start[v] = start[v - 1]; /* the fill advanced each start */
    start[0] = 0;
}

typedef struct {
    nnd_group *g;
    const fwd_ctx *f;
    int64_t *rn_start, *ro_start;
    nnd_ranked *rn, *ro;
} comb_ctx;

/* Appends the R lowest-priority reverse neighbours of l to list (from position n). */
static int32_t add_reverse(const nnd_group *g, int32_t l, nnd_ranked *rev, int64_t count, nnd_ranked *list,
                           int32_t n)
{
    for (int64_t i = 0; i < count; i++) rev[i].prio = nnd_priority(g, NND_RNG_REVERSE, l, rev[i].id);
    qsort(rev, (size_t)count, sizeof *rev, nnd_ranked_cmp);
    for (int64_t i = 0; i < count && i < g->R; i++) list[n++].id = rev[i].id;
    return n;
}

/* Keeps at most `width` distinct ids of list[0..n) not in `exclude`, lowest priority first. */
static int32_t cap_list(const nnd_group *g, int32_t l, nnd_ranked *list, int32_t n, const int32_t *exclude,
                        int32_t n_exclude, int32_t width, int32_t *out)
{
    for (int32_t i = 0; i < n; i++) list[i].prio = nnd_priority(g, NND_RNG_CAP, l, list[i].id);
    qsort(list, (size_t)n, sizeof *list, nnd_ranked_cmp);
    int32_t kept = 0;
    for (int32_t i = 0; i < n && kept < width; i++) {
        /* equal ids have equal priorities, so duplicates are adjacent */
        if ((i > 0 && list[i].id == list[i - 1].id) || row_has(exclude, n_exclude, list[i].id)) continue;
        out[kept++] = list[i].id;
    }
    return kept;
}

static void combine_range(void *vctx, int64_t b, int64_t e, int worker)
{
    comb_ctx *c = vctx;
    nnd_group *g = c->g;
    const int32_t W = g->R + g->K;
    nnd_ranked *list = g->scratch + worker * g->scratch_w;
    for (int64_t l = b; l < e; l++) {
        const int32_t *fwd = c->f->fwd + l * W;
        int32_t n = 0;
        for (int32_t j = 0; j < c->f->fwd_new_len[l]; j++) list[n++].id = fwd[j];
        n = add_reverse(g, (int32_t)l, c->rn + c->rn_start[l], c->rn_start[l + 1] - c->rn_start[l], list, n);
        g->cn_len[l] = cap_list(g, (int32_t)l, list, n, NULL, 0, g->wn, g->cn + l * g->wn);
        n = 0;
        for (int32_t j = 0; j < c->f->fwd_old_len[l]; j++) list[n++].id = fwd[g->R + j];
        n = add_reverse(g, (int32_t)l, c->ro + c->ro_start[l], c->ro_start[l + 1] - c->ro_start[l], list, n);
        g->co_len[l] = cap_list(g, (int32_t)l, list, n, g->cn + l * g->wn, g->cn_len[l], g->wo, g->co + l * g->wo);
    }
}

nmp_status nnd_candidates(nnd_group *g)
{
    const int64_t s = g->s;
    fwd_ctx f = {g, malloc((size_t)s * (size_t)(g->R + g->K) * sizeof(int32_t)), malloc((size_t)s * sizeof(int32_t)),
                 malloc((size_t)s * sizeof(int32_t))};
    comb_ctx c = {g, &f, malloc((size_t)(s + 1) * sizeof(int64_t)), malloc((size_t)(s + 1) * sizeof(int64_t)),
                  malloc((size_t)s * (size_t)g->R * sizeof(nnd_ranked) + 1),
                  malloc((size_t)s * (size_t)g->K * sizeof(nnd_ranked) + 1)};
    nmp_status st = (f.fwd && f.fwd_new_len && f.fwd_old_len && c.rn_start && c.ro_start && c.rn && c.ro)
                        ? NMP_OK
                        : NMP_ERR_NOMEM;
    if (st == NMP_OK) {
        g->h->parallel_for(g->h, s, forward_range, &f);
        reverse_lists(g, &f, 0, c.rn_start, c.rn);
        reverse_lists(g, &f, 1, c.ro_start, c.ro);
        g->h->parallel_for(g->h, s, combine_range, &c);
    }
    free(f.fwd), free(f.fwd_new_len), free(f.fwd_old_len);
    free(c.rn_start), free(c.ro_start), free(c.rn), free(c.ro);
    return st;
}
