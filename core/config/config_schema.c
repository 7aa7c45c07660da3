/* The schema of core config keys (type, default, range, doc) and the resolution of a
 * config tree into the typed nmp_config, with positioned errors. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(NMP_FMT_AUTO == 0 && NMP_FMT_NPY == 1 && NMP_FMT_FVECS == 2 && NMP_FMT_BVECS == 3 && NMP_FMT_RAW == 4 &&
                   NMP_FMT_IDX == 5,
               "data.format's choices auto|npy|fvecs|bvecs|raw|idx are nmp_data_format's values in order");
_Static_assert(sizeof(nmp_data_format) == sizeof(int) && sizeof(nmp_cfg_device) == sizeof(int) &&
                   sizeof(nmp_cfg_backend) == sizeof(int) && sizeof(nmp_metric) == sizeof(int) &&
                   sizeof(nmp_cfg_placement) == sizeof(int) && sizeof(nmp_cfg_update) == sizeof(int),
               "enum fields are stored as int");

#define FIELD(f) offsetof(nmp_config, f), sizeof(((nmp_config *)0)->f)
#define ANY {.has_min = false}
#define AT_LEAST(a) {.min = (a), .has_min = true}
#define ABOVE(a) {.min = (a), .has_min = true, .min_open = true}
#define IN(a, b) {.min = (a), .max = (b), .has_min = true, .has_max = true}
#define IN_OPEN(a, b) {.min = (a), .max = (b), .has_min = true, .has_max = true, .max_open = true}
#define S NMP_PARAM_STRING
#define I NMP_PARAM_INT
#define D NMP_PARAM_DOUBLE
#define B NMP_PARAM_BOOL
#define E NMP_PARAM_ENUM

/* Order matters: keys of a section stay together, and this is the order of dumps and docs. */
static const nmp_config_key schema[] = {
    {"data.path", S, "fashion-mnist", ANY, NULL,
     "input vectors: a .npy/.fvecs/.bvecs/raw f32 file, or a known data set name (fashion-mnist)", FIELD(data.path)},
    {"data.labels", S, "", ANY, NULL, "labels (.npy or text, one per line) for eval and map colours; \"\" = the data set's own, if any",
     FIELD(data.labels)},
    {"data.format", E, "auto", ANY, "auto|npy|fvecs|bvecs|raw|idx", "file format; auto = from the file's extension",
     FIELD(data.format)},
    {"data.dim", I, "0", AT_LEAST(0), NULL, "columns per row of a raw f32 file (raw only; 0 = not raw)", FIELD(data.dim)},
    {"data.limit", I, "0", AT_LEAST(0), NULL, "use only the first N rows (0 = all)", FIELD(data.limit)},
    {"data.scale", D, "1.0", ANY, NULL, "input values are multiplied by this as they are read", FIELD(data.scale)},
    {"seed", I, "42", AT_LEAST(0), NULL, "seed of every random stream; same seed + threads = same output bit for bit",
     FIELD(seed)},
    {"threads", I, "0", IN(0, 1024), NULL, "worker threads per rank (0 = all cores; more than 1024 is refused)",
     FIELD(threads)},
    {"device", E, "cpu", ANY, "cpu|cuda", "where the optimiser and kernels run", FIELD(device)},
    {"dims", I, "2", IN(2, 3), NULL, "dimensions of the layout", FIELD(dims)},
    {"distributed.backend", E, "local", ANY, "local|mpi|nccl",
     "how ranks talk: local (one process), mpi (CPU ranks), nccl (one GPU per rank)", FIELD(distributed.backend)},
    {"distributed.cell_placement", E, "round_robin", ANY, "round_robin|balanced",
     "which rank holds each whole cell: cell c on rank c mod ranks, or largest cells first onto the least-loaded rank",
     FIELD(distributed.cell_placement)},
    {"distributed.sample", I, "65536", AT_LEAST(1), NULL,
     "rows (a uniform sample of all ranks' rows) gathered on rank 0 for the partitioner plugin's seeds",
     FIELD(distributed.sample)},
    {"distributed.lloyd_iter", I, "10", AT_LEAST(0), NULL,
     "Lloyd iterations over all rows after the seeds (centroid sums and counts all-reduced)",
     FIELD(distributed.lloyd_iter)},
    {"distributed.lloyd_tol", D, "1e-4", AT_LEAST(0), NULL,
     "stop Lloyd when sum of squared centroid shifts / sum of squared centroid norms falls below this",
     FIELD(distributed.lloyd_tol)},
    {"distributed.abort_timeout", D, "30", ABOVE(0), NULL,
     "seconds a failed rank waits for the others at the stage boundary before it aborts every rank",
     FIELD(distributed.abort_timeout)},
    {"partitioner.plugin", S, "kmeans", ANY, NULL, "partitioner plugin (name, or path to a .so)", FIELD(partitioner.plugin)},
    {"partitioner.cells", I, "8", AT_LEAST(0), NULL,
     "|R|: number of cells the data is split into (0 = from the number of points n: cells_root x sqrt(n), rounded)",
     FIELD(partitioner.cells)},
    {"partitioner.cells_root", D, "0.242", ABOVE(0), NULL,
     "with cells 0: cells per square root of n (0.242: 64 cells at 70,000 points, 108 at 200,000, 242 at "
     "1,000,000, so a cell's mass grows as sqrt(n), and so does the cost of its mean per target)",
     FIELD(partitioner.cells_root)},
    {"ann.plugin", S, "exact_cell", ANY, NULL, "kNN graph plugin (name, or path to a .so)", FIELD(ann.plugin)},
    {"ann.k", I, "8", AT_LEAST(1), NULL, "neighbours per point in the kNN graph", FIELD(ann.k)},
    {"ann.metric", E, "l2", ANY, "l2|ip|cosine", "distance of the kNN search: squared L2, inner product, or cosine",
     FIELD(ann.metric)},
    {"ann.recall_sample", I, "1000", AT_LEAST(0), NULL,
     "points whose exact global kNN is computed to report recall and edges kept (0 = off)", FIELD(ann.recall_sample)},
    {"affinity.plugin", S, "rank_exp", ANY, NULL, "edge weight plugin (name, or path to a .so)", FIELD(affinity.plugin)},
    {"init.plugin", S, "pca", ANY, NULL, "initial layout plugin (name, or path to a .so)", FIELD(init.plugin)},
    {"negatives.plugin", S, "cluster_mean", ANY, NULL, "negative sampling plugin (name, or path to a .so)",
     FIELD(negatives.plugin)},
    {"loss.plugin", S, "infonce", ANY, NULL, "loss / gradient plugin (name, or path to a .so)", FIELD(loss.plugin)},
    {"optimizer.epochs", I, "200", AT_LEAST(1), NULL, "passes over the data; steps per epoch = N / (batch * ranks)",
     FIELD(optimizer.epochs)},
    {"optimizer.batch", I, "4096", AT_LEAST(1), NULL, "targets per step (per rank)", FIELD(optimizer.batch)},
    {"optimizer.lr_scale", D, "0.1", ABOVE(0), NULL, "learning rate relative to N: lr = N * lr_scale",
     FIELD(optimizer.lr_scale)},
    {"optimizer.lr_batch", D, "0", AT_LEAST(0), NULL,
     "learning rate relative to the batch: lr = min(batch, N / ranks) * lr_batch, so each point moves by "
     "lr_batch times its gradient per epoch at any N (with lr_scale, by lr_scale * N / batch); 0 = use lr_scale",
     FIELD(optimizer.lr_batch)},
    {"optimizer.lr", D, "0", AT_LEAST(0), NULL, "absolute learning rate (0 = use lr_batch or lr_scale)", FIELD(optimizer.lr)},
    {"optimizer.momentum", D, "0.8", IN_OPEN(0, 1), NULL, "SGD momentum", FIELD(optimizer.momentum)},
    {"optimizer.hold", D, "0.3", IN(0, 1), NULL, "fraction of the epochs at full lr before the linear anneal",
     FIELD(optimizer.hold)},
    {"optimizer.final_lr_fraction", D, "0.0", IN(0, 1), NULL, "lr at the end of the anneal, as a fraction of the full lr",
     FIELD(optimizer.final_lr_fraction)},
    {"optimizer.clip", D, "0", AT_LEAST(0), NULL, "per-coordinate gradient clip (0 = off; UMAP uses 4)",
     FIELD(optimizer.clip)},
    {"optimizer.early_exaggeration", D, "1.0", AT_LEAST(0), NULL, "attraction factor during the first early_epochs",
     FIELD(optimizer.early_exaggeration)},
    {"optimizer.early_epochs", I, "0", AT_LEAST(0), NULL, "epochs of early exaggeration (0 = none)",
     FIELD(optimizer.early_epochs)},
    {"optimizer.late_exaggeration", D, "1.0", AT_LEAST(0), NULL, "attraction factor after late_start",
     FIELD(optimizer.late_exaggeration)},
    {"optimizer.late_start", D, "1.0", IN(0, 1), NULL,
     "fraction of the epochs after which late exaggeration applies (1 = never)", FIELD(optimizer.late_start)},
    {"optimizer.loss_every", I, "32", AT_LEAST(1), NULL,
     "the loss curve is estimated from one target in this many (its logarithms cost as much as the gradient)",
     FIELD(optimizer.loss_every)},
    {"optimizer.update", E, "auto", ANY, "auto|eager|lazy",
     "eager: every point moves every step (O(n) a step); lazy: only the points a step touches, the others caught "
     "up exactly when next read (O(batch)); auto: lazy once n is over 4x the points a step touches",
     FIELD(optimizer.update)},
    {"eval.enabled", B, "true", ANY, NULL, "compute quality metrics of the layout after the fit", FIELD(eval.enabled)},
    {"eval.k", I, "10", AT_LEAST(1), NULL, "neighbours for NP@k and kNN label accuracy", FIELD(eval.k)},
    {"eval.queries", I, "5000", AT_LEAST(1), NULL, "query points with exact kNN against the full data (NP@k, trustworthiness)",
     FIELD(eval.queries)},
    {"eval.triplets", I, "5000", AT_LEAST(0), NULL, "random triplets for triplet accuracy (0 = skip)", FIELD(eval.triplets)},
    {"transform.k", I, "25", AT_LEAST(1), NULL,
     "nomad transform: nearest training points of each new point (exact, in the input space)", FIELD(transform.k)},
    {"transform.pca", I, "64", AT_LEAST(0), NULL,
     "nomad transform: search the neighbours among the top this many principal components of the training data "
     "(0, or at least the data's width: in the input space itself)", FIELD(transform.pca)},
    {"transform.pca_sample", I, "10000", AT_LEAST(2), NULL,
     "nomad transform: training rows (evenly spaced) the principal axes are fitted on; 10,000 pin Fashion-MNIST's "
     "top 64 as well as all its rows do", FIELD(transform.pca_sample)},
    {"transform.refine", I, "4", AT_LEAST(1), NULL,
     "nomad transform: with pca, refine x k candidates found in the projection, the k nearest in the input space kept",
     FIELD(transform.refine)},
    {"transform.perplexity", D, "5", ABOVE(0), NULL,
     "nomad transform: perplexity of a new point's Gaussian weights over its k neighbours (openTSNE's 5)",
     FIELD(transform.perplexity)},
    {"transform.perplexity_tol", D, "1e-5", ABOVE(0), NULL,
     "nomad transform: the bisection for each point's Gaussian width stops within this many nats of log(perplexity)",
     FIELD(transform.perplexity_tol)},
    {"transform.perplexity_iters", I, "200", AT_LEAST(1), NULL,
     "nomad transform: most bisection steps for a point's Gaussian width (a miss is counted and warned about)",
     FIELD(transform.perplexity_iters)},
    {"transform.steps", I, "250", AT_LEAST(0), NULL,
     "nomad transform: gradient steps of the new points after they start at their neighbours' weighted mean "
     "(0 = that placement alone)", FIELD(transform.steps)},
    {"transform.negatives", I, "128", AT_LEAST(1), NULL,
     "nomad transform: map points drawn per step (shared by all new points) to estimate each one's repulsion",
     FIELD(transform.negatives)},
    {"transform.lr", D, "0.1", ABOVE(0), NULL, "nomad transform: step size (openTSNE's 0.1)", FIELD(transform.lr)},
    {"transform.momentum", D, "0.8", IN_OPEN(0, 1), NULL, "nomad transform: momentum of the steps",
     FIELD(transform.momentum)},
    {"transform.exaggeration", D, "1.5", ABOVE(0), NULL,
     "nomad transform: weight of the attraction to the neighbours against the map's repulsion (openTSNE's 1.5)",
     FIELD(transform.exaggeration)},
    {"transform.max_grad", D, "0.25", ABOVE(0), NULL,
     "nomad transform: a new point's gradient is cut to this length (openTSNE's max_grad_norm)",
     FIELD(transform.max_grad)},
    {"output.dir", S, "runs/{date}-{name}", ANY, NULL, "run directory; {date} and {name} are filled in",
     FIELD(output.dir)},
    {"output.name", S, "", ANY, NULL, "run name used for {name} (\"\" = the config file's stem)", FIELD(output.name)},
    {"output.plot", B, "true", ANY, NULL, "write map.png", FIELD(output.plot)},
    {"output.snapshot_every", I, "0", AT_LEAST(0), NULL, "save the layout every n epochs (0 = never)",
     FIELD(output.snapshot_every)},
    {"output.snapshot_png", B, "false", ANY, NULL, "also draw each snapshot as snapshots/epoch_XXXX.png",
     FIELD(output.snapshot_png)},
    {"output.checkpoint_every", I, "0", AT_LEAST(0), NULL,
     "save the optimiser's state as checkpoint.bin every n epochs (0 = never); a stopped or killed run then goes on "
     "with `nomad run --resume RUN_DIR`, bit for bit (CPU, one rank)",
     FIELD(output.checkpoint_every)},
    {"output.plot_size", I, "1200", IN(64, 16384), NULL, "pixels of a side of map.png (each panel for 3-D)",
     FIELD(output.plot_size)},
    {"output.plot_alpha", D, "0.35", IN_OPEN(0.0, 1.0), NULL, "opacity of one point in a labelled map (overlaps add up)",
     FIELD(output.plot_alpha)},
    {"output.plot_margin", D, "0.03", IN(0.0, 0.4), NULL, "blank border around the points, as a fraction of the side",
     FIELD(output.plot_margin)},
    {"sweep.grid", S, "{}", ANY, NULL,
     "nomad sweep's grid: {key.path: [v1, v2, ...]}, each value as --set takes it; --grid adds to / overrides it",
     0, 0},
    {"sweep.seeds", I, "1", AT_LEAST(1), NULL, "nomad sweep: runs per grid cell, with seeds seed, seed+1, ... (--seeds)",
     FIELD(sweep.seeds)},
    {"sweep.dir", S, "sweeps/{name}", ANY, NULL,
     "nomad sweep's folder when --out is not given; {date} and {name} are filled in as in output.dir",
     FIELD(sweep.dir)},
    {"quiet", B, "false", ANY, NULL, "no progress or info messages on stderr (warnings and errors still show)",
     FIELD(quiet)},
};
#define SCHEMA_COUNT (sizeof schema / sizeof schema[0])

static const char *const kind_sections[NMP_KIND_COUNT] = {"partitioner", "ann", "affinity", "init", "negatives", "loss"};

size_t nmp_config_schema_count(void) { return SCHEMA_COUNT; }
const nmp_config_key *nmp_config_schema_at(size_t i) { return i < SCHEMA_COUNT ? &schema[i] : NULL; }

const nmp_config_key *nmp_config_schema_find(const char *path)
{
    for (size_t i = 0; i < SCHEMA_COUNT; i++)
        if (!strcmp(schema[i].path, path)) return &schema[i];
    return NULL;
}

const char *nmp_config_kind_section(nmp_kind kind)
{
    return kind >= 1 && kind <= NMP_KIND_COUNT ? kind_sections[kind - 1] : NULL;
}

const char *nmp_config_plugin_name(const nmp_config *cfg, nmp_kind kind)
{
    switch (kind) {
    case NMP_KIND_PARTITIONER: return cfg->partitioner.plugin;
    case NMP_KIND_ANN: return cfg->ann.plugin;
    case NMP_KIND_AFFINITY: return cfg->affinity.plugin;
    case NMP_KIND_INIT: return cfg->init.plugin;
    case NMP_KIND_NEGATIVES: return cfg->negatives.plugin;
    case NMP_KIND_LOSS: return cfg->loss.plugin;
    }
    return NULL;
}

static int is_plugin_section(const char *name)
{
    for (int i = 0; i < NMP_KIND_COUNT; i++)
        if (!strcmp(kind_sections[i], name)) return 1;
    return 0;
}

int nmp_config_is_core_key(const char *section, const char *key)
{
    char path[256];
    snprintf(path, sizeof path, "%s.%s", section, key);
    return nmp_config_schema_find(path) != NULL;
}

/* Length of the section part of a path ("optimizer" of "optimizer.lr"), 0 for top-level keys. */
static size_t section_len(const char *path)
{
    const char *dot = strchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

static int is_section(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < SCHEMA_COUNT; i++)
        if (section_len(schema[i].path) == n && !strncmp(schema[i].path, name, n)) return 1;
    return 0;
}

/* ------------------------------------------------------------------ storing values */

static int choice_index(const char *choices, const char *text)
{
    int index = 0;
    for (const char *c = choices; *c; index++) {
        size_t len = strcspn(c, "|");
        if (strlen(text) == len && !strncmp(c, text, len)) return index;
        c += len + (c[len] == '|');
    }
    return -1;
}

/* Parses `text` for key `k` and writes it into its field; `why` says what was wrong. */
static nmp_status store(const nmp_config_key *k, const char *text, nmp_config *cfg, char *why, size_t why_size)
{
    nmp_param_value v;
    nmp_status s = nmp_cfg_parse_value(k->type, text, &k->range, k->choices, &v, why, why_size);
    if (s) return s;
    char *field = (char *)cfg + k->offset;
    int index;
    bool flag = v.i != 0;
    switch (k->type) {
    case NMP_PARAM_INT: memcpy(field, &v.i, sizeof v.i); break;
    case NMP_PARAM_DOUBLE: memcpy(field, &v.d, sizeof v.d); break;
    case NMP_PARAM_BOOL: memcpy(field, &flag, sizeof flag); break;
    case NMP_PARAM_ENUM:
        index = choice_index(k->choices, v.s);
        memcpy(field, &index, sizeof index);
        break;
    case NMP_PARAM_STRING:
        if (!*v.s && *k->default_value) { /* only keys whose default is "" mean something by "" */
            snprintf(why, why_size, "is empty; expected a value (default %s)", k->default_value);
            s = NMP_ERR_INVALID;
        } else if (!strcmp(k->path, "output.name") &&
                   (strchr(v.s, '/') || !strcmp(v.s, ".") || !strcmp(v.s, ".."))) { /* {name} stays one folder */
            snprintf(why, why_size, "\"%s\" is not a name: no '/', not . or ..", v.s);
            s = NMP_ERR_INVALID;
        } else if (strlen(v.s) >= k->size) {
            snprintf(why, why_size, "longer than %zu characters", k->size - 1);
            s = NMP_ERR_INVALID;
        } else {
            memcpy(field, v.s, strlen(v.s) + 1);
        }
        break;
    }
    free((char *)v.s);
    return s;
}

void nmp_config_defaults(nmp_config *cfg)
{
    char why[256];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < SCHEMA_COUNT; i++)
        if (schema[i].size) store(&schema[i], schema[i].default_value, cfg, why, sizeof why);
}

/* ------------------------------------------------------------------ resolution */

static nmp_status resolve_key(nmp_cfg_node *node, const nmp_config_key *k, nmp_config *cfg, nmp_err *err)
{
    node->used = 1;
    if (!k->size) return NMP_OK; /* read elsewhere */
    if (node->type == NMP_CFG_NULL) /* `epochs:` or `epochs: ~` is a value left out, not a wish for the default */
        return nmp_cfg_fail_at(err, node, k->path, "no value; give one, or delete the key for its default (%s)",
                               k->default_value && *k->default_value ? k->default_value : "\"\"");
    if (node->type != NMP_CFG_SCALAR)
        return nmp_cfg_fail_at(err, node, k->path, "expected a single value, got a %s",
                               node->type == NMP_CFG_MAP ? "mapping" : "sequence");
    char why[1024];
    nmp_status s = store(k, node->value, cfg, why, sizeof why);
    if (s == NMP_ERR_NOMEM) return nmp_fail(err, s, "%s: out of memory", k->path);
    return s ? nmp_cfg_fail_at(err, node, k->path, "%s", why) : NMP_OK;
}

/* Comma-separated keys of `section` (or the top-level keys and sections when NULL). */
static void valid_keys(const char *section, char *buf, size_t size)
{
    size_t n = 0, slen = section ? strlen(section) : 0;
    buf[0] = 0;
    for (size_t i = 0; i < SCHEMA_COUNT && n < size; i++) {
        const char *p = schema[i].path;
        size_t sl = section_len(p);
        char name[128];
        if (section && (sl != slen || strncmp(p, section, slen))) continue;
        if (section) snprintf(name, sizeof name, "%s", p + sl + 1);
        else snprintf(name, sizeof name, "%.*s", sl ? (int)sl : (int)strlen(p), p);
        if (!section && i > 0 && sl && section_len(schema[i - 1].path) == sl && !strncmp(schema[i - 1].path, p, sl))
            continue; /* a section already listed */
        n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", name);
    }
}

static nmp_status resolve_section(nmp_cfg_node *sec, nmp_config *cfg, nmp_err *err)
{
    sec->used = 1;
    if (sec->type == NMP_CFG_NULL) return NMP_OK;
    if (sec->type != NMP_CFG_MAP)
        return nmp_cfg_fail_at(err, sec, sec->key, "expected a mapping of %s keys, got a %s", sec->key,
                               sec->type == NMP_CFG_SEQ ? "sequence" : "scalar");
    int plugin_section = is_plugin_section(sec->key);
    for (uint32_t i = 0; i < sec->count; i++) {
        nmp_cfg_node *kv = sec->children[i];
        char path[512];
        snprintf(path, sizeof path, "%s.%s", sec->key, kv->key);
        const nmp_config_key *k = nmp_config_schema_find(path);
        if (k) {
            nmp_status s = resolve_key(kv, k, cfg, err);
            if (s) return s;
        } else if (!plugin_section) {
            char list[1024];
            valid_keys(sec->key, list, sizeof list);
            return nmp_cfg_fail_key(err, kv, path, "unknown key; valid keys of %s: %s", sec->key, list);
        } /* else: a plugin parameter, checked by nmp_config_plugin_params */
    }
    return NMP_OK;
}

nmp_status nmp_config_resolve(nmp_cfg_node *root, nmp_config *cfg, nmp_err *err)
{
    nmp_config_defaults(cfg);
    if (!root || root->type != NMP_CFG_MAP) return NMP_OK;
    root->used = 1;
    for (uint32_t i = 0; i < root->count; i++) {
        nmp_cfg_node *kv = root->children[i];
        const nmp_config_key *k = strchr(kv->key, '.') ? NULL : nmp_config_schema_find(kv->key);
        nmp_status s = NMP_OK;
        if (k) {
            s = resolve_key(kv, k, cfg, err);
        } else if (is_section(kv->key)) {
            s = resolve_section(kv, cfg, err);
        } else {
            char list[1024];
            valid_keys(NULL, list, sizeof list);
            s = nmp_cfg_fail_key(err, kv, kv->key, "unknown section; valid top-level keys: %s", list);
        }
        if (s) return s;
    }
    return NMP_OK;
}

double nmp_config_lr(const nmp_config *cfg, int64_t n, int ranks)
{
    if (cfg->optimizer.lr > 0) return cfg->optimizer.lr;
    const double share = (double)n / (ranks > 1 ? ranks : 1);
    const double batch = (double)cfg->optimizer.batch < share ? (double)cfg->optimizer.batch : share;
    if (cfg->optimizer.lr_batch > 0) return batch * cfg->optimizer.lr_batch;
    return (double)n * cfg->optimizer.lr_scale;
}

nmp_status nmp_config_load(const char *path, const char *const *sets, int n_sets, const char *not_read_here,
                           nmp_cfg_node **root, nmp_config *cfg, nmp_err *err)
{
    *root = NULL;
    if (!path) return nmp_fail(err, NMP_ERR_INVALID, "no config given");
    nmp_status s = nmp_cfg_load(path, root, err);
    for (int i = 0; i < n_sets && s == NMP_OK; i++)
        s = not_read_here && strncmp(sets[i], "sweep.", 6) == 0 /* read by nothing: refused, not ignored */
                ? nmp_fail(err, NMP_ERR_INVALID, "--set %s: sweep keys are read by nomad sweep, not by %s", sets[i],
                           not_read_here)
                : nmp_cfg_set(*root, sets[i], err);
    return s == NMP_OK ? nmp_config_resolve(*root, cfg, err) : s;
}

const nmp_cfg_node *nmp_config_section(const nmp_cfg_node *root, const char *name)
{
    const nmp_cfg_node *sec = nmp_cfg_child(root, name);
    return sec && sec->type == NMP_CFG_MAP ? sec : NULL;
}
