/* nomad plugin ABI: the one header a plugin includes. Everything a plugin sees of the host
 * comes through `nmp_host`; a plugin links against nothing of the host. */
#ifndef NOMAD_PLUGIN_H
#define NOMAD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new major breaks old plugins: the host refuses a plugin of another major. A new minor only
 * appends members to structs (descriptor, host table, ops, step structs) or names new
 * extensions: the host accepts a plugin built for its minor or an older one (it reads descriptor
 * members past NMP_PLUGIN_BASE_SIZE only where struct_size covers them) and refuses a newer one
 * (which may read members this host does not fill); a plugin checks host->struct_size before
 * it uses host members newer than its own minor. */
#define NMP_ABI_MAJOR 2
#define NMP_ABI_MINOR 2

/* ------------------------------------------------------------------ parameters */

typedef enum {
    NMP_PARAM_INT = 1,    /* int64 */
    NMP_PARAM_DOUBLE = 2, /* double */
    NMP_PARAM_BOOL = 3,   /* true/false */
    NMP_PARAM_STRING = 4, /* free text */
    NMP_PARAM_ENUM = 5,   /* one of `choices` ("a|b|c"), or a choice followed by ":N" if it ends with ":" */
} nmp_param_type;

/* A declared parameter. Lives in the plugin's static data (plugin owns, never freed). */
typedef struct {
    const char *name;
    nmp_param_type type;
    const char *default_value; /* as YAML text, e.g. "0.8", "lsh", "true" */
    double min, max;           /* inclusive range for INT/DOUBLE; min > max means unbounded */
    const char *choices;       /* ENUM only: "remote|all|nearest_exact:" ; NULL otherwise */
    const char *doc;           /* one line */
} nmp_param_decl;

/* A resolved value. `s` is set for every type (the text as written or defaulted). */
typedef struct {
    const char *name; /* host owns (points into the plugin's declaration) */
    nmp_param_type type;
    int64_t i;     /* INT, BOOL (0/1), ENUM suffix after ':' (0 if none) */
    double d;      /* INT and DOUBLE */
    const char *s; /* host owns; valid until destroy() returns */
} nmp_param_value;

/* All declared parameters of one plugin, resolved (config value or default). Host owns;
 * valid from create() until destroy() returns. */
typedef struct {
    uint32_t count;
    const nmp_param_value *items;
} nmp_params;

static inline const nmp_param_value *nmp_params_find(const nmp_params *p, const char *name)
{
    for (uint32_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0) return &p->items[i];
    return NULL;
}
/* Accessors for declared names; an undeclared name returns 0 / NULL. */
static inline int64_t nmp_param_int(const nmp_params *p, const char *name)
{
    const nmp_param_value *v = nmp_params_find(p, name);
    return v ? v->i : 0;
}
static inline double nmp_param_double(const nmp_params *p, const char *name)
{
    const nmp_param_value *v = nmp_params_find(p, name);
    return v ? v->d : 0.0;
}
static inline const char *nmp_param_string(const nmp_params *p, const char *name)
{
    const nmp_param_value *v = nmp_params_find(p, name);
    return v ? v->s : NULL;
}
/* For ENUM values: 1 if the value's choice (text before any ':') equals `choice`. */
static inline int nmp_param_is(const nmp_params *p, const char *name, const char *choice)
{
    const char *s = nmp_param_string(p, name);
    if (!s) return 0;
    size_t n = strlen(choice);
    return strncmp(s, choice, n) == 0 && (s[n] == 0 || s[n] == ':');
}

/* ------------------------------------------------------------------ host services */

typedef enum { NMP_LOG_DEBUG = 0, NMP_LOG_INFO = 1, NMP_LOG_WARN = 2, NMP_LOG_ERROR = 3 } nmp_log_level;

/* Body of a parallel loop: handles [begin, end) on worker `worker` (0 <= worker < threads).
 * The split of [0, n) into ranges depends only on n and host->threads, so per-worker
 * accumulators reduced in worker order are deterministic for a given thread count. */
typedef void (*nmp_range_fn)(void *ctx, int64_t begin, int64_t end, int worker);

/* Element types of host->allreduce. */
typedef enum { NMP_DTYPE_F32 = 1, NMP_DTYPE_F64 = 2, NMP_DTYPE_I64 = 3 } nmp_dtype;

typedef struct nmp_host nmp_host;
struct nmp_host {
    uint32_t struct_size; /* sizeof(nmp_host) as the host was built; check before using new members */
    uint32_t abi_major, abi_minor;
    int threads; /* workers used by parallel_for (>= 1) */
    int rank, ranks; /* this process in the distributed run (0, 1 when local) */
    uint64_t seed;   /* the run's seed; derive streams with nmp_rng_* in nomad/rng.h */

    /* printf-style message on stderr, tagged with the plugin's name. */
    void (*log)(const nmp_host *h, nmp_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Records why a call failed into a host-owned buffer; the plugin then returns a status. */
    void (*set_error)(const nmp_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* Runs fn over [0, n) split into host->threads contiguous ranges; returns when all are done.
     * Must not be nested. */
    void (*parallel_for)(const nmp_host *h, int64_t n, nmp_range_fn fn, void *ctx);
    /* Progress of a long stage, fraction in [0, 1]; cheap to call often. */
    void (*progress)(const nmp_host *h, const char *stage, double fraction);
    /* Memory that crosses the ABI (graphs a plugin builds and the host frees): use these. */
    void *(*alloc)(size_t bytes); /* NULL on failure (plugin reports NMP_ERR_NOMEM) */
    void (*free)(void *p);
    /* Row-major C[m x n] = alpha * A[m x k] * B[n x k]^T + beta * C (optimised BLAS, threaded). */
    void (*gemm_abt)(const nmp_host *h, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
    /* Concatenates `bytes` from every rank into recv (ranks * bytes), in rank order. */
    nmp_status (*allgather)(const nmp_host *h, const void *send, void *recv, size_t bytes);
    void *host_data; /* host private */
    /* Element-wise sum over ranks of `count` values of `type` into recv (recv may equal send:
     * in place). Every rank must call it with the same count and type, the same number of
     * times; a plugin that fails on one rank must still take part (the host stops all ranks
     * at the end of the stage). Sums are taken in the same order on every rank. */
    nmp_status (*allreduce)(const nmp_host *h, const void *send, void *recv, size_t count, nmp_dtype type);
};

/* The state create() returns, zeroed (calloc: free() it in destroy). NULL on failure, the
 * host's error then set to "<name>: out of memory"; create() returns NMP_ERR_NOMEM. */
static inline void *nmp_state_new(const nmp_host *h, size_t size, const char *name)
{
    void *p = calloc(1, size);
    if (!p) h->set_error(h, "%s: out of memory", name);
    return p;
}

/* ------------------------------------------------------------------ plugin kinds */

/* partitioner: point -> cell. Host allocates `out` arrays (cell_of: n, centroids: cells x d)
 * before the call; the plugin fills them and may lower out->cells if it merges or drops empty
 * cells (it must then renumber cell_of densely and say so with host->log). */
typedef struct {
    int32_t cells;    /* in: asked; out: produced */
    int32_t *cell_of; /* host owns; n */
    float *centroids; /* host owns; cells x d, input space */
    int64_t iterations; /* out: Lloyd iterations run, or 0 */
    int32_t empty_cells; /* out: cells that came out empty (before renumbering) */
} nmp_partition;

typedef struct {
    uint32_t struct_size;
    nmp_status (*partition)(void *state, const nmp_matrix *x, nmp_partition *out);
} nmp_partitioner_ops;

/* ann: a directed kNN graph. The plugin allocates out->offsets, out->index and out->dist with
 * host->alloc; the host frees them with host->free. Self edges are never included. */
typedef struct {
    uint32_t struct_size;
    nmp_status (*build)(void *state, const nmp_matrix *x, const nmp_cells *cells, int32_t k,
                        nmp_metric metric, nmp_graph *out);
} nmp_ann_ops;

/* affinity: edge weights from the kNN graph. The plugin allocates every array of `out` with
 * host->alloc (it may change the edge set, e.g. symmetrise); `out->dist` may stay NULL. */
typedef struct {
    uint32_t struct_size;
    nmp_status (*weigh)(void *state, const nmp_graph *knn, nmp_graph *out);
} nmp_affinity_ops;

/* init: starting layout. `y` is host-allocated, n x dims, row-major. */
typedef struct {
    uint32_t struct_size;
    nmp_status (*init)(void *state, const nmp_matrix *x, const nmp_graph *graph, int32_t dims, float *y);
} nmp_init_ops;

/* Facts fixed for a whole fit, handed to negatives and loss plugins in prepare(). Host owns
 * the struct and everything it points to; both stay valid until the fit's last sample() or
 * loss call returns (not in destroy()), so a plugin may keep the pointer. */
typedef struct {
    int64_t n;      /* points */
    int32_t dims;   /* layout dimensions (2 or 3) */
    int32_t batch;  /* targets per step (max) */
    int64_t steps_per_epoch;
    int64_t epochs;
    const nmp_graph *graph; /* weighted graph (positives) */
    const nmp_cells *cells; /* partition; cells->count == 1 when there is none */
    const uint8_t *cell_local; /* cells->count: 1 if the cell lives on this rank */
    /* sizes over all ranks (cells->start counts only this rank's points) */
    const float *cell_mass;  /* cells->count: points in each cell */
    int64_t n_total;         /* points */
} nmp_fit_info;

/* One optimiser step as seen by negatives and loss plugins. Host owns all of it; valid for
 * the duration of the call. */
typedef struct {
    int64_t epoch, step;     /* step counts from 0 over the whole fit */
    double progress;         /* step / total steps, in [0, 1) */
    const float *y;          /* n x dims, the layout. The host moves points lazily (a step costs O(batch), not
                                O(n)): the rows of the step's targets and their positives are current when
                                sample() is called; other rows may lag behind (use cell_mean for the far
                                field) */
    int32_t batch;           /* targets in this step */
    const int32_t *target;   /* batch */
    const int64_t *edge_offset; /* batch + 1: edges of target b are [edge_offset[b], edge_offset[b+1]) */
    const int32_t *pos;         /* edges: neighbour of the target; NULL when the fit's negatives and loss plugins
                                   both say they never read it (no_edges, ABI 2.2) */
    const float *pos_weight;    /* edges: affinity p_ij; NULL with pos */
    const float *cell_mean;  /* cells x dims: layout mean of each cell, this step (all ranks) */
    const float *cell_mass;  /* cells: points in each cell (all ranks) */
    int32_t loss_every;      /* the loss (for the curve) may be estimated from one target in this
                                many, scaled up; 0 or 1: every target */
    /* ABI 2.1 */
    const float *cell_spread; /* cells: mean squared distance of each cell's points from its layout
                                 mean (all ranks), taken afresh once an epoch (device: cuda, from the
                                 host copies of the layout and means); NULL where the optimiser does
                                 not keep it */
} nmp_step;

/* What a negatives plugin returns for one step. Buffers are owned by the plugin and stay
 * valid until its next sample() or destroy(). Negatives come in rows of per_target: target
 * b uses row (shared ? 0 : b), or, when rows > 0, the row r with
 * row_start[r] <= b < row_start[r + 1]: runs of consecutive targets share one draw, which
 * cuts the random draws, the gathers and the scatter by the run length. Negative l of row r
 * is index[r * per_target + l], weight likewise (NULL = all 1).
 * Approximate terms (e.g. cell means) are points approx_y[c] weighted per target by
 * approx_weight[b * approx_count + c] (0 drops the term), optionally spread (approx_spread);
 * they receive no gradient. */
typedef struct {
    int32_t per_target;
    int32_t shared;         /* nonzero: one row used by every target */
    const int32_t *index;
    const float *weight;
    int32_t approx_count;
    const float *approx_y;  /* approx_count x dims (may point into step->cell_mean) */
    const float *approx_weight; /* batch x approx_count, or NULL when approx_count == 0 */
    /* the host zeroes the struct before sample(), so a plugin that does not group leaves rows 0 */
    int32_t rows;               /* > 0: rows of negatives, row_start says which targets use each */
    const int32_t *row_start;   /* rows + 1, from 0 to batch, increasing */
    /* ABI 2.1 */
    const float *approx_spread; /* approx_count, or NULL: approximate point c stands for a cloud of
                                   spread s2 = approx_spread[c], and the loss sees its distance as
                                   d2 + s2 (the Cauchy kernel 1 / (1 + d2 + s2)); its gradient still
                                   points along y - approx_y[c] */
} nmp_negatives;

/* Rows of negatives of a step of `batch` targets, and the row target b uses. */
static inline int32_t nmp_negatives_rows(const nmp_negatives *neg, int32_t batch)
{
    return neg->rows > 0 ? neg->rows : neg->shared ? 1 : batch;
}
static inline int32_t nmp_negatives_row_of(const nmp_negatives *neg, int32_t b)
{
    if (neg->rows <= 0) return neg->shared ? 0 : b;
    int32_t lo = 0, hi = neg->rows - 1; /* the last r with row_start[r] <= b */
    while (lo < hi) {
        int32_t mid = (lo + hi + 1) / 2;
        if (neg->row_start[mid] <= b) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

typedef struct {
    uint32_t struct_size;
    nmp_status (*prepare)(void *state, const nmp_fit_info *fit); /* optional (may be NULL) */
    nmp_status (*sample)(void *state, const nmp_step *step, nmp_negatives *out);
    /* ABI 2.2. Nonzero: sample() never reads step->pos or step->pos_weight, so when the loss says
     * the same, the host may pass them NULL and not lay the step's edges out at all (a copy of
     * every target's graph row: an eighth of a CPU fit's time). 0, as in every plugin built
     * before 2.2: they are always set. */
    int32_t no_edges;
} nmp_negatives_ops;

/* ------------------------------------------------------------------ loss: the maths only */

/* The host's step engine owns the batch loop: it gathers each step's pairs (a target and its
 * positives, the rows of exact negatives, the approximate terms), computes their squared
 * layout distances d2 in float32 tiles that stay in L1, and applies every gradient and the
 * update. A loss plugin says only its maths, over whole arrays of pairs: given d2, the
 * coefficient c = dL/d(d2) of each pair (per unit weight; the engine adds 2 c (y_i - y_z) to
 * dL/dy_i and the opposite to the other point), and how one target's terms couple (InfoNCE's
 * Z_i). The calls below are made from several threads at once, so they must not write the
 * state. nomad/loss_math.h holds the shipped losses' formulas; docs/plugin-guide.md writes a
 * new loss in under 60 lines. */

/* The shipped losses' repulsive terms as nomad/loss_math.h writes them. A loss whose repel()
 * computes exactly one of these may say so: the engine then runs that formula inlined in its
 * own pair loops (the loss is a compile-time parameter there, as in the CUDA kernel) instead
 * of calling repel() tile by tile, and gets the same numbers up to float rounding. It then
 * sums the tiles' z only for a coupled loss (attract() sees z = 0 otherwise). */
typedef enum {
    NMP_FORMULA_NONE = 0,    /* call repel() (every loss written outside nomad) */
    NMP_FORMULA_INFONCE = 1, /* nmp_infonce_repel */
    NMP_FORMULA_NEG = 2,     /* nmp_neg_repel, param[0] = c */
    NMP_FORMULA_UMAP = 3,    /* nmp_umap_repel, param = a, b, gamma, eps */
} nmp_formula;

/* How the engine applies a loss; prepare() fills it (zeroed first). */
typedef struct {
    int32_t coupled;        /* nonzero: a target's repulsive coefficients are multiplied by attract()'s scale
                               for that target, which depends on its complete z (InfoNCE: S_i, from Z_i); the
                               engine then finishes all of a target's repulsive terms before it applies any */
    int32_t move_negatives; /* nonzero: exact negatives receive their gradient (0: they stay still, umap-learn) */
    float clip;             /* > 0: each coordinate of a pair's 2 c (y_i - y_z) is clipped to +-clip (UMAP) */
    nmp_formula formula;    /* see nmp_formula; NONE unless repel() is one of them, parameters fixed for the fit */
    float param[4];
} nmp_loss_shape;

/* Repulsive terms (exact negatives or approximate terms) of `rows` targets, n terms each.
 * Engine owns every array; valid during the call. */
typedef struct {
    int32_t rows, n;
    const float *d2;  /* rows x n: squared layout distances */
    const float *w;   /* the terms' weights: n shared by every row (w_stride 0) or rows x n
                         (w_stride n); NULL: every weight is 1 (a term of weight 0 must add nothing) */
    int32_t w_stride;
    float *coef;      /* rows x n, out: dL/d(d2) per unit weight (before the row's scale when coupled) */
    float *z;         /* rows, out: sum over the row's n terms of w_l phi(d2_l): the loss's coupling sum
                         (InfoNCE: sum w q); the engine adds the tiles of a target up. Leave it if unused */
} nmp_repel_tile;

/* The positives of `rows` targets, once every repulsive term of theirs has been seen. */
typedef struct {
    int32_t rows;
    const int64_t *offset; /* rows + 1, offset[0] = 0: target r's positives are [offset[r], offset[r + 1]); the
                              engine pads each target's run with terms of p = 0 (which must add nothing) */
    const float *d2;       /* per positive: squared layout distance */
    const float *p;        /* per positive: affinity p_ij */
    const double *z;       /* rows: the target's complete coupling sum (sum of its repel tiles' z) */
    float exaggeration;    /* the step's attraction factor (1 = none) */
    float *coef;           /* per positive, out: dL/d(d2) per unit p */
    float *scale;          /* rows, out: the factor of the target's repulsive coefs (coupled losses only) */
    float *stat;           /* rows, out (optional): a per-target number the engine sums over the batch, in
                              target order, for end_step() (NCE: dL_i/d log Z). Zeroed before the call */
} nmp_attract_tile;

/* Everything of one target, for its loss value L_i (the loss curve; cold path, scalar code is
 * fine). Weights NULL: all 1. Engine owns the arrays. */
typedef struct {
    int32_t n_pos, n_neg, n_approx;
    const float *d2_pos, *p;           /* positives */
    const float *d2_neg, *w_neg;       /* exact negatives */
    const float *d2_approx, *w_approx; /* approximate terms (a weight 0 drops the term) */
    double z;                          /* the target's coupling sum */
    double exaggeration;
} nmp_loss_terms;

typedef struct {
    uint32_t struct_size;
    /* Required: once per fit, before any step; fills *shape. */
    nmp_status (*prepare)(void *state, const nmp_fit_info *fit, nmp_loss_shape *shape);
    /* Optional: once per step, before its tiles, with the step's negatives (e.g. NCE's c = m Z). */
    nmp_status (*begin_step)(void *state, const nmp_step *step, const nmp_negatives *neg);
    void (*repel)(const void *state, const nmp_repel_tile *t);
    void (*attract)(const void *state, const nmp_attract_tile *t);
    /* L_i of one target; the engine calls it for one target in step->loss_every and scales up. */
    double (*value)(const void *state, const nmp_loss_terms *t);
    /* Optional: once per step, after its tiles, with the batch sum of attract()'s stat. */
    nmp_status (*end_step)(void *state, const nmp_step *step, double stat_sum);
    /* ABI 2.2. Nonzero: begin_step() and end_step() never read step->pos or step->pos_weight
     * (see nmp_negatives_ops.no_edges). A loss with neither call never reads them either way. */
    int32_t no_edges;
} nmp_loss_ops;

/* ------------------------------------------------------------------ extensions */

/* Optional capabilities are found by name, as LV2's extension_data: a descriptor's
 * extension(uri) returns the data of the extension `uri` names, or NULL when the plugin does
 * not offer it (a descriptor with extension == NULL offers none). The next capability is a new
 * name, not a new descriptor member. The data is the plugin's static data (plugin owns, valid
 * while the .so is loaded), the same on every call: extension() must not depend on an
 * instance. The host calls it from one thread, after the descriptor's own members passed their
 * checks, and validates what it returns (struct_size, required calls) before using it. */

/* The CUDA entry (`device: cuda`): an nmp_<kind>_ops for partitioner, ann, affinity and init;
 * an nmp_negatives_cuda_ops / nmp_loss_cuda_ops for negatives and loss.
 *
 * partitioner, ann, affinity, init: the entry has the kind's CPU contract, host memory in and
 * out; the plugin does the work on the current CUDA device. These stages are GEMM-bound, so one
 * upload of the data per stage is a small share of their time, and the plugin keeps the freedom
 * of its CPU code. A plugin of these kinds without the entry runs its CPU ops under
 * `device: cuda` (the host logs which stages do): never offer the CPU ops as the CUDA entry.
 *
 * negatives, loss: the layout, gradient and graph stay on the device for the whole fit, so
 * these entries see the step through nmp_step_cuda and exchange device pointers; the host
 * refuses `device: cuda`, naming the plugin, when either has no entry. */
#define NMP_EXT_CUDA "nomad.cuda"

/* One optimiser step on the device. Host owns the struct; every pointer marked "device" is
 * device memory owned by the host, valid for the duration of the call. The host queues its own
 * work on the default stream of the current device; so do the in-tree entries. */
typedef struct {
    uint32_t struct_size;
    /* The step as the CPU path describes it, in host memory: epoch, step, progress, batch,
     * target, cell_mean, cell_spread, cell_mass and loss_every are set; y, edge_offset, pos and pos_weight
     * are NULL (the layout and graph live on the device). cell_mean is a host copy of the
     * device means refreshed once per epoch, so it may lag by up to an epoch: for the means
     * as approximate points, return approx_y = cell_mean below (the device's current means;
     * plugins/common/neg_cuda.c turns host->cell_mean into it); approximate points of the
     * plugin's own make the host refresh this copy after every step (a copy back and a wait). */
    const nmp_step *host;
    int64_t n;               /* points */
    int32_t dims;
    const float *y;          /* device, n x dims: the current layout */
    const int32_t *target;   /* device, batch: host->target's copy */
    const int64_t *offsets;  /* device, n + 1: the weighted graph (positives) in CSR */
    const int32_t *index;    /* device, nnz */
    const float *weight;     /* device, nnz, or NULL: every edge weighs 1 */
    int32_t cells;
    const int32_t *cell_of;  /* device, n */
    const float *cell_mean;  /* device, cells x dims: this step's cell means */
    const float *cell_mass;  /* device, cells: points in each cell */
} nmp_step_cuda;

/* negatives: sample() fills `out` as nmp_negatives defines it, every array in device memory
 * the plugin owns (valid until its next sample() or destroy()); approx_y may point at
 * step->cell_mean. The host calls ops->prepare first, then this prepare (optional). */
typedef struct {
    uint32_t struct_size;
    nmp_status (*prepare)(void *state, const nmp_fit_info *fit);
    nmp_status (*sample)(void *state, const nmp_step_cuda *step, nmp_negatives *out);
} nmp_negatives_cuda_ops;

/* loss: grad() adds the batch's dL/dy to `grad` (device, n x dims, dense: the plugin does its
 * own scatter, e.g. with atomics) and the batch's summed loss to *loss (device, one double;
 * may be estimated as nmp_step.loss_every allows). `loss` is NULL on the steps whose loss the
 * host does not sample (one step in loss_every at random, at least one per epoch, scaled
 * up by the host): skip the loss value there, the gradient is the same. grad() should only queue work on
 * the device (no copy back, no wait): the host reads *loss once per epoch. `neg` holds device
 * arrays, as the negatives' CUDA entry returned them. The host then applies momentum SGD to
 * every point. The host calls ops->prepare first, then this prepare (optional). */
typedef struct {
    uint32_t struct_size;
    nmp_status (*prepare)(void *state, const nmp_fit_info *fit);
    nmp_status (*grad)(void *state, const nmp_step_cuda *step, const nmp_negatives *neg, double exaggeration,
                       float *grad, double *loss);
} nmp_loss_cuda_ops;

/* The checkpoint entry (`output.checkpoint_every`, `nomad run --resume`): what an instance keeps
 * from one step to the next (a running estimate, a learned scalar), saved with the layout at
 * the end of an epoch and loaded into a fresh instance after its prepare(), so that a resumed
 * fit goes on bit for bit. A plugin that keeps nothing between steps but its parameters and
 * buffers it fills again each step needs none (every in-tree plugin but the losses nce and
 * tsne); one that keeps more and offers none resumes from its prepare() state instead. */
#define NMP_EXT_CHECKPOINT "nomad.checkpoint"

typedef struct {
    uint32_t struct_size;
    size_t (*size)(const void *state);            /* bytes save() writes: the same for the whole fit */
    void (*save)(const void *state, void *out);   /* at an epoch's end, between steps */
    nmp_status (*load)(void *state, const void *in, size_t size); /* after prepare(); size as saved */
} nmp_checkpoint_ops;

/* ------------------------------------------------------------------ descriptor */

typedef struct nmp_plugin {
    uint32_t abi_major;   /* NMP_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;
    uint32_t struct_size; /* sizeof(nmp_plugin) as the plugin was built */
    nmp_kind kind;
    const char *name;     /* unique within its kind */
    const char *version;
    const char *summary;  /* one line */
    const nmp_param_decl *params; /* n_params entries; plugin owns (static) */
    uint32_t n_params;
    /* Creates the state from resolved params. On failure: host->set_error, return non-OK,
     * leave *state NULL. `host` outlives the state. */
    nmp_status (*create)(const nmp_host *host, const nmp_params *params, void **state);
    void (*destroy)(void *state); /* frees everything the state owns; called once */
    const void *ops;              /* the kind's ops struct (nmp_<kind>_ops), plugin owns (static) */
    /* Optional capabilities by name (NMP_EXT_CUDA, ...; see "extensions" above), or NULL: none. */
    const void *(*extension)(const char *uri);
} nmp_plugin;

/* The bytes of nmp_plugin every 2.x plugin has: up to `extension`, the last member of 2.0.
 * A later 2.x appends members past it, read only when a descriptor's struct_size covers them. */
#define NMP_PLUGIN_BASE_SIZE (offsetof(nmp_plugin, extension) + sizeof(const void *(*)(const char *)))

/* The one exported symbol: the i-th descriptor of this .so, NULL past the last. */
typedef const nmp_plugin *(*nmp_plugin_entry_fn)(uint32_t i);
#define NMP_PLUGIN_ENTRY_SYMBOL "nmp_plugin_entry"

#if defined(__GNUC__)
#define NMP_EXPORT __attribute__((visibility("default")))
#else
#define NMP_EXPORT
#endif

/* ------------------------------------------------------------------ registration */

/* Every descriptor is written with these macros (as GStreamer's GST_PLUGIN_DEFINE), never by
 * hand. A .so that holds one plugin (every in-tree one) says it all in one statement:
 *
 *   NMP_PLUGIN_REGISTER(NMP_KIND_NEGATIVES, "nearest_means", "1.0", "one line of summary",
 *                       NMP_PARAMS(params), create, destroy, (.prepare = prepare, .sample = sample), NULL);
 *
 * NMP_PLUGIN_REGISTER(kind, name, version, summary, params, create, destroy, (ops members), extension)
 * takes NMP_PLUGIN_DEFINE's arguments but `var`, with the ops as the kind's members in designated
 * form between parentheses: it defines the ops struct (filling struct_size), the descriptor and
 * the exported entry. A pack of several plugins in one .so uses the two macros below:
 *
 *   static const nmp_negatives_ops ops = {.struct_size = sizeof ops, .prepare = prepare, .sample = sample};
 *   NMP_PLUGIN_DEFINE(plugin, NMP_KIND_NEGATIVES, "nearest_means", "1.0", "one line of summary",
 *                     NMP_PARAMS(params), create, destroy, &ops, NULL);
 *   NMP_PLUGIN_EXPORT(&plugin);
 *
 * NMP_PLUGIN_DEFINE(var, kind, name, version, summary, params, create, destroy, ops, extension)
 * defines `static const nmp_plugin var` with designated initialisers; it fills abi_major,
 * abi_minor and struct_size itself. Mistakes it turns into compile errors:
 *   kind       must be an NMP_KIND_* constant written out: it picks the type `ops` must have;
 *   params     NMP_PARAMS(array) of a `static const nmp_param_decl array[]` (the count is the
 *              array's, so it cannot be typed wrong, and a pointer is refused), or
 *              NMP_NO_PARAMS;
 *   ops        the address of the kind's `static const` ops struct (nmp_negatives_ops for
 *              NMP_KIND_NEGATIVES, ...); another type is "not compatible with any association"
 *              (NMP_PLUGIN_REGISTER: a member the kind's ops lack is an unknown field);
 *   create, destroy, extension: their function types (extension: a function or NULL).
 * NMP_PLUGIN_EXPORT(&a, &b, ...) defines the exported nmp_plugin_entry returning the listed
 * descriptors in order: one, or several for a pack (tests/fixtures/two_kinds.c).
 * All are C11 (_Generic); a C++ plugin writes the designated members itself. */
#define NMP_PLUGIN_DEFINE(var, kind_, name_, version_, summary_, params_, create_, destroy_, ops_, extension_)        \
    NMP_PLUGIN_DEFINE_(var, kind_, name_, version_, summary_, create_, destroy_, ops_, extension_, params_)
/* params last: an argument passed on from another macro arrives expanded, its commas bare. */
#define NMP_PLUGIN_DEFINE_(var, kind_, name_, version_, summary_, create_, destroy_, ops_, extension_, ...)           \
    static const nmp_plugin var = {                                                                                   \
        .abi_major = NMP_ABI_MAJOR,                                                                                   \
        .abi_minor = NMP_ABI_MINOR,                                                                                   \
        .struct_size = sizeof(nmp_plugin),                                                                            \
        .kind = kind_,                                                                                                \
        .name = name_,                                                                                                \
        .version = version_,                                                                                          \
        .summary = summary_,                                                                                          \
        __VA_ARGS__,                                                                                                  \
        .create = create_,                                                                                            \
        .destroy = destroy_,                                                                                          \
        .ops = NMP_PLUGIN_OPS_OF_(kind_, ops_),                                                                       \
        .extension = extension_,                                                                                      \
    }

#define NMP_PARAMS(array)                                                                                             \
    .params = (array), .n_params = _Generic(&(array),                                                                 \
        const nmp_param_decl(*)[sizeof(array) / sizeof((array)[0])]: (uint32_t)(sizeof(array) / sizeof((array)[0])))
#define NMP_NO_PARAMS .params = NULL, .n_params = 0

/* The exported entry; the redeclaration at the end lets a `;` follow the macro. */
#define NMP_PLUGIN_EXPORT(...)                                                                                        \
    NMP_EXPORT const nmp_plugin *nmp_plugin_entry(uint32_t i)                                                         \
    {                                                                                                                 \
        static const nmp_plugin *const nmp_descriptors_[] = {__VA_ARGS__};                                            \
        return i < sizeof nmp_descriptors_ / sizeof nmp_descriptors_[0] ? nmp_descriptors_[i] : NULL;                 \
    }                                                                                                                 \
    const nmp_plugin *nmp_plugin_entry(uint32_t i)

#define NMP_PLUGIN_REGISTER(kind_, name_, version_, summary_, params_, create_, destroy_, ops_, extension_)           \
    static const NMP_PLUGIN_OPS_##kind_ nmp_registered_ops_ = {.struct_size = sizeof(NMP_PLUGIN_OPS_##kind_),         \
                                                               NMP_PLUGIN_UNPAREN_ ops_};                             \
    NMP_PLUGIN_DEFINE_(nmp_registered_plugin_, kind_, name_, version_, summary_, create_, destroy_,                   \
                       &nmp_registered_ops_, extension_, params_);                                                    \
    NMP_PLUGIN_EXPORT(&nmp_registered_plugin_)
#define NMP_PLUGIN_UNPAREN_(...) __VA_ARGS__

/* `ops` unchanged when it points to the ops struct of `kind`; a compile error otherwise. */
#define NMP_PLUGIN_OPS_OF_(kind, ops) _Generic((ops), const NMP_PLUGIN_OPS_##kind *: (ops))
#define NMP_PLUGIN_OPS_NMP_KIND_PARTITIONER nmp_partitioner_ops
#define NMP_PLUGIN_OPS_NMP_KIND_ANN nmp_ann_ops
#define NMP_PLUGIN_OPS_NMP_KIND_AFFINITY nmp_affinity_ops
#define NMP_PLUGIN_OPS_NMP_KIND_INIT nmp_init_ops
#define NMP_PLUGIN_OPS_NMP_KIND_NEGATIVES nmp_negatives_ops
#define NMP_PLUGIN_OPS_NMP_KIND_LOSS nmp_loss_ops

#ifdef __cplusplus
}
#endif
#endif
