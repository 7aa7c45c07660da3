/* Plugins from a config (plugin_host.h): one created for a stage (nmp_instance_create_for), or
 * every one's parameters resolved and the config written out whole (nmp_config_write_resolved:
 * what `nomad run --dry-run` prints and what the C API writes into a saved run folder). */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "plugin_host.h"

nmp_status nmp_instance_create_for(nmp_registry *reg, nmp_kind kind, const nmp_config *cfg, const nmp_cfg_node *root,
                                   nmp_instance *out, nmp_err *err)
{
    const char *section = nmp_config_kind_section(kind);
    const nmp_plugin_ref *ref = NULL;
    nmp_params params = {0};
    nmp_status s = nmp_registry_resolve(reg, kind, nmp_config_plugin_name(cfg, kind), nmp_config_section(root, section),
                                        &ref, &params, err);
    if (s == NMP_OK) s = nmp_instance_create(ref, section, &params, out, err);
    nmp_params_free(&params);
    return s;
}

nmp_status nmp_config_write_resolved(FILE *f, const nmp_config *cfg, const nmp_cfg_node *root, nmp_err *err)
{
    nmp_registry reg = {0};
    nmp_params params[NMP_KIND_COUNT];
    const nmp_params *ptrs[NMP_KIND_COUNT];
    memset(params, 0, sizeof params);
    char *path = nmp_plugin_default_path();
    nmp_status s = path ? nmp_registry_scan(&reg, path, err) : nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    free(path);
    for (int k = 1; k <= NMP_KIND_COUNT && s == NMP_OK; k++) {
        const nmp_plugin_ref *ref = NULL;
        s = nmp_registry_resolve(&reg, (nmp_kind)k, nmp_config_plugin_name(cfg, (nmp_kind)k),
                                 nmp_config_section(root, nmp_config_kind_section((nmp_kind)k)), &ref, &params[k - 1],
                                 err);
        ptrs[k - 1] = &params[k - 1];
    }
    if (s == NMP_OK && nmp_config_dump(f, cfg, ptrs) != NMP_OK)
        s = nmp_fail(err, NMP_ERR_IO, "cannot write the config");
    for (int k = 0; k < NMP_KIND_COUNT; k++) nmp_params_free(&params[k]);
    nmp_registry_free(&reg);
    return s;
}
