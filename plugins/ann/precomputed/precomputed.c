/* The precomputed ann plugin: reads a kNN graph from .npy files (indices (n, K) int32/int64,
 * optional distances (n, K) float), keeps the first k columns and checks every entry. */
#include <stdlib.h>
#include <string.h>

#include "ann_common.h"
#include "npy_format.h"

/* Rows between progress reports; has no effect on the result. */
#define PRE_PROGRESS_ROWS 65536

static const nmp_param_decl precomputed_params[] = {
    {"indices", NMP_PARAM_STRING, "", 0, -1, NULL, "path to an (n, K) .npy of int32 or int64 neighbour ids, K >= k"},
    {"distances", NMP_PARAM_STRING, "", 0, -1, NULL,
     "path to an (n, K) .npy of float32/float64 distances; \"\" = none: ranks 1..k are used"},
};

typedef struct {
    const nmp_host *host;
    char *indices, *distances;
} pre_state;

static nmp_status pre_create(const nmp_host *host, const nmp_params *params, void **state)
{
    const char *ind = nmp_param_string(params, "indices"), *dist = nmp_param_string(params, "distances");
    if (!ind || !*ind) {
        host->set_error(host, "precomputed: parameter indices (path to an (n, K) .npy) is required");
        return NMP_ERR_INVALID;
    }
    pre_state *st = calloc(1, sizeof *st);
    if (st) st->indices = strdup(ind), st->distances = strdup(dist ? dist : "");
    if (!st || !st->indices || !st->distances) {
        if (st) free(st->indices), free(st->distances);
        free(st);
        host->set_error(host, "precomputed: out of memory");
        return NMP_ERR_NOMEM;
    }
    st->host = host;
    *state = st;
    return NMP_OK;
}

static void pre_destroy(void *state)
{
    pre_state *st = state;
    free(st->indices), free(st->distances);
    free(st);
}

/* Maps one file and checks its type and shape (allowed: "<i4 <i8" or "<f4 <f8"); the
 * error names the file. */
static nmp_status pre_open_checked(const nmp_host *h, const char *path, const char *allowed, int64_t n, int32_t k,
                                   nmp_npy_map *m)
{
    char why[512];
    nmp_status s = nmp_npy_map_file(path, m, why, sizeof why);
    if (s == NMP_OK) s = nmp_npy_expect(&m->header, allowed, 2, why, sizeof why);
    if (s != NMP_OK) {
        h->set_error(h, "precomputed: %s: %s", path, why);
    } else if (m->rows != n) {
        h->set_error(h, "precomputed: %s: has %lld rows, the data has %lld points", path, (long long)m->rows,
                     (long long)n);
        s = NMP_ERR_INVALID;
    } else if (m->cols < k) {
        h->set_error(h, "precomputed: %s: has %lld columns, fewer than k = %d", path, (long long)m->cols, k);
        s = NMP_ERR_INVALID;
    }
    if (s != NMP_OK) nmp_npy_unmap(m);
    return s;
}

/* Copies the first k ids of row r, checking range and self. */
static nmp_status pre_copy_ids(const nmp_host *h, const char *path, const nmp_npy_map *m, int64_t r, int32_t k,
                               int64_t n, int32_t *out)
{
    for (int32_t j = 0; j < k; j++) {
        int64_t at = r * m->cols + j;
        int64_t v = m->header.item_size == 4 ? ((const int32_t *)m->data)[at] : ((const int64_t *)m->data)[at];
        if (v < 0 || v >= n || v == r) {
            h->set_error(h, "precomputed: %s: row %lld column %d: neighbour %lld %s", path, (long long)r, j,
                         (long long)v, v == r ? "is the point itself" : "is out of range");
            return NMP_ERR_INVALID;
        }
        out[j] = (int32_t)v;
    }
    return NMP_OK;
}

static void pre_copy_dists(const nmp_npy_map *m, int64_t r, int32_t k, float *out)
{
    for (int32_t j = 0; j < k; j++) {
        int64_t at = r * m->cols + j;
        out[j] = m->header.item_size == 4 ? ((const float *)m->data)[at] : (float)((const double *)m->data)[at];
    }
}

/* Sorts a row by (distance, id) if it is not; returns 1 if it had to. */
static int pre_sort_row(int32_t *id, float *dist, int32_t k)
{
    int moved = 0;
    for (int32_t i = 1; i < k; i++) {
        int32_t ti = id[i];
        float td = dist[i];
        int32_t j = i;
        for (; j > 0 && (dist[j - 1] > td || (dist[j - 1] == td && id[j - 1] > ti)); j--)
            id[j] = id[j - 1], dist[j] = dist[j - 1], moved = 1;
        id[j] = ti, dist[j] = td;
    }
    return moved;
}

/* Copies the first kk columns of both files into out, row by row. */
static nmp_status pre_read(const pre_state *st, const nmp_npy_map *fi, const nmp_npy_map *fd, int64_t n, int32_t kk,
                           nmp_graph *out)
{
    const nmp_host *h = st->host;
    int64_t unsorted = 0;
    for (int64_t r = 0; r < n; r++) {
        int32_t *id = out->index + out->offsets[r];
        float *dist = out->dist + out->offsets[r];
        nmp_status s = pre_copy_ids(h, st->indices, fi, r, kk, n, id);
        if (s != NMP_OK) return s;
        if (fd->data) {
            pre_copy_dists(fd, r, kk, dist);
            unsorted += pre_sort_row(id, dist, kk);
        } else {
            for (int32_t j = 0; j < kk; j++) dist[j] = (float)(j + 1);
        }
        if ((r + 1) % PRE_PROGRESS_ROWS == 0 || r + 1 == n) h->progress(h, "ann", (double)(r + 1) / (double)n);
    }
    if (unsorted > 0)
        h->log(h, NMP_LOG_WARN, "precomputed: %lld rows of %s were not sorted by distance; sorted them",
               (long long)unsorted, st->distances);
    return NMP_OK;
}

static nmp_status pre_build(void *state, const nmp_matrix *x, const nmp_cells *cells, int32_t k, nmp_metric metric,
                            nmp_graph *out)
{
    (void)cells, (void)metric;
    pre_state *st = state;
    const nmp_host *h = st->host;
    nmp_status s = ann_build_begin(h, "precomputed", k, out);
    if (s != NMP_OK) return s;
    nmp_npy_map fi = {0}, fd = {0};
    ann_groups g = {0};
    s = pre_open_checked(h, st->indices, "<i4 <i8", x->n, k, &fi);
    if (s == NMP_OK && st->distances[0]) s = pre_open_checked(h, st->distances, "<f4 <f8", x->n, k, &fd);
    if (s == NMP_OK) s = ann_groups_make(h, NULL, x->n, 1, &g);
    if (s == NMP_OK) s = ann_graph_alloc_groups(h, &g, x->n, k, out);
    if (s == NMP_OK) s = pre_read(st, &fi, &fd, x->n, k < x->n - 1 ? k : (int32_t)(x->n - 1), out);
    if (s == NMP_OK) h->log(h, NMP_LOG_INFO, "precomputed: %lld x %d graph from %s", (long long)x->n, k, st->indices);
    if (s != NMP_OK && out->offsets) ann_graph_release(h, out);
    nmp_npy_unmap(&fi), nmp_npy_unmap(&fd);
    ann_groups_free(&g);
    return s;
}

NMP_PLUGIN_REGISTER(NMP_KIND_ANN, "precomputed", "1.0.0",
                    "kNN graph read from .npy files (indices, optional distances); first k columns",
                    NMP_PARAMS(precomputed_params), pre_create, pre_destroy, (.build = pre_build), NULL);
