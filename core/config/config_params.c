/* The resolution of a plugin's declared parameters from its config section: each one typed
 * (config_value.c) from its node or its default, undeclared keys refused. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static nmp_cfg_range decl_range(const nmp_param_decl *d)
{
    nmp_cfg_range r = {.min = d->min, .max = d->max};
    if (d->min > d->max) return r;
    r.has_min = isfinite(d->min) && d->min > -DBL_MAX;
    r.has_max = isfinite(d->max) && d->max < DBL_MAX;
    return r;
}

static const nmp_param_decl *find_decl(const nmp_param_decl *decls, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (decls[i].name && !strcmp(decls[i].name, name)) return &decls[i];
    return NULL;
}

/* Refuses keys of the section that are neither core keys nor declared by the plugin. */
static nmp_status check_undeclared(const nmp_cfg_node *section, const char *section_name, const char *plugin_name,
                                   const char *plugin_file, const nmp_param_decl *decls, uint32_t n_decls,
                                   nmp_err *err)
{
    for (uint32_t c = 0; section && section->type == NMP_CFG_MAP && c < section->count; c++) {
        const nmp_cfg_node *kv = section->children[c];
        if (nmp_config_is_core_key(section_name, kv->key) || find_decl(decls, n_decls, kv->key)) continue;
        char list[1024] = "", path[512];
        size_t n = 0;
        for (uint32_t i = 0; i < n_decls && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", decls[i].name);
        snprintf(path, sizeof path, "%s.%s", section_name, kv->key);
        return nmp_cfg_fail_key(err, kv, path, "plugin %s (%s) has no parameter \"%s\"; %s%s", plugin_name,
                                plugin_file, kv->key, n_decls ? "it declares: " : "it declares no parameters",
                                list);
    }
    return NMP_OK;
}

/* One declared parameter from its node (if set; null is an error) or its default. */
static nmp_status resolve_param(const nmp_cfg_node *section, const char *section_name, const char *plugin_name,
                                const char *plugin_file, const nmp_param_decl *d, nmp_param_value *out,
                                nmp_err *err)
{
    nmp_cfg_node *node = (nmp_cfg_node *)nmp_cfg_child(section, d->name);
    nmp_cfg_range range = decl_range(d);
    char why[768], path[512];
    snprintf(path, sizeof path, "%s.%s", section_name, d->name);
    if (node) node->used = 1; /* resolution bookkeeping only; the tree is otherwise untouched */
    if (node && node->type == NMP_CFG_NULL)
        return nmp_cfg_fail_at(err, node, path, "no value; give one, or delete the key for its default (%s)",
                               d->default_value && *d->default_value ? d->default_value : "\"\"");
    if (node) {
        if (node->type != NMP_CFG_SCALAR)
            return nmp_cfg_fail_at(err, node, path, "expected a single value, got a %s",
                                   node->type == NMP_CFG_MAP ? "mapping" : "sequence");
        nmp_status s = nmp_cfg_parse_value(d->type, node->value, &range, d->choices, out, why, sizeof why);
        if (s) return s == NMP_ERR_NOMEM ? nmp_fail(err, s, "%s: out of memory", path)
                                         : nmp_cfg_fail_at(err, node, path, "%s", why);
    } else {
        const char *def = d->default_value ? d->default_value : "";
        nmp_status s = nmp_cfg_parse_value(d->type, def, &range, d->choices, out, why, sizeof why);
        if (s) return nmp_fail(err, s == NMP_ERR_NOMEM ? s : NMP_ERR_INVALID,
                               "%s: plugin %s: parameter \"%s\" has a bad default \"%s\": %s", plugin_file,
                               plugin_name, d->name, def, why);
    }
    out->name = d->name;
    return NMP_OK;
}

nmp_status nmp_config_plugin_params(const nmp_cfg_node *section, const char *section_name, const char *plugin_name,
                                    const char *plugin_file, const nmp_param_decl *decls, uint32_t n_decls,
                                    nmp_params *out, nmp_err *err)
{
    out->count = 0;
    out->items = NULL;
    if (section && section->type != NMP_CFG_MAP) section = NULL;
    nmp_status s = check_undeclared(section, section_name, plugin_name, plugin_file, decls, n_decls, err);
    if (s) return s;
    nmp_param_value *items = n_decls ? calloc(n_decls, sizeof *items) : NULL;
    if (n_decls && !items) return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory", section_name);
    out->items = items;
    for (uint32_t i = 0; i < n_decls; i++) {
        s = resolve_param(section, section_name, plugin_name, plugin_file, &decls[i], &items[i], err);
        if (s) {
            nmp_params_free(out);
            return s;
        }
        out->count = i + 1;
    }
    return NMP_OK;
}

void nmp_params_free(nmp_params *params)
{
    if (!params) return;
    nmp_param_value *items = (nmp_param_value *)params->items;
    for (uint32_t i = 0; i < params->count; i++) free((char *)items[i].s);
    free(items);
    params->items = NULL;
    params->count = 0;
}
