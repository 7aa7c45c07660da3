/* Whole cells to ranks: placement (round robin, or largest first onto the least-loaded
 * rank), then one all-to-all-v of rows and their (input row, cell) so that each rank holds
 * exactly its cells' rows, numbered cell by cell and by input row inside a cell. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dist.h"
#include "host.h"

typedef struct {
    int64_t size;
    int32_t cell;
} cell_size;

static int larger_first(const void *pa, const void *pb)
{
    const cell_size *a = pa, *b = pb;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    return (a->cell > b->cell) - (a->cell < b->cell);
}

/* owner[c] for every cell; `balanced` is the greedy LPT rule (ties: lower ids). */
static nmp_status place_cells(const int64_t *counts, int32_t cells, int ranks, nmp_cfg_placement how, int32_t *owner,
                              nmp_err *err)
{
    if (how == NMP_PLACEMENT_ROUND_ROBIN) {
        for (int32_t c = 0; c < cells; c++) owner[c] = c % ranks;
        return NMP_OK;
    }
    cell_size *order = malloc((size_t)cells * sizeof *order);
    int64_t *load = calloc((size_t)ranks, sizeof *load);
    if (!order || !load) {
        free(order), free(load);
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory placing %d cells", cells);
    }
    for (int32_t c = 0; c < cells; c++) order[c] = (cell_size){counts[c], c};
    qsort(order, (size_t)cells, sizeof *order, larger_first);
    for (int32_t k = 0; k < cells; k++) {
        int best = 0;
        for (int p = 1; p < ranks; p++)
            if (load[p] < load[best]) best = p;
        owner[order[k].cell] = best;
        load[best] += order[k].size;
    }
    free(order), free(load);
    return NMP_OK;
}

/* Packs the slice's rows by destination rank (input order inside each), with (row, cell). */
static nmp_status pack(nmp_run *r, const int32_t *cell_of, size_t *rows_to, float **x_out, int64_t **meta_out,
                       nmp_err *err)
{
    const nmp_dist *d = &r->dist;
    int64_t n = r->x.n, dim = r->x.d;
    size_t *at = calloc((size_t)d->ranks, sizeof *at);
    float *x = malloc((size_t)(n * dim) * sizeof *x + 1);
    int64_t *meta = malloc((size_t)(2 * n) * sizeof *meta + 1);
    *x_out = x, *meta_out = meta;
    if (!at || !x || !meta) {
        free(at);
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory packing %lld rows for the exchange", (long long)n);
    }
    memset(rows_to, 0, (size_t)d->ranks * sizeof *rows_to);
    for (int64_t i = 0; i < n; i++) rows_to[d->owner[cell_of[i]]]++;
    for (int p = 1; p < d->ranks; p++) at[p] = at[p - 1] + rows_to[p - 1];
    for (int64_t i = 0; i < n; i++) {
        size_t k = at[d->owner[cell_of[i]]]++;
        memcpy(x + k * (size_t)dim, r->x.x + i * dim, (size_t)dim * sizeof *x);
        meta[2 * k] = d->slice_begin + i, meta[2 * k + 1] = cell_of[i];
    }
    free(at);
    return NMP_OK;
}

/* Moves the packed rows; *n_local is what this rank receives. */
static nmp_status move_rows(nmp_run *r, const size_t *rows_to, const float *x, const int64_t *meta, float **x_in,
                            int64_t **meta_in, int64_t *n_local, nmp_err *err)
{
    nmp_comm *c = r->dist.comm;
    int ranks = r->dist.ranks;
    size_t dim = (size_t)r->x.d, *buf = calloc(5 * (size_t)ranks, sizeof *buf);
    if (!buf) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory for the exchange counts");
    size_t *rows_from = buf, *xs = buf + ranks, *xr = buf + 2 * ranks, *ms = buf + 3 * ranks, *mr = buf + 4 * ranks;
    nmp_status s = nmp_comm_exchange_counts(c, rows_to, rows_from, err);
    *n_local = 0;
    for (int p = 0; p < ranks; p++) {
        xs[p] = rows_to[p] * dim * sizeof(float), xr[p] = rows_from[p] * dim * sizeof(float);
        ms[p] = rows_to[p] * 2 * sizeof(int64_t), mr[p] = rows_from[p] * 2 * sizeof(int64_t);
        *n_local += (int64_t)rows_from[p];
    }
    *x_in = malloc((size_t)*n_local * dim * sizeof(float) + 1);
    *meta_in = malloc((size_t)*n_local * 2 * sizeof(int64_t) + 1);
    if (s == NMP_OK && (!*x_in || !*meta_in))
        s = nmp_fail(err, NMP_ERR_NOMEM, "out of memory receiving %lld rows", (long long)*n_local);
    s = nmp_comm_agree(c, s, err);
    if (s == NMP_OK) s = nmp_comm_alltoallv(c, x, xs, *x_in, xr, err);
    if (s == NMP_OK) s = nmp_comm_alltoallv(c, meta, ms, *meta_in, mr, err);
    free(buf);
    return s;
}

/* Local ids: cell by cell, input row order inside a cell (the rows arrive in input order,
 * so a stable counting sort by cell gives it). Fills x_local, gid and cell_of. */
static nmp_status order_local(nmp_run *r, const float *x_in, const int64_t *meta_in, int64_t n, int32_t cells,
                              int32_t **cell_of, nmp_err *err)
{
    nmp_dist *d = &r->dist;
    size_t dim = (size_t)r->x.d;
    int64_t *at = calloc((size_t)cells + 1, sizeof *at);
    d->x_local = malloc((size_t)n * dim * sizeof(float) + 1);
    d->gid = malloc((size_t)n * sizeof *d->gid + 1);
    *cell_of = malloc((size_t)n * sizeof **cell_of + 1);
    if (!at || !d->x_local || !d->gid || !*cell_of) {
        free(at);
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory for %lld local rows", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) at[meta_in[2 * i + 1] + 1]++;
    for (int32_t c = 0; c < cells; c++) at[c + 1] += at[c];
    for (int64_t i = 0; i < n; i++) {
        int64_t k = at[meta_in[2 * i + 1]]++;
        memcpy(d->x_local + (size_t)k * dim, x_in + (size_t)i * dim, dim * sizeof(float));
        d->gid[k] = meta_in[2 * i];
        (*cell_of)[k] = (int32_t)meta_in[2 * i + 1];
    }
    free(at);
    return NMP_OK;
}

/* The slice is not needed once its rows have moved. */
static void drop_slice(nmp_dist *d)
{
    free(d->slice_owned);
    d->slice_owned = NULL;
    if (d->map) munmap(d->map, d->map_len);
    d->map = NULL, d->map_len = 0;
}

static void log_placement(const nmp_run *r, const int64_t *counts, int32_t cells)
{
    const nmp_dist *d = &r->dist;
    int64_t most = 0, least = d->n_total;
    for (int p = 0; p < d->ranks; p++) {
        int64_t load = 0;
        for (int32_t c = 0; c < cells; c++) load += d->owner[c] == p ? counts[c] : 0;
        most = load > most ? load : most, least = load < least ? load : least;
    }
    nmp_log(NMP_LOG_INFO, "partition: %s placement, %lld..%lld points per rank (load imbalance %.3f = max / mean)",
            r->cfg->distributed.cell_placement == NMP_PLACEMENT_BALANCED ? "balanced" : "round-robin", (long long)least,
            (long long)most, (double)most * d->ranks / (double)d->n_total);
}

nmp_status nmp_dist_exchange(nmp_run *r, int32_t *cell_of, const int64_t *counts, float *centroids, int32_t cells,
                             nmp_err *err)
{
    nmp_dist *d = &r->dist;
    size_t *rows_to = malloc((size_t)d->ranks * sizeof *rows_to);
    d->owner = malloc((size_t)cells * sizeof *d->owner);
    d->cell_mass = malloc((size_t)cells * sizeof *d->cell_mass);
    r->cell_local = malloc((size_t)cells);
    nmp_status s = rows_to && d->owner && d->cell_mass && r->cell_local
                       ? place_cells(counts, cells, d->ranks, r->cfg->distributed.cell_placement, d->owner, err)
                       : nmp_fail(err, NMP_ERR_NOMEM, "out of memory for %d cells", cells);
    float *x_out = NULL, *x_in = NULL;
    int64_t *meta_out = NULL, *meta_in = NULL, n_local = 0;
    if (s == NMP_OK) s = pack(r, cell_of, rows_to, &x_out, &meta_out, err);
    free(cell_of);
    s = nmp_comm_agree(d->comm, s, err);
    if (s == NMP_OK) s = move_rows(r, rows_to, x_out, meta_out, &x_in, &meta_in, &n_local, err);
    free(x_out), free(meta_out), free(rows_to);
    int32_t *local_cell = NULL;
    if (s == NMP_OK) s = order_local(r, x_in, meta_in, n_local, cells, &local_cell, err);
    free(x_in), free(meta_in);
    if (s == NMP_OK) {
        drop_slice(d);
        r->x = (nmp_matrix){.n = n_local, .d = r->x.d, .x = d->x_local};
        d->n_local = n_local;
        for (int32_t c = 0; c < cells; c++) {
            d->cell_mass[c] = (float)counts[c];
            r->cell_local[c] = d->owner[c] == d->rank;
        }
        if (d->rank == 0) log_placement(r, counts, cells);
        s = nmp_cells_build(&r->cells, local_cell, centroids, n_local, r->x.d, cells, err); /* takes both */
        local_cell = NULL, centroids = NULL;
    }
    free(local_cell), free(centroids);
    return s;
}
