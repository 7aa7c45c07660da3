/* Tests of the YAML config: tree positions, --set, the core schema and its errors, plugin
 * parameter resolution, and dump -> parse -> resolve round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* ------------------------------------------------------------------ helpers */

static nmp_cfg_node *parse_ok(const char *yaml)
{
    nmp_cfg_node *root = NULL;
    nmp_err err = {0};
    nmp_status s = nmp_cfg_parse_string("cfg.yaml", yaml, &root, &err);
    if (s) fail_msg("parse failed: %s", err.msg);
    return root;
}

/* Parses and resolves `yaml` (with optional --set assignments), expecting failure with `msg`. */
static void expect_resolve_error(const char *yaml, const char *set, const char *msg)
{
    nmp_cfg_node *root = parse_ok(yaml);
    nmp_err err = {0};
    if (set) assert_int_equal(nmp_cfg_set(root, set, &err), NMP_OK);
    nmp_config *cfg = malloc(sizeof *cfg);
    assert_int_equal(nmp_config_resolve(root, cfg, &err), NMP_ERR_INVALID);
    assert_string_equal(err.msg, msg);
    free(cfg);
    nmp_cfg_free(root);
}

static nmp_config *resolve_ok(nmp_cfg_node *root)
{
    nmp_config *cfg = malloc(sizeof *cfg);
    nmp_err err = {0};
    nmp_status s = nmp_config_resolve(root, cfg, &err);
    if (s) fail_msg("resolve failed: %s", err.msg);
    return cfg;
}

static void expect_parse_error(const char *yaml, const char *msg)
{
    nmp_cfg_node *root = (nmp_cfg_node *)1;
    nmp_err err = {0};
    assert_int_equal(nmp_cfg_parse_string("cfg.yaml", yaml, &root, &err), NMP_ERR_INVALID);
    assert_null(root);
    assert_string_equal(err.msg, msg);
}

/* Field-by-field equality over the schema (string tails after the NUL may differ). */
static void assert_config_equal(const nmp_config *a, const nmp_config *b)
{
    for (size_t i = 0; i < nmp_config_schema_count(); i++) {
        const nmp_config_key *k = nmp_config_schema_at(i);
        const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
        if (k->type == NMP_PARAM_STRING) {
            if (strcmp(fa, fb)) fail_msg("%s: \"%s\" != \"%s\"", k->path, fa, fb);
        } else if (memcmp(fa, fb, k->size)) {
            fail_msg("%s differs", k->path);
        }
    }
}

/* ------------------------------------------------------------------ tree */

static void tree_positions(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("seed: 7\noptimizer:\n  lr_scale: 0.5\nlist: [1, 2]\nempty:\nq: \"null\"\n");
    const nmp_cfg_node *lr = nmp_cfg_get(root, "optimizer.lr_scale");
    assert_non_null(lr);
    assert_int_equal(lr->type, NMP_CFG_SCALAR);
    assert_string_equal(lr->value, "0.5");
    assert_string_equal(lr->file, "cfg.yaml");
    assert_int_equal(lr->line, 3);
    assert_int_equal(lr->column, 13);
    assert_int_equal(lr->key_line, 3);
    assert_int_equal(lr->key_column, 3);
    const nmp_cfg_node *list = nmp_cfg_child(root, "list");
    assert_int_equal(list->type, NMP_CFG_SEQ);
    assert_int_equal(list->count, 2);
    assert_string_equal(list->children[1]->value, "2");
    assert_int_equal(list->children[1]->column, 11);
    assert_int_equal(nmp_cfg_child(root, "empty")->type, NMP_CFG_NULL);
    assert_int_equal(nmp_cfg_child(root, "q")->type, NMP_CFG_SCALAR); /* quoted "null" is text */
    assert_null(nmp_cfg_get(root, "optimizer.nope"));
    nmp_cfg_free(root);
}

static void tree_empty_document_is_empty_map(void **state)
{
    (void)state;
    const char *texts[] = {"", "{}", "# only a comment\n", "~\n"};
    for (int i = 0; i < 4; i++) {
        nmp_cfg_node *root = parse_ok(texts[i]);
        assert_int_equal(root->type, NMP_CFG_MAP);
        assert_int_equal(root->count, 0);
        nmp_cfg_free(root);
    }
}

static void tree_syntax_errors(void **state)
{
    (void)state;
    expect_parse_error("data:\n  path: x\n   bad: y\n", "cfg.yaml:3:7: mapping values are not allowed in this context");
    expect_parse_error("ann: {k: 3\n", "cfg.yaml:2:1: did not find expected ',' or '}' (while parsing a flow mapping at line 1)");
    expect_parse_error("optimizer:\n  lr: 1\n  lr: 2\n",
                       "cfg.yaml:3:3: optimizer.lr: duplicate key (first at line 2, column 3)");
    expect_parse_error("- 1\n- 2\n", "cfg.yaml:1:1: a config is a mapping of sections (key: value), got a sequence");
    expect_parse_error("a: &x 1\nb: *x\n", "cfg.yaml:2:4: b: YAML aliases (*name) are not supported in configs");
    expect_parse_error("a: 1\n---\nb: 2\n", "cfg.yaml:2:1: a config holds one YAML document, found a second");
}

static void tree_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/nomad_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "ann:\n  k: 0\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    nmp_cfg_node *root = NULL;
    nmp_err err = {0};
    assert_int_equal(nmp_cfg_load(path, &root, &err), NMP_OK);
    nmp_config cfg;
    assert_int_equal(nmp_config_resolve(root, &cfg, &err), NMP_ERR_INVALID);
    char want[256];
    snprintf(want, sizeof want, "%s:2:6: ann.k: must be >= 1, got 0", path);
    assert_string_equal(err.msg, want);
    nmp_cfg_free(root);
    unlink(path);
    assert_int_equal(nmp_cfg_load(path, &root, &err), NMP_ERR_IO);
    assert_null(root);
    assert_non_null(strstr(err.msg, path));
}

/* ------------------------------------------------------------------ --set */

static void set_creates_and_overrides(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("optimizer:\n  lr_scale: 0.2\n  epochs: 10\n");
    nmp_err err = {0};
    assert_int_equal(nmp_cfg_set(root, "optimizer.lr_scale=0.7", &err), NMP_OK);
    assert_int_equal(nmp_cfg_set(root, "data.path=/x/y.npy", &err), NMP_OK);
    assert_int_equal(nmp_cfg_set(root, "negatives.exact=32", &err), NMP_OK);
    assert_int_equal(nmp_cfg_set(root, "ann={plugin: exact, k: 4}", &err), NMP_OK);
    assert_int_equal(nmp_cfg_set(root, "seed=  9 ", &err), NMP_OK);
    const nmp_cfg_node *lr = nmp_cfg_get(root, "optimizer.lr_scale");
    assert_string_equal(lr->value, "0.7");
    assert_string_equal(lr->file, "--set");
    assert_int_equal(lr->line, 0);
    assert_string_equal(nmp_cfg_get(root, "negatives.exact")->value, "32");
    nmp_config *cfg = resolve_ok(root);
    assert_true(cfg->optimizer.lr_scale == 0.7);
    assert_int_equal(cfg->optimizer.epochs, 10);
    assert_string_equal(cfg->data.path, "/x/y.npy");
    assert_string_equal(cfg->ann.plugin, "exact");
    assert_int_equal(cfg->ann.k, 4);
    assert_int_equal(cfg->seed, 9);
    free(cfg);
    nmp_cfg_free(root);
}

/* A plain null in --set removes the key (its default again: what a sweep's `null` grid value
 * means); "key=" is the empty string, an error for keys whose default is not empty; a null
 * or missing value in a file is an error, never a silent default. */
static void set_null_unsets_empty_is_empty(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("data: {labels: y.npy}\noptimizer: {epochs: 7}\n");
    nmp_err err = {0};
    assert_int_equal(nmp_cfg_set(root, "data.labels=null", &err), NMP_OK);
    assert_null(nmp_cfg_get(root, "data.labels"));
    assert_int_equal(nmp_cfg_set(root, "optimizer.epochs=~", &err), NMP_OK);
    assert_int_equal(nmp_cfg_set(root, "output.name=\"null\"", &err), NMP_OK);
    assert_int_equal(nmp_cfg_set(root, "output.dir=NULL", &err), NMP_OK); /* absent already: nothing to do */
    nmp_config *cfg = resolve_ok(root);
    assert_string_equal(cfg->data.labels, "");
    assert_int_equal(cfg->optimizer.epochs, 200);
    assert_string_equal(cfg->output.name, "null");
    free(cfg);
    nmp_cfg_free(root);

    root = parse_ok("data: {labels: y.npy}\n");
    assert_int_equal(nmp_cfg_set(root, "data.labels=", &err), NMP_OK);
    cfg = resolve_ok(root);
    assert_string_equal(cfg->data.labels, "");
    free(cfg);
    nmp_cfg_free(root);

    expect_resolve_error("{}\n", "optimizer.epochs=", "--set optimizer.epochs: expected an integer, got \"\"");
    expect_resolve_error("{}\n", "data.path=", "--set data.path: is empty; expected a value (default fashion-mnist)");
    expect_resolve_error("{}\n", "optimizer={epochs: ~}",
                         "--set optimizer.epochs: no value; give one, or delete the key for its default (200)");
    expect_resolve_error("optimizer:\n  epochs:\n", NULL,
                         "cfg.yaml:2:10: optimizer.epochs: no value; give one, or delete the key for its default (200)");
    expect_resolve_error("optimizer: {epochs: ~}\n", NULL,
                         "cfg.yaml:1:21: optimizer.epochs: no value; give one, or delete the key for its default (200)");
    expect_resolve_error("data: {labels: null}\n", NULL,
                         "cfg.yaml:1:16: data.labels: no value; give one, or delete the key for its default (\"\")");
}

static void set_errors(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("data: {path: x}\n");
    nmp_err err = {0};
    assert_int_equal(nmp_cfg_set(root, "optimizer.lr_scale", &err), NMP_ERR_INVALID);
    assert_string_equal(err.msg, "--set optimizer.lr_scale: expected key.path=value");
    assert_int_equal(nmp_cfg_set(root, "=3", &err), NMP_ERR_INVALID);
    assert_int_equal(nmp_cfg_set(root, "a..b=3", &err), NMP_ERR_INVALID);
    assert_int_equal(nmp_cfg_set(root, "data.path.x=3", &err), NMP_ERR_INVALID);
    assert_string_equal(err.msg, "--set data.path.x: data.path is a scalar, not a mapping");
    assert_int_equal(nmp_cfg_set(root, "ann={k: 3", &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "--set ann"));
    nmp_cfg_free(root);
    expect_resolve_error("{}\n", "optimizer.lr_scale=fast", "--set optimizer.lr_scale: expected a number, got \"fast\"");
    expect_resolve_error("{}\n", "ann={k: x}", "--set ann.k: expected an integer, got \"x\"");
    expect_resolve_error("{}\n", "device=tpu", "--set device: expected one of cpu|cuda, got \"tpu\"");
    expect_resolve_error("{}\n", "optimizer.lr_scael=1", "--set optimizer.lr_scael: unknown key; valid keys of optimizer: "
                                                     "epochs, batch, lr_scale, lr_batch, lr, momentum, hold, final_lr_fraction, clip, "
                                                     "early_exaggeration, early_epochs, late_exaggeration, late_start, loss_every, update");
}

/* ------------------------------------------------------------------ schema */

static void defaults_from_empty_file(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("{}\n");
    nmp_config *cfg = resolve_ok(root);
    assert_string_equal(cfg->data.path, "fashion-mnist");
    assert_string_equal(cfg->data.labels, "");
    assert_int_equal(cfg->data.format, NMP_FMT_AUTO);
    assert_true(cfg->data.scale == 1.0);
    assert_int_equal(cfg->seed, 42);
    assert_int_equal(cfg->threads, 0);
    assert_int_equal(cfg->device, NMP_DEVICE_CPU);
    assert_int_equal(cfg->dims, 2);
    assert_int_equal(cfg->distributed.backend, NMP_BACKEND_LOCAL);
    assert_string_equal(cfg->partitioner.plugin, "kmeans");
    assert_int_equal(cfg->partitioner.cells, 8);
    assert_string_equal(cfg->ann.plugin, "exact_cell");
    assert_int_equal(cfg->ann.k, 8);
    assert_int_equal(cfg->ann.metric, NMP_METRIC_L2);
    assert_int_equal(cfg->ann.recall_sample, 1000);
    assert_string_equal(nmp_config_plugin_name(cfg, NMP_KIND_NEGATIVES), "cluster_mean");
    assert_string_equal(nmp_config_plugin_name(cfg, NMP_KIND_LOSS), "infonce");
    assert_int_equal(cfg->optimizer.epochs, 200);
    assert_int_equal(cfg->optimizer.batch, 4096);
    assert_true(cfg->optimizer.lr_scale == 0.1);
    assert_true(cfg->optimizer.momentum == 0.8);
    assert_true(cfg->optimizer.hold == 0.3);
    assert_true(cfg->optimizer.late_start == 1.0);
    assert_true(cfg->eval.enabled);
    assert_int_equal(cfg->eval.queries, 5000);
    assert_string_equal(cfg->output.dir, "runs/{date}-{name}");
    assert_true(cfg->output.plot);
    assert_false(cfg->quiet);
    free(cfg);
    nmp_cfg_free(root);
}

static void values_of_every_type(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("data: {format: fvecs, limit: 1e6, labels: \"\"}\ndevice: cuda\ndims: 3\n"
                                  "distributed: {backend: nccl}\nann: {metric: cosine}\neval: {enabled: off}\n"
                                  "quiet: Yes\noptimizer:\n  momentum: 0\n  lr: 2.5e3\noutput:\n");
    nmp_config *cfg = resolve_ok(root);
    assert_int_equal(cfg->data.format, NMP_FMT_FVECS);
    assert_int_equal(cfg->data.limit, 1000000);
    assert_int_equal(cfg->device, NMP_DEVICE_CUDA);
    assert_int_equal(cfg->dims, 3);
    assert_int_equal(cfg->distributed.backend, NMP_BACKEND_NCCL);
    assert_int_equal(cfg->ann.metric, NMP_METRIC_COSINE);
    assert_false(cfg->eval.enabled);
    assert_true(cfg->quiet);
    assert_true(cfg->optimizer.momentum == 0.0);
    assert_true(cfg->optimizer.lr == 2500.0);
    assert_true(nmp_cfg_get(root, "data.limit")->used);
    free(cfg);
    nmp_cfg_free(root);
}

static void resolve_error_forms(void **state)
{
    (void)state;
    expect_resolve_error("optimizer:\n  lr_scale: fast\n", NULL,
                         "cfg.yaml:2:13: optimizer.lr_scale: expected a number, got \"fast\"");
    expect_resolve_error("device: tpu\n", NULL, "cfg.yaml:1:9: device: expected one of cpu|cuda, got \"tpu\"");
    expect_resolve_error("dims: 5\n", NULL, "cfg.yaml:1:7: dims: must be in [2, 3], got 5");
    expect_resolve_error("optimizer: {momentum: 1}\n", NULL,
                         "cfg.yaml:1:23: optimizer.momentum: must be in [0, 1), got 1");
    expect_resolve_error("optimizer: {lr_scale: 0}\n", NULL, "cfg.yaml:1:23: optimizer.lr_scale: must be > 0, got 0");
    expect_resolve_error("optimizer: {epochs: 1.5}\n", NULL,
                         "cfg.yaml:1:21: optimizer.epochs: expected an integer, got \"1.5\"");
    expect_resolve_error("eval:\n  enabled: maybe\n", NULL,
                         "cfg.yaml:2:12: eval.enabled: expected true or false, got \"maybe\"");
    expect_resolve_error("seed: [1]\n", NULL, "cfg.yaml:1:7: seed: expected a single value, got a sequence");
    expect_resolve_error("optimizer: 5\n", NULL,
                         "cfg.yaml:1:12: optimizer: expected a mapping of optimizer keys, got a scalar");
    expect_resolve_error("data: {path: x, limit: -1}\n", NULL, "cfg.yaml:1:24: data.limit: must be >= 0, got -1");
}

static void unknown_keys_list_valid_ones(void **state)
{
    (void)state;
    expect_resolve_error("eval:\n  k: 5\n  nope: 1\n", NULL,
                         "cfg.yaml:3:3: eval.nope: unknown key; valid keys of eval: enabled, k, queries, triplets");
    expect_resolve_error("data:\n  path: x\nmodel: {a: 1}\n", NULL,
                         "cfg.yaml:3:1: model: unknown section; valid top-level keys: data, seed, threads, device, dims, "
                         "distributed, partitioner, ann, affinity, init, negatives, loss, optimizer, eval, transform, output, sweep, quiet");
    /* A plugin section's other keys are plugin parameters, left for nmp_config_plugin_params. */
    nmp_cfg_node *root = parse_ok("negatives: {plugin: cluster_mean, exact: 64, foo: 1}\npartitioner: {cells: 3, tol: 1}\n");
    nmp_config *cfg = resolve_ok(root);
    assert_int_equal(cfg->partitioner.cells, 3);
    assert_false(nmp_cfg_get(root, "negatives.foo")->used);
    assert_true(nmp_cfg_get(root, "negatives.plugin")->used);
    free(cfg);
    nmp_cfg_free(root);
}

static void schema_is_documented(void **state)
{
    (void)state;
    assert_true(nmp_config_schema_count() >= 40);
    char *md = NULL;
    size_t md_len = 0;
    FILE *f = open_memstream(&md, &md_len);
    assert_int_equal(nmp_config_reference_markdown(f), NMP_OK);
    fclose(f);
    for (size_t i = 0; i < nmp_config_schema_count(); i++) {
        const nmp_config_key *k = nmp_config_schema_at(i);
        assert_non_null(k->doc);
        if (strlen(k->doc) < 5 || strchr(k->doc, '\n')) fail_msg("%s: doc missing or not one line", k->path);
        nmp_param_value v;
        char why[256], quoted[128];
        if (nmp_cfg_parse_value(k->type, k->default_value, &k->range, k->choices, &v, why, sizeof why))
            fail_msg("%s: default does not parse: %s", k->path, why);
        free((char *)v.s);
        assert_ptr_equal(nmp_config_schema_find(k->path), k);
        snprintf(quoted, sizeof quoted, "| `%s` |", k->path);
        if (!strstr(md, quoted)) fail_msg("%s missing from the reference", k->path);
    }
    assert_non_null(strstr(md, "| `device` | one of `cpu\\|cuda` | `cpu` |"));
    assert_non_null(strstr(md, "| `optimizer.momentum` | float | `0.8` | [0, 1) |"));
    assert_null(nmp_config_schema_at(nmp_config_schema_count()));
    assert_string_equal(nmp_config_kind_section(NMP_KIND_AFFINITY), "affinity");
    assert_true(nmp_config_is_core_key("ann", "k"));
    assert_false(nmp_config_is_core_key("negatives", "exact"));
    free(md);
}

/* ------------------------------------------------------------------ plugin parameters */

static const nmp_param_decl neg_decls[] = {
    {"exact", NMP_PARAM_INT, "64", 0, 100000, NULL, "exact negatives per target"},
    {"approx_cells", NMP_PARAM_ENUM, "remote", 0, -1, "remote|all_but_own|all|nearest_exact:", "cells by their mean"},
    {"weighting", NMP_PARAM_ENUM, "unweighted", 0, -1, "unweighted|mass", "weight of a cell mean"},
    {"symmetric", NMP_PARAM_BOOL, "yes", 0, -1, NULL, "a bool"},
    {"temperature", NMP_PARAM_DOUBLE, "0.5", 0, HUGE_VAL, NULL, "a double >= 0"},
    {"tag", NMP_PARAM_STRING, "", 0, -1, NULL, "a string"},
};
#define N_NEG (sizeof neg_decls / sizeof neg_decls[0])

static nmp_status neg_params(const char *yaml, nmp_params *out, nmp_err *err)
{
    nmp_cfg_node *root = parse_ok(yaml);
    nmp_status s = nmp_config_plugin_params(nmp_config_section(root, "negatives"), "negatives", "cluster_mean",
                                            "plugins/negatives_cluster_mean.so", neg_decls, N_NEG, out, err);
    nmp_cfg_free(root);
    return s;
}

static void params_defaults_and_values(void **state)
{
    (void)state;
    nmp_params p = {0};
    nmp_err err = {0};
    assert_int_equal(neg_params("seed: 1\n", &p, &err), NMP_OK);
    assert_int_equal(p.count, N_NEG);
    assert_int_equal(nmp_param_int(&p, "exact"), 64);
    assert_true(nmp_param_is(&p, "approx_cells", "remote"));
    assert_string_equal(nmp_param_string(&p, "symmetric"), "true");
    assert_int_equal(nmp_param_int(&p, "symmetric"), 1);
    assert_true(nmp_param_double(&p, "temperature") == 0.5);
    assert_string_equal(nmp_param_string(&p, "tag"), "");
    nmp_params_free(&p);
    assert_int_equal(p.count, 0);
    assert_null(p.items);

    assert_int_equal(neg_params("negatives:\n  plugin: cluster_mean\n  exact: 128\n  approx_cells: nearest_exact:3\n"
                                "  weighting: mass\n  temperature: 2\n  tag: hello\n",
                                &p, &err),
                     NMP_OK);
    assert_int_equal(nmp_param_int(&p, "exact"), 128);
    assert_true(nmp_param_double(&p, "exact") == 128.0);
    assert_true(nmp_param_is(&p, "approx_cells", "nearest_exact"));
    assert_string_equal(nmp_param_string(&p, "approx_cells"), "nearest_exact:3");
    assert_int_equal(nmp_param_int(&p, "approx_cells"), 3);
    assert_true(nmp_param_is(&p, "weighting", "mass"));
    assert_true(nmp_param_double(&p, "temperature") == 2.0);
    assert_string_equal(nmp_param_string(&p, "tag"), "hello");
    assert_string_equal(nmp_param_string(&p, "symmetric"), "true");
    nmp_params_free(&p);
}

static void params_bool_forms(void **state)
{
    (void)state;
    const char *forms[] = {"true", "false", "yes", "no", "on", "off", "1", "0", "True", "OFF"};
    const int truth[] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0};
    for (int i = 0; i < 10; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "negatives: {symmetric: %s}\n", forms[i]);
        nmp_params p = {0};
        nmp_err err = {0};
        assert_int_equal(neg_params(yaml, &p, &err), NMP_OK);
        assert_int_equal(nmp_param_int(&p, "symmetric"), truth[i]);
        assert_string_equal(nmp_param_string(&p, "symmetric"), truth[i] ? "true" : "false");
        nmp_params_free(&p);
    }
}

static void expect_param_error(const char *yaml, const char *msg)
{
    nmp_params p = {0};
    nmp_err err = {0};
    assert_int_equal(neg_params(yaml, &p, &err), NMP_ERR_INVALID);
    assert_string_equal(err.msg, msg);
    assert_int_equal(p.count, 0);
    assert_null(p.items);
}

static void params_errors(void **state)
{
    (void)state;
    expect_param_error("negatives:\n  plugin: cluster_mean\n  foo: 1\n",
                       "cfg.yaml:3:3: negatives.foo: plugin cluster_mean (plugins/negatives_cluster_mean.so) has no "
                       "parameter \"foo\"; it declares: exact, approx_cells, weighting, symmetric, temperature, tag");
    expect_param_error("negatives: {exact: 100001}\n", "cfg.yaml:1:20: negatives.exact: must be in [0, 100000], got 100001");
    expect_param_error("negatives: {exact: many}\n", "cfg.yaml:1:20: negatives.exact: expected an integer, got \"many\"");
    expect_param_error("negatives: {temperature: -1}\n", "cfg.yaml:1:26: negatives.temperature: must be >= 0, got -1");
    expect_param_error("negatives: {approx_cells: some}\n",
                       "cfg.yaml:1:27: negatives.approx_cells: expected one of remote|all_but_own|all|nearest_exact:K, "
                       "got \"some\"");
    expect_param_error("negatives: {approx_cells: nearest_exact:0}\n",
                       "cfg.yaml:1:27: negatives.approx_cells: expected one of remote|all_but_own|all|nearest_exact:K "
                       "with an integer K >= 1, got \"nearest_exact:0\"");
    expect_param_error("negatives: {approx_cells: nearest_exact}\n",
                       "cfg.yaml:1:27: negatives.approx_cells: expected one of remote|all_but_own|all|nearest_exact:K, "
                       "got \"nearest_exact\"");
    expect_param_error("negatives: {symmetric: maybe}\n",
                       "cfg.yaml:1:24: negatives.symmetric: expected true or false, got \"maybe\"");
    expect_param_error("negatives: {tag: [a]}\n", "cfg.yaml:1:18: negatives.tag: expected a single value, got a sequence");
    expect_param_error("negatives: {symmetric: null}\n",
                       "cfg.yaml:1:24: negatives.symmetric: no value; give one, or delete the key for its default (yes)");
}

static void params_core_keys_and_bad_defaults(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("ann: {plugin: exact, k: 5, metric: ip, recall_sample: 0, probes: 3}\n");
    static const nmp_param_decl ann_decls[] = {{"probes", NMP_PARAM_INT, "1", 1, 64, NULL, "probes"}};
    static const nmp_param_decl bad[] = {{"probes", NMP_PARAM_INT, "lots", 1, 64, NULL, "probes"}};
    nmp_params p = {0};
    nmp_err err = {0};
    const nmp_cfg_node *ann = nmp_config_section(root, "ann");
    assert_int_equal(nmp_config_plugin_params(ann, "ann", "exact", "x.so", ann_decls, 1, &p, &err), NMP_OK);
    assert_int_equal(nmp_param_int(&p, "probes"), 3);
    nmp_params_free(&p);
    assert_int_equal(nmp_config_plugin_params(NULL, "ann", "exact", "x.so", bad, 1, &p, &err), NMP_ERR_INVALID);
    assert_string_equal(err.msg, "x.so: plugin exact: parameter \"probes\" has a bad default \"lots\": expected an "
                                 "integer, got \"lots\"");
    assert_int_equal(nmp_config_plugin_params(ann, "ann", "exact", "x.so", NULL, 0, &p, &err), NMP_ERR_INVALID);
    assert_string_equal(err.msg, "cfg.yaml:1:58: ann.probes: plugin exact (x.so) has no parameter \"probes\"; it "
                                 "declares no parameters");
    nmp_cfg_free(root);
}

/* ------------------------------------------------------------------ dump */

static const char *const rich_config =
    "data: {path: \"we\\\"ird \\\\ path\\nx\\ty\", labels: l.npy, format: raw, dim: 17, scale: 0.00392156862745098}\n"
    "seed: 123456789012\nthreads: 3\ndevice: cuda\ndims: 3\ndistributed: {backend: mpi}\n"
    "partitioner: {plugin: random, cells: 17}\nann: {plugin: exact, k: 15, metric: ip, recall_sample: 0}\n"
    "affinity: {plugin: \"true\"}\ninit: {plugin: \"null\"}\n"
    "negatives: {plugin: cluster_mean, exact: 12, approx_cells: nearest_exact:3, symmetric: off, temperature: 0.1,"
    " tag: \"a: b\"}\n"
    "loss: {plugin: \"{x}\"}\n"
    "optimizer: {epochs: 7, batch: 100, lr_scale: 0.3333333333333333, lr: 1e-300, momentum: 0.5, hold: 1, "
    "final_lr_fraction: 0.01, clip: 4, early_exaggeration: 12, early_epochs: 3, late_exaggeration: 2, late_start: 0.9}\n"
    "eval: {enabled: false, k: 3, queries: 9, triplets: 0}\n"
    "output: {dir: \"/tmp/{name}\", name: \"\", plot: no, snapshot_every: 5}\nquiet: true\n";

/* Resolves `root` and its negatives section; the caller frees both results. */
static nmp_config *resolve_with_params(nmp_cfg_node *root, nmp_params *neg)
{
    nmp_config *cfg = resolve_ok(root);
    nmp_err err = {0};
    nmp_status s = nmp_config_plugin_params(nmp_config_section(root, "negatives"), "negatives", "cluster_mean", "x.so",
                                            neg_decls, N_NEG, neg, &err);
    if (s) fail_msg("params: %s", err.msg);
    return cfg;
}

static void assert_params_equal(const nmp_params *a, const nmp_params *b)
{
    assert_int_equal(a->count, b->count);
    for (uint32_t i = 0; i < a->count; i++) {
        assert_string_equal(a->items[i].s, b->items[i].s);
        assert_int_equal(a->items[i].i, b->items[i].i);
        assert_true(a->items[i].d == b->items[i].d);
    }
}

/* dump (YAML or JSON, both read by libyaml) -> parse -> resolve gives the same values. */
static void round_trip(int json)
{
    nmp_cfg_node *root = parse_ok(rich_config);
    nmp_params neg = {0}, neg2 = {0};
    nmp_config *cfg = resolve_with_params(root, &neg);
    const nmp_params *params[NMP_KIND_COUNT] = {0};
    params[NMP_KIND_NEGATIVES - 1] = &neg;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(json ? nmp_config_dump_json(f, cfg, params) : nmp_config_dump(f, cfg, params), NMP_OK);
    fclose(f);
    nmp_cfg_node *again = parse_ok(text);
    nmp_config *cfg2 = resolve_with_params(again, &neg2);
    assert_config_equal(cfg, cfg2);
    assert_params_equal(&neg, &neg2);
    assert_string_equal(cfg2->data.path, "we\"ird \\ path\nx\ty");
    assert_true(cfg2->optimizer.lr_scale == 0.3333333333333333);
    if (!json) {
        /* plugin params follow `plugin:` and precede the section's other core keys */
        const char *sec = strstr(text, "negatives:\n  plugin: \"cluster_mean\"\n  exact: 12\n");
        assert_non_null(sec);
        assert_non_null(strstr(text, "ann:\n  plugin: \"exact\"\n  k: 15\n  metric: ip\n"));
        assert_non_null(strstr(text, "  approx_cells: nearest_exact:3\n"));
        assert_non_null(strstr(text, "seed: 123456789012\n"));
        assert_non_null(strstr(text, "  hold: 1.0\n"));
    } else {
        assert_non_null(strstr(text, "\"we\\\"ird \\\\ path"));
        assert_non_null(strstr(text, "\"approx_cells\""));
    }
    nmp_params_free(&neg);
    nmp_params_free(&neg2);
    free(cfg);
    free(cfg2);
    free(text);
    nmp_cfg_free(root);
    nmp_cfg_free(again);
}

static void dump_round_trip_yaml(void **state)
{
    (void)state;
    round_trip(0);
}

static void dump_round_trip_json(void **state)
{
    (void)state;
    round_trip(1);
}

static void dump_defaults_round_trip(void **state)
{
    (void)state;
    nmp_config a, b;
    nmp_config_defaults(&a);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(nmp_config_dump(f, &a, NULL), NMP_OK);
    fclose(f);
    nmp_cfg_node *root = parse_ok(text);
    nmp_err err = {0};
    assert_int_equal(nmp_config_resolve(root, &b, &err), NMP_OK);
    assert_config_equal(&a, &b);
    assert_non_null(strstr(text, "data:\n  path: \"fashion-mnist\"\n  labels: \"\"\n"));
    assert_non_null(strstr(text, "\nquiet: false\n"));
    nmp_cfg_free(root);
    free(text);
}

/* The learning rate: optimizer.lr, else min(batch, N / ranks) * lr_batch (the same movement
 * per epoch at any N), else N * lr_scale. */
static void lr_rules(void **state)
{
    (void)state;
    nmp_cfg_node *root = parse_ok("optimizer: {lr_scale: 0.3, batch: 4096}\n");
    nmp_config *cfg = resolve_ok(root);
    assert_true(nmp_config_lr(cfg, 70000, 1) == 21000.0 && nmp_config_lr(cfg, 200000, 1) == 60000.0);
    free(cfg);
    nmp_err err = {0};
    assert_int_equal(nmp_cfg_set(root, "optimizer.lr_batch=5.126953125", &err), NMP_OK);
    cfg = resolve_ok(root);
    /* 21000 / 4096 is exact in binary: the same lr as lr_scale 0.3 at 70,000 points, bit for bit */
    assert_true(nmp_config_lr(cfg, 70000, 1) == 21000.0 && nmp_config_lr(cfg, 200000, 1) == 21000.0);
    /* a batch larger than the data (or a rank's share) counts as the data: per epoch a point
     * then moves lr / n times its gradient, lr_batch as above */
    assert_true(nmp_config_lr(cfg, 1024, 1) == 1024 * 5.126953125 && nmp_config_lr(cfg, 4096, 2) == 2048 * 5.126953125);
    free(cfg);
    assert_int_equal(nmp_cfg_set(root, "optimizer.lr=7", &err), NMP_OK);
    cfg = resolve_ok(root);
    assert_true(nmp_config_lr(cfg, 70000, 1) == 7.0);
    free(cfg);
    nmp_cfg_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tree_positions),
        cmocka_unit_test(lr_rules),
        cmocka_unit_test(tree_empty_document_is_empty_map),
        cmocka_unit_test(tree_syntax_errors),
        cmocka_unit_test(tree_load_file),
        cmocka_unit_test(set_creates_and_overrides),
        cmocka_unit_test(set_null_unsets_empty_is_empty),
        cmocka_unit_test(set_errors),
        cmocka_unit_test(defaults_from_empty_file),
        cmocka_unit_test(values_of_every_type),
        cmocka_unit_test(resolve_error_forms),
        cmocka_unit_test(unknown_keys_list_valid_ones),
        cmocka_unit_test(schema_is_documented),
        cmocka_unit_test(params_defaults_and_values),
        cmocka_unit_test(params_bool_forms),
        cmocka_unit_test(params_errors),
        cmocka_unit_test(params_core_keys_and_bad_defaults),
        cmocka_unit_test(dump_round_trip_yaml),
        cmocka_unit_test(dump_round_trip_json),
        cmocka_unit_test(dump_defaults_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
