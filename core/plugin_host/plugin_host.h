/* Finding, validating and instantiating plugins: every check the host makes on a .so
 * before calling into it lives here (nmp_plugin_validate), so there is one place to read. */
#ifndef NOMAD_PLUGIN_HOST_H
#define NOMAD_PLUGIN_HOST_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "nomad/plugin.h"

struct nmp_cfg_node; /* config.h */
struct nmp_config;   /* config.h */

/* One descriptor found on the path. */
typedef struct {
    const nmp_plugin *desc; /* owned by the loaded .so (valid while the registry lives) */
    char *file;             /* registry owns */
} nmp_plugin_ref;

/* All plugins found on the search path (first occurrence of a kind+name wins), plus the
 * files refused while scanning, with why. */
typedef struct {
    nmp_plugin_ref **items; /* each allocated once: refs stay valid as the registry grows */
    size_t count;
    char **refused; /* "file: reason" lines, registry owns */
    size_t n_refused;
    void **handles; /* dlopen handles, closed by nmp_registry_free */
    size_t n_handles;
} nmp_registry;

const char *nmp_kind_name(nmp_kind kind);

/* The default search path: $NOMAD_PLUGIN_PATH (colon-separated), then <dir of the nomad
 * executable>/plugins, then <that dir>/../lib/nomad/plugins. Returns a malloc'd
 * colon-separated string. */
char *nmp_plugin_default_path(void);

/* Scans every *.so in the colon-separated `path` (directories in order). Duplicate
 * kind+name: the first wins and a warning is logged. Refused files are recorded, not fatal. */
nmp_status nmp_registry_scan(nmp_registry *reg, const char *path, nmp_err *err);
void nmp_registry_free(nmp_registry *reg);

/* Opens one .so and validates all its descriptors; appends them to the registry (no
 * duplicate warning: an explicit file is what the user asked for). Errors name the file. */
nmp_status nmp_registry_add_file(nmp_registry *reg, const char *file, nmp_err *err);

/* Checks one descriptor (ABI major and minor, struct sizes, kind, names, required callbacks, its CUDA entry,
 * parameter table). Returns NMP_OK or fills err with "<file>: <reason>". */
nmp_status nmp_plugin_validate(const nmp_plugin *p, const char *file, nmp_err *err);

/* The data of the extension `uri` of a validated descriptor, or NULL when it offers none
 * (extension() NULL, or returning NULL for that name). */
const void *nmp_plugin_extension(const nmp_plugin *p, const char *uri);
/* Its CUDA entry: the extension NMP_EXT_CUDA, or NULL. */
const void *nmp_plugin_cuda_ops(const nmp_plugin *p);

/* Finds the plugin for a config slot: `spec` is a name (looked up among plugins of `kind`
 * on the plugin path, never in the working directory) or a path to a .so (contains '/':
 * loaded, and its descriptor of `kind` used). Errors list the names that exist for that
 * kind, or say which kind it is. */
nmp_status nmp_registry_find(nmp_registry *reg, nmp_kind kind, const char *spec, const nmp_plugin_ref **out,
                             nmp_err *err);

/* Finds the plugin `spec` for a config slot and resolves its declared parameters from the
 * slot's section (NULL: all defaults) into *params (free with nmp_params_free). A relative
 * path written in a config file is taken from that file's folder. */
nmp_status nmp_registry_resolve(nmp_registry *reg, nmp_kind kind, const char *spec, const struct nmp_cfg_node *section,
                                const nmp_plugin_ref **ref, nmp_params *params, nmp_err *err);

/* cfg as YAML, every plugin's parameters resolved from root's sections (defaults filled in):
 * `nomad run --dry-run`, and a config.yaml rewritten by the C API. */
nmp_status nmp_config_write_resolved(FILE *f, const struct nmp_config *cfg, const struct nmp_cfg_node *root, nmp_err *err);

/* A created plugin: descriptor, resolved params, its host table and state. */
typedef struct {
    const nmp_plugin_ref *ref;
    nmp_params params; /* owned (nmp_params_free) */
    nmp_host *host;    /* owned */
    void *state;       /* plugin owns; destroyed once by nmp_instance_destroy */
    const void *ops;   /* the calls the run uses: desc->ops, or its CUDA entry on device: cuda */
    int on_cuda;       /* 1 when ops is the CUDA entry (nmp_device_select) */
    int created;
} nmp_instance;

/* Calls create() with resolved params (ownership of `params` moves to the instance, also
 * on failure). A failing create passes its message on: "<section> plugin <name> (<file>):
 * create failed: <message>". */
nmp_status nmp_instance_create(const nmp_plugin_ref *ref, const char *section, nmp_params *params,
                               nmp_instance *out, nmp_err *err);
void nmp_instance_destroy(nmp_instance *inst);
/* Creates the plugin cfg names for `kind` (scanned into reg), its parameters resolved from
 * root's section for that kind: what a run does for each stage, and `nomad transform` for
 * the run's loss. */
nmp_status nmp_instance_create_for(nmp_registry *reg, nmp_kind kind, const struct nmp_config *cfg,
                                   const struct nmp_cfg_node *root, nmp_instance *out, nmp_err *err);
/* Formats a failed kind call: "<kind> plugin <name> (<file>): <what>: <message>". */
nmp_status nmp_instance_fail(const nmp_instance *inst, nmp_status status, const char *what, nmp_err *err);

#endif
