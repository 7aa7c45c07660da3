/* A distributed run's plumbing: opening the comm layer, the optimiser's per-step all-reduce
 * of cell sums, gathering the layout on rank 0, and the per-rank record for run.json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dist.h"
#include "host.h"

nmp_status nmp_dist_open(nmp_run *r, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    nmp_comm *comm = NULL;
    nmp_status s = nmp_comm_open(c->distributed.backend, c->distributed.abort_timeout, &comm, err);
#ifdef NOMAD_HAVE_MPI
    if (s != NMP_OK && c->distributed.backend == NMP_BACKEND_LOCAL && nmp_comm_launcher_size() > 1) {
        /* mpirun started copies of a local run: join MPI only so that rank 0 says why and the
         * others wait for it in MPI_Finalize instead of tearing the job down first */
        nmp_err ignored = {0};
        if (nmp_comm_open(NMP_BACKEND_MPI, c->distributed.abort_timeout, &comm, &ignored) == NMP_OK) {
            nmp_host_config hc = *nmp_host_settings();
            hc.rank = nmp_comm_rank(comm), hc.ranks = nmp_comm_size(comm);
            nmp_host_configure(&hc);
        }
    }
#endif
    if (s != NMP_OK || c->distributed.backend == NMP_BACKEND_LOCAL) { /* local: the one-process path */
        nmp_comm_close(comm);
        return s;
    }
    nmp_dist *d = &r->dist;
    d->comm = comm, d->rank = nmp_comm_rank(comm), d->ranks = nmp_comm_size(comm);
    nmp_host_config hc = *nmp_host_settings();
    hc.rank = d->rank, hc.ranks = d->ranks, hc.comm = comm;
    hc.quiet = hc.quiet || d->rank != 0; /* one voice: rank 0 speaks, every rank warns */
    nmp_host_configure(&hc);
    nmp_log(NMP_LOG_INFO, "distributed: %s back end, %d ranks of %d threads", nmp_comm_backend_name(comm), d->ranks,
            hc.threads);
    return NMP_OK;
}

void nmp_dist_close(nmp_run *r)
{
    if (!r->dist.comm) return;
    nmp_host_config hc = *nmp_host_settings();
    hc.comm = NULL; /* rank and ranks stay: the CLI prints a failure on rank 0 only */
    nmp_host_configure(&hc);
    nmp_comm_close(r->dist.comm);
    r->dist.comm = NULL;
}

void nmp_dist_free(nmp_dist *d)
{
    free(d->slice_owned);
    if (d->map) munmap(d->map, d->map_len);
    free(d->x_local), free(d->gid), free(d->cell_mass), free(d->owner), free(d->y_all);
    nmp_data_close(&d->eval_data);
    free(d->eval_scaled), free(d->rank_stats);
    d->slice_owned = NULL, d->map = NULL, d->x_local = NULL, d->gid = NULL, d->cell_mass = NULL, d->owner = NULL;
    d->y_all = NULL, d->eval_scaled = NULL, d->rank_stats = NULL;
}

/* The optimiser's cell sums over all ranks, in place. Cells are whole on one rank, so each
 * sum is its owner's value plus zeros: exact, and the same on every rank. A NaN or Inf in any
 * rank's sums reaches every rank here, so all of them stop at the same step. */
static int all_finite(const double *v, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static int reduce_cells(void *ctx, double *sums, int64_t count)
{
    nmp_run *r = ctx;
    nmp_err err = {0};
    r->dist.nan_here |= !all_finite(sums, count);
    if (nmp_comm_allreduce_sum(r->dist.comm, sums, sums, (size_t)count, NMP_DTYPE_F64, &err) != NMP_OK) {
        nmp_log(NMP_LOG_ERROR, "optimize: %s", err.msg);
        return 1;
    }
    r->dist.nan_seen |= !all_finite(sums, count);
    return r->dist.nan_seen;
}

nmp_status nmp_dist_fit_failed(nmp_run *r, nmp_status st, nmp_err *err)
{
    nmp_dist *d = &r->dist;
    if (!d->nan_seen) return st;
    int64_t origins = d->nan_here;
    nmp_err ignored = {0};
    if (nmp_comm_allreduce_sum(d->comm, &origins, &origins, 1, NMP_DTYPE_I64, &ignored) != NMP_OK) return st;
    return origins > 0 && !d->nan_here ? NMP_OK : st;
}

void nmp_dist_opt_settings(nmp_run *r, nmp_opt_settings *s)
{
    if (!r->dist.comm) return;
    const nmp_config *c = r->cfg;
    s->lr = nmp_config_lr(c, r->dist.n_total, r->dist.ranks); /* N of all ranks */
    s->n_total = r->dist.n_total;
    s->cell_mass = r->dist.cell_mass;
    s->reduce_cells = reduce_cells;
    s->reduce_ctx = r;
}

nmp_status nmp_dist_gather_layout(nmp_run *r, const float *y, float **all, nmp_err *err)
{
    nmp_dist *d = &r->dist;
    int64_t n = r->x.n, dims = r->cfg->dims;
    size_t *buf = calloc(6 * (size_t)d->ranks, sizeof *buf);
    size_t *rows = buf, *from = buf + d->ranks, *ys = buf + 2 * d->ranks, *yr = buf + 3 * d->ranks;
    size_t *gs = buf + 4 * d->ranks, *gr = buf + 5 * d->ranks, total = 0;
    *all = NULL;
    nmp_status s = buf ? NMP_OK : nmp_fail(err, NMP_ERR_NOMEM, "out of memory gathering the layout");
    s = nmp_comm_agree(d->comm, s, err);
    if (s != NMP_OK) return s;
    rows[0] = (size_t)n;
    s = nmp_comm_exchange_counts(d->comm, rows, from, err);
    for (int p = 0; p < d->ranks; p++) total += from[p];
    ys[0] = (size_t)(n * dims) * sizeof(float), gs[0] = (size_t)n * sizeof(int64_t);
    for (int p = 0; p < d->ranks; p++)
        yr[p] = from[p] * (size_t)dims * sizeof(float), gr[p] = from[p] * sizeof(int64_t);
    float *y_in = malloc(total * (size_t)dims * sizeof(float) + 1);
    int64_t *g_in = malloc(total * sizeof(int64_t) + 1);
    if (d->rank == 0) *all = malloc((size_t)(d->n_total * dims) * sizeof(float));
    if (s == NMP_OK && (!y_in || !g_in || (d->rank == 0 && !*all)))
        s = nmp_fail(err, NMP_ERR_NOMEM, "out of memory gathering %zu layout rows", total);
    s = nmp_comm_agree(d->comm, s, err);
    if (s == NMP_OK) s = nmp_comm_alltoallv(d->comm, y, ys, y_in, yr, err);
    if (s == NMP_OK) s = nmp_comm_alltoallv(d->comm, d->gid, gs, g_in, gr, err);
    for (size_t i = 0; s == NMP_OK && d->rank == 0 && i < total; i++)
        memcpy(*all + g_in[i] * dims, y_in + i * (size_t)dims, (size_t)dims * sizeof(float));
    if (s != NMP_OK) free(*all), *all = NULL;
    free(buf), free(y_in), free(g_in);
    return s;
}

nmp_status nmp_dist_gather_stats(nmp_run *r, nmp_err *err)
{
    nmp_dist *d = &r->dist;
    const nmp_comm_stats *cs = nmp_comm_stats_get(d->comm);
    nmp_dist_rank_stats mine = {.bytes_sent = (double)cs->bytes_sent,
                                .bytes_received = (double)cs->bytes_received,
                                .comm_seconds = cs->seconds,
                                .comm_calls = (double)cs->calls,
                                .points = (double)d->n_local,
                                .peak_rss_bytes = nmp_peak_rss_bytes()};
    memcpy(mine.stage_seconds, r->stage_seconds, sizeof mine.stage_seconds);
    memcpy(mine.stage_bytes, d->stage_bytes, sizeof mine.stage_bytes);
    memcpy(mine.stage_comm_seconds, d->stage_comm_seconds, sizeof mine.stage_comm_seconds);
    for (int32_t c = 0; c < r->cells.view.count; c++) mine.cells += r->cell_local[c];
    nmp_dist_rank_stats *all = malloc((size_t)d->ranks * sizeof *all);
    nmp_status s = nmp_comm_agree(d->comm, all ? NMP_OK : nmp_fail(err, NMP_ERR_NOMEM, "out of memory"), err);
    if (s == NMP_OK) s = nmp_comm_allgather(d->comm, &mine, all, sizeof mine, err);
    if (s == NMP_OK && d->rank == 0)
        d->rank_stats = all;
    else
        free(all);
    return s;
}

static void stage_object(nmp_json *j, const char *key, const double *v)
{
    nmp_json_key(j, key);
    nmp_json_begin_object(j);
    for (int s = 0; s < STAGE_COUNT; s++) nmp_json_kv_number(j, nmp_stage_names[s], v[s]);
    nmp_json_end_object(j);
}

static void rank_json(nmp_json *j, int rank, const nmp_dist_rank_stats *st)
{
    nmp_json_begin_object(j);
    nmp_json_kv_int(j, "rank", rank);
    nmp_json_kv_int(j, "points", (int64_t)st->points);
    nmp_json_kv_int(j, "cells", (int64_t)st->cells);
    stage_object(j, "stage_seconds", st->stage_seconds);
    stage_object(j, "stage_bytes", st->stage_bytes);
    stage_object(j, "stage_comm_seconds", st->stage_comm_seconds);
    nmp_json_kv_number(j, "bytes_sent", st->bytes_sent);
    nmp_json_kv_number(j, "bytes_received", st->bytes_received);
    nmp_json_kv_number(j, "comm_seconds", st->comm_seconds);
    nmp_json_kv_int(j, "comm_calls", (int64_t)st->comm_calls);
    nmp_json_kv_number(j, "peak_rss_bytes", st->peak_rss_bytes);
    nmp_json_end_object(j);
}

/* Load imbalance: the largest rank over the mean, of points or of the optimiser's busy time
 * (its stage time less the time spent waiting in collectives, which hides imbalance). */
static double imbalance(const nmp_dist_rank_stats *all, int ranks, int optimize_busy)
{
    double most = 0, sum = 0;
    for (int p = 0; p < ranks; p++) {
        const nmp_dist_rank_stats *st = &all[p];
        double v =
            optimize_busy ? st->stage_seconds[STAGE_OPTIMIZE] - st->stage_comm_seconds[STAGE_OPTIMIZE] : st->points;
        most = v > most ? v : most, sum += v;
    }
    return sum > 0 ? most * ranks / sum : 1.0;
}

void nmp_dist_record_json(nmp_json *j, const nmp_run *r)
{
    const nmp_dist *d = &r->dist;
    const nmp_dist_rank_stats *all = d->rank_stats;
    if (!d->comm || !all) return;
    double sent = 0;
    for (int p = 0; p < d->ranks; p++) sent += all[p].bytes_sent;
    nmp_json_key(j, "distributed");
    nmp_json_begin_object(j);
    nmp_json_kv_string(j, "backend", nmp_comm_backend_name(d->comm));
    nmp_json_kv_int(j, "ranks", d->ranks);
    nmp_json_kv_string(j, "cell_placement",
                       r->cfg->distributed.cell_placement == NMP_PLACEMENT_BALANCED ? "balanced" : "round_robin");
    nmp_json_kv_int(j, "points", d->n_total);
    nmp_json_kv_number(j, "load_imbalance_points", imbalance(all, d->ranks, 0));
    nmp_json_kv_number(j, "load_imbalance_optimize_busy", imbalance(all, d->ranks, 1));
    /* per step: one all-reduce of the cell sums (cells x dims doubles) */
    nmp_json_kv_int(j, "bytes_per_step", (int64_t)r->cells.view.count * r->cfg->dims * (int64_t)sizeof(double));
    nmp_json_kv_int(j, "steps", r->opt.steps);
    nmp_json_key(j, "cell_sizes");
    nmp_json_begin_array(j);
    for (int32_t c = 0; c < r->cells.view.count; c++) nmp_json_int(j, (int64_t)d->cell_mass[c]);
    nmp_json_end_array(j);
    nmp_json_key(j, "cell_rank");
    nmp_json_begin_array(j);
    for (int32_t c = 0; c < r->cells.view.count; c++) nmp_json_int(j, d->owner[c]);
    nmp_json_end_array(j);
    nmp_json_kv_number(j, "bytes_sent_all_ranks", sent);
    nmp_json_key(j, "per_rank");
    nmp_json_begin_array(j);
    for (int p = 0; p < d->ranks; p++) rank_json(j, p, &all[p]);
    nmp_json_end_array(j);
    nmp_json_end_object(j);
}
