/* `nomad sweep CONFIG [--grid key=v1,v2]... [--seeds N] [--set k=v]... [--out DIR]`: every
 * run of an ablation grid as a `nomad run` child process in DIR/<run>/, skipping runs an
 * earlier sweep finished, with results.csv and results.md rewritten after each run. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "outdir.h"
#include "sweep.h"

/* A grid larger than this is a mistake (a typo in a value list), not an ablation. */
#define MAX_RUNS 100000

static const char usage_line[] =
    "usage: nomad sweep CONFIG [--grid key.path=v1,v2,...]... [--seeds N] [--set key.path=value]... [--out DIR] "
    "[--dry-run] [--quiet]";

typedef struct {
    const char *config, *out;
    const char **sets, **grids;
    int n_sets, n_grids, dry_run, quiet;
    int64_t seeds;
} sweep_args;

static int parse(int argc, char **argv, sweep_args *a)
{
    a->sets = calloc((size_t)argc, sizeof *a->sets);
    a->grids = calloc((size_t)argc, sizeof *a->grids);
    if (!a->sets || !a->grids) return nmp_cli_fail(1, "sweep: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--set")) {
            if (nmp_arg_str("sweep", argc, argv, &i, &a->sets[a->n_sets++])) return 2;
        } else if (!strcmp(f, "--grid")) {
            if (nmp_arg_str("sweep", argc, argv, &i, &a->grids[a->n_grids++])) return 2;
        } else if (!strcmp(f, "--seeds")) {
            if (nmp_arg_int("sweep", argc, argv, &i, 1, 100000, &a->seeds)) return 2;
        } else if (!strcmp(f, "--out")) {
            if (nmp_arg_once("sweep", argc, argv, &i, &a->out)) return 2;
        } else if (!strcmp(f, "--dry-run")) {
            a->dry_run = 1;
        } else if (!strcmp(f, "--quiet") || !strcmp(f, "-q")) {
            a->quiet = 1;
        } else if (f[0] == '-') {
            return nmp_cli_fail(2, "sweep: unknown option %s; %s", f, usage_line);
        } else if (!a->config) {
            a->config = f;
        } else {
            return nmp_cli_fail(2, "sweep: more than one config given (\"%s\" and \"%s\")", a->config, f);
        }
    }
    if (!a->config) return nmp_cli_fail(2, "sweep: no config given; %s", usage_line);
    return 0;
}

/* --out, else sweep.dir with {name} = output.name or the config file's stem. */
static void sweep_dir(const sweep_args *a, const nmp_config *base, char *buf, size_t size)
{
    char name[NMP_CFG_STR_MAX];
    const char *slash = strrchr(a->config, '/');
    snprintf(name, sizeof name, "%s", base->output.name[0] ? base->output.name : slash ? slash + 1 : a->config);
    char *dot = strrchr(name, '.');
    if (!base->output.name[0] && dot && dot != name) *dot = 0;
    if (a->out)
        snprintf(buf, size, "%s", a->out);
    else
        nmp_outdir_expand(base->sweep.dir, name, buf, size);
}

/* The command line as one string, for the header of results.md; arguments with blanks or
 * shell characters in single quotes. */
static char *command_line(int argc, char **argv)
{
    size_t len = 16;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) * 4 + 3;
    char *cmd = malloc(len), *p = cmd;
    if (!cmd) return NULL;
    p += sprintf(p, "nomad sweep");
    for (int i = 1; i < argc; i++) {
        int plain = argv[i][0] && !strpbrk(argv[i], " \t'\"{}[]$*?;&|<>()\\");
        *p++ = ' ';
        if (!plain) *p++ = '\'';
        for (const char *c = argv[i]; *c; c++) p += *c == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *c);
        if (!plain) *p++ = '\'';
        *p = 0;
    }
    return cmd;
}

typedef struct {
    sweep_args args;
    nmp_sweep_plan plan;
    char dir[4096];
    char exe[PATH_MAX];
    char *command;
    int quiet, lock_fd;
} sweep;

/* Looks at every run's folder before anything runs: finished runs are taken as they are
 * (a config mismatch stops the sweep), folders of interrupted runs are checked for foreign
 * files and, unless dry, removed. */
static nmp_status inspect_runs(sweep *sw, int dry, int64_t *done, nmp_err *err)
{
    *done = 0;
    for (int64_t i = 0; i < sw->plan.n_runs; i++) {
        nmp_sweep_run *run = &sw->plan.runs[i];
        char path[4400];
        nmp_sweep_dir_state state;
        snprintf(path, sizeof path, "%s/%s", sw->dir, run->name);
        nmp_status s = nmp_sweep_run_inspect(path, run, &state, err);
        if (s == NMP_OK && state == NMP_SWEEP_DIR_PARTIAL && !dry) s = nmp_sweep_remove_dir(path, err);
        run->resume = state == NMP_SWEEP_DIR_RESUMABLE;
        if (s) return s;
        *done += state == NMP_SWEEP_DIR_DONE;
    }
    return NMP_OK;
}

static void print_plan(const sweep *sw)
{
    const nmp_sweep_plan *p = &sw->plan;
    printf("%lld runs (%lld grid cells x %lld seeds) in %s/\n", (long long)p->n_runs, (long long)(p->n_runs / p->seeds),
           (long long)p->seeds, sw->dir);
    for (int64_t i = 0; i < p->n_runs; i++)
        printf("[%lld/%lld] %s -> %s (%s)\n", (long long)i + 1, (long long)p->n_runs, p->runs[i].label, p->runs[i].name,
               p->runs[i].result.state == NMP_SWEEP_OK ? "done"
               : p->runs[i].resume                      ? "to go on from its checkpoint"
                                                        : "to run");
}

/* argv of the child: nomad run CONFIG --set (each --set, grid value and the seed) --out DIR,
 * or nomad run --resume DIR for a run stopped after a checkpoint. */
static char **child_argv(const sweep *sw, char **assign, int n_assign, const char *run_dir, int resume)
{
    const nmp_sweep_plan *p = &sw->plan;
    char **argv = calloc((size_t)(2 * (p->n_sets + n_assign) + 7), sizeof *argv);
    if (!argv) return NULL;
    int n = 0;
    argv[n++] = (char *)sw->exe;
    argv[n++] = "run";
    if (resume) { /* the folder holds the config and the state */
        argv[n++] = "--resume";
        argv[n++] = (char *)run_dir;
        return argv;
    }
    argv[n++] = (char *)p->config_path;
    for (int i = 0; i < p->n_sets; i++) argv[n++] = "--set", argv[n++] = (char *)p->sets[i];
    for (int i = 0; i < n_assign; i++) argv[n++] = "--set", argv[n++] = assign[i];
    argv[n++] = "--out";
    argv[n++] = (char *)run_dir;
    return argv;
}

/* Runs one run as a child process and reads its run.json. Only the sweep's own trouble (no
 * memory, no process) is an error; a run that fails is a FAILED result. */
static nmp_status run_one(sweep *sw, nmp_sweep_run *run, nmp_err *err)
{
    char run_dir[4400], log[4600], record[4600];
    snprintf(run_dir, sizeof run_dir, "%s/%s", sw->dir, run->name);
    snprintf(log, sizeof log, "%s/logs/%s.log", sw->dir, run->name);
    snprintf(record, sizeof record, "%s/%s", run_dir, NMP_OUTDIR_RECORD);
    int n_assign = sw->plan.grid.count + 1;
    char **assign = nmp_sweep_assignments(&sw->plan, run);
    char **argv = assign ? child_argv(sw, assign, n_assign, run_dir, run->resume) : NULL;
    nmp_status s =
        argv ? nmp_sweep_exec(argv, log, record, &run->result, err) : nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
    free(argv);
    nmp_sweep_assignments_free(assign, n_assign);
    if (s || run->result.state != NMP_SWEEP_OK) return s;
    nmp_err why = {0};
    if (nmp_sweep_result_read(record, &run->result, &why) != NMP_OK) {
        run->result.state = NMP_SWEEP_FAILED;
        snprintf(run->result.error, sizeof run->result.error, "the run exited 0, but %.900s", why.msg);
    }
    return NMP_OK;
}

static nmp_status write_tables(const sweep *sw, nmp_err *err)
{
    const nmp_sweep_plan *p = &sw->plan;
    nmp_sweep_tables t = {.config_path = p->config_path,
                          .command = sw->command ? sw->command : "nomad sweep",
                          .grid = &p->grid,
                          .runs = p->runs,
                          .n_runs = p->n_runs,
                          .seeds = p->seeds,
                          .eval_k = p->base->eval.k};
    return nmp_sweep_tables_write(sw->dir, &t, err);
}

static void report(const sweep *sw, const nmp_sweep_run *run)
{
    const nmp_sweep_result *r = &run->result;
    if (sw->quiet) return;
    if (r->state == NMP_SWEEP_FAILED)
        fprintf(stderr, "error: %s", r->error);
    else if (r->resumed)
        fputs("done before", stderr);
    else
        fprintf(stderr, "ok %.1f s", r->wall_seconds);
    if (r->state == NMP_SWEEP_OK && r->eval_k > 0 && r->np == r->np)
        fprintf(stderr, " NP@%lld %.3f", (long long)r->eval_k, r->np);
    fputc('\n', stderr);
}

/* Every run in order; the tables are rewritten after each, so they are whole at any time. */
static nmp_status run_all(sweep *sw, int64_t *failed, nmp_err *err)
{
    nmp_sweep_plan *p = &sw->plan;
    nmp_status s = write_tables(sw, err);
    for (int64_t i = 0; i < p->n_runs && s == NMP_OK; i++) {
        nmp_sweep_run *run = &p->runs[i];
        if (!sw->quiet) fprintf(stderr, "[%lld/%lld] %s ... ", (long long)i + 1, (long long)p->n_runs, run->label);
        fflush(stderr);
        if (run->result.state != NMP_SWEEP_OK) {
            s = run_one(sw, run, err);
            if (s == NMP_OK) s = write_tables(sw, err);
        }
        if (s == NMP_OK) report(sw, run);
        *failed += run->result.state == NMP_SWEEP_FAILED;
    }
    return s;
}

/* The sweep's folder and logs/, locked (flock on .lock, held until exit) so two sweeps never
 * run into one folder at once; and this program's path, to start the runs with. */
static nmp_status make_dirs(sweep *sw, nmp_err *err)
{
    char logs[4200], lock[4200];
    snprintf(logs, sizeof logs, "%s/logs", sw->dir);
    snprintf(lock, sizeof lock, "%s/.lock", sw->dir);
    ssize_t n = readlink("/proc/self/exe", sw->exe, sizeof sw->exe - 1);
    if (n <= 0) return nmp_fail(err, NMP_ERR_RUNTIME, "sweep: cannot find this program (/proc/self/exe) to start runs");
    sw->exe[n] = 0;
    if (nmp_mkdir_p(sw->dir) != 0 || nmp_mkdir_p(logs) != 0)
        return nmp_fail(err, NMP_ERR_IO, "%s: cannot create the sweep's folder: %s", sw->dir, strerror(errno));
    sw->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (sw->lock_fd < 0) return nmp_fail(err, NMP_ERR_IO, "%s: cannot create: %s", lock, strerror(errno));
    if (flock(sw->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: another sweep is running in this folder", sw->dir);
    return NMP_OK;
}

static void sweep_free(sweep *sw)
{
    nmp_sweep_plan_free(&sw->plan);
    free(sw->args.sets);
    free(sw->args.grids);
    free(sw->command);
    if (sw->lock_fd >= 0) close(sw->lock_fd);
}

int nmp_cli_sweep(int argc, char **argv)
{
    sweep sw = {.lock_fd = -1};
    sweep_args *a = &sw.args;
    int rc = parse(argc, argv, a);
    if (rc) {
        sweep_free(&sw);
        return rc;
    }
    nmp_err err = {0};
    int64_t done = 0, failed = 0;
    nmp_status s = nmp_sweep_plan_init(&sw.plan, a->config, a->sets, a->n_sets, a->grids, a->n_grids, a->seeds, &err);
    if (s == NMP_OK) s = nmp_sweep_plan_expand(&sw.plan, MAX_RUNS, &err);
    if (s == NMP_OK) {
        sweep_dir(a, sw.plan.base, sw.dir, sizeof sw.dir);
        sw.quiet = a->quiet || sw.plan.base->quiet;
        sw.command = command_line(argc, argv);
        if (!a->dry_run) s = make_dirs(&sw, &err);
    }
    if (s == NMP_OK) s = inspect_runs(&sw, a->dry_run, &done, &err);
    if (s == NMP_OK && a->dry_run) {
        print_plan(&sw);
        sweep_free(&sw);
        return 0;
    }
    if (s == NMP_OK && !sw.quiet)
        fprintf(stderr, "sweep: %lld runs in %s/ (%lld done before)\n", (long long)sw.plan.n_runs, sw.dir,
                (long long)done);
    if (s == NMP_OK) {
        char me[32]; /* each `nomad run` child asks for SIGTERM when this process dies (interrupt.h) */
        snprintf(me, sizeof me, "%ld", (long)getpid());
        setenv("NOMAD_SWEEP_PARENT", me, 1);
        s = run_all(&sw, &failed, &err);
    }
    if (s == NMP_OK && !sw.quiet)
        fprintf(stderr, "sweep: %lld ok, %lld failed; tables: %s/results.md, %s/results.csv\n",
                (long long)(sw.plan.n_runs - failed), (long long)failed, sw.dir, sw.dir);
    sweep_free(&sw);
    if (s != NMP_OK) return nmp_cli_fail(nmp_exit_code(s), "%s", err.msg);
    return failed ? 1 : 0;
}
