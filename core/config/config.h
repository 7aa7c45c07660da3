/* The YAML config: a libyaml node tree with positions, --set overrides, the schema of core
 * keys resolved into `nmp_config`, plugin parameter resolution, and resolved-config output. */
#ifndef NOMAD_CONFIG_H
#define NOMAD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "io.h"
#include "json.h"
#include "nomad/plugin.h"

/* ------------------------------------------------------------------ node tree */

typedef enum { NMP_CFG_NULL = 0, NMP_CFG_SCALAR = 1, NMP_CFG_MAP = 2, NMP_CFG_SEQ = 3 } nmp_cfg_type;

/* One YAML node. Every string is owned by the node; nmp_cfg_free frees the whole tree.
 * A plain `null`, `~` or empty value is NMP_CFG_NULL; a quoted "null" is a SCALAR. */
typedef struct nmp_cfg_node {
    nmp_cfg_type type;
    char *key;          /* key in the parent map, NULL in sequences and at the root */
    char *value;        /* SCALAR text, NULL otherwise */
    char *file;         /* source: the config path, the parse_string name, or "--set" */
    int line, column;   /* 1-based start of the value; line 0 = from --set (no position) */
    int key_line, key_column; /* start of the key (same as the value when there is none) */
    struct nmp_cfg_node **children; /* MAP and SEQ entries, in document order */
    uint32_t count, cap;
    int used;           /* set when resolution consumed this node */
} nmp_cfg_node;

/* Parses a YAML file (or text named `name` in messages) into a tree whose root is a map
 * (an empty document gives an empty map). Errors: "file:line:col: <problem>", including
 * duplicate keys, aliases and a root that is not a map. *root is NULL on failure. */
nmp_status nmp_cfg_load(const char *path, nmp_cfg_node **root, nmp_err *err);
nmp_status nmp_cfg_parse_string(const char *name, const char *text, nmp_cfg_node **root, nmp_err *err);
void nmp_cfg_free(nmp_cfg_node *node);

/* Child of a map by key, or a dotted path from `node` ("optimizer.lr_scale"); NULL if absent. */
const nmp_cfg_node *nmp_cfg_child(const nmp_cfg_node *map, const char *key);
const nmp_cfg_node *nmp_cfg_get(const nmp_cfg_node *node, const char *path);

/* Applies "key.path=value": creates missing maps, replaces an existing value. The value is
 * a plain scalar ("key=" is the empty string), or YAML text when it starts with {, [, " or
 * '. A plain null, Null, NULL or ~ removes the key: it is back to its default (what a
 * sweep's `null` grid value means). The new nodes have file "--set" and line 0, so errors
 * read "--set key.path: ...". */
nmp_status nmp_cfg_set(nmp_cfg_node *root, const char *assignment, nmp_err *err);

/* Formats "file:line:col: path: message" (or "--set path: message" for line 0) into err
 * and returns NMP_ERR_INVALID. `path` may be NULL. _at blames the value, _key its key. */
#define nmp_cfg_fail_at(err, node, path, ...) nmp_cfg_fail(err, node, 0, path, __VA_ARGS__)
#define nmp_cfg_fail_key(err, node, path, ...) nmp_cfg_fail(err, node, 1, path, __VA_ARGS__)
nmp_status nmp_cfg_fail(nmp_err *err, const nmp_cfg_node *node, int at_key, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------------ values */

/* Range of a numeric key. A bound that is absent is not checked; open bounds exclude. */
typedef struct {
    double min, max;
    bool has_min, has_max;
    bool min_open, max_open;
} nmp_cfg_range;

/* Parses `text` as `type` (range and ENUM choices as in nmp_param_decl) into *out
 * (name left unset; out->s malloc'd, caller frees). On failure returns NMP_ERR_INVALID and
 * writes why into `why` ("expected an integer, got \"x\"", "must be in [1, 3], got 5"). */
nmp_status nmp_cfg_parse_value(nmp_param_type type, const char *text, const nmp_cfg_range *range,
                               const char *choices, nmp_param_value *out, char *why, size_t why_size);
/* Writes the range as text: "[1, 3]", ">= 0", "> 0", "[0, 1)"; "" when unbounded. */
void nmp_cfg_range_text(const nmp_cfg_range *range, char *buf, size_t size);

/* ------------------------------------------------------------------ core schema */

#define NMP_CFG_STR_MAX 4096

typedef enum { NMP_DEVICE_CPU, NMP_DEVICE_CUDA } nmp_cfg_device;
typedef enum { NMP_BACKEND_LOCAL, NMP_BACKEND_MPI, NMP_BACKEND_NCCL } nmp_cfg_backend;
typedef enum { NMP_PLACEMENT_ROUND_ROBIN, NMP_PLACEMENT_BALANCED } nmp_cfg_placement;
typedef enum { NMP_UPDATE_AUTO, NMP_UPDATE_EAGER, NMP_UPDATE_LAZY } nmp_cfg_update;

/* The resolved core keys (see the schema table in config_schema.c for docs and defaults).
 * Plain data: copy freely, nothing to free. Plugin parameters live in nmp_params. */
typedef struct nmp_config {
    struct {
        char path[NMP_CFG_STR_MAX];
        char labels[NMP_CFG_STR_MAX]; /* "" = the data set's own labels, if any */
        nmp_data_format format; /* io.h's: the schema's choices auto|npy|... are its values in order */
        int64_t dim;   /* raw only */
        int64_t limit; /* 0 = all */
        double scale;
    } data;
    int64_t seed;
    int64_t threads; /* 0 = all cores */
    nmp_cfg_device device;
    int64_t dims;
    struct {
        nmp_cfg_backend backend;
        nmp_cfg_placement cell_placement;
        int64_t sample, lloyd_iter;
        double lloyd_tol, abort_timeout;
    } distributed;
    struct {
        char plugin[NMP_CFG_STR_MAX];
        int64_t cells;
        double cells_root;
    } partitioner;
    struct {
        char plugin[NMP_CFG_STR_MAX];
        int64_t k;
        nmp_metric metric;
        int64_t recall_sample;
    } ann;
    struct {
        char plugin[NMP_CFG_STR_MAX];
    } affinity, init, negatives, loss;
    struct {
        int64_t epochs, batch;
        double lr_scale, lr_batch, lr, momentum, hold, final_lr_fraction, clip;
        double early_exaggeration;
        int64_t early_epochs;
        double late_exaggeration, late_start;
        int64_t loss_every;
        nmp_cfg_update update;
    } optimizer;
    struct {
        bool enabled;
        int64_t k, queries, triplets;
    } eval;
    struct {
        int64_t k, pca, pca_sample, refine, steps, negatives, perplexity_iters;
        double perplexity, perplexity_tol, lr, momentum, exaggeration, max_grad;
    } transform;
    struct {
        char dir[NMP_CFG_STR_MAX];
        char name[NMP_CFG_STR_MAX]; /* "" = the config file's stem */
        bool plot;
        int64_t snapshot_every;
        bool snapshot_png;
        int64_t checkpoint_every;
        int64_t plot_size;
        double plot_alpha, plot_margin;
    } output;
    struct {
        int64_t seeds;             /* runs per grid cell (sweep.grid is read from the tree) */
        char dir[NMP_CFG_STR_MAX]; /* used when `nomad sweep` has no --out */
    } sweep;
    bool quiet;
} nmp_config;

/* How the run reads its data (data.format, data.dim, data.limit). */
static inline nmp_data_opts nmp_config_data_opts(const nmp_config *c)
{
    return (nmp_data_opts){.format = c->data.format, .raw_dim = c->data.dim, .limit = c->data.limit};
}

/* One core key of the schema. */
typedef struct {
    const char *path;          /* "optimizer.lr_scale"; top-level keys have no dot */
    nmp_param_type type;
    const char *default_value; /* YAML text */
    nmp_cfg_range range;
    const char *choices;       /* ENUM: "cpu|cuda" */
    const char *doc;           /* one line */
    size_t offset, size;       /* field in nmp_config; size 0: a mapping its command reads from the
                                * tree (sweep.grid), not stored in nmp_config nor dumped */
} nmp_config_key;

size_t nmp_config_schema_count(void);
const nmp_config_key *nmp_config_schema_at(size_t i);
const nmp_config_key *nmp_config_schema_find(const char *path);

/* Section name of a plugin kind ("partitioner", ... "loss"), NULL for an unknown kind. */
const char *nmp_config_kind_section(nmp_kind kind);
/* The `plugin` value of a kind's section. */
const char *nmp_config_plugin_name(const nmp_config *cfg, nmp_kind kind);

/* The optimiser's learning rate for n points (of all ranks): optimizer.lr, else
 * lr_batch * min(batch, n / ranks), else n * lr_scale. A point moves lr / min(batch, n / ranks)
 * times its gradient per epoch: with a batch larger than the data each step touches a point
 * several times, so the batch that counts is the data. */
double nmp_config_lr(const nmp_config *cfg, int64_t n, int ranks);

/* Fills every core key with its default. */
void nmp_config_defaults(nmp_config *cfg);
/* Defaults, then the values of `root`, in document order. A null value keeps the default.
 * Unknown sections and keys are errors listing what is valid; keys of the six plugin
 * sections other than their core keys are left for nmp_config_plugin_params. */
nmp_status nmp_config_resolve(nmp_cfg_node *root, nmp_config *cfg, nmp_err *err);

/* A config as every command reads it: the YAML file at `path`, the "key.path=value"
 * assignments `sets` applied in order (nmp_cfg_set), resolved into *cfg. With `not_read_here`
 * (a name such as "nomad run"), an assignment of a sweep.* key is an error naming it, since
 * nothing there would read it. *root keeps the tree (free with nmp_cfg_free, also on failure). */
nmp_status nmp_config_load(const char *path, const char *const *sets, int n_sets, const char *not_read_here,
                           nmp_cfg_node **root, nmp_config *cfg, nmp_err *err);

/* ------------------------------------------------------------------ plugin parameters */

/* The map of a top-level section, or NULL when it is absent or null. */
const nmp_cfg_node *nmp_config_section(const nmp_cfg_node *root, const char *name);
/* 1 if `key` is a core key of section `section` (e.g. "plugin", "cells" of partitioner). */
int nmp_config_is_core_key(const char *section, const char *key);

/* Resolves a plugin's declared parameters from its section (NULL: all defaults) into *out
 * (items malloc'd, strings owned; free with nmp_params_free). Keys of the section that are
 * neither core nor declared are errors listing the declared names; a default that does not
 * parse is an error naming plugin_file. */
nmp_status nmp_config_plugin_params(const nmp_cfg_node *section, const char *section_name, const char *plugin_name,
                                    const char *plugin_file, const nmp_param_decl *decls, uint32_t n_decls,
                                    nmp_params *out, nmp_err *err);
void nmp_params_free(nmp_params *params);

/* ------------------------------------------------------------------ output */

/* The resolved config as YAML: core keys in schema order, each plugin section's parameters
 * right after its `plugin:` line. params[kind - 1] may be NULL, or params itself NULL. */
nmp_status nmp_config_dump(FILE *f, const nmp_config *cfg, const nmp_params *const params[NMP_KIND_COUNT]);
/* The same content as one JSON object value written into `j` (for run.json). */
void nmp_config_json(nmp_json *j, const nmp_config *cfg, const nmp_params *const params[NMP_KIND_COUNT]);
nmp_status nmp_config_dump_json(FILE *f, const nmp_config *cfg, const nmp_params *const params[NMP_KIND_COUNT]);
/* Markdown table of every core key: key, type, default, range, description. */
nmp_status nmp_config_reference_markdown(FILE *f);

#endif
