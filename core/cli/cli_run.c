/* `nomad run [CONFIG] [--set k=v]... [--out DIR] [--dry-run] [--quiet]`. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "comm.h"
#include "dist.h"
#include "host.h"
#include "interrupt.h"
#include "pipeline.h"
#include "io.h"
#include "outdir.h"
#include "json.h"
#include "plugin_host.h"
#include "stages.h"

typedef struct {
    const char *config, *out, *resume;
    const char **sets;
    int n_sets, dry_run, quiet;
} run_args;

/* configs/nomad.yaml next to the build (build/../configs), else the source tree's. */
static const char *default_config(char *buf, size_t len)
{
    char exe[PATH_MAX] = {0};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(buf, len, "%s/../configs/nomad.yaml", exe);
        if (access(buf, R_OK) == 0) return buf;
    }
    return NOMAD_DEFAULT_CONFIG;
}

#define RUN_USAGE                                                                                                  \
    "usage: nomad run [CONFIG] [--set key.path=value]... [--out DIR] [--dry-run] [--quiet]\n"                       \
    "       nomad run --resume RUN_DIR [--quiet]   (a run stopped after a checkpoint: output.checkpoint_every)"

/* 0: go on; -1: help printed (exit 0); else the exit code. */
static int parse(int argc, char **argv, run_args *a)
{
    a->sets = calloc((size_t)argc, sizeof *a->sets);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = NULL;
        if (strcmp(f, "--set") == 0) {
            if (nmp_arg_str("run", argc, argv, &i, &v)) return 2;
            a->sets[a->n_sets++] = v;
        } else if (strncmp(f, "--set=", 6) == 0) {
            a->sets[a->n_sets++] = f + 6;
        } else if (strcmp(f, "--out") == 0) {
            if (nmp_arg_once("run", argc, argv, &i, &a->out)) return 2;
        } else if (strcmp(f, "--resume") == 0) {
            if (nmp_arg_once("run", argc, argv, &i, &a->resume)) return 2;
        } else if (strcmp(f, "--dry-run") == 0) {
            a->dry_run = 1;
        } else if (strcmp(f, "--quiet") == 0 || strcmp(f, "-q") == 0) {
            a->quiet = 1;
        } else if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            printf("%s\n  CONFIG defaults to configs/nomad.yaml; keys: docs/config-reference.md\n", RUN_USAGE);
            return -1; /* asked for: exit 0 */
        } else if (f[0] == '-') {
            return nmp_cli_fail(2, "run: unknown option %s; %s", f, RUN_USAGE);
        } else if (!a->config) {
            a->config = f;
        } else {
            return nmp_cli_fail(2, "run: more than one config given (\"%s\" and \"%s\")", a->config, f);
        }
    }
    if (a->resume && (a->config || a->out || a->n_sets || a->dry_run)) /* the run folder holds all of it */
        return nmp_cli_fail(2, "run: --resume %s takes no CONFIG, --set, --out or --dry-run: the run goes on with the "
                            "config in its folder", a->resume);
    return 0;
}

/* Under `nomad sweep` a failed run leaves its folder holding one file, run.json, that says so:
 * {"status": "failed", "exit_code": N, "error": "<the one-line message>"}; the sweep reads
 * that, never the log. A folder that holds anything (a checkpoint the sweep will resume,
 * another run's files) is left as it is. Best effort: the exit code says the run failed either way. */
static void record_failure(const char *dir, int code, const char *msg)
{
    char path[PATH_MAX + 32], copy[PATH_MAX];
    DIR *d = opendir(dir); /* only into a folder that holds nothing: never over another run's files */
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            closedir(d);
            return;
        }
    if (d) closedir(d);
    snprintf(copy, sizeof copy, "%s", dir);
    if (nmp_mkdir_p(copy) != 0) return;
    nmp_json j;
    nmp_json_init(&j);
    nmp_json_begin_object(&j);
    nmp_json_kv_string(&j, "status", "failed");
    nmp_json_kv_int(&j, "exit_code", code);
    nmp_json_kv_string(&j, "error", msg);
    nmp_json_end_object(&j);
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_RECORD);
    nmp_err ignored = {0};
    if (!j.oom) nmp_file_write_atomic(path, j.buf, j.len, &ignored);
    nmp_json_free(&j);
}

int nmp_cli_run(int argc, char **argv)
{
    run_args a = {0};
    char buf[PATH_MAX + 64];
    int rc = parse(argc, argv, &a);
    if (rc) {
        free(a.sets);
        return rc < 0 ? 0 : rc;
    }
    char resume_config[PATH_MAX + 32];
    if (a.resume) {
        snprintf(resume_config, sizeof resume_config, "%s/%s", a.resume, NMP_OUTDIR_CONFIG);
        a.config = resume_config;
        if (access(resume_config, F_OK) != 0) {
            free(a.sets);
            return nmp_cli_fail(2, "%s: no %s: not the folder of a run that checkpointed "
                                "(output.checkpoint_every)", a.resume, NMP_OUTDIR_CONFIG);
        }
    }
    if (!a.config) a.config = default_config(buf, sizeof buf);
    nmp_err err = {0};
    nmp_cfg_node *root = NULL;
    nmp_config *cfg = calloc(1, sizeof *cfg);
    nmp_status s = cfg ? nmp_config_load(a.config, a.sets, a.n_sets, "nomad run", &root, cfg, &err)
                       : nmp_fail(&err, NMP_ERR_NOMEM, "out of memory");
    if (s == NMP_OK && a.dry_run) s = nmp_config_write_resolved(stdout, cfg, root, &err);
    else if (s == NMP_OK) {
        nmp_run_configure_host(cfg, a.quiet);
        if (a.resume) s = nmp_run_resume_check(a.resume, &err);
        nmp_interrupt_install();
        nmp_run_request req = {.config_path = a.config, .out_dir = a.resume ? a.resume : a.out, .resume = !!a.resume,
                               .mode = nmp_dist_mode(cfg)};
        if (s == NMP_OK) s = nmp_pipeline_run(cfg, root, &req, &err);
    }
    nmp_cfg_free(root);
    free(cfg);
    free(a.sets);
    /* Under mpirun every rank fails alike (bad config) or agreed on one error: rank 0 says it. */
    const int code = s != NMP_OK && nmp_interrupt_signal() ? 128 + nmp_interrupt_signal() : nmp_exit_code(s);
    if (s != NMP_OK && getenv("NOMAD_SWEEP_PARENT") && (a.resume || a.out)) record_failure(a.resume ? a.resume : a.out, code, err.msg);
    if (s != NMP_OK && (nmp_host_settings()->rank != 0 || nmp_comm_launcher_rank() != 0)) return code;
    return s == NMP_OK ? 0 : nmp_cli_fail(code, "%s", err.msg);
}
