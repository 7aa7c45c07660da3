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
#include "io.h"
#include "pipeline.h"
#include "transform_map.h"

typedef struct {
    const char *run, *data, *out;
    const char **sets; /* checked by nmp_map_open */
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

int nmp_cli_transform(int argc, char **argv)
{
    transform_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) {
        free(a.sets);
        return rc < 0 ? 0 : rc;
    }
    nmp_err err = {0};
    nmp_map map;
    nmp_dataset fresh = {0};
    float *y_new = NULL;
    nmp_data_opts plain = {0};
    nmp_status s = nmp_map_open(&map, a.run, a.sets, a.n_sets, &err);
    if (s == NMP_OK) nmp_run_configure_host(map.cfg, a.quiet);
    if (s == NMP_OK) s = nmp_map_load(&map, NULL, NULL, &err);
    if (s == NMP_OK) s = nmp_data_open(a.data, &plain, &fresh, &err);
    const int64_t dims = s == NMP_OK ? map.cfg->dims : 0;
    if (s == NMP_OK && !(y_new = malloc((size_t)(fresh.m.n * dims) * sizeof *y_new + 1)))
        s = nmp_fail(&err, NMP_ERR_NOMEM, "transform: out of memory");
    if (s == NMP_OK) s = nmp_map_place(&map, &fresh, y_new, &err);
    if (s == NMP_OK) s = nmp_npy_write(a.out, y_new, "<f4", fresh.m.n, dims, &err);
    free(y_new), free(a.sets);
    nmp_data_close(&fresh), nmp_map_close(&map);
    return s == NMP_OK ? 0 : nmp_cli_fail(nmp_exit_code(s), "%s", err.msg);
}
