/* `nomad view RUN_DIR [-o map.html] [--text texts.txt] [--labels L]`: a finished run's map as
 * one HTML file that draws it with WebGL, without the network (core/output/view.c). Labels:
 * --labels, else those the run used, else none. Written atomically, so a refusal leaves nothing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "config.h"
#include "host.h"
#include "io.h"
#include "outdir.h"
#include "proc.h"
#include "view.h"

typedef struct {
    const char *run, *out, *text, *labels;
} view_args;

static const char usage[] = "view: usage: nomad view RUN_DIR [-o map.html] [--text texts.txt] [--labels L]";

static int parse(int argc, char **argv, view_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int rc = 0;
        if (!strcmp(f, "-o") || !strcmp(f, "--out")) rc = nmp_arg_once("view", argc, argv, &i, &a->out);
        else if (!strcmp(f, "--text")) rc = nmp_arg_once("view", argc, argv, &i, &a->text);
        else if (!strcmp(f, "--labels")) rc = nmp_arg_once("view", argc, argv, &i, &a->labels);
        else if (f[0] == '-') return nmp_cli_fail(2, "view: unknown option %s (see nomad --help)", f);
        else if (!a->run) a->run = f;
        else return nmp_cli_fail(2, "view: unexpected argument \"%s\"", f);
        if (rc) return rc;
    }
    return a->run ? 0 : nmp_cli_fail(2, "%s", usage);
}

/* The run's record, which must say it finished ("status": "ok"). */
static nmp_status read_record(const char *run, nmp_jv **record, nmp_err *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", run, NMP_OUTDIR_RECORD);
    if (access(path, F_OK) != 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: no %s: not the folder of a finished nomad run", run,
                        NMP_OUTDIR_RECORD);
    return nmp_outdir_read_record(path, "ok", record, err);
}

/* Where the labels the run used are: run.json names them as given (relative to the folder the
 * run was started in, or an alias such as fashion-mnist), config.yaml by their absolute path. */
static nmp_status run_labels_path(const char *run, const char *given, char *out, size_t size, nmp_err *err)
{
    char path[PATH_MAX + 64];
    snprintf(out, size, "%s", given);
    snprintf(path, sizeof path, "%s/%s", run, NMP_OUTDIR_CONFIG);
    if (access(path, F_OK) != 0) return NMP_OK; /* a run over ranks writes none */
    nmp_cfg_node *root = NULL;
    nmp_status s = nmp_cfg_load(path, &root, err);
    const nmp_cfg_node *labels = s == NMP_OK ? nmp_cfg_get(root, "data.labels") : NULL;
    if (labels && labels->type == NMP_CFG_SCALAR && labels->value[0]) snprintf(out, size, "%s", labels->value);
    nmp_cfg_free(root);
    return s;
}

/* --labels, else the run's (data.limit as the run read them), else none (*labels NULL). */
static nmp_status read_labels(const view_args *a, const nmp_jv *record, int64_t n, int32_t **labels, nmp_err *err)
{
    const char *given = nmp_jv_string_at(record, "data.labels");
    if (a->labels) return nmp_labels_read(a->labels, n, labels, err);
    if (!given) return NMP_OK;
    char path[PATH_MAX + 64];
    nmp_status s = run_labels_path(a->run, given, path, sizeof path, err);
    int64_t limit = (int64_t)nmp_jv_number_at(record, "config.data.limit", 0);
    if (s == NMP_OK) s = nmp_labels_read_limit(path, n, limit, labels, err);
    if (s == NMP_OK) return s;
    char msg[NMP_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return nmp_fail(err, s, "%s (the labels the run used; --labels names others)", msg);
}

int nmp_cli_view(int argc, char **argv)
{
    view_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    const double t0 = nmp_now();
    char layout_path[PATH_MAX + 64], out[PATH_MAX + 64];
    snprintf(layout_path, sizeof layout_path, "%s/embedding.npy", a.run);
    if (a.out) snprintf(out, sizeof out, "%s", a.out);
    else snprintf(out, sizeof out, "%s/map.html", a.run);
    nmp_err err = {0};
    nmp_jv *record = NULL;
    nmp_dataset y = {0};
    nmp_data_opts npy = {.format = NMP_FMT_NPY};
    int32_t *labels = NULL;
    nmp_texts texts = {0};
    nmp_status s = read_record(a.run, &record, &err);
    if (s == NMP_OK) s = nmp_data_open(layout_path, &npy, &y, &err);
    if (s == NMP_OK && y.m.d != 2 && y.m.d != 3)
        s = nmp_fail(&err, NMP_ERR_INVALID, "%s: a layout has 2 or 3 columns, this has %lld", layout_path,
                     (long long)y.m.d);
    if (s == NMP_OK) s = read_labels(&a, record, y.m.n, &labels, &err);
    if (s == NMP_OK && a.text) s = nmp_texts_read(a.text, y.m.n, &texts, &err);
    char full[PATH_MAX];
    const char *title = realpath(a.run, full) ? strrchr(full, '/') + 1 : a.run; /* the folder's own name, "." too */
    nmp_view_input in = {title[0] ? title : "/", y.m.x, y.m.n, (int)y.m.d, labels, a.text ? &texts : NULL};
    if (s == NMP_OK) s = nmp_view_write(out, &in, &err);
    struct stat st = {0};
    if (s == NMP_OK && stat(out, &st) == 0)
        nmp_log(NMP_LOG_INFO, "view: %lld points%s%s%s in %.2f s: %s (%.2f MB)", (long long)y.m.n,
                y.m.d == 3 ? " (3-D: the first two columns drawn)" : "", labels ? ", labels" : "",
                a.text ? ", texts" : "", nmp_now() - t0, out, (double)st.st_size / 1e6);
    free(labels);
    nmp_texts_free(&texts);
    nmp_data_close(&y);
    nmp_jv_free(record);
    return s == NMP_OK ? 0 : nmp_cli_fail(nmp_exit_code(s), "%s", err.msg);
}
