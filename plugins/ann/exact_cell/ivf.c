/* Inverted lists inside one group: k-means lists, probe, exact search per list, merge. */
#include "ivf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gather_rows.h"
#include "kmeans_cpu.h"
#include "knn_cpu.h"

int64_t ivf_lists_for(ivf_opts o, int64_t count, int32_t k)
{
    int64_t lists = count / (k > 0 ? k : 1), asked = o.lists;
    if (asked >= 2 && o.list_size > 0 && (count + o.list_size / 2) / o.list_size > asked)
        asked = (count + o.list_size / 2) / o.list_size;
    return lists < asked ? lists : asked;
}

/* A group's search: its rows, and each member's best k so far (sorted, -1 / inf padded) in
 * its row of the output graph. */
typedef struct {
    const nmp_host *h;
    int64_t n, d;
    int32_t k, lists, probe;
    const int32_t *member; /* global ids, member order */
    nmp_graph *out;        /* member p's row: offsets[member[p]], k entries */
    const float *rows;     /* n x d: x itself, or owned_rows */
    float *owned_rows;
    float *centroid;       /* lists x d */
    int32_t *assign;       /* n: k-means assignment while fitting */
    float *d2;             /* n */
    int64_t *size;         /* lists */
    int32_t *near;         /* n x probe: the lists each point searches, nearest first */
    float *near_d;         /* n x probe */
    int64_t *list_at;      /* lists + 1: CSR of the lists' members (local positions) */
    int32_t *list_of;      /* n */
    int64_t *query_at;     /* lists + 1: CSR of the points that probe each list */
    int64_t *cursor;       /* lists: fill cursor of query_of */
    int32_t *query_of;     /* n x probe */
    /* one list's scratch, sized for the largest */
    float *base, *query;
    int32_t *base_id, *query_id, *res_idx;
    float *res_dist;
    int32_t *tmp_idx; /* threads x k */
    float *tmp_dist;
} ivf_run;

static void ivf_free(ivf_run *r)
{
    free(r->owned_rows), free(r->centroid), free(r->assign), free(r->d2), free(r->size), free(r->near), free(r->near_d);
    free(r->list_at), free(r->list_of), free(r->query_at), free(r->cursor), free(r->query_of);
    free(r->base), free(r->query), free(r->base_id), free(r->query_id), free(r->res_idx), free(r->res_dist);
    free(r->tmp_idx), free(r->tmp_dist);
}

static nmp_status nomem(const ivf_run *r)
{
    r->h->set_error(r->h, "exact_cell: out of memory for %d inverted lists over %lld points (k = %d)", r->lists,
                    (long long)r->n, r->k);
    return NMP_ERR_NOMEM;
}

#define ALLOC(p, count) ((p) = malloc((size_t)(count) * sizeof *(p) + 1))

/* Lists fitted by Lloyd from evenly spaced members; then each point's `probe` nearest lists,
 * the nearest being the one it belongs to. */
static nmp_status fit_lists(ivf_run *r, int64_t iterations)
{
    for (int32_t l = 0; l < r->lists; l++) {
        int64_t at = (int64_t)(((double)l + 0.5) * (double)r->n / (double)r->lists);
        memcpy(r->centroid + (int64_t)l * r->d, r->rows + at * r->d, (size_t)r->d * sizeof *r->rows);
    }
    nmp_status s = NMP_OK;
    for (int64_t it = 0; s == NMP_OK && it < iterations; it++) {
        s = kmeans_assign_cpu(r->rows, r->n, r->d, r->centroid, r->lists, r->assign, r->d2);
        if (s == NMP_OK) s = kmeans_update_cpu(r->rows, r->n, r->d, r->assign, r->lists, r->centroid, r->size);
    }
    if (s == NMP_OK)
        s = knn_topk_cpu(r->rows, r->n, r->centroid, r->lists, r->d, r->probe, NMP_METRIC_L2, NULL, NULL, r->near,
                         r->near_d);
    return s == NMP_OK ? s : nomem(r);
}

/* CSR of the lists' members (by nearest list) and of their queries (every probed list). */
static void index_lists(ivf_run *r)
{
    memset(r->list_at, 0, (size_t)(r->lists + 1) * sizeof *r->list_at);
    memset(r->query_at, 0, (size_t)(r->lists + 1) * sizeof *r->query_at);
    for (int64_t i = 0; i < r->n; i++) {
        r->list_at[r->near[i * r->probe] + 1]++;
        for (int32_t t = 0; t < r->probe; t++) r->query_at[r->near[i * r->probe + t] + 1]++;
    }
    for (int32_t l = 0; l < r->lists; l++) r->list_at[l + 1] += r->list_at[l], r->query_at[l + 1] += r->query_at[l];
    int64_t *lf = r->size, *qf = r->cursor; /* size is free once the lists are fitted */
    memcpy(lf, r->list_at, (size_t)r->lists * sizeof *lf);
    memcpy(qf, r->query_at, (size_t)r->lists * sizeof *qf);
    for (int64_t i = 0; i < r->n; i++) {
        r->list_of[lf[r->near[i * r->probe]]++] = (int32_t)i;
        for (int32_t t = 0; t < r->probe; t++) r->query_of[qf[r->near[i * r->probe + t]]++] = (int32_t)i;
    }
}

static inline int32_t *row_idx(const ivf_run *r, int64_t p) { return r->out->index + r->out->offsets[r->member[p]]; }
static inline float *row_dist(const ivf_run *r, int64_t p) { return r->out->dist + r->out->offsets[r->member[p]]; }

static inline int better(float da, int32_t ia, float db, int32_t ib)
{
    return da < db || (da == db && ia < ib);
}

/* Merges the sorted rows a (k) and b (kb) into out (k): the k best, -1 padded. */
static void merge_rows(int32_t k, const int32_t *ai, const float *ad, const int32_t *bi, const float *bd, int32_t kb,
                       int32_t *oi, float *od)
{
    int32_t i = 0, j = 0;
    for (int32_t o = 0; o < k; o++) {
        int a_ok = i < k && ai[i] >= 0, b_ok = j < kb && bi[j] >= 0;
        if (a_ok && (!b_ok || better(ad[i], ai[i], bd[j], bi[j]))) oi[o] = ai[i], od[o] = ad[i], i++;
        else if (b_ok) oi[o] = bi[j], od[o] = bd[j], j++;
        else oi[o] = -1, od[o] = INFINITY;
    }
}

typedef struct {
    ivf_run *r;
    const int32_t *queries; /* local positions */
    int32_t kb;
} merge_ctx;

static void merge_range(void *vctx, int64_t b, int64_t e, int worker)
{
    merge_ctx *c = vctx;
    ivf_run *r = c->r;
    int32_t *ti = r->tmp_idx + (int64_t)worker * r->k;
    float *td = r->tmp_dist + (int64_t)worker * r->k;
    for (int64_t t = b; t < e; t++) {
        int64_t p = c->queries[t];
        int32_t *ai = row_idx(r, p);
        float *ad = row_dist(r, p);
        merge_rows(r->k, ai, ad, r->res_idx + t * c->kb, r->res_dist + t * c->kb, c->kb, ti, td);
        memcpy(ai, ti, (size_t)r->k * sizeof *ti);
        memcpy(ad, td, (size_t)r->k * sizeof *td);
    }
}

/* Exact search of list l's queries against its members, merged into their rows. */
static nmp_status search_list(ivf_run *r, int32_t l)
{
    const int64_t m = r->list_at[l + 1] - r->list_at[l], q = r->query_at[l + 1] - r->query_at[l];
    if (m == 0 || q == 0) return NMP_OK;
    const int32_t *mem = r->list_of + r->list_at[l], *qry = r->query_of + r->query_at[l];
    const int32_t kb = m < r->k ? (int32_t)m : r->k;
    nmp_gather_rows(r->h, r->rows, r->d, mem, m, r->base);
    nmp_gather_rows(r->h, r->rows, r->d, qry, q, r->query);
    for (int64_t i = 0; i < m; i++) r->base_id[i] = r->member[mem[i]];
    for (int64_t i = 0; i < q; i++) r->query_id[i] = r->member[qry[i]];
    nmp_status s = knn_topk_cpu(r->query, q, r->base, m, r->d, kb, NMP_METRIC_L2, r->query_id, r->base_id,
                                r->res_idx, r->res_dist);
    if (s != NMP_OK) return nomem(r);
    merge_ctx c = {r, qry, kb};
    r->h->parallel_for(r->h, q, merge_range, &c);
    return NMP_OK;
}

/* Rows that their lists left short (lists of a few points around an outlier) get the exact
 * search of the whole group. */
static nmp_status fill_short(ivf_run *r)
{
    int64_t shorts = 0;
    for (int64_t i = 0; i < r->n; i++)
        if (row_idx(r, i)[r->k - 1] < 0) r->query_of[shorts++] = (int32_t)i;
    if (shorts == 0) return NMP_OK;
    int32_t *qid = malloc((size_t)shorts * sizeof *qid), *idx = malloc((size_t)(shorts * r->k) * sizeof *idx);
    float *q = malloc((size_t)(shorts * r->d) * sizeof *q), *dist = malloc((size_t)(shorts * r->k) * sizeof *dist);
    nmp_status s = qid && idx && q && dist ? NMP_OK : nomem(r);
    if (s == NMP_OK) {
        nmp_gather_rows(r->h, r->rows, r->d, r->query_of, shorts, q);
        for (int64_t t = 0; t < shorts; t++) qid[t] = r->member[r->query_of[t]];
        s = knn_topk_cpu(q, shorts, r->rows, r->n, r->d, r->k, NMP_METRIC_L2, qid, r->member, idx, dist);
        if (s != NMP_OK) s = nomem(r);
    }
    for (int64_t t = 0; s == NMP_OK && t < shorts; t++) {
        memcpy(row_idx(r, r->query_of[t]), idx + t * r->k, (size_t)r->k * sizeof *idx);
        memcpy(row_dist(r, r->query_of[t]), dist + t * r->k, (size_t)r->k * sizeof *dist);
    }
    r->h->log(r->h, NMP_LOG_DEBUG, "exact_cell: %lld of %lld points searched whole (lists too small)",
              (long long)shorts, (long long)r->n);
    free(qid), free(idx), free(q), free(dist);
    return s;
}

static nmp_status ivf_alloc(ivf_run *r)
{
    const int64_t n = r->n, d = r->d, L = r->lists, P = r->probe, k = r->k;
    ALLOC(r->centroid, L * d), ALLOC(r->assign, n), ALLOC(r->d2, n), ALLOC(r->size, L);
    ALLOC(r->near, n * P), ALLOC(r->near_d, n * P), ALLOC(r->list_at, L + 1), ALLOC(r->list_of, n);
    ALLOC(r->query_at, L + 1), ALLOC(r->cursor, L), ALLOC(r->query_of, n * P);
    ALLOC(r->tmp_idx, r->h->threads * k), ALLOC(r->tmp_dist, r->h->threads * k);
    return r->centroid && r->assign && r->d2 && r->size && r->near && r->near_d && r->list_at &&
                   r->list_of && r->query_at && r->cursor && r->query_of && r->tmp_idx && r->tmp_dist
               ? NMP_OK
               : nomem(r);
}

/* Scratch for one list at a time, sized for the largest list and the most queries. */
static nmp_status scratch_alloc(ivf_run *r)
{
    int64_t most_m = 0, most_q = 0;
    for (int32_t l = 0; l < r->lists; l++) {
        int64_t m = r->list_at[l + 1] - r->list_at[l], q = r->query_at[l + 1] - r->query_at[l];
        most_m = m > most_m ? m : most_m;
        most_q = q > most_q ? q : most_q;
    }
    ALLOC(r->base, most_m * r->d), ALLOC(r->base_id, most_m), ALLOC(r->query, most_q * r->d);
    ALLOC(r->query_id, most_q), ALLOC(r->res_idx, most_q * r->k), ALLOC(r->res_dist, most_q * r->k);
    return r->base && r->base_id && r->query && r->query_id && r->res_idx && r->res_dist ? NMP_OK : nomem(r);
}

nmp_status ivf_search_group(const nmp_host *h, const nmp_matrix *x, ann_group grp, int32_t k, ivf_opts o,
                            int64_t done, int64_t total, int32_t *order, nmp_graph *out)
{
    ivf_run r = {.h = h, .n = grp.count, .d = x->d, .member = grp.member, .out = out};
    r.k = grp.count - 1 < k ? (int32_t)(grp.count - 1) : k;
    if (r.k <= 0) return NMP_OK;
    r.lists = (int32_t)ivf_lists_for(o, r.n, r.k);
    r.probe = (int32_t)(o.probe < r.lists ? o.probe : r.lists);
    nmp_status s = ivf_alloc(&r);
    if (s == NMP_OK && !(r.rows = ann_group_rows(h, x, grp, &r.owned_rows))) s = nomem(&r);
    if (s == NMP_OK) {
        for (int64_t i = 0; i < r.n; i++)
            for (int32_t t = 0; t < r.k; t++) row_idx(&r, i)[t] = -1, row_dist(&r, i)[t] = INFINITY;
        s = fit_lists(&r, o.iterations);
    }
    if (s == NMP_OK) index_lists(&r), s = scratch_alloc(&r);
    for (int32_t l = 0; s == NMP_OK && l < r.lists; l++) {
        s = search_list(&r, l);
        h->progress(h, "ann", total > 0 ? ((double)done + (double)r.n * (l + 1) / r.lists) / (double)total : 1.0);
    }
    for (int64_t i = 0; s == NMP_OK && order && i < r.n; i++) order[i] = grp.member[r.list_of[i]];
    if (s == NMP_OK) s = fill_short(&r);
    ivf_free(&r);
    return s;
}
