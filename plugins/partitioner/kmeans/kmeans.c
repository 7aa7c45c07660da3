/* The kmeans partitioner: seeds (LSH / k-means++ / random), Lloyd on a uniform sample, then
 * every point hard-assigned to its nearest centroid, as in the NOMAD reference. The CUDA
 * entry runs Lloyd's assignment and update and the final assignment on the GPU
 * (kmeans_cuda.h, kmeans_gpu.c); seeding, reseeding empty cells and dropping stay on the host. */
#include <stdlib.h>
#include <string.h>

#include "plugin_device.h"
#include "kmeans_internal.h"
#include "nomad/rng.h"
#include "part_common.h"

static const nmp_param_decl kmeans_params[] = {
    {"seeding", NMP_PARAM_ENUM, "lsh", 0, -1, "lsh|kmeans++|random",
     "initial centroids: largest LSH buckets (reference), k-means++ (D^2 sampling) or random points"},
    {"hyperplanes", NMP_PARAM_INT, "16", 1, 63, NULL,
     "LSH seeding: random Gaussian hyperplanes through the sample mean whose sign bits form the buckets"},
    {"max_iter", NMP_PARAM_INT, "1000", 0, 1e9, NULL, "most Lloyd iterations on the sample"},
    {"tol", NMP_PARAM_DOUBLE, "1e-4", 0, 1e30, NULL,
     "stop when sum of squared centroid shifts / sum of squared centroid norms falls below this"},
    {"sample", NMP_PARAM_INT, "5000000", 1, 2147483647.0, NULL,
     "Lloyd runs on a uniform sample of at most this many points; then every point is assigned"},
    {"sample_per_cell", NMP_PARAM_INT, "0", 0, 1e9, NULL,
     "the sample holds at least this many points per cell (0 = `sample` alone), so that it grows with the cells"},
    {"empty", NMP_PARAM_ENUM, "reseed", 0, -1, "reseed|drop",
     "an empty cell takes the point farthest from its centroid (reseed) or is removed, cells renumbered (drop)"},
    {"block_rows", NMP_PARAM_INT, "0", 0, 1e9, NULL,
     "points per assignment GEMM block (0 = auto, about 16 MiB buffers); trades memory for speed"},
};

static nmp_status kmeans_create(const nmp_host *host, const nmp_params *params, void **state)
{
    kmeans_state *st = nmp_state_new(host, sizeof *st, "kmeans");
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    st->seeding = nmp_param_is(params, "seeding", "lsh")        ? KM_SEED_LSH
                  : nmp_param_is(params, "seeding", "kmeans++") ? KM_SEED_PLUSPLUS
                                                                : KM_SEED_RANDOM;
    st->hyperplanes = (int)nmp_param_int(params, "hyperplanes");
    st->max_iter = nmp_param_int(params, "max_iter");
    st->tol = nmp_param_double(params, "tol");
    st->sample = nmp_param_int(params, "sample");
    st->sample_per_cell = nmp_param_int(params, "sample_per_cell");
    st->drop_empty = nmp_param_is(params, "empty", "drop");
    st->block_rows = nmp_param_int(params, "block_rows");
    if (st->hyperplanes < 1 || st->hyperplanes > 63 || st->sample < 1 || st->max_iter < 0 || !(st->tol >= 0)) {
        host->set_error(host, "kmeans: hyperplanes must be in [1, 63], sample >= 1, max_iter >= 0, tol >= 0");
        free(st);
        return NMP_ERR_INVALID;
    }
    *state = st;
    return NMP_OK;
}

static nmp_status finish_nomem(const km_run *r)
{
    r->h->set_error(r->h, "kmeans: out of memory assigning %lld points", (long long)r->n);
    return NMP_ERR_NOMEM;
}

/* Assigns every point, repairs or drops empty cells and sets the centroids to the cell means. */
static nmp_status kmeans_finish(km_run *r, nmp_partition *out)
{
    const nmp_host *h = r->h;
    float *dist2 = malloc((size_t)r->n * sizeof *dist2);
    int64_t *counts = malloc((size_t)r->k * sizeof *counts);
    nmp_status s = (dist2 && counts) ? r->eng->assign(r, 1, out->cell_of, dist2) : finish_nomem(r);
    if (s == NMP_OK) {
        double inertia = 0.0;
        for (int64_t i = 0; i < r->n; i++) inertia += dist2[i];
        out->empty_cells = km_count(out->cell_of, r->n, r->k, counts);
        int reseed = out->empty_cells > 0 && !r->st->drop_empty;
        if (reseed && km_reseed(r->n, r->k, out->cell_of, dist2, counts) != NMP_OK) s = finish_nomem(r);
        if (s == NMP_OK) s = r->eng->means(r, 1, out->cell_of, reseed);
        out->cells = r->k;
        if (s == NMP_OK && out->empty_cells > 0 && r->st->drop_empty) {
            out->cells = part_drop_empty(out->cell_of, r->n, counts, r->k, r->centroids, r->d);
            if (out->cells < 0) s = finish_nomem(r), out->cells = r->k;
            else h->log(h, NMP_LOG_WARN, "kmeans: dropped %d empty cells, %d cells remain (renumbered)",
                        out->empty_cells, out->cells);
        } else if (s == NMP_OK && out->empty_cells > 0) {
            h->log(h, NMP_LOG_WARN, "kmeans: %d empty cells reseeded with their farthest points", out->empty_cells);
        }
        h->log(h, NMP_LOG_INFO, "kmeans: %d cells, %lld iterations on %lld of %lld points, inertia %.6g",
               out->cells, (long long)out->iterations, (long long)r->m, (long long)r->n, inertia);
    }
    free(dist2), free(counts);
    return s;
}

static nmp_status kmeans_run(kmeans_state *st, const nmp_matrix *x, nmp_partition *out, const km_engine *eng)
{
    const nmp_host *h = st->host;
    if (out->cells < 1 || out->cells > x->n) {
        h->set_error(h, "kmeans: cells must be in [1, points = %lld], got %d", (long long)x->n, out->cells);
        return NMP_ERR_INVALID;
    }
    int64_t m = st->sample_per_cell * out->cells > st->sample ? st->sample_per_cell * out->cells : st->sample;
    km_run r = {h, st, x->x, x->n, x->d, NULL, x->n < m ? x->n : m, out->cells, out->centroids, eng, NULL};
    if (r.m < r.k) r.m = r.k; /* every cell needs a seed point */
    r.rows = malloc((size_t)r.m * sizeof *r.rows);
    if (!r.rows) {
        h->set_error(h, "kmeans: out of memory for a %lld-point sample", (long long)r.m);
        return NMP_ERR_NOMEM;
    }
    part_sample_sorted(h->seed, NMP_STREAM_PARTITION, KM_RNG_SAMPLE, r.m, r.n, r.rows);
    out->iterations = 0;
    out->empty_cells = 0;
    nmp_status s = km_seed(&r);
    if (s == NMP_OK) s = km_lloyd(&r, &out->iterations);
    if (s == NMP_OK) s = kmeans_finish(&r, out);
    if (eng->release) eng->release(&r);
    free(r.rows);
    return s;
}

static nmp_status kmeans_partition_on(void *state, const nmp_matrix *x, nmp_partition *out, plugin_device dev)
{
#ifdef NOMAD_CUDA
    if (dev == PLUGIN_ON_CUDA) return kmeans_run(state, x, out, &km_cuda_engine);
#endif
    return kmeans_run(state, x, out, &km_cpu_engine);
}

PLUGIN_REGISTER_ON_DEVICES(NMP_KIND_PARTITIONER, "kmeans", "1.2.0",
                           "K-means cells: LSH / k-means++ / random seeds, Lloyd on a sample, GEMM assignment",
                           kmeans_params, kmeans_create, free, partition, kmeans_partition_on,
                           (void *state, const nmp_matrix *x, nmp_partition *out), state, x, out);
