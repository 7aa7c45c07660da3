/* Tests of `nomad sweep`'s parts: --grid value lists, the config's sweep.grid, expansion and
 * run names, the plan (every cell resolved before anything runs), the JSON reader, resuming
 * from run.json, and the results tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <cmocka.h>

#include "io.h"
#include "sweep.h"
#include "json_read.h"

/* ------------------------------------------------------------------ helpers */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nomad_test_sweep_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    setenv("NOMAD_PLUGIN_PATH", NOMAD_PLUGIN_DIR, 1);
    return 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void split_ok(const char *text, int want, const char *const *values)
{
    char **v = NULL;
    int n = 0;
    nmp_err err = {0};
    if (nmp_sweep_split_values("t", text, &v, &n, &err)) fail_msg("split %s: %s", text, err.msg);
    assert_int_equal(n, want);
    for (int i = 0; i < n; i++) assert_string_equal(v[i], values[i]);
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void split_error(const char *text, const char *msg)
{
    char **v = NULL;
    int n = 0;
    nmp_err err = {0};
    assert_int_equal(nmp_sweep_split_values("--grid k", text, &v, &n, &err), NMP_ERR_INVALID);
    assert_null(v);
    assert_int_equal(n, 0);
    if (!strstr(err.msg, msg)) fail_msg("\"%s\" lacks \"%s\"", err.msg, msg);
}

/* ------------------------------------------------------------------ grid */

static void split_respects_brackets_and_quotes(void **state)
{
    (void)state;
    split_ok("1,2,4", 3, (const char *[]){"1", "2", "4"});
    split_ok(" 0.1 , 1e-3 ", 2, (const char *[]){"0.1", "1e-3"});
    split_ok("{plugin: neg, c: 2},{plugin: infonce}", 2, (const char *[]){"{plugin: neg, c: 2}", "{plugin: infonce}"});
    split_ok("[1, 2],'a,b',\"c,\\\"d\"", 3, (const char *[]){"[1, 2]", "'a,b'", "\"c,\\\"d\""});
    split_ok("nearest_exact:4", 1, (const char *[]){"nearest_exact:4"});
    split_error("1,,2", "empty value");
    split_error("", "empty value");
    split_error("1,", "empty value");
    split_error("{plugin: neg, c: 2", "unbalanced brackets");
    split_error("'abc", "unbalanced quote");
}

static void grid_args_add_and_replace(void **state)
{
    (void)state;
    nmp_sweep_grid g = {0};
    nmp_err err = {0};
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "partitioner.cells=1,2,4", &err), NMP_OK);
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "negatives.exact=8,16", &err), NMP_OK);
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "partitioner.cells=32", &err), NMP_OK); /* replaces, in place */
    assert_int_equal(g.count, 2);
    assert_string_equal(g.axes[0].key, "partitioner.cells");
    assert_int_equal(g.axes[0].count, 1);
    assert_string_equal(g.axes[0].values[0], "32");
    assert_string_equal(g.axes[1].values[1], "16");
    static const char *const bad[][2] = {
        {"partitioner.cells", "expected key.path=value1,value2"},
        {"=1,2", "expected key.path=value1,value2"},
        {".cells=1", "expected key.path=value1,value2"},
        {"a b=1", "expected key.path=value1,value2"},
        {"ann.k=5,5", "value \"5\" is given twice"},
        {"sweep.seeds=1,2", "the sweep's own keys cannot be swept"},
        {"ann.k=", "empty value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nmp_sweep_grid_add_arg(&g, bad[i][0], &err), NMP_ERR_INVALID);
        if (!strstr(err.msg, bad[i][1])) fail_msg("%s: \"%s\" lacks \"%s\"", bad[i][0], err.msg, bad[i][1]);
    }
    assert_int_equal(g.count, 2); /* failures change nothing */
    nmp_sweep_grid_free(&g);
}

static void grid_from_config_section(void **state)
{
    (void)state;
    nmp_cfg_node *root = NULL;
    nmp_err err = {0};
    assert_int_equal(nmp_cfg_parse_string("c.yaml",
                                          "sweep:\n"
                                          "  grid:\n"
                                          "    partitioner.cells: [1, 2]\n"
                                          "    negatives: {exact: [4, 8], approx_cells: remote}\n"
                                          "    loss: [{plugin: neg, c: 2}, {plugin: \"a b\"}]\n"
                                          "    init.plugin: [\"null\", \"{x\", pca]\n"
                                          "  seeds: 3\n",
                                          &root, &err),
                     NMP_OK);
    nmp_sweep_grid g = {0};
    assert_int_equal(nmp_sweep_grid_from_config(&g, root, &err), NMP_OK);
    assert_int_equal(g.count, 5);
    assert_string_equal(g.axes[0].key, "partitioner.cells");
    assert_string_equal(g.axes[1].key, "negatives.exact");
    assert_string_equal(g.axes[1].values[1], "8");
    assert_string_equal(g.axes[2].key, "negatives.approx_cells");
    assert_int_equal(g.axes[2].count, 1);
    assert_string_equal(g.axes[3].key, "loss");
    assert_string_equal(g.axes[3].values[0], "{plugin: neg, c: 2}");
    assert_string_equal(g.axes[3].values[1], "{plugin: \"a b\"}");
    /* values that --set would read as null or as YAML are quoted so they stay text */
    assert_string_equal(g.axes[4].values[0], "\"null\"");
    assert_string_equal(g.axes[4].values[1], "\"{x\"");
    assert_string_equal(g.axes[4].values[2], "pca");
    /* a --grid of the same key replaces the config's axis */
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "negatives.exact=64", &err), NMP_OK);
    assert_int_equal(g.count, 5);
    assert_int_equal(g.axes[1].count, 1);
    nmp_sweep_grid_free(&g);
    nmp_cfg_free(root);

    static const char *const bad[][2] = {
        {"sweep: {grid: [1, 2]}\n", "c.yaml:1:15: sweep.grid: expected a mapping"},
        {"sweep: {grid: {ann.k: []}}\n", "sweep.grid.ann.k: an empty list of values"},
        {"sweep: {grid: {ann.k: [3, 3]}}\n", "value \"3\" is given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nmp_cfg_parse_string("c.yaml", bad[i][0], &root, &err), NMP_OK);
        nmp_sweep_grid b = {0};
        assert_int_equal(nmp_sweep_grid_from_config(&b, root, &err), NMP_ERR_INVALID);
        if (!strstr(err.msg, bad[i][1])) fail_msg("\"%s\" lacks \"%s\"", err.msg, bad[i][1]);
        nmp_sweep_grid_free(&b);
        nmp_cfg_free(root);
    }
}

static void expansion_order_and_names(void **state)
{
    (void)state;
    nmp_sweep_grid g = {0};
    nmp_err err = {0};
    assert_int_equal(nmp_sweep_grid_cells(&g, 10), 1);
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "a=1,2,3", &err), NMP_OK);
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "b.c=x,{plugin: y z}", &err), NMP_OK);
    assert_int_equal(nmp_sweep_grid_cells(&g, 100), 6);
    assert_int_equal(nmp_sweep_grid_cells(&g, 5), -1);
    int choice[2];
    int64_t want[6][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}}; /* first axis slowest */
    for (int64_t cell = 0; cell < 6; cell++) {
        nmp_sweep_grid_choice(&g, cell, choice);
        assert_int_equal(choice[0], want[cell][0]);
        assert_int_equal(choice[1], want[cell][1]);
    }
    char name[256], label[256];
    nmp_sweep_grid_choice(&g, 4, choice);
    nmp_sweep_run_name(&g, choice, 42, name, sizeof name);
    assert_string_equal(name, "a=3,b.c=x,seed=42");
    nmp_sweep_run_label(&g, choice, 42, label, sizeof label);
    assert_string_equal(label, "a=3 b.c=x seed=42");
    nmp_sweep_grid_choice(&g, 5, choice);
    nmp_sweep_run_name(&g, choice, 7, name, sizeof name);
    /* unsafe characters become '-' and the value gets a hash of its text */
    assert_true(!strncmp(name, "a=3,b.c=plugin:-y-z~", 20));
    assert_int_equal(strlen(name), strlen("a=3,b.c=plugin:-y-z~") + 8 + strlen(",seed=7"));
    assert_null(strchr(name, '/'));
    assert_null(strchr(name, ' '));
    nmp_sweep_grid_free(&g);

    /* values that differ only in unsafe characters still get different names */
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "data.path=a/b.npy,a b.npy,a-b.npy", &err), NMP_OK);
    char names[3][256];
    for (int i = 0; i < 3; i++) nmp_sweep_run_name(&g, &i, 1, names[i], sizeof names[i]);
    assert_string_equal(names[2], "data.path=a-b.npy,seed=1");
    assert_string_not_equal(names[0], names[1]);
    assert_string_not_equal(names[0], names[2]);
    nmp_sweep_grid_free(&g);

    /* a long value is cut and hashed; the whole name stays a valid file name */
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "k=abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop", &err),
                     NMP_OK);
    int zero = 0;
    nmp_sweep_run_name(&g, &zero, 1, name, sizeof name);
    assert_true(strlen(name) < 80);
    assert_non_null(strchr(name, '~'));
    nmp_sweep_grid_free(&g);
}

/* ------------------------------------------------------------------ plan */

static nmp_status plan_for(nmp_sweep_plan *p, const char *yaml, const char *const *sets, int n_sets,
                           const char *const *grids, int n_grids, int64_t seeds, nmp_err *err)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/plan.yaml", tmpdir);
    write_text(path, yaml);
    nmp_status s = nmp_sweep_plan_init(p, path, sets, n_sets, grids, n_grids, seeds, err);
    if (s == NMP_OK) s = nmp_sweep_plan_expand(p, 1000, err);
    return s;
}

static void plan_expands_every_cell_and_seed(void **state)
{
    (void)state;
    nmp_sweep_plan p;
    nmp_err err = {0};
    const char *grids[] = {"negatives.exact=8,16"};
    const char *sets[] = {"seed=7"};
    nmp_status s =
        plan_for(&p, "sweep: {grid: {partitioner.cells: [1, 2, 4]}, seeds: 2}\n", sets, 1, grids, 1, 0, &err);
    if (s) fail_msg("%s", err.msg);
    assert_int_equal(p.seeds, 2);
    assert_int_equal(p.n_runs, 12);
    assert_string_equal(p.runs[0].name, "partitioner.cells=1,negatives.exact=8,seed=7");
    assert_string_equal(p.runs[1].name, "partitioner.cells=1,negatives.exact=8,seed=8");
    assert_string_equal(p.runs[11].name, "partitioner.cells=4,negatives.exact=16,seed=8");
    assert_int_equal(p.runs[11].cell, 5);
    /* each run's resolved config: its grid values, its seed, the plugin's parameters */
    nmp_jv *j = NULL;
    char why[256];
    assert_int_equal(nmp_jv_parse(p.runs[11].config_json, strlen(p.runs[11].config_json), &j, why, sizeof why), 0);
    assert_int_equal(nmp_jv_number_at(j, "seed", -1), 8);
    assert_int_equal(nmp_jv_number_at(j, "partitioner.cells", -1), 4);
    assert_int_equal(nmp_jv_number_at(j, "negatives.exact", -1), 16);
    assert_string_equal(nmp_jv_string_at(j, "negatives.weighting"), "unweighted");
    nmp_jv_free(j);
    char **a = nmp_sweep_assignments(&p, &p.runs[11]);
    assert_string_equal(a[0], "partitioner.cells=4");
    assert_string_equal(a[1], "negatives.exact=16");
    assert_string_equal(a[2], "seed=8");
    nmp_sweep_assignments_free(a, 3);
    nmp_sweep_plan_free(&p);

    /* --seeds overrides sweep.seeds; no grid at all is one run per seed */
    s = plan_for(&p, "sweep: {seeds: 2}\n", NULL, 0, NULL, 0, 3, &err);
    assert_int_equal(s, NMP_OK);
    assert_int_equal(p.n_runs, 3);
    assert_string_equal(p.runs[2].name, "seed=44");
    nmp_sweep_plan_free(&p);
}

static void plan_errors_name_the_cell(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"partitioner.cells=2,-1", "sweep: grid cell partitioner.cells=-1: --set partitioner.cells: must be >= 0, got -1"},
        {"negatives.bogus=1", "sweep: grid cell negatives.bogus=1: --set negatives.bogus: plugin cluster_mean"},
        {"optimizer.bogus=1", "--set optimizer.bogus: unknown key; valid keys of optimizer:"},
        {"loss.plugin=infonce,nope", "sweep: grid cell loss.plugin=nope: loss.plugin: no loss plugin named \"nope\""},
        {"seed=1,2", "sweep: grid key seed: seeds are the sweep's own axis; use --seeds N"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nmp_sweep_plan p;
        nmp_err err = {0};
        const char *grids[] = {cases[i][0]};
        assert_int_equal(plan_for(&p, "seed: 1\n", NULL, 0, grids, 1, 1, &err), NMP_ERR_INVALID);
        if (!strstr(err.msg, cases[i][1])) fail_msg("%s: \"%s\" lacks \"%s\"", cases[i][0], err.msg, cases[i][1]);
        nmp_sweep_plan_free(&p);
    }
    nmp_sweep_plan p;
    nmp_err err = {0};
    const char *grids[] = {"ann.k=1,2,3,4,5,6,7,8,9,10,11", "optimizer.epochs=1,2,3,4,5,6,7,8,9,10"};
    assert_int_equal(plan_for(&p, "", NULL, 0, grids, 2, 10, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "more than 1000 runs"));
    nmp_sweep_plan_free(&p);
    /* the config's own errors come first, with their position */
    assert_int_equal(plan_for(&p, "optimizer: {epochs: many}\n", NULL, 0, NULL, 0, 1, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "plan.yaml:1:21: optimizer.epochs: expected an integer"));
    nmp_sweep_plan_free(&p);
}

/* ------------------------------------------------------------------ JSON */

static void json_reads_values_and_escapes(void **state)
{
    (void)state;
    const char *text = "{\"a\": {\"b\": [1, 2.5e1, -3], \"s\": \"x\\n\\\"y\\u00e9\\ud83d\\ude00\"},\n"
                       " \"t\": true, \"f\": false, \"n\": null, \"e\": {}, \"l\": []}";
    nmp_jv *j = NULL;
    char why[256];
    assert_int_equal(nmp_jv_parse(text, strlen(text), &j, why, sizeof why), 0);
    const nmp_jv *b = nmp_jv_get(j, "a.b");
    assert_true(json_object_is_type(b, json_type_array));
    assert_int_equal(json_object_array_length(b), 3);
    assert_true(json_object_get_double(json_object_array_get_idx(b, 1)) == 25.0);
    assert_string_equal(nmp_jv_string_at(j, "a.s"), "x\n\"y\xc3\xa9\xf0\x9f\x98\x80");
    assert_true(json_object_is_type(nmp_jv_get(j, "t"), json_type_boolean));
    assert_true(json_object_get_boolean(nmp_jv_get(j, "t")));
    assert_null(nmp_jv_get(j, "n")); /* null reads as absent */
    assert_int_equal(json_object_object_length(nmp_jv_get(j, "e")), 0);
    assert_null(nmp_jv_get(j, "a.missing"));
    assert_null(nmp_jv_get(j, "t.deeper"));
    assert_true(nmp_jv_number_at(j, "a.s", 7.5) == 7.5);
    assert_true(nmp_jv_number_at(j, "a.b", 7.5) == 7.5);
    nmp_jv_free(j);
    /* a member named twice keeps its last value, as Python's json does, and equals itself */
    const char *twice = "{\"a\": 1, \"a\": {\"b\": 2}}";
    assert_int_equal(nmp_jv_parse(twice, strlen(twice), &j, why, sizeof why), 0);
    assert_true(nmp_jv_number_at(j, "a.b", 0) == 2);
    char where[64];
    assert_int_equal(nmp_jv_diff(j, j, NULL, where, sizeof where), 0);
    nmp_jv_free(j);

    static const char *const bad[][2] = {
        {"{\"a\": 1,}", "line 1: "},
        {"[1 2]", "line 1: "},
        {"{\"a\" 1}", "line 1: "},
        {"\"abc", "line 1: unexpected end of text"},
        {"{} x", "line 1: unexpected character"},
        {"{\"a\":\n tru}", "line 2: "},
        {"{\"a\": [1,\n2,\n\n", "line 4: unexpected end of text"},
        {"{\"a\": 1 // note\n}", "line 1: "},
        {"", "line 1: unexpected end of text"},
        {"NaN\n\n", "line 1: a number that is not finite"},
        {"[1,\n Infinity]", "line 2: a number that is not finite"},
        {"{\"a\": \"NaN\",\n \"b\": -1e999}", "line 2: a number that is not finite"},
        {"{\"\": {\"\": 2},\n'us\"': NaN}", "line 2: single-quoted strings are not JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nmp_jv_parse(bad[i][0], strlen(bad[i][0]), &j, why, sizeof why), -1);
        assert_null(j);
        if (!strstr(why, bad[i][1])) fail_msg("%s: \"%s\" lacks \"%s\"", bad[i][0], why, bad[i][1]);
    }
}

static void json_diff_names_the_first_difference(void **state)
{
    (void)state;
    const char *a_text =
        "{\"seed\": 1, \"opt\": {\"epochs\": 2, \"lr\": 0.5}, \"sweep\": {\"seeds\": 1}, \"l\": [1, 2]}";
    const char *cases[][2] = {
        {"{\"l\": [1, 2], \"opt\": {\"lr\": 0.5, \"epochs\": 2}, \"seed\": 1, \"sweep\": {\"seeds\": 9}}", ""},
        {"{\"seed\": 1, \"opt\": {\"epochs\": 3, \"lr\": 0.5}, \"l\": [1, 2]}", "opt.epochs"},
        {"{\"seed\": 1, \"opt\": {\"epochs\": 2}, \"l\": [1, 2]}", "opt.lr"},
        {"{\"seed\": 1, \"opt\": {\"epochs\": 2, \"lr\": 0.5, \"new\": 1}, \"l\": [1, 2]}", "opt.new"},
        {"{\"seed\": 1, \"opt\": {\"epochs\": 2, \"lr\": 0.5}, \"l\": [1, 3]}", "l[1]"},
        {"{\"seed\": \"1\", \"opt\": {\"epochs\": 2, \"lr\": 0.5}, \"l\": [1, 2]}", "seed"},
    };
    static const char *const ignore[] = {"sweep", NULL};
    nmp_jv *a = NULL, *b = NULL;
    char why[256], where[256];
    assert_int_equal(nmp_jv_parse(a_text, strlen(a_text), &a, why, sizeof why), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(nmp_jv_parse(cases[i][0], strlen(cases[i][0]), &b, why, sizeof why), 0);
        int differs = nmp_jv_diff(a, b, ignore, where, sizeof where);
        assert_int_equal(differs, cases[i][1][0] != 0);
        if (differs) assert_string_equal(where, cases[i][1]);
        nmp_jv_free(b);
    }
    assert_int_equal(nmp_jv_diff(a, a, NULL, where, sizeof where), 0);
    nmp_jv_free(a);
}

/* ------------------------------------------------------------------ resuming */

/* dir/embedding.npy: n x 2 float32, every value v. */
static void write_embedding(const char *dir, int64_t n, float v)
{
    char path[700];
    float y[16];
    for (int i = 0; i < 16; i++) y[i] = v;
    snprintf(path, sizeof path, "%s/embedding.npy", dir);
    nmp_err err = {0};
    assert_int_equal(nmp_npy_write(path, y, "<f4", n, 2, &err), NMP_OK);
}

static void write_record(const char *dir, const char *config_json, const char *status, double np)
{
    char path[600], *text = malloc(strlen(config_json) + 1024);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/run.json", dir);
    sprintf(text,
            "{\"status\": \"%s\", \"stage_seconds\": {\"plugins\": 0.5, \"optimize\": 2.25}, "
            "\"total_seconds\": 3, \"peak_rss_bytes\": 1048576, \"ann\": {\"recall_sample\": 10, "
            "\"edges_kept\": 0.75, \"recall\": 0.5}, \"metrics\": {\"k\": 10, \"np\": %g, \"triplet\": 0.8}, "
            "\"data\": {\"n\": 4}, \"config\": %s}",
            status, np, config_json);
    write_text(path, text);
    free(text);
    write_embedding(dir, 4, 0.0f);
}

static void inspect_resumes_only_matching_finished_runs(void **state)
{
    (void)state;
    nmp_sweep_plan p;
    nmp_err err = {0};
    const char *grids[] = {"ann.k=5,6"};
    assert_int_equal(plan_for(&p, "seed: 3\n", NULL, 0, grids, 1, 1, &err), NMP_OK);
    char dir[600];
    nmp_sweep_dir_state st;
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, p.runs[0].name);
    assert_int_equal(nmp_sweep_run_inspect(dir, &p.runs[0], &st, &err), NMP_OK);
    assert_int_equal(st, NMP_SWEEP_DIR_ABSENT);

    write_record(dir, p.runs[0].config_json, "ok", 0.25);
    assert_int_equal(nmp_sweep_run_inspect(dir, &p.runs[0], &st, &err), NMP_OK);
    assert_int_equal(st, NMP_SWEEP_DIR_DONE);
    const nmp_sweep_result *r = &p.runs[0].result;
    assert_int_equal(r->state, NMP_SWEEP_OK);
    assert_true(r->resumed);
    assert_true(r->np == 0.25 && r->triplet == 0.8 && r->eval_k == 10);
    assert_true(isnan(r->knn_acc));
    assert_true(r->stage_seconds[0] == 0.5 && r->stage_seconds[6] == 2.25 && isnan(r->stage_seconds[1]));
    assert_true(r->edges_kept == 0.75 && r->recall == 0.5 && r->peak_rss_bytes == 1048576);

    /* run.json is ok but the embedding is not what it describes: a run to do again */
    write_embedding(dir, 3, 0.0f);
    assert_int_equal(nmp_sweep_run_inspect(dir, &p.runs[0], &st, &err), NMP_OK);
    assert_int_equal(st, NMP_SWEEP_DIR_PARTIAL);
    write_embedding(dir, 4, NAN);
    assert_int_equal(nmp_sweep_run_inspect(dir, &p.runs[0], &st, &err), NMP_OK);
    assert_int_equal(st, NMP_SWEEP_DIR_PARTIAL);
    write_record(dir, p.runs[0].config_json, "ok", 0.25);

    /* the other cell's config (ann.k differs) in this folder: refused, naming the key */
    write_record(dir, p.runs[1].config_json, "ok", 0.25);
    assert_int_equal(nmp_sweep_run_inspect(dir, &p.runs[0], &st, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "made with another config (ann.k differs)"));

    /* a record that is not complete or not ok: the folder is an interrupted run's */
    write_record(dir, p.runs[0].config_json, "failed", 0.25);
    assert_int_equal(nmp_sweep_run_inspect(dir, &p.runs[0], &st, &err), NMP_OK);
    assert_int_equal(st, NMP_SWEEP_DIR_PARTIAL);
    char path[700];
    snprintf(path, sizeof path, "%s/run.json", dir);
    write_text(path, "{\"status\": \"ok\", ");
    assert_int_equal(nmp_sweep_run_inspect(dir, &p.runs[0], &st, &err), NMP_OK);
    assert_int_equal(st, NMP_SWEEP_DIR_PARTIAL);

    /* such a folder is removed, unless it holds what no run writes */
    snprintf(path, sizeof path, "%s/snapshots", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/snapshots/epoch_0001.npy", dir);
    write_text(path, "x");
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_text(path, "mine");
    assert_int_equal(nmp_sweep_remove_dir(dir, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "notes.txt"));
    assert_int_equal(access(path, F_OK), 0);
    unlink(path);
    assert_int_equal(nmp_sweep_remove_dir(dir, &err), NMP_OK);
    assert_int_equal(access(dir, F_OK), -1);
    nmp_sweep_plan_free(&p);
}

/* ------------------------------------------------------------------ tables */

static void tables_rows_and_mean_std(void **state)
{
    (void)state;
    nmp_sweep_grid g = {0};
    nmp_err err = {0};
    assert_int_equal(nmp_sweep_grid_add_arg(&g, "negatives={plugin: a, m: 1},b", &err), NMP_OK);
    int c0 = 0, c1 = 1;
    nmp_sweep_run runs[5] = {
        {.cell = 0, .choice = &c0, .seed = 1, .name = "r0"}, {.cell = 0, .choice = &c0, .seed = 2, .name = "r1"},
        {.cell = 1, .choice = &c1, .seed = 1, .name = "r2"}, {.cell = 1, .choice = &c1, .seed = 2, .name = "r3"},
        {.cell = 1, .choice = &c1, .seed = 3, .name = "r4"},
    };
    for (int i = 0; i < 5; i++) {
        nmp_sweep_result *r = &runs[i].result;
        r->state = NMP_SWEEP_OK;
        r->eval_k = 10;
        r->np = i == 0 ? 0.1 : 0.3;
        r->triplet = r->knn_acc = r->trust = r->edges_kept = r->recall = 0.5;
        r->peak_rss_bytes = 2 * 1048576.0;
        for (int s = 0; s < NMP_SWEEP_STAGES; s++) r->stage_seconds[s] = 1;
        r->total_seconds = 9;
    }
    runs[3].result.state = NMP_SWEEP_FAILED;
    snprintf(runs[3].result.error, sizeof runs[3].result.error, "it broke, \"badly\" | twice");
    runs[4].result.state = NMP_SWEEP_PENDING;
    nmp_sweep_tables t = {.config_path = "c.yaml",
                          .command = "nomad sweep c.yaml",
                          .grid = &g,
                          .runs = runs,
                          .n_runs = 5,
                          .seeds = 1,
                          .eval_k = 10};
    assert_int_equal(nmp_sweep_tables_write(tmpdir, &t, &err), NMP_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/results.csv", tmpdir);
    char *csv = read_text(path);
    const char *header = "run,negatives,seed,status,np@10,triplet,knn_acc,trust,edges_kept,knn_recall,peak_rss_mib,"
                         "plugins_s,load_s,partition_s,ann_s,affinity_s,init_s,optimize_s,eval_s,output_s,total_s,"
                         "error\n";
    assert_int_equal(strncmp(csv, header, strlen(header)), 0);
    assert_non_null(strstr(csv, "\nr0,\"{plugin: a, m: 1}\",1,ok,0.100000,0.500000,"));
    assert_non_null(strstr(csv, ",2.000,1.0000,"));
    assert_non_null(strstr(csv, "\nr3,b,2,error,,,,,,,,,,,,,,,,,,\"it broke, \"\"badly\"\" | twice\"\n"));
    assert_null(strstr(csv, "r4")); /* not run yet: no row */
    int lines = 0;
    for (const char *c = csv; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 1 + 4);
    free(csv);
    snprintf(path, sizeof path, "%s/results.md", tmpdir);
    char *md = read_text(path);
    assert_non_null(strstr(md, "5 runs (5 grid cells x 1 seeds): 3 ok, 1 failed, 1 not run yet."));
    assert_non_null(strstr(md, "| `{plugin: a, m: 1}` | 2/2 | 0.2000 ± 0.1414 | 0.5000 ± 0.0000 |"));
    assert_non_null(strstr(md, "| `b` | 1/2 | 0.3000 | 0.5000 |"));
    assert_non_null(strstr(md, "| `b` | 2 | error: it broke, \"badly\" \\| twice | - |"));
    free(md);
    nmp_sweep_grid_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_respects_brackets_and_quotes),
        cmocka_unit_test(grid_args_add_and_replace),
        cmocka_unit_test(grid_from_config_section),
        cmocka_unit_test(expansion_order_and_names),
        cmocka_unit_test(plan_expands_every_cell_and_seed),
        cmocka_unit_test(plan_errors_name_the_cell),
        cmocka_unit_test(json_reads_values_and_escapes),
        cmocka_unit_test(json_diff_names_the_first_difference),
        cmocka_unit_test(inspect_resumes_only_matching_finished_runs),
        cmocka_unit_test(tables_rows_and_mean_std),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
