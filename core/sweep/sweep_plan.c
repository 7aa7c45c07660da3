/* A sweep's plan: the config with --set, the grid, and every run it expands to, each cell's
 * config resolved exactly as `nomad run` will resolve it, so a bad key or value stops the
 * sweep before any run starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_host.h"
#include "sweep.h"

/* The config file with the --set overrides, then the `extra` assignments, resolved. */
static nmp_status load_config(const nmp_sweep_plan *p, char *const *extra, int n_extra, nmp_cfg_node **root,
                              nmp_config *cfg, nmp_err *err)
{
    const char **sets = malloc(((size_t)p->n_sets + (size_t)n_extra + 1) * sizeof *sets);
    if (!sets) {
        *root = NULL;
        return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
    }
    for (int i = 0; i < p->n_sets; i++) sets[i] = p->sets[i];
    for (int i = 0; i < n_extra; i++) sets[p->n_sets + i] = extra[i];
    nmp_status s = nmp_config_load(p->config_path, sets, p->n_sets + n_extra, NULL, root, cfg, err);
    free(sets);
    return s;
}

nmp_status nmp_sweep_plan_init(nmp_sweep_plan *p, const char *config_path, const char *const *sets, int n_sets,
                               const char *const *grids, int n_grids, int64_t seeds, nmp_err *err)
{
    memset(p, 0, sizeof *p);
    p->config_path = config_path;
    p->sets = sets;
    p->n_sets = n_sets;
    p->base = calloc(1, sizeof *p->base);
    if (!p->base) return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
    nmp_cfg_node *root = NULL;
    nmp_status s = load_config(p, NULL, 0, &root, p->base, err);
    if (s == NMP_OK) s = nmp_sweep_grid_from_config(&p->grid, root, err);
    for (int i = 0; i < n_grids && s == NMP_OK; i++) s = nmp_sweep_grid_add_arg(&p->grid, grids[i], err);
    nmp_cfg_free(root);
    p->seeds = seeds > 0 ? seeds : p->base->sweep.seeds;
    return s;
}

char **nmp_sweep_assignments(const nmp_sweep_plan *p, const nmp_sweep_run *run)
{
    int n = p->grid.count;
    char **a = calloc((size_t)n + 1, sizeof *a);
    for (int i = 0; a && i <= n; i++) {
        const char *key = i < n ? p->grid.axes[i].key : "seed";
        char seed[32];
        snprintf(seed, sizeof seed, "%lld", (long long)run->seed);
        const char *value = i < n ? p->grid.axes[i].values[run->choice[i]] : seed;
        size_t len = strlen(key) + strlen(value) + 2;
        if (!(a[i] = malloc(len))) {
            nmp_sweep_assignments_free(a, n + 1);
            return NULL;
        }
        snprintf(a[i], len, "%s=%s", key, value);
    }
    return a;
}

void nmp_sweep_assignments_free(char **a, int count)
{
    for (int i = 0; a && i < count; i++) free(a[i]);
    free(a);
}

/* One cell's config and every plugin's parameters, as `nomad run` resolves them. */
static nmp_status resolve_cell(const nmp_sweep_plan *p, nmp_sweep_run *probe, nmp_registry *reg, nmp_config *cfg,
                               nmp_params params[NMP_KIND_COUNT], nmp_err *err)
{
    char **assign = nmp_sweep_assignments(p, probe);
    if (!assign) return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
    nmp_cfg_node *root = NULL;
    nmp_status s = load_config(p, assign, p->grid.count, &root, cfg, err); /* the seed is set per run */
    for (int k = 1; k <= NMP_KIND_COUNT && s == NMP_OK; k++) {
        const nmp_plugin_ref *ref = NULL;
        s = nmp_registry_resolve(reg, (nmp_kind)k, nmp_config_plugin_name(cfg, (nmp_kind)k),
                                 nmp_config_section(root, nmp_config_kind_section((nmp_kind)k)), &ref, &params[k - 1],
                                 err);
    }
    nmp_cfg_free(root);
    nmp_sweep_assignments_free(assign, p->grid.count + 1);
    return s;
}

/* The runs of one cell (one per seed), with the config each must record. */
static nmp_status add_cell_runs(nmp_sweep_plan *p, int64_t cell, const int *choice, nmp_config *cfg,
                                const nmp_params params[NMP_KIND_COUNT], nmp_err *err)
{
    const nmp_params *ptrs[NMP_KIND_COUNT];
    for (int k = 0; k < NMP_KIND_COUNT; k++) ptrs[k] = &params[k];
    int64_t base_seed = cfg->seed;
    for (int64_t i = 0; i < p->seeds; i++) {
        nmp_sweep_run *run = &p->runs[p->n_runs];
        run->cell = cell;
        run->seed = base_seed + i;
        run->choice = malloc((size_t)(p->grid.count + 1) * sizeof *run->choice);
        if (!run->choice) return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
        memcpy(run->choice, choice, (size_t)p->grid.count * sizeof *choice);
        p->n_runs++;
        nmp_sweep_run_name(&p->grid, choice, run->seed, run->name, sizeof run->name);
        nmp_sweep_run_label(&p->grid, choice, run->seed, run->label, sizeof run->label);
        nmp_json j;
        nmp_json_init(&j);
        cfg->seed = run->seed;
        nmp_config_json(&j, cfg, ptrs);
        if (j.oom) return nmp_json_free(&j), nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
        run->config_json = j.buf; /* the buffer changes hands */
    }
    cfg->seed = base_seed;
    return NMP_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const nmp_sweep_run *const *)a)->name, (*(const nmp_sweep_run *const *)b)->name);
}

static nmp_status check_names(const nmp_sweep_plan *p, nmp_err *err)
{
    const nmp_sweep_run **sorted = malloc((size_t)p->n_runs * sizeof *sorted);
    if (!sorted) return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
    for (int64_t i = 0; i < p->n_runs; i++) sorted[i] = &p->runs[i];
    qsort(sorted, (size_t)p->n_runs, sizeof *sorted, by_name);
    nmp_status s = NMP_OK;
    for (int64_t i = 1; i < p->n_runs && s == NMP_OK; i++)
        if (!strcmp(sorted[i]->name, sorted[i - 1]->name))
            s = nmp_fail(err, NMP_ERR_INVALID,
                         "sweep: runs \"%s\" and \"%s\" would share the folder %s; make the "
                         "grid values differ",
                         sorted[i - 1]->label, sorted[i]->label, sorted[i]->name);
    free(sorted);
    return s;
}

/* Resolves cell `cell` and appends its runs; errors name the cell. */
static nmp_status expand_cell(nmp_sweep_plan *p, int64_t cell, int *choice, nmp_registry *reg, nmp_config *cfg,
                              nmp_err *err)
{
    nmp_params params[NMP_KIND_COUNT];
    memset(params, 0, sizeof params);
    nmp_sweep_grid_choice(&p->grid, cell, choice);
    nmp_sweep_run probe = {.choice = choice};
    nmp_status s = resolve_cell(p, &probe, reg, cfg, params, err);
    if (s != NMP_OK && p->grid.count > 0) {
        char label[1024], msg[NMP_ERR_MSG_MAX];
        nmp_sweep_run_label(&p->grid, choice, 0, label, sizeof label);
        *strrchr(label, ' ') = 0; /* without the seed: the grid values alone */
        snprintf(msg, sizeof msg, "%s", err->msg);
        nmp_fail(err, s, "sweep: grid cell %s: %s", label, msg);
    }
    if (s == NMP_OK) s = add_cell_runs(p, cell, choice, cfg, params, err);
    for (int k = 0; k < NMP_KIND_COUNT; k++) nmp_params_free(&params[k]);
    return s;
}

nmp_status nmp_sweep_plan_expand(nmp_sweep_plan *p, int64_t max_runs, nmp_err *err)
{
    int64_t cells = nmp_sweep_grid_cells(&p->grid, max_runs / p->seeds);
    if (cells < 0)
        return nmp_fail(err, NMP_ERR_INVALID, "sweep: the grid times %lld seeds is more than %lld runs; split it",
                        (long long)p->seeds, (long long)max_runs);
    p->runs = calloc((size_t)(cells * p->seeds), sizeof *p->runs);
    int *choice = calloc((size_t)p->grid.count + 1, sizeof *choice);
    nmp_config *cfg = calloc(1, sizeof *cfg);
    nmp_registry reg = {0};
    char *path = nmp_plugin_default_path();
    nmp_status s = p->runs && choice && cfg && path ? nmp_registry_scan(&reg, path, err)
                                                    : nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
    for (int64_t cell = 0; cell < cells && s == NMP_OK; cell++) s = expand_cell(p, cell, choice, &reg, cfg, err);
    if (s == NMP_OK) s = check_names(p, err);
    nmp_registry_free(&reg);
    free(path);
    free(cfg);
    free(choice);
    return s;
}

void nmp_sweep_plan_free(nmp_sweep_plan *p)
{
    for (int64_t i = 0; i < p->n_runs; i++) {
        free(p->runs[i].choice);
        free(p->runs[i].config_json);
    }
    free(p->runs);
    free(p->base);
    nmp_sweep_grid_free(&p->grid);
    memset(p, 0, sizeof *p);
}
