/* `nomad sweep`: an ablation grid (axes from the config's sweep.grid and from --grid), the
 * runs it expands to (one per grid cell and seed, each a `nomad run` in its own directory),
 * their results read back from each run's run.json, and the results tables. */
#ifndef NOMAD_SWEEP_H
#define NOMAD_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/* ------------------------------------------------------------------ grid (sweep_grid.c) */

/* One axis: a config key and its values, each as `--set key=value` takes it. */
typedef struct {
    char *key;     /* "partitioner.cells" */
    char **values; /* count entries, owned */
    int count;
} nmp_sweep_axis;

typedef struct {
    nmp_sweep_axis *axes; /* owned */
    int count;
} nmp_sweep_grid;

/* Splits "v1,v2,..." at the commas outside {} [] and quotes (so `{plugin: a, m: 4}` is one
 * value), trimming blanks. Empty values are errors. *values is malloc'd (each string too). */
nmp_status nmp_sweep_split_values(const char *what, const char *text, char ***values, int *count, nmp_err *err);
/* Adds "key=v1,v2,..." (a --grid argument); an axis with the same key is replaced in place. */
nmp_status nmp_sweep_grid_add_arg(nmp_sweep_grid *g, const char *arg, nmp_err *err);
/* Adds one axis (takes ownership of key and values, also on failure); replaces the same key. */
nmp_status nmp_sweep_grid_put(nmp_sweep_grid *g, char *key, char **values, int count, nmp_err *err);
/* Adds the axes of the config's `sweep.grid` mapping: `key.path: [v1, v2]`, or nested maps
 * (`partitioner: {cells: [1, 2]}`); a single value is an axis of one. Values that are maps
 * or sequences are passed on as YAML flow text. Absent or null: no axes. */
nmp_status nmp_sweep_grid_from_config(nmp_sweep_grid *g, const nmp_cfg_node *root, nmp_err *err);
void nmp_sweep_grid_free(nmp_sweep_grid *g);
/* Cells in the grid (the product of the axis sizes; 1 for no axes), or -1 above `limit`. */
int64_t nmp_sweep_grid_cells(const nmp_sweep_grid *g, int64_t limit);
/* The value index of each axis for cell `cell`; the first axis varies slowest. */
void nmp_sweep_grid_choice(const nmp_sweep_grid *g, int64_t cell, int *choice);

/* A run's directory name from its grid values and seed: "partitioner.cells=4,seed=42".
 * Characters other than [A-Za-z0-9._+:@-] become '-', and such a value (or a long one) gets
 * a hash of its text so names stay distinct. */
void nmp_sweep_run_name(const nmp_sweep_grid *g, const int *choice, int64_t seed, char *buf, size_t size);
/* The same for people: "partitioner.cells=4 seed=42". */
void nmp_sweep_run_label(const nmp_sweep_grid *g, const int *choice, int64_t seed, char *buf, size_t size);

/* ------------------------------------------------------------------ results (sweep_result.c) */

/* The pipeline's stages, named as in nmp_stage_names (run_state.h; checked there). */
enum { NMP_SWEEP_STAGES = 9 };

typedef enum { NMP_SWEEP_PENDING = 0, NMP_SWEEP_OK, NMP_SWEEP_FAILED } nmp_sweep_state;

/* What the tables show of one run. Numbers absent from run.json are NaN. */
typedef struct {
    nmp_sweep_state state;
    int resumed;         /* read from an earlier sweep's run.json */
    char error[1024];    /* FAILED: why, one line */
    double wall_seconds; /* of the child process (0 when resumed) */
    int64_t eval_k;
    double np, triplet, knn_acc, trust;
    double stage_seconds[NMP_SWEEP_STAGES], total_seconds;
    double peak_rss_bytes, edges_kept, recall;
} nmp_sweep_result;

/* One run of the sweep. */
typedef struct {
    int64_t cell; /* grid cell */
    int *choice;  /* value index per axis (owned) */
    int64_t seed;
    char name[256];    /* directory under the sweep's folder */
    char label[1024];  /* for progress lines */
    char *config_json; /* the resolved config the run must record (owned) */
    int resume;        /* its folder holds a stopped run's checkpoint: `nomad run --resume` it */
    nmp_sweep_result result;
} nmp_sweep_run;

/* Outcome of looking at a run's directory before the sweep runs it. */
typedef enum {
    NMP_SWEEP_DIR_ABSENT,
    NMP_SWEEP_DIR_DONE,
    NMP_SWEEP_DIR_PARTIAL,  /* an interrupted run's leftovers: removed, the run starts again */
    NMP_SWEEP_DIR_RESUMABLE /* a stopped run with checkpoint.bin and config.yaml: it goes on */
} nmp_sweep_dir_state;

/* Reads dir/run.json if it is there. DONE: a run that finished with status ok, whose
 * recorded config equals run->config_json (apart from the sweep section); its results are
 * filled in. PARTIAL: the directory exists without a complete run.json (an interrupted or
 * crashed run). A finished run made with another config is an error (NMP_ERR_INVALID)
 * naming the first key that differs. */
nmp_status nmp_sweep_run_inspect(const char *dir, nmp_sweep_run *run, nmp_sweep_dir_state *state, nmp_err *err);
/* Fills `result` from the run.json at `path`, which must say status "ok". */
nmp_status nmp_sweep_result_read(const char *path, nmp_sweep_result *result, nmp_err *err);

/* ------------------------------------------------------------------ plan (sweep_plan.c) */

/* What a sweep runs: the config, the --set overrides and the grid, expanded and checked. */
typedef struct {
    const char *config_path;
    const char *const *sets; /* --set assignments, applied before the grid's */
    int n_sets;
    nmp_sweep_grid grid; /* owned */
    int64_t seeds;
    nmp_sweep_run *runs; /* cells x seeds, seeds innermost (owned) */
    int64_t n_runs;
    nmp_config *base; /* the config with --set, no grid value (owned) */
} nmp_sweep_plan;

/* Loads the config with the --set overrides, collects the grid (sweep.grid, then the --grid
 * arguments, which add axes or replace those of the same key), and takes sweep.seeds unless
 * seeds > 0. Errors are the config's or the grid's (NMP_ERR_INVALID / NMP_ERR_IO). */
nmp_status nmp_sweep_plan_init(nmp_sweep_plan *p, const char *config_path, const char *const *sets, int n_sets,
                               const char *const *grids, int n_grids, int64_t seeds, nmp_err *err);
/* Resolves every grid cell's config (core keys and every plugin's parameters, as `nomad run`
 * would) and fills p->runs with their names and resolved configs. The first cell that does
 * not resolve is an error naming the cell; two runs with the same name are an error. */
nmp_status nmp_sweep_plan_expand(nmp_sweep_plan *p, int64_t max_runs, nmp_err *err);
/* The `--set` assignments of run i's grid values and seed, "key=value" each (malloc'd array
 * of n_grid + 1 malloc'd strings; free with nmp_sweep_assignments_free). */
char **nmp_sweep_assignments(const nmp_sweep_plan *p, const nmp_sweep_run *run);
void nmp_sweep_assignments_free(char **a, int count);
void nmp_sweep_plan_free(nmp_sweep_plan *p);

/* ------------------------------------------------------------------ tables (sweep_table.c) */

typedef struct {
    const char *config_path;
    const char *command; /* the command line, for the header of results.md */
    const nmp_sweep_grid *grid;
    nmp_sweep_run *runs;
    int64_t n_runs;
    int64_t seeds;
    int64_t eval_k; /* the base config's eval.k, for the NP@k column */
} nmp_sweep_tables;

/* Writes dir/results.csv and dir/results.md (each atomically) with every run that is not
 * pending: one row per run, and in results.md a mean +- std table per grid cell. */
nmp_status nmp_sweep_tables_write(const char *dir, const nmp_sweep_tables *t, nmp_err *err);

/* ------------------------------------------------------------------ child runs (sweep_exec.c) */

/* Runs argv (argv[0] is the program) as a child process with stdout and stderr going to
 * log_path; waits for it. Fills result->state, ->error and ->wall_seconds. The interface is
 * the child's exit status and its run.json, never its log: exit 0 is OK (the caller reads
 * record_path); any other status is FAILED with the error the child recorded in record_path
 * ({"status": "failed", "error": ...}), or what killed it. */
nmp_status nmp_sweep_exec(char *const *argv, const char *log_path, const char *record_path, nmp_sweep_result *result,
                          nmp_err *err);
/* Reads the failure record a child left (status "failed"): its error into result->error. */
nmp_status nmp_sweep_failure_read(const char *path, nmp_sweep_result *result, nmp_err *err);
/* Removes a directory an interrupted run left behind; refuses (NMP_ERR_INVALID, naming the
 * entry) when it holds anything that `nomad run` does not write. */
nmp_status nmp_sweep_remove_dir(const char *dir, nmp_err *err);

#endif
