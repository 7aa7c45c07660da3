/* `nomad transform RUN_DIR NEW -o OUT.npy`: places the rows of NEW on the finished map in
 * RUN_DIR (its embedding.npy, and config.yaml naming the training data) without moving it
 * (core/transform). The same input checks and exit codes as `nomad run`; OUT is written
 * atomically, so a failure leaves nothing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "host.h"
#include "io.h"
#include "outdir.h"
#include "transform.h"

typedef struct {
    const char *run, *data, *out;
    const char **sets;
    int n_sets, quiet;
} transform_args;

static const char usage[] = "transform: usage: nomad transform RUN_DIR NEW_DATA -o OUT.npy [--set transform.KEY=VALUE]... "
                            "[--quiet]";

static int parse(int argc, char **argv, transform_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = NULL;
        int rc = 0;
        if (!strcmp(f, "-o") || !strcmp(f, "--out")) rc = nmp_arg_once("transform", argc, argv, &i, &a->out);
        else if (!strcmp(f, "--quiet")) a->quiet = 1;
        else if (!strcmp(f, "--set")) {
            if (!(rc = nmp_arg_str("transform", argc, argv, &i, &v))) {
                if (strncmp(v, "transform.", 10) && strncmp(v, "threads=", 8))
                    return nmp_cli_fail(2, "transform: --set %s: only transform.* keys and threads can change; the "
                                        "rest is the run's (its %s)", v, NMP_OUTDIR_CONFIG);
                const char **grown = realloc(a->sets, (size_t)(a->n_sets + 1) * sizeof *grown);
                if (!grown) return nmp_cli_fail(1, "transform: out of memory");
                a->sets = grown, a->sets[a->n_sets++] = v;
            }
        } else if (f[0] == '-') return nmp_cli_fail(2, "transform: unknown option %s (see nomad --help)", f);
        else if (!a->run) a->run = f;
        else if (!a->data) a->data = f;
        else return nmp_cli_fail(2, "transform: unexpected argument \"%s\"", f);
        if (rc) return rc;
    }
    if (!a->run || !a->data || !a->out) return nmp_cli_fail(2, "%s", usage);
    return 0;
}

/* The run's config (with --set), checked to describe a finished run. */
static nmp_status load_config(const transform_args *a, nmp_config *cfg, nmp_err *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", a->run, NMP_OUTDIR_RECORD);
    if (access(path, F_OK) != 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: no %s: not the folder of a finished nomad run", a->run,
                        NMP_OUTDIR_RECORD);
    snprintf(path, sizeof path, "%s/%s", a->run, NMP_OUTDIR_CONFIG);
    if (access(path, F_OK) != 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: no %s: the run predates `nomad transform` (or ran over ranks); "
                        "run it again to place new points on it", a->run, NMP_OUTDIR_CONFIG);
    nmp_cfg_node *root = NULL;
    nmp_status s = nmp_cfg_load(path, &root, err);
    for (int i = 0; i < a->n_sets && s == NMP_OK; i++) s = nmp_cfg_set(root, a->sets[i], err);
    if (s == NMP_OK) s = nmp_config_resolve(root, cfg, err);
    nmp_cfg_free(root);
    return s;
}

/* Rows of a data file as the run read its own: f32, times data.scale, finite. */
static nmp_status open_rows(const char *path, const nmp_data_opts *o, double scale, nmp_dataset *d, float **scaled,
                            nmp_matrix *m, nmp_err *err)
{
    nmp_status s = nmp_data_open(path, o, d, err);
    if (s != NMP_OK) return s;
    *m = d->m;
    if (nmp_io_scale(m, scale, scaled) != NMP_OK) return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory scaling it", path);
    return nmp_io_check_values(path, m, 0, nmp_io_distance_bound(m->d), err);
}

int nmp_cli_transform(int argc, char **argv)
{
    transform_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) {
        free(a.sets);
        return rc < 0 ? 0 : rc;
    }
    nmp_err err = {0};
    nmp_config *cfg = calloc(1, sizeof *cfg);
    nmp_status s = cfg ? load_config(&a, cfg, &err) : nmp_fail(&err, NMP_ERR_NOMEM, "out of memory");
    if (s == NMP_OK) nmp_cli_configure_host(cfg, a.quiet);
    nmp_dataset train = {0}, fresh = {0}, layout = {0};
    float *train_scaled = NULL, *fresh_scaled = NULL, *y_new = NULL;
    nmp_matrix x = {0}, x_new = {0};
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/embedding.npy", a.run);
    nmp_data_opts train_opts = s == NMP_OK ? nmp_config_data_opts(cfg) : (nmp_data_opts){0}, plain = {0};
    if (s == NMP_OK) s = open_rows(cfg->data.path, &train_opts, cfg->data.scale, &train, &train_scaled, &x, &err);
    if (s == NMP_OK) s = nmp_data_open(path, &plain, &layout, &err);
    if (s == NMP_OK && (layout.m.n != x.n || layout.m.d != cfg->dims))
        s = nmp_fail(&err, NMP_ERR_INVALID, "%s: %lld x %lld, but the run's data %s has %lld rows and dims is %lld", path,
                     (long long)layout.m.n, (long long)layout.m.d, cfg->data.path, (long long)x.n, (long long)cfg->dims);
    if (s == NMP_OK) s = open_rows(a.data, &plain, cfg->data.scale, &fresh, &fresh_scaled, &x_new, &err);
    if (s == NMP_OK && x_new.d != x.d)
        s = nmp_fail(&err, NMP_ERR_INVALID, "%s: rows of %lld values, but the map was made of rows of %lld (%s)", a.data,
                     (long long)x_new.d, (long long)x.d, cfg->data.path);
    if (s == NMP_OK && !(y_new = malloc((size_t)(x_new.n * cfg->dims) * sizeof *y_new + 1)))
        s = nmp_fail(&err, NMP_ERR_NOMEM, "transform: out of memory");
    double t0 = nmp_now();
    if (s == NMP_OK) s = nmp_transform(cfg, &x, layout.m.x, (int32_t)cfg->dims, &x_new, y_new, &err);
    if (s == NMP_OK) s = nmp_npy_write(a.out, y_new, "<f4", x_new.n, cfg->dims, &err);
    if (s == NMP_OK)
        nmp_log(NMP_LOG_INFO, "transform: %lld points placed on %s in %.2f s: %s", (long long)x_new.n, a.run,
                nmp_now() - t0, a.out);
    free(y_new), free(train_scaled), free(fresh_scaled), free(a.sets), free(cfg);
    nmp_data_close(&train), nmp_data_close(&fresh), nmp_data_close(&layout);
    return s == NMP_OK ? 0 : nmp_cli_fail(nmp_exit_code(s), "%s", err.msg);
}
