/* Symmetrisation of a weighted CSR graph, W = A op A^T: rows of A are sorted and deduplicated,
 * A^T is built by a counting sort, then each row of W is the merge of row i of A and of A^T. */
#include <stdlib.h>
#include <string.h>

#include "aff_csr.h"

typedef struct {
    int32_t idx;
    float w;
} aff_edge;

/* Rows up to this length are insertion-sorted (kNN rows are short); longer ones use qsort.
 * Both sort by the same total order, so the choice never changes the result. */
#define AFF_SMALL_ROW 32

static int edge_cmp(const void *pa, const void *pb)
{
    const aff_edge *a = pa, *b = pb;
    if (a->idx != b->idx) return a->idx < b->idx ? -1 : 1;
    if (a->w != b->w) return a->w > b->w ? -1 : 1; /* larger weight first: dedup keeps it */
    return 0;
}

static void sort_edges(aff_edge *e, int64_t n)
{
    if (n > AFF_SMALL_ROW) {
        qsort(e, (size_t)n, sizeof *e, edge_cmp);
        return;
    }
    for (int64_t i = 1; i < n; i++) {
        aff_edge key = e[i];
        int64_t j = i;
        for (; j > 0 && edge_cmp(&e[j - 1], &key) > 0; j--) e[j] = e[j - 1];
        e[j] = key;
    }
}

typedef struct {
    const nmp_graph *a;
    aff_edge *rows;  /* nnz(a): row i's sorted unique edges at [a->offsets[i], + len[i]) */
    int64_t *len;    /* n */
    int64_t *toff;   /* n + 1: in-degree counts, then the offsets of A^T */
    int64_t *cursor; /* n: next free slot of each row of A^T during the scatter */
    aff_edge *trows; /* A^T: row j holds (i, a_ij) for every edge i -> j */
    int64_t *uoff;   /* n + 1: union sizes, then offsets of W */
    aff_sym_op op;
    double mix;
    nmp_graph *out;
} sym_ctx;

static void sort_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    sym_ctx *c = ctx;
    const nmp_graph *a = c->a;
    for (int64_t i = begin; i < end; i++) {
        aff_edge *row = c->rows + a->offsets[i];
        int64_t k = a->offsets[i + 1] - a->offsets[i], kept = 0;
        for (int64_t e = 0; e < k; e++) {
            row[e].idx = a->index[a->offsets[i] + e];
            row[e].w = a->weight ? a->weight[a->offsets[i] + e] : 1.0f;
        }
        sort_edges(row, k);
        for (int64_t e = 0; e < k; e++)
            if (kept == 0 || row[e].idx != row[kept - 1].idx) row[kept++] = row[e];
        c->len[i] = kept;
        for (int64_t e = 0; e < kept; e++) __atomic_fetch_add(&c->toff[row[e].idx + 1], 1, __ATOMIC_RELAXED);
    }
}

static void scatter_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    sym_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++) {
        const aff_edge *row = c->rows + c->a->offsets[i];
        for (int64_t e = 0; e < c->len[i]; e++) {
            /* Slots within a row of A^T are taken in any order; tsort_body restores one. */
            int64_t slot = __atomic_fetch_add(&c->cursor[row[e].idx], 1, __ATOMIC_RELAXED);
            c->trows[slot] = (aff_edge){(int32_t)i, row[e].w};
        }
    }
}

static void tsort_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    sym_ctx *c = ctx;
    for (int64_t j = begin; j < end; j++) sort_edges(c->trows + c->toff[j], c->toff[j + 1] - c->toff[j]);
}

static double combine(aff_sym_op op, double mix, double a, double b)
{
    switch (op) {
    case AFF_SYM_MAX: return a > b ? a : b;
    case AFF_SYM_MEAN: return 0.5 * (a + b);
    case AFF_SYM_FUZZY: return mix * (a + b - a * b) + (1.0 - mix) * a * b;
    }
    return a;
}

/* Merges row i of A and of A^T; writes to idx/w when they are not NULL. Returns the count. */
static int64_t merge_row(const sym_ctx *c, int64_t i, int32_t *idx, float *w)
{
    const aff_edge *ra = c->rows + c->a->offsets[i], *rt = c->trows + c->toff[i];
    int64_t na = c->len[i], nt = c->toff[i + 1] - c->toff[i], p = 0, q = 0, m = 0;
    while (p < na || q < nt) {
        int32_t j;
        double wa = 0.0, wt = 0.0;
        if (q >= nt || (p < na && ra[p].idx < rt[q].idx)) {
            j = ra[p].idx, wa = ra[p++].w;
        } else if (p >= na || rt[q].idx < ra[p].idx) {
            j = rt[q].idx, wt = rt[q++].w;
        } else {
            j = ra[p].idx, wa = ra[p++].w, wt = rt[q++].w;
        }
        if (idx) {
            idx[m] = j;
            w[m] = (float)combine(c->op, c->mix, wa, wt);
        }
        m++;
    }
    return m;
}

static void count_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    sym_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++) c->uoff[i + 1] = merge_row(c, i, NULL, NULL);
}

static void fill_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    sym_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++)
        merge_row(c, i, c->out->index + c->uoff[i], c->out->weight + c->uoff[i]);
}

static void sym_ctx_free(sym_ctx *c)
{
    free(c->rows);
    free(c->len);
    free(c->toff);
    free(c->cursor);
    free(c->trows);
    free(c->uoff);
}

/* Sorted unique rows of A and the transpose A^T (row order fixed by the final sort). */
static nmp_status build_transpose(const nmp_host *h, sym_ctx *c)
{
    int64_t n = c->a->n;
    h->parallel_for(h, n, sort_body, c);
    aff_prefix_sum(c->toff, n);
    c->trows = malloc((size_t)c->toff[n] * sizeof *c->trows + 1);
    if (!c->trows) return NMP_ERR_NOMEM;
    memcpy(c->cursor, c->toff, (size_t)n * sizeof *c->cursor);
    h->parallel_for(h, n, scatter_body, c);
    h->parallel_for(h, n, tsort_body, c);
    return NMP_OK;
}

nmp_status aff_symmetrize(const nmp_host *h, const nmp_graph *a, aff_sym_op op, double mix, nmp_graph *out)
{
    int64_t n = a->n, nnz = nmp_graph_nnz(a);
    sym_ctx c = {.a = a, .op = op, .mix = mix, .out = out};
    memset(out, 0, sizeof *out);
    c.rows = malloc((size_t)nnz * sizeof *c.rows + 1);
    c.len = malloc((size_t)n * sizeof *c.len + 1);
    c.toff = calloc((size_t)n + 1, sizeof *c.toff);
    c.cursor = malloc((size_t)n * sizeof *c.cursor + 1);
    c.uoff = calloc((size_t)n + 1, sizeof *c.uoff);
    nmp_status s = (c.rows && c.len && c.toff && c.cursor && c.uoff) ? build_transpose(h, &c) : NMP_ERR_NOMEM;
    if (s == NMP_OK) {
        h->parallel_for(h, n, count_body, &c);
        aff_prefix_sum(c.uoff, n);
        s = aff_graph_alloc(h, n, c.uoff[n], out);
    }
    if (s == NMP_OK) {
        memcpy(out->offsets, c.uoff, (size_t)(n + 1) * sizeof *c.uoff);
        h->parallel_for(h, n, fill_body, &c);
    } else if (s == NMP_ERR_NOMEM) {
        h->set_error(h, "out of memory while symmetrising a graph of %lld points and %lld edges", (long long)n,
                     (long long)nnz);
    }
    sym_ctx_free(&c);
    return s;
}

nmp_status aff_symmetrize_replace(const nmp_host *h, nmp_graph *g, aff_sym_op op, double mix)
{
    nmp_graph sym;
    nmp_status s = aff_symmetrize(h, g, op, mix, &sym);
    if (s != NMP_OK) return s;
    aff_graph_release(h, g);
    *g = sym;
    return NMP_OK;
}
