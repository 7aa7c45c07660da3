/* Distributed K-Means: a sample of every rank's rows goes to rank 0, whose partitioner
 * plugin seeds the centroids (one broadcast); Lloyd steps over all rows then all-reduce the
 * centroid sums and counts, and every row goes to its nearest centroid. The sample and the
 * sums depend on the seed and the input only, so the cells barely move with the rank count. */
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "host.h"
#include "kmeans_cpu.h"
#include "nomad/rng.h"

/* Exchange of whole cells (dist_exchange.c). */
nmp_status nmp_dist_exchange(nmp_run *r, int32_t *cell_of, const int64_t *counts, float *centroids, int32_t cells,
                             nmp_err *err);

#define SAMPLE_PURPOSE 0x4449535453414d50ull /* counter space of the sample draws */

/* This rank's rows of the sample: row i is in with probability sample / n_total, decided by
 * (seed, i) alone, so the sample is the same for every rank count. */
static int64_t pick_sample(const nmp_run *r, int64_t *rows)
{
    const nmp_dist *d = &r->dist;
    double p = (double)r->cfg->distributed.sample / (double)d->n_total;
    int64_t m = 0;
    for (int64_t i = d->slice_begin; i < d->slice_end; i++)
        if (p >= 1.0 || nmp_rng_uniform((uint64_t)r->cfg->seed, NMP_STREAM_PARTITION,
                                        nmp_rng_counter2(SAMPLE_PURPOSE, (uint64_t)i)) < p)
            rows[m++] = i - d->slice_begin;
    return m;
}

/* Sends the sampled rows to rank 0 (in input row order there); *m is their count on rank 0. */
static nmp_status gather_sample(nmp_run *r, float **sample, int64_t *m, nmp_err *err)
{
    nmp_dist *d = &r->dist;
    int64_t dim = r->x.d, mine = 0;
    int64_t *rows = malloc((size_t)r->x.n * sizeof *rows + 1);
    size_t *bytes = calloc(2 * (size_t)d->ranks, sizeof *bytes), *recv = bytes + d->ranks;
    float *send = NULL;
    nmp_status s = rows && bytes ? NMP_OK : nmp_fail(err, NMP_ERR_NOMEM, "out of memory for the partition sample");
    if (s == NMP_OK) {
        mine = pick_sample(r, rows);
        send = malloc((size_t)(mine * dim) * sizeof *send + 1);
        if (!send) s = nmp_fail(err, NMP_ERR_NOMEM, "out of memory for %lld sample rows", (long long)mine);
        for (int64_t i = 0; send && i < mine; i++)
            memcpy(send + i * dim, r->x.x + rows[i] * dim, (size_t)dim * sizeof *send);
        bytes[0] = (size_t)(mine * dim) * sizeof *send;
    }
    s = nmp_comm_agree(d->comm, s, err);
    if (s == NMP_OK) s = nmp_comm_exchange_counts(d->comm, bytes, recv, err);
    size_t total = 0;
    for (int p = 0; s == NMP_OK && p < d->ranks; p++) total += recv[p];
    *m = (int64_t)(total / (sizeof **sample * (size_t)dim));
    *sample = s == NMP_OK ? malloc(total + 1) : NULL;
    s = nmp_comm_agree(d->comm,
                       s == NMP_OK && !*sample ? nmp_fail(err, NMP_ERR_NOMEM, "out of memory for the sample") : s, err);
    if (s == NMP_OK) s = nmp_comm_alltoallv(d->comm, send, bytes, *sample, recv, err);
    free(rows), free(bytes), free(send);
    return s;
}

/* Rank 0: the partitioner plugin on the sample gives the seed centroids. */
static nmp_status seed_centroids(nmp_run *r, const float *sample, int64_t m, int64_t *header, float *centroids,
                                 nmp_err *err)
{
    nmp_instance *in = &r->inst[NMP_KIND_PARTITIONER];
    int32_t asked = r->cells_asked;
    if (m < asked)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "distributed.sample = %lld drew %lld rows, fewer than partitioner.cells = %d; "
                        "raise distributed.sample",
                        (long long)r->cfg->distributed.sample, (long long)m, asked);
    int32_t *cell_of = malloc((size_t)m * sizeof *cell_of);
    if (!cell_of) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory for the partition of the sample");
    nmp_partition part = {.cells = asked, .cell_of = cell_of, .centroids = centroids};
    nmp_matrix x = {.n = m, .d = r->x.d, .x = sample};
    const nmp_partitioner_ops *ops = in->ops;
    nmp_status s = ops->partition(in->state, &x, &part);
    free(cell_of);
    if (s != NMP_OK) return nmp_instance_fail(in, s, "partition", err);
    if (part.cells < 1 || part.cells > asked)
        return nmp_fail(err, NMP_ERR_RUNTIME, "partitioner %s returned %d cells, outside [1, %d]", in->ref->desc->name,
                        part.cells, asked);
    header[0] = part.cells, header[1] = part.iterations, header[2] = part.empty_cells;
    return NMP_OK;
}

typedef struct {
    int32_t *assign;
    float *dist2;
    int64_t *start, *counts;
    int32_t *member;
    double *sums;
} lloyd_buffers;

/* One Lloyd step over every rank's rows; returns shift / norm of the centroids in *moved. */
static nmp_status lloyd_step(nmp_run *r, lloyd_buffers *b, float *centroids, int32_t cells, double *moved, nmp_err *err)
{
    const nmp_matrix *x = &r->x;
    nmp_status s = kmeans_assign_cpu(x->x, x->n, x->d, centroids, cells, b->assign, b->dist2);
    if (s != NMP_OK) s = nmp_fail(err, s, "out of memory assigning %lld rows to centroids", (long long)x->n);
    s = nmp_comm_agree(r->dist.comm, s, err);
    if (s != NMP_OK) return s;
    kmeans_members_cpu(b->assign, NULL, x->n, cells, b->start, b->member);
    kmeans_sums_job job;
    nmp_parallel_for(kmeans_sums_job_init(&job, x->x, x->d, b->start, b->member, cells, b->sums), kmeans_sums_range,
                     &job);
    for (int32_t c = 0; c < cells; c++) b->counts[c] = b->start[c + 1] - b->start[c];
    s = nmp_comm_allreduce_sum(r->dist.comm, b->sums, b->sums, (size_t)(cells * x->d), NMP_DTYPE_F64, err);
    if (s == NMP_OK) s = nmp_comm_allreduce_sum(r->dist.comm, b->counts, b->counts, (size_t)cells, NMP_DTYPE_I64, err);
    double shift = 0, norm = 0;
    for (int64_t c = 0; s == NMP_OK && c < cells; c++) {
        if (!b->counts[c]) continue; /* an empty cell keeps its centroid */
        for (int64_t j = 0; j < x->d; j++) {
            float v = (float)(b->sums[c * x->d + j] / (double)b->counts[c]);
            double delta = (double)v - centroids[c * x->d + j];
            shift += delta * delta, norm += (double)v * v;
            centroids[c * x->d + j] = v;
        }
    }
    *moved = norm > 0 ? shift / norm : 0;
    return s;
}

static nmp_status lloyd_alloc(lloyd_buffers *b, int64_t n, int64_t d, int32_t cells, nmp_err *err)
{
    b->assign = malloc((size_t)n * sizeof *b->assign + 1);
    b->dist2 = malloc((size_t)n * sizeof *b->dist2 + 1);
    b->start = malloc(((size_t)cells + 1) * sizeof *b->start);
    b->counts = malloc((size_t)cells * sizeof *b->counts);
    b->member = malloc((size_t)n * sizeof *b->member + 1);
    b->sums = malloc((size_t)(cells * d) * sizeof *b->sums);
    if (b->assign && b->dist2 && b->start && b->counts && b->member && b->sums) return NMP_OK;
    return nmp_fail(err, NMP_ERR_NOMEM, "out of memory for Lloyd over %lld rows and %d cells", (long long)n, cells);
}

static void lloyd_free(lloyd_buffers *b)
{
    free(b->dist2), free(b->start), free(b->member), free(b->sums);
    b->dist2 = NULL, b->start = NULL, b->member = NULL, b->sums = NULL;
}

/* Lloyd over all rows (distributed.lloyd_iter, lloyd_tol), then the final assignment and
 * global cell sizes. Every rank takes the same decisions: they see the same reduced sums. */
static nmp_status refine(nmp_run *r, float *centroids, int32_t cells, lloyd_buffers *b, int64_t *iterations,
                         nmp_err *err)
{
    nmp_status s = lloyd_alloc(b, r->x.n, r->x.d, cells, err);
    s = nmp_comm_agree(r->dist.comm, s, err);
    double moved = 1;
    for (*iterations = 0; s == NMP_OK && *iterations < r->cfg->distributed.lloyd_iter; ++*iterations) {
        if (moved <= r->cfg->distributed.lloyd_tol) break;
        s = lloyd_step(r, b, centroids, cells, &moved, err);
    }
    if (s == NMP_OK) s = kmeans_assign_cpu(r->x.x, r->x.n, r->x.d, centroids, cells, b->assign, b->dist2);
    s = nmp_comm_agree(r->dist.comm, s == NMP_ERR_NOMEM ? nmp_fail(err, s, "out of memory assigning rows") : s, err);
    for (int32_t c = 0; s == NMP_OK && c < cells; c++) b->counts[c] = 0;
    for (int64_t i = 0; s == NMP_OK && i < r->x.n; i++) b->counts[b->assign[i]]++;
    if (s == NMP_OK) s = nmp_comm_allreduce_sum(r->dist.comm, b->counts, b->counts, (size_t)cells, NMP_DTYPE_I64, err);
    return s;
}

/* Empty cells are dropped and the rest renumbered in order (they cannot be placed). */
static int32_t drop_empty(int32_t *assign, int64_t n, int64_t *counts, float *centroids, int64_t d, int32_t cells)
{
    int32_t *to = malloc((size_t)cells * sizeof *to), kept = 0;
    if (!to) return -1;
    for (int32_t c = 0; c < cells; c++) {
        to[c] = counts[c] ? kept : -1;
        if (!counts[c]) continue;
        counts[kept] = counts[c];
        memmove(centroids + kept * d, centroids + (int64_t)c * d, (size_t)d * sizeof *centroids);
        kept++;
    }
    for (int64_t i = 0; i < n; i++) assign[i] = to[assign[i]];
    free(to);
    return kept;
}

nmp_status nmp_dist_partition(nmp_run *r, nmp_err *err)
{
    nmp_dist *d = &r->dist;
    int32_t asked = r->cells_asked;
    float *sample = NULL, *centroids = malloc((size_t)(asked * r->x.d) * sizeof *centroids);
    int64_t m = 0, header[3] = {0}, iterations = 0;
    nmp_status s = centroids ? NMP_OK : nmp_fail(err, NMP_ERR_NOMEM, "out of memory for %d centroids", asked);
    s = nmp_comm_agree(d->comm, s, err);
    if (s == NMP_OK) s = gather_sample(r, &sample, &m, err);
    if (s == NMP_OK && d->rank == 0) s = seed_centroids(r, sample, m, header, centroids, err);
    free(sample);
    if (d->rank == 0 && s == NMP_OK)
        nmp_log(NMP_LOG_INFO, "partition: seeds from %s on %lld sampled rows",
                r->inst[NMP_KIND_PARTITIONER].ref->desc->name, (long long)m);
    s = nmp_comm_agree(d->comm, s, err);
    if (s == NMP_OK) s = nmp_comm_broadcast(d->comm, header, sizeof header, 0, err);
    int32_t cells = (int32_t)header[0];
    if (s == NMP_OK) s = nmp_comm_broadcast(d->comm, centroids, (size_t)(cells * r->x.d) * sizeof *centroids, 0, err);
    lloyd_buffers b = {0};
    if (s == NMP_OK) s = refine(r, centroids, cells, &b, &iterations, err);
    if (s == NMP_OK) {
        r->partition_iterations = header[1] + iterations;
        r->empty_cells = (int32_t)header[2];
        int32_t kept = drop_empty(b.assign, r->x.n, b.counts, centroids, r->x.d, cells);
        if (kept < 0)
            s = nmp_fail(err, NMP_ERR_NOMEM, "out of memory renumbering cells");
        else if (kept < cells && d->rank == 0)
            nmp_log(NMP_LOG_WARN, "partition: %d cells came out empty after Lloyd and were dropped", cells - kept);
        if (kept >= 0) r->empty_cells += cells - kept, cells = kept;
    }
    s = nmp_comm_agree(d->comm, s, err);
    if (s == NMP_OK && cells < d->ranks)
        s = nmp_fail(err, NMP_ERR_RUNTIME, "partition: only %d non-empty cells for %d ranks; lower the rank count",
                     cells, d->ranks);
    lloyd_free(&b);
    if (s == NMP_OK) {
        if (d->rank == 0)
            nmp_log(NMP_LOG_INFO, "partition: %d cells, %lld Lloyd iterations over all %lld rows", cells,
                    (long long)iterations, (long long)d->n_total);
        s = nmp_dist_exchange(r, b.assign, b.counts, centroids, cells, err); /* takes assign and centroids */
        b.assign = NULL, centroids = NULL;
    }
    free(b.assign), free(b.counts), free(centroids);
    return s;
}
