/* The plugin host's refusals, one test each, on fixture plugins built in tests/fixtures,
 * and the lifecycle (create, calls, destroy exactly once). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "plugin_host.h"
#include "test_host.h"
#include "../fixtures/fixture_counts.h"

#define FIX(name) NOMAD_FIXTURE_DIR "/negatives_" name ".so"

static void expect_refusal(const char *file, const char *words)
{
    nmp_registry reg = {0};
    nmp_err err = {0};
    nmp_status s = nmp_registry_add_file(&reg, file, &err);
    assert_int_equal(s, NMP_ERR_INVALID);
    if (!strstr(err.msg, file) || !strstr(err.msg, words)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, words);
    assert_int_equal(reg.count, 0);
    nmp_registry_free(&reg);
}

static void refuses_missing_entry(void **st) { (void)st, expect_refusal(FIX("no_entry"), "no exported nmp_plugin_entry"); }
static void refuses_other_abi(void **st) { (void)st, expect_refusal(FIX("abi_major"), "built for plugin ABI 3.x"); }
/* A plugin of ABI 1 (a loss with one grad() call) is refused by its major, naming both ABIs. */
static void refuses_old_major(void **st)
{
    char words[128];
    snprintf(words, sizeof words, "abi_old.so: built for plugin ABI 1.x, this nomad speaks ABI %d.%d; rebuild it",
             NMP_ABI_MAJOR, NMP_ABI_MINOR);
    (void)st, expect_refusal(FIX("abi_old"), words);
}
static void refuses_newer_minor(void **st)
{
    char words[128];
    snprintf(words, sizeof words, "abi_minor.so: built for plugin ABI %d.%d, newer than this nomad's %d.%d",
             NMP_ABI_MAJOR, NMP_ABI_MINOR + 1, NMP_ABI_MAJOR, NMP_ABI_MINOR);
    (void)st, expect_refusal(FIX("abi_minor"), words);
}
static void refuses_small_struct(void **st) { (void)st, expect_refusal(FIX("small_struct"), "struct_size 16 is smaller"); }
static void refuses_null_callback(void **st) { (void)st, expect_refusal(FIX("null_callback"), "required callback sample is NULL"); }
static void refuses_null_create(void **st) { (void)st, expect_refusal(FIX("null_create"), "required callback create is NULL"); }
static void refuses_small_ops(void **st) { (void)st, expect_refusal(FIX("small_ops"), "ops struct_size 4 is smaller"); }
static void refuses_null_cuda_callback(void **st)
{
    (void)st, expect_refusal(FIX("cuda_null"), "CUDA entry callback sample is NULL (extension nomad.cuda)");
}
static void refuses_small_cuda_entry(void **st)
{
    (void)st, expect_refusal(FIX("cuda_small"), "negatives CUDA entry struct_size 4 is smaller");
}
/* A plugin may not hand its CPU ops out as its CUDA entry: the host falls back itself. */
static void refuses_cpu_ops_as_cuda_entry(void **st)
{
    (void)st, expect_refusal(FIX("cuda_alias"), "its CUDA entry is its CPU ops");
}

/* The CUDA entry is the extension NMP_EXT_CUDA; a plugin without extensions has none, and a
 * name nobody offers finds nothing. */
static void finds_cuda_entry_by_name(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    assert_int_equal(nmp_registry_add_file(&reg, FIX("cuda_entry"), &err), NMP_OK);
    assert_int_equal(nmp_registry_add_file(&reg, FIX("good"), &err), NMP_OK);
    assert_int_equal(reg.count, 2);
    const nmp_plugin *with = reg.items[0]->desc, *without = reg.items[1]->desc;
    const nmp_negatives_cuda_ops *ops = nmp_plugin_cuda_ops(with);
    assert_non_null(ops);
    assert_non_null(ops->sample);
    assert_ptr_equal(nmp_plugin_extension(with, NMP_EXT_CUDA), ops);
    assert_null(nmp_plugin_extension(with, "nomad.no_such_extension"));
    assert_null(without->extension);
    assert_null(nmp_plugin_cuda_ops(without));
    assert_null(nmp_plugin_extension(without, NMP_EXT_CUDA));
    nmp_registry_free(&reg);
}

/* A 2.x descriptor has at least NMP_PLUGIN_BASE_SIZE bytes (2.0's, up to `extension`): that
 * much is accepted, one byte less is refused. */
static void base_size_is_the_floor(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    assert_int_equal(nmp_registry_add_file(&reg, FIX("good"), &err), NMP_OK);
    assert_int_equal(NMP_PLUGIN_BASE_SIZE, offsetof(nmp_plugin, extension) + sizeof(void (*)(void)));
    assert_true(NMP_PLUGIN_BASE_SIZE <= sizeof(nmp_plugin));
    nmp_plugin p = *reg.items[0]->desc;
    p.struct_size = (uint32_t)NMP_PLUGIN_BASE_SIZE;
    assert_int_equal(nmp_plugin_validate(&p, "base.so", &err), NMP_OK);
    p.struct_size = (uint32_t)NMP_PLUGIN_BASE_SIZE - 1;
    assert_int_equal(nmp_plugin_validate(&p, "base.so", &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "base.so: descriptor struct_size"));
    nmp_registry_free(&reg);
}

static void refuses_missing_file(void **st) { (void)st, expect_refusal(FIX("does_not_exist"), "not found"); }

static void refuses_wrong_kind(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    const nmp_plugin_ref *ref = NULL;
    assert_int_equal(nmp_registry_find(&reg, NMP_KIND_LOSS, FIX("good"), &ref, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "is a negatives plugin, but the loss section needs a loss plugin"));
    assert_non_null(strstr(err.msg, "good.so"));
    nmp_registry_free(&reg);
}

/* A negatives or loss ops struct of ABI 2.1 (it ends before 2.2's no_edges) still loads: the
 * host reads no_edges only where struct_size covers it. */
static void ops_of_minor_1_load(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    assert_int_equal(nmp_registry_add_file(&reg, FIX("good"), &err), NMP_OK);
    nmp_plugin p = *reg.items[0]->desc;
    nmp_negatives_ops ops = *(const nmp_negatives_ops *)p.ops;
    p.ops = &ops;
    ops.struct_size = (uint32_t)offsetof(nmp_negatives_ops, no_edges);
    assert_int_equal(nmp_plugin_validate(&p, "minor1.so", &err), NMP_OK);
    ops.struct_size -= 1;
    assert_int_equal(nmp_plugin_validate(&p, "minor1.so", &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "minor1.so: plugin fixture_neg: negatives ops struct_size"));
    nmp_registry_free(&reg);
}

static void finds_by_kind_in_pack(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    const nmp_plugin_ref *ref = NULL;
    assert_int_equal(nmp_registry_find(&reg, NMP_KIND_LOSS, FIX("two_kinds"), &ref, &err), NMP_OK);
    assert_string_equal(ref->desc->name, "pack_loss");
    nmp_registry_free(&reg);
}

static void scan_records_refusals_and_first_wins(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    assert_int_equal(nmp_registry_scan(&reg, NOMAD_FIXTURE_DIR, &err), NMP_OK);
    const nmp_plugin_ref *ref = NULL;
    assert_int_equal(nmp_registry_find(&reg, NMP_KIND_NEGATIVES, "fixture_neg", &ref, &err), NMP_OK);
    /* negatives_good.so sorts before negatives_good_dup.so: the first on the path wins. */
    assert_non_null(strstr(ref->file, "/negatives_good.so"));
    int dups = 0;
    for (size_t i = 0; i < reg.count; i++) dups += strcmp(reg.items[i]->desc->name, "fixture_neg") == 0;
    assert_int_equal(dups, 1);
    assert_int_equal(reg.n_refused, 11); /* every broken fixture, each refused alone */
    nmp_registry_free(&reg);
}

/* A bare "x.so" is a name on the plugin path, never a file in the working directory. */
static void bare_so_is_a_name(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    const nmp_plugin_ref *ref = NULL;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(NOMAD_FIXTURE_DIR), 0);
    assert_int_equal(nmp_registry_find(&reg, NMP_KIND_NEGATIVES, "negatives_good.so", &ref, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no negatives plugin named \"negatives_good.so\""));
    assert_non_null(strstr(err.msg, "a file path needs a '/', e.g. ./name.so"));
    assert_int_equal(reg.count, 0);
    assert_int_equal(nmp_registry_find(&reg, NMP_KIND_NEGATIVES, "./negatives_good.so", &ref, &err), NMP_OK);
    assert_int_equal(chdir(cwd), 0);
    nmp_registry_free(&reg);
}

static void unknown_name_lists_known(void **st)
{
    (void)st;
    nmp_registry reg = {0};
    nmp_err err = {0};
    const nmp_plugin_ref *ref = NULL;
    assert_int_equal(nmp_registry_scan(&reg, NOMAD_FIXTURE_DIR, &err), NMP_OK);
    assert_int_equal(nmp_registry_find(&reg, NMP_KIND_NEGATIVES, "nope", &ref, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no negatives plugin named \"nope\""));
    assert_non_null(strstr(err.msg, "fixture_neg"));
    assert_non_null(strstr(err.msg, "pack_neg"));
    assert_int_equal(nmp_registry_find(&reg, NMP_KIND_NEGATIVES, "pack_loss", &ref, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "is a loss plugin"));
    nmp_registry_free(&reg);
}

/* Resolves the params of good.so from a YAML negatives section and creates it. */
static nmp_registry g_reg; /* instances point into it: lives for the whole group */

static int group_setup(void **st)
{
    (void)st;
    nmp_err err = {0};
    return nmp_registry_add_file(&g_reg, FIX("good"), &err) == NMP_OK ? 0 : -1;
}

static int group_teardown(void **st)
{
    (void)st;
    nmp_registry_free(&g_reg);
    return 0;
}

static nmp_status create_from_yaml(const char *yaml, nmp_instance *inst, nmp_err *err)
{
    const nmp_plugin_ref *ref = NULL;
    nmp_status s = nmp_registry_find(&g_reg, NMP_KIND_NEGATIVES, "fixture_neg", &ref, err);
    assert_int_equal(s, NMP_OK);
    nmp_cfg_node *root = NULL;
    assert_int_equal(nmp_cfg_parse_string("cfg.yaml", yaml, &root, err), NMP_OK);
    nmp_params params = {0};
    s = nmp_config_plugin_params(nmp_config_section(root, "negatives"), "negatives", ref->desc->name, ref->file,
                                 ref->desc->params, ref->desc->n_params, &params, err);
    if (s == NMP_OK) s = nmp_instance_create(ref, "negatives", &params, inst, err);
    nmp_cfg_free(root);
    return s;
}

static void refuses_undeclared_key(void **st)
{
    (void)st;
    nmp_instance inst;
    nmp_err err = {0};
    assert_int_equal(create_from_yaml("negatives:\n  plugin: x\n  cuont: 3\n", &inst, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "cfg.yaml:3:3"));
    assert_non_null(strstr(err.msg, "negatives.cuont"));
    assert_non_null(strstr(err.msg, "count, scale, mode, fail_create"));
}

static void refuses_out_of_range_and_type(void **st)
{
    (void)st;
    nmp_instance inst;
    nmp_err err = {0};
    assert_int_equal(create_from_yaml("negatives: {plugin: x, count: 500}\n", &inst, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "negatives.count"));
    assert_non_null(strstr(err.msg, "500"));
    assert_int_equal(create_from_yaml("negatives: {plugin: x, scale: fast}\n", &inst, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "negatives.scale"));
    assert_non_null(strstr(err.msg, "\"fast\""));
    assert_int_equal(create_from_yaml("negatives: {plugin: x, mode: c}\n", &inst, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "negatives.mode"));
}

static fixture_counts_t *counts(void)
{
    void *so = dlopen(FIX("good"), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    assert_non_null(so);
    fixture_counts_t *c = dlsym(so, "fixture_counts");
    assert_non_null(c);
    dlclose(so);
    return c;
}

static void passes_create_failure_on(void **st)
{
    (void)st;
    nmp_instance inst;
    nmp_err err = {0};
    assert_int_equal(create_from_yaml("negatives: {plugin: x, fail_create: true}\n", &inst, &err), NMP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "create failed: asked to fail by fail_create=true"));
    assert_non_null(strstr(err.msg, "good.so"));
}

static void lifecycle_once_each(void **st)
{
    (void)st;
    nmp_instance inst;
    nmp_err err = {0};
    assert_int_equal(create_from_yaml("negatives: {plugin: x, count: 7, mode: \"near:3\"}\n", &inst, &err), NMP_OK);
    fixture_counts_t *c = counts();
    fixture_counts_t before = *c;
    assert_int_equal(nmp_param_int(&inst.params, "count"), 7);
    assert_int_equal(nmp_param_int(&inst.params, "mode"), 3);
    assert_true(nmp_param_is(&inst.params, "mode", "near"));
    const nmp_negatives_ops *ops = inst.ref->desc->ops;
    nmp_negatives out;
    assert_int_equal(ops->sample(inst.state, NULL, &out), NMP_OK);
    nmp_instance_destroy(&inst);
    assert_int_equal(c->sample, before.sample + 1);
    assert_int_equal(c->destroy, before.destroy + 1);
    nmp_instance_destroy(&inst); /* a second destroy of a cleared instance does nothing */
    assert_int_equal(c->destroy, before.destroy + 1);
}

static void call_failure_names_plugin(void **st)
{
    (void)st;
    nmp_instance inst;
    nmp_err err = {0};
    assert_int_equal(create_from_yaml("negatives: {plugin: x, count: 60}\n", &inst, &err), NMP_OK);
    const nmp_negatives_ops *ops = inst.ref->desc->ops;
    nmp_negatives out;
    nmp_status s = ops->sample(inst.state, NULL, &out);
    assert_int_equal(nmp_instance_fail(&inst, s, "sample", &err), NMP_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "negatives plugin fixture_neg"));
    assert_non_null(strstr(err.msg, "sample: count 60 too large"));
    nmp_instance_destroy(&inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_missing_entry),         cmocka_unit_test(refuses_other_abi),
        cmocka_unit_test(refuses_newer_minor),           cmocka_unit_test(refuses_old_major),
        cmocka_unit_test(refuses_small_struct),          cmocka_unit_test(refuses_null_callback),
        cmocka_unit_test(refuses_null_create),           cmocka_unit_test(refuses_small_ops),
        cmocka_unit_test(refuses_missing_file),          cmocka_unit_test(refuses_wrong_kind),
        cmocka_unit_test(refuses_null_cuda_callback),    cmocka_unit_test(refuses_small_cuda_entry),
        cmocka_unit_test(refuses_cpu_ops_as_cuda_entry), cmocka_unit_test(finds_cuda_entry_by_name),
        cmocka_unit_test(base_size_is_the_floor),        cmocka_unit_test(ops_of_minor_1_load),
        cmocka_unit_test(finds_by_kind_in_pack),         cmocka_unit_test(scan_records_refusals_and_first_wins),
        cmocka_unit_test(unknown_name_lists_known),      cmocka_unit_test(bare_so_is_a_name),
        cmocka_unit_test(refuses_undeclared_key),        cmocka_unit_test(refuses_out_of_range_and_type),
        cmocka_unit_test(passes_create_failure_on),      cmocka_unit_test(lifecycle_once_each),
        cmocka_unit_test(call_failure_names_plugin),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
