/* Plugin discovery and validation (dlopen RTLD_NOW | RTLD_LOCAL), and the instance
 * lifecycle. Nothing in a plugin but its entry is called before nmp_plugin_validate has
 * accepted the descriptor's own members; then extension() is asked for what is validated next. */
#define _GNU_SOURCE
#include "plugin_host.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "host.h"

static const char *kind_names[] = {"?", "partitioner", "ann", "affinity", "init", "negatives", "loss"};

const char *nmp_kind_name(nmp_kind kind)
{
    return (kind >= 1 && kind <= NMP_KIND_COUNT) ? kind_names[kind] : "unknown";
}

/* Size each kind's ops must have: the members a host of this ABI calls. */
static size_t required_ops_size(nmp_kind kind)
{
    switch (kind) {
    case NMP_KIND_PARTITIONER: return sizeof(nmp_partitioner_ops);
    case NMP_KIND_ANN: return sizeof(nmp_ann_ops);
    case NMP_KIND_AFFINITY: return sizeof(nmp_affinity_ops);
    case NMP_KIND_INIT: return sizeof(nmp_init_ops);
    case NMP_KIND_NEGATIVES: return offsetof(nmp_negatives_ops, no_edges); /* 2.2's no_edges is optional: */
    case NMP_KIND_LOSS: return offsetof(nmp_loss_ops, no_edges);           /* 2.1's ops end before it */
    }
    return 0;
}

/* The kind calls every plugin of that kind must provide (prepare() is optional, but for losses). */
static const char *missing_kind_call(nmp_kind kind, const void *ops)
{
    switch (kind) {
    case NMP_KIND_PARTITIONER: return ((const nmp_partitioner_ops *)ops)->partition ? NULL : "partition";
    case NMP_KIND_ANN: return ((const nmp_ann_ops *)ops)->build ? NULL : "build";
    case NMP_KIND_AFFINITY: return ((const nmp_affinity_ops *)ops)->weigh ? NULL : "weigh";
    case NMP_KIND_INIT: return ((const nmp_init_ops *)ops)->init ? NULL : "init";
    case NMP_KIND_NEGATIVES: return ((const nmp_negatives_ops *)ops)->sample ? NULL : "sample";
    case NMP_KIND_LOSS: {
        const nmp_loss_ops *l = ops;
        return !l->prepare ? "prepare" : !l->repel ? "repel" : !l->attract ? "attract" : !l->value ? "value" : NULL;
    }
    }
    return "ops";
}

const void *nmp_plugin_extension(const nmp_plugin *p, const char *uri)
{
    return p->extension ? p->extension(uri) : NULL;
}

const void *nmp_plugin_cuda_ops(const nmp_plugin *p) { return nmp_plugin_extension(p, NMP_EXT_CUDA); }

/* The CUDA entry, if any, is checked like the CPU ops: its struct_size and its required call. */
static nmp_status validate_cuda_ops(const nmp_plugin *p, const char *file, nmp_err *err)
{
    const void *ops = nmp_plugin_cuda_ops(p);
    if (!ops) return NMP_OK;
    int device_step = p->kind == NMP_KIND_NEGATIVES || p->kind == NMP_KIND_LOSS;
    size_t need = p->kind == NMP_KIND_NEGATIVES ? sizeof(nmp_negatives_cuda_ops)
                  : p->kind == NMP_KIND_LOSS    ? sizeof(nmp_loss_cuda_ops)
                                                : required_ops_size(p->kind);
    if (ops == p->ops) /* the host runs the CPU ops itself where a graph stage has no entry */
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: plugin %s: its CUDA entry is its CPU ops; offer no extension %s instead (graph stages "
                        "then run their CPU ops on device: cuda)",
                        file, p->name, NMP_EXT_CUDA);
    uint32_t size = *(const uint32_t *)ops;
    if (size < need)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: plugin %s: %s CUDA entry struct_size %u is smaller than the %zu bytes needed "
                        "(extension %s)",
                        file, p->name, nmp_kind_name(p->kind), size, need, NMP_EXT_CUDA);
    const char *missing = !device_step ? missing_kind_call(p->kind, ops)
                          : p->kind == NMP_KIND_NEGATIVES
                              ? (((const nmp_negatives_cuda_ops *)ops)->sample ? NULL : "sample")
                              : (((const nmp_loss_cuda_ops *)ops)->grad ? NULL : "grad");
    if (missing)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s: CUDA entry callback %s is NULL (extension %s)", file,
                        p->name, missing, NMP_EXT_CUDA);
    return NMP_OK;
}

/* The checkpoint entry, if any: big enough, and every call there. */
static nmp_status validate_checkpoint_ops(const nmp_plugin *p, const char *file, nmp_err *err)
{
    const nmp_checkpoint_ops *ops = nmp_plugin_extension(p, NMP_EXT_CHECKPOINT);
    if (!ops) return NMP_OK;
    if (ops->struct_size < sizeof *ops || !ops->size || !ops->save || !ops->load)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: plugin %s: checkpoint entry (extension %s) is smaller than %zu bytes or lacks size, "
                        "save or load", file, p->name, NMP_EXT_CHECKPOINT, sizeof *ops);
    return NMP_OK;
}

static nmp_status validate_params(const nmp_plugin *p, const char *file, nmp_err *err)
{
    if (p->n_params && !p->params)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s declares %u parameters but no table", file, p->name,
                        p->n_params);
    for (uint32_t i = 0; i < p->n_params; i++) {
        const nmp_param_decl *d = &p->params[i];
        if (!d->name || !d->default_value || !d->doc || d->type < NMP_PARAM_INT || d->type > NMP_PARAM_ENUM)
            return nmp_fail(err, NMP_ERR_INVALID,
                            "%s: plugin %s: parameter %u needs a name, a type, a default and a doc line", file,
                            p->name, i);
        if (d->type == NMP_PARAM_ENUM && !d->choices)
            return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s: enum parameter %s has no choices", file,
                            p->name, d->name);
        if (strcmp(d->name, "plugin") == 0)
            return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s: a parameter may not be named \"plugin\"", file,
                            p->name);
    }
    return NMP_OK;
}

nmp_status nmp_plugin_validate(const nmp_plugin *p, const char *file, nmp_err *err)
{
    if (p->abi_major != NMP_ABI_MAJOR)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: built for plugin ABI %u.x, this nomad speaks ABI %d.%d; rebuild it against this nomad's headers", file,
                        p->abi_major, NMP_ABI_MAJOR, NMP_ABI_MINOR);
    if (p->abi_minor > NMP_ABI_MINOR) /* it may read struct members this host does not fill */
        return nmp_fail(err, NMP_ERR_INVALID, "%s: built for plugin ABI %u.%u, newer than this nomad's %d.%d", file,
                        p->abi_major, p->abi_minor, NMP_ABI_MAJOR, NMP_ABI_MINOR);
    if (p->struct_size < NMP_PLUGIN_BASE_SIZE)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: descriptor struct_size %u is smaller than the %zu bytes ABI %d needs",
                        file, p->struct_size, (size_t)NMP_PLUGIN_BASE_SIZE, NMP_ABI_MAJOR);
    if (p->kind < 1 || p->kind > NMP_KIND_COUNT)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: unknown plugin kind %d", file, (int)p->kind);
    if (!p->name || !p->name[0] || !p->version || !p->summary)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: descriptor needs a name, a version and a summary", file);
    if (!p->create || !p->destroy || !p->ops)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s: required callback %s is NULL", file, p->name,
                        !p->create ? "create" : !p->destroy ? "destroy" : "ops");
    uint32_t ops_size = *(const uint32_t *)p->ops;
    if (ops_size < required_ops_size(p->kind))
        return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s: %s ops struct_size %u is smaller than the %zu bytes needed",
                        file, p->name, nmp_kind_name(p->kind), ops_size, required_ops_size(p->kind));
    const char *missing = missing_kind_call(p->kind, p->ops);
    if (missing)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s: required callback %s is NULL", file, p->name, missing);
    nmp_status s = validate_cuda_ops(p, file, err);
    if (s == NMP_OK) s = validate_checkpoint_ops(p, file, err);
    return s == NMP_OK ? validate_params(p, file, err) : s;
}

static nmp_status push_handle(nmp_registry *reg, void *h)
{
    void **grown = realloc(reg->handles, (reg->n_handles + 1) * sizeof *grown);
    if (!grown) return NMP_ERR_NOMEM;
    reg->handles = grown;
    reg->handles[reg->n_handles++] = h;
    return NMP_OK;
}

static const nmp_plugin_ref *lookup(const nmp_registry *reg, nmp_kind kind, const char *name)
{
    for (size_t i = 0; i < reg->count; i++)
        if (reg->items[i]->desc->kind == kind && strcmp(reg->items[i]->desc->name, name) == 0) return reg->items[i];
    return NULL;
}

static nmp_status push_ref(nmp_registry *reg, const nmp_plugin *p, const char *file)
{
    nmp_plugin_ref **grown = realloc(reg->items, (reg->count + 1) * sizeof *grown);
    if (!grown) return NMP_ERR_NOMEM;
    reg->items = grown;
    nmp_plugin_ref *ref = malloc(sizeof *ref);
    if (!ref) return NMP_ERR_NOMEM;
    ref->desc = p;
    ref->file = strdup(file);
    reg->items[reg->count++] = ref;
    return NMP_OK;
}

/* Whether two paths name one file (the same folder reached twice on the plugin path). */
static int same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

/* dlopens `file` and validates every descriptor before keeping any of them. `warn_dup`:
 * log (and skip) descriptors whose kind+name is already known. */
static nmp_status open_file(nmp_registry *reg, const char *file, int warn_dup, nmp_err *err)
{
    void *so = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!so) return nmp_fail(err, NMP_ERR_INVALID, "%s: cannot load: %s", file, dlerror());
    nmp_plugin_entry_fn entry = (nmp_plugin_entry_fn)(uintptr_t)dlsym(so, NMP_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(so);
        return nmp_fail(err, NMP_ERR_INVALID, "%s: not a nomad plugin: no exported %s symbol", file,
                        NMP_PLUGIN_ENTRY_SYMBOL);
    }
    uint32_t n = 0;
    for (const nmp_plugin *p; (p = entry(n)) != NULL; n++) {
        if (n >= 1024) break;
        if (nmp_plugin_validate(p, file, err) != NMP_OK) {
            dlclose(so);
            return NMP_ERR_INVALID;
        }
    }
    if (n == 0) {
        dlclose(so);
        return nmp_fail(err, NMP_ERR_INVALID, "%s: %s(0) returned no descriptor", file, NMP_PLUGIN_ENTRY_SYMBOL);
    }
    if (push_handle(reg, so) != NMP_OK) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const nmp_plugin *p = entry(i);
        const nmp_plugin_ref *prev = lookup(reg, p->kind, p->name);
        if (prev && warn_dup) {
            if (!same_file(file, prev->file)) /* a folder named twice on the path shadows nothing */
                nmp_log(NMP_LOG_WARN, "%s plugin %s in %s is shadowed by %s (first on the path wins)",
                        nmp_kind_name(p->kind), p->name, file, prev->file);
            continue;
        }
        if (push_ref(reg, p, file) != NMP_OK) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    }
    return NMP_OK;
}

nmp_status nmp_registry_add_file(nmp_registry *reg, const char *file, nmp_err *err)
{
    if (access(file, R_OK) != 0) return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin file not found", file);
    return open_file(reg, file, 0, err);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Is `file` named <kind>_<name>.so? Only such files are opened by a scan: dlopen runs a
 * library's constructors, so a folder put on the path must not run every .so it holds. */
static int plugin_file_name(const char *file)
{
    size_t len = strlen(file);
    if (len < 4 || strcmp(file + len - 3, ".so") != 0) return 0;
    for (int k = 1; k <= NMP_KIND_COUNT; k++) {
        const char *kind = nmp_kind_name((nmp_kind)k);
        size_t kl = strlen(kind);
        if (len > kl + 4 && strncmp(file, kind, kl) == 0 && file[kl] == '_') return 1;
    }
    return 0;
}

/* Lists the <kind>_<name>.so files in dir, sorted so the scan order does not depend on the
 * file system. */
static char **list_so(const char *dir, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!plugin_file_name(e->d_name)) continue;
        char **grown = realloc(names, (*count + 1) * sizeof *grown);
        if (!grown) break;
        names = grown;
        names[(*count)++] = strdup(e->d_name);
    }
    closedir(d);
    if (names) qsort(names, *count, sizeof *names, by_name);
    return names;
}

static void record_refusal(nmp_registry *reg, const char *msg)
{
    char **grown = realloc(reg->refused, (reg->n_refused + 1) * sizeof *grown);
    if (!grown) return;
    reg->refused = grown;
    reg->refused[reg->n_refused++] = strdup(msg);
}

nmp_status nmp_registry_scan(nmp_registry *reg, const char *path, nmp_err *err)
{
    char *copy = strdup(path ? path : "");
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        size_t n = 0;
        char **names = list_so(dir, &n);
        for (size_t i = 0; i < n; i++) {
            char file[PATH_MAX];
            snprintf(file, sizeof file, "%s/%s", dir, names[i]);
            nmp_err e = {0};
            nmp_status s = open_file(reg, file, 1, &e);
            if (s == NMP_ERR_NOMEM) {
                free(copy);
                return nmp_fail(err, s, "out of memory while scanning %s", dir);
            }
            if (s != NMP_OK) {
                nmp_log(NMP_LOG_DEBUG, "refused %s", e.msg);
                record_refusal(reg, e.msg);
            }
            free(names[i]);
        }
        free(names);
    }
    free(copy);
    return NMP_OK;
}

void nmp_registry_free(nmp_registry *reg)
{
    for (size_t i = 0; i < reg->count; i++) {
        free(reg->items[i]->file);
        free(reg->items[i]);
    }
    for (size_t i = 0; i < reg->n_refused; i++) free(reg->refused[i]);
    /* Handles stay open: descriptors' strings and tables live in them, and plugins may have
     * registered thread-local state with OpenMP/OpenBLAS; the process exit unloads them. */
    free(reg->handles);
    free(reg->items);
    free(reg->refused);
    memset(reg, 0, sizeof *reg);
}

char *nmp_plugin_default_path(void)
{
    char exe[PATH_MAX] = {0}, lib[PATH_MAX] = {0}, out[5 * PATH_MAX] = {0};
    const char *env = getenv("NOMAD_PLUGIN_PATH");
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    }
    /* The core inside a shared library (libnomad.so of the Python package) looks next to the
     * library, not next to the program that loaded it (python3). */
    Dl_info self;
    if (dladdr((void *)nmp_plugin_default_path, &self) && self.dli_fname && self.dli_fname[0] == '/' &&
        strlen(self.dli_fname) < sizeof lib) {
        strcpy(lib, self.dli_fname);
        *strrchr(lib, '/') = 0;
    }
    snprintf(out, sizeof out, "%s%s%s/plugins:%s/../lib/nomad/plugins%s%s%s", env ? env : "", env && *env ? ":" : "",
             exe, exe, lib[0] && strcmp(lib, exe) ? ":" : "", lib[0] && strcmp(lib, exe) ? lib : "",
             lib[0] && strcmp(lib, exe) ? "/plugins" : "");
    return strdup(out);
}

/* A file when it has a '/': a bare "x.so" is a name, looked up on the plugin path only, so
 * that the working directory never supplies code. */
static int looks_like_file(const char *spec) { return strchr(spec, '/') != NULL; }

static void names_of_kind(const nmp_registry *reg, nmp_kind kind, char *buf, size_t len)
{
    buf[0] = 0;
    for (size_t i = 0; i < reg->count; i++) {
        if (reg->items[i]->desc->kind != kind) continue;
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", reg->items[i]->desc->name);
    }
    if (!buf[0]) snprintf(buf, len, "(none)");
}

static nmp_status find_in_file(nmp_registry *reg, nmp_kind kind, const char *spec, const nmp_plugin_ref **out,
                               nmp_err *err)
{
    char resolved[PATH_MAX];
    if (!realpath(spec, resolved)) return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin file not found", spec);
    size_t before = reg->count;
    nmp_status s = nmp_registry_add_file(reg, resolved, err);
    if (s != NMP_OK) return s;
    for (size_t i = before; i < reg->count; i++)
        if (reg->items[i]->desc->kind == kind) {
            *out = reg->items[i];
            return NMP_OK;
        }
    return nmp_fail(err, NMP_ERR_INVALID, "%s: plugin %s is a %s plugin, but the %s section needs a %s plugin", spec,
                    reg->items[before]->desc->name, nmp_kind_name(reg->items[before]->desc->kind), nmp_kind_name(kind),
                    nmp_kind_name(kind));
}

nmp_status nmp_registry_find(nmp_registry *reg, nmp_kind kind, const char *spec, const nmp_plugin_ref **out,
                             nmp_err *err)
{
    *out = NULL;
    if (looks_like_file(spec)) return find_in_file(reg, kind, spec, out, err);
    *out = lookup(reg, kind, spec);
    if (*out) return NMP_OK;
    char names[2048];
    names_of_kind(reg, kind, names, sizeof names);
    for (size_t i = 0; i < reg->count; i++)
        if (strcmp(reg->items[i]->desc->name, spec) == 0)
            return nmp_fail(err, NMP_ERR_INVALID,
                            "%s.plugin: \"%s\" is a %s plugin (%s), not a %s plugin; %s plugins: %s", nmp_kind_name(kind),
                            spec, nmp_kind_name(reg->items[i]->desc->kind), reg->items[i]->file, nmp_kind_name(kind),
                            nmp_kind_name(kind), names);
    size_t n = strlen(spec);
    return nmp_fail(err, NMP_ERR_INVALID, "%s.plugin: no %s plugin named \"%s\" on the plugin path; found: %s%s%s",
                    nmp_kind_name(kind), nmp_kind_name(kind), spec, names,
                    reg->n_refused ? " (some files were refused: run `nomad plugins`)" : "",
                    n > 3 && !strcmp(spec + n - 3, ".so") ? " (a file path needs a '/', e.g. ./name.so)" : "");
}

/* A relative .so path in a config file is relative to that file's folder (as an include
 * would be), not to wherever nomad was started; from --set, to the working directory. */
static const char *plugin_spec_path(const nmp_cfg_node *section, const char *spec, char *buf, size_t len)
{
    const nmp_cfg_node *node = section ? nmp_cfg_child(section, "plugin") : NULL;
    if (!looks_like_file(spec) || spec[0] == '/' || !node || !node->file || node->line == 0) return spec;
    const char *slash = strrchr(node->file, '/');
    if (!slash) return spec;
    snprintf(buf, len, "%.*s/%s", (int)(slash - node->file), node->file, spec);
    return buf;
}

nmp_status nmp_registry_resolve(nmp_registry *reg, nmp_kind kind, const char *spec, const nmp_cfg_node *section,
                                const nmp_plugin_ref **ref, nmp_params *params, nmp_err *err)
{
    char path[2 * PATH_MAX];
    nmp_status s = nmp_registry_find(reg, kind, plugin_spec_path(section, spec, path, sizeof path), ref, err);
    if (s != NMP_OK) return s;
    const nmp_plugin *d = (*ref)->desc;
    return nmp_config_plugin_params(section, nmp_kind_name(kind), d->name, (*ref)->file, d->params, d->n_params, params,
                                    err);
}

nmp_status nmp_instance_create(const nmp_plugin_ref *ref, const char *section, nmp_params *params,
                               nmp_instance *out, nmp_err *err)
{
    memset(out, 0, sizeof *out);
    out->ref = ref;
    out->ops = ref->desc->ops;
    out->params = *params;
    memset(params, 0, sizeof *params);
    char tag[256];
    snprintf(tag, sizeof tag, "%s/%s", section, ref->desc->name);
    out->host = nmp_host_new(tag);
    if (!out->host) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory creating %s", tag);
    void *state = NULL;
    nmp_status s = ref->desc->create(out->host, &out->params, &state);
    if (s != NMP_OK) {
        nmp_fail(err, s == NMP_ERR_NOMEM ? s : NMP_ERR_INVALID, "%s plugin %s (%s): create failed: %s", section,
                 ref->desc->name, ref->file, nmp_host_error(out->host)[0] ? nmp_host_error(out->host) : "no reason given");
        nmp_instance_destroy(out);
        return err ? err->status : s;
    }
    out->state = state;
    out->created = 1;
    return NMP_OK;
}

void nmp_instance_destroy(nmp_instance *inst)
{
    if (inst->created && inst->ref) inst->ref->desc->destroy(inst->state);
    nmp_params_free(&inst->params);
    nmp_host_free(inst->host);
    memset(inst, 0, sizeof *inst);
}

nmp_status nmp_instance_fail(const nmp_instance *inst, nmp_status status, const char *what, nmp_err *err)
{
    const char *msg = nmp_host_error(inst->host);
    return nmp_fail(err, status == NMP_OK ? NMP_ERR_RUNTIME : status, "%s plugin %s (%s): %s: %s",
                    nmp_kind_name(inst->ref->desc->kind), inst->ref->desc->name, inst->ref->file, what,
                    msg[0] ? msg : "failed without a message");
}
