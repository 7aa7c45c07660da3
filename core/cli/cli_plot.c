/* `nomad plot EMBEDDING [--labels L] [-o map.png]`: redraws any layout. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "io.h"
#include "plot.h"

int nmp_cli_plot(int argc, char **argv)
{
    const char *emb = NULL, *labels_path = NULL, *out = NULL;
    nmp_plot_opts po;
    nmp_plot_defaults(&po);
    for (int i = 1; i < argc; i++) {
        int64_t v = 0;
        int rc = 0;
        if (strcmp(argv[i], "--labels") == 0) rc = nmp_arg_once("plot", argc, argv, &i, &labels_path);
        else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) rc = nmp_arg_once("plot", argc, argv, &i, &out);
        else if (strcmp(argv[i], "--size") == 0) rc = nmp_arg_int("plot", argc, argv, &i, 64, 16384, &v), po.size = (int)v;
        else if (strcmp(argv[i], "--alpha") == 0) rc = nmp_arg_double("plot", argc, argv, &i, 1e-3, 1.0, &po.alpha);
        else if (strcmp(argv[i], "--margin") == 0) rc = nmp_arg_double("plot", argc, argv, &i, 0.0, 0.4, &po.margin);
        else if (argv[i][0] == '-') return nmp_cli_fail(2, "plot: unknown option %s", argv[i]);
        else if (!emb) emb = argv[i];
        else return nmp_cli_fail(2, "plot: unexpected argument \"%s\"", argv[i]);
        if (rc) return rc;
    }
    if (!emb) return nmp_cli_fail(2, "plot: usage: nomad plot EMBEDDING [--labels L] [-o map.png] [--size PIXELS] [--alpha A] [--margin M]");
    if (!out) out = "map.png";
    nmp_dataset y = {0};
    nmp_data_opts o = {0};
    nmp_err err = {0};
    int32_t *labels = NULL;
    nmp_status s = nmp_data_open(emb, &o, &y, &err);
    if (s == NMP_OK && y.m.d != 2 && y.m.d != 3)
        s = nmp_fail(&err, NMP_ERR_INVALID, "%s: a layout has 2 or 3 columns, this has %lld", emb, (long long)y.m.d);
    if (s == NMP_OK && labels_path) s = nmp_labels_read(labels_path, y.m.n, &labels, &err);
    if (s == NMP_OK) s = nmp_plot_write(out, y.m.x, y.m.n, (int)y.m.d, labels, &po, &err);
    free(labels);
    nmp_data_close(&y);
    return s == NMP_OK ? 0 : nmp_cli_fail(nmp_exit_code(s), "%s", err.msg);
}
