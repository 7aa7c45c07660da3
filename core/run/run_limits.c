/* What a run may take, checked before it takes it: the input's size against the config, and
 * the peak memory (estimated from the shapes alone) against what the machine has. Used by
 * the local load stage and the distributed one. */
#include <math.h>
#include <stdint.h>

#include "host.h"
#include "stages.h"

/* Resident bytes now (VmRSS): the program, its libraries and plugins, before any data. */
static double rss_now(void) { return nmp_proc_kb_bytes("/proc/self/status", "VmRSS"); }

static double available_bytes(void) { return nmp_proc_kb_bytes("/proc/meminfo", "MemAvailable"); }

/* Peak resident bytes of a run on n x d input that takes `input` bytes once read: what is
 * resident now, the input, and the larger of the two stages that hold the most at once.
 * The ann stage: its graph (index and distance, 8 bytes an edge; with `refine`, refine x k
 * candidates a point first), a projected copy of the data when it searches in PCA space (and,
 * with refine, its byte copy of pixel data; searching the input space itself, exact kNN's
 * packed byte rows of both sides), and
 * per-thread distance blocks, the PCA's block of rows. The affinity stage: the kNN graph, the conditional weights,
 * the symmetrisation's sorted rows and transpose, and the result of up to 2k edges a point
 * (48 bytes per kNN edge in all). Init and fit hold less but for the PCA init's sample on
 * wide data, then the picture. The ann plugin's `pca` and `refine` are the one plugin
 * detail counted here: they are its largest arrays. tests/e2e/memory.sh holds the estimate
 * to 25% of the measured peak. */
static double estimate_bytes(const nmp_run *r, double n, double d, double input)
{
    const nmp_config *c = r->cfg;
    const nmp_params *ann = &r->inst[NMP_KIND_ANN].params;
    const double k = (double)c->ann.k, threads = (double)nmp_host_settings()->threads;
    const double pca = (double)nmp_param_int(ann, "pca"), refine = (double)nmp_param_int(ann, "refine");
    const double scaled = c->data.scale != 1.0 ? n * d * 4 : 0;
    const double searched = pca > 0 && pca < d ? n * pca * 4 : 0;
    const double edges = n * k * (searched > 0 && refine > 1 ? refine : 1) * 8 + n * 8;
    const double pca_blocks = d * 4096 * 4 + d * d * 4; /* PCA (ann and init): a block of rows, a covariance */
    /* byte copies of pixel data, counted whatever the data (an upper bound): the refine's, the
     * recall sample's packed base rows, or, searching the input space, the exact search's packed
     * base and query rows (kernels/knn_u8.h) */
    const double bytes = searched > 0 ? n * d : 2 * n * d;
    const double ann_stage = searched + edges + bytes + threads * 1024.0 * 2048 * 4 + pca_blocks;
    const double affinity_stage = n * k * 48 + n * 56;
    /* init and fit: the weighted graph, the layout with velocity and gradient, and the PCA
     * init's blocks and sample of up to 10,000 rows */
    const double fit = n * k * 16 + n * (double)c->dims * 4 * 3 + n * 16 + pca_blocks + (n < 1e4 ? n : 1e4) * d * 4;
    /* map.png: a count per pixel, with labels a colour sum too, and the RGB image */
    const int labelled = c->data.labels[0] || nmp_data_default_labels(c->data.path);
    const double side = (double)c->output.plot_size, plot = c->output.plot ? side * side * (labelled ? 19 : 7) : 0;
    const double stage = ann_stage > affinity_stage ? ann_stage : affinity_stage;
    return rss_now() + input + scaled + (stage > fit ? stage : fit) + plot; /* freed heap is seldom returned */
}

/* Refuses a run that would not fit; says nothing otherwise (the estimate is logged once the
 * input has passed its checks, so an input error stays one line). */
static nmp_status check_memory(nmp_run *r, double n, double d, nmp_err *err)
{
    r->available_bytes = available_bytes();
    if (r->available_bytes > 0 && r->estimate_bytes > r->available_bytes)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: %.0f x %.0f: the run needs about %.2f GiB but only %.2f GiB is available; use data.limit or "
                        "a smaller ann.k", r->cfg->data.path, n, d, r->estimate_bytes / 1073741824.0,
                        r->available_bytes / 1073741824.0);
    return NMP_OK;
}

void nmp_stage_log_memory(const nmp_run *r, int64_t n, int64_t d)
{
    nmp_log(NMP_LOG_INFO, "memory: about %.2f GiB at peak for %lld x %lld (%.2f GiB available)",
            r->estimate_bytes / 1073741824.0, (long long)n, (long long)d, r->available_bytes / 1073741824.0);
}

nmp_status nmp_stage_check_memory_for(nmp_run *r, int64_t n, int64_t d, double input_bytes, nmp_err *err)
{
    r->estimate_bytes = estimate_bytes(r, (double)n, (double)d, input_bytes);
    return check_memory(r, (double)n, (double)d, err);
}

nmp_status nmp_stage_check_memory(nmp_run *r, nmp_err *err)
{
    return nmp_stage_check_memory_for(r, r->x.n, r->x.d, (double)r->x.n * (double)r->x.d * 4, err);
}

/* partitioner.cells, or with 0 cells_root x sqrt(n) rounded (at least 1, at most n): a cell's
 * mass and the number of means each target sees both grow as sqrt(n). */
static int64_t cells_for(const nmp_config *c, int64_t n)
{
    if (c->partitioner.cells > 0) return c->partitioner.cells;
    double cells = floor(c->partitioner.cells_root * sqrt((double)n) + 0.5);
    return cells < 1 ? 1 : cells > (double)n ? n : (int64_t)cells;
}

nmp_status nmp_stage_check_sizes(nmp_run *r, int64_t n, nmp_err *err)
{
    const nmp_config *c = r->cfg;
    int64_t cells = cells_for(c, n);
    if (n <= c->ann.k)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld point%s, but ann.k = %lld needs at least %lld", c->data.path,
                        (long long)n, n == 1 ? "" : "s", (long long)c->ann.k, (long long)c->ann.k + 1);
    if (n < cells)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld point%s, fewer than partitioner.cells = %lld", c->data.path,
                        (long long)n, n == 1 ? "" : "s", (long long)cells);
    if (n > INT32_MAX)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld points; this build indexes at most %d", c->data.path,
                        (long long)n, INT32_MAX);
    if (c->partitioner.cells == 0 && cells != r->cells_asked)
        nmp_log(NMP_LOG_INFO, "partitioner: %lld cells for %lld points (cells_root %g x sqrt(n))", (long long)cells,
                (long long)n, c->partitioner.cells_root);
    r->cells_asked = (int32_t)cells;
    return NMP_OK;
}
