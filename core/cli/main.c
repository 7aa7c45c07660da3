/* nomad: entry point; dispatches to the subcommands in cli_*.c. */
#include <stdio.h>
#include <string.h>

#include "blas.h"
#include "cli.h"
#include "config.h"
#include "device.h"
#include "nomad_git.h"

static const char usage[] =
    "usage: nomad <command> [options]\n"
    "\n"
    "Maps large sets of vectors to 2-D/3-D with NOMAD Projection and its relatives.\n"
    "\n"
    "commands:\n"
    "  run [CONFIG] [--set key.path=value]... [--out DIR] [--dry-run] [--quiet]\n"
    "        fit a layout (default CONFIG: configs/nomad.yaml on Fashion-MNIST)\n"
    "  transform RUN_DIR NEW_DATA -o OUT.npy [--set transform.key=value]... [--quiet]\n"
    "        place new points on a finished map without moving it (transform.* keys)\n"
    "  plugins [--describe [NAME]] [--markdown]   the plugins on the plugin path and their parameters;\n"
    "        --describe --markdown: the whole config reference (docs/config-reference.md)\n"
    "  eval DATA EMBEDDING [--labels L] [--k 10] [--queries 5000] [--triplets 5000] [--json]\n"
    "        NP@k, random-triplet accuracy, kNN accuracy, trustworthiness, continuity\n"
    "  sweep CONFIG [--grid key.path=v1,v2,...]... [--seeds N] [--set key.path=value]... [--out DIR] [--dry-run]\n"
    "        ablation grid: one run per grid cell and seed, DIR/results.csv + results.md; resumable\n"
    "  plot EMBEDDING [--labels L] [-o map.png] [--size PX] [--alpha A] [--margin M]   draw a layout\n"
    "  view RUN_DIR [-o map.html] [--text texts.txt] [--labels L]\n"
    "        the run's map as one HTML file (WebGL; default RUN_DIR/map.html): pan, zoom, hover, search\n"
    "  config --reference          the same config reference as plugins --describe --markdown\n"
    "\n"
    "options: --help, --version\n"
    "exit codes: 0 ok, 1 runtime failure, 2 usage or input error\n"
    "plugin path: $NOMAD_PLUGIN_PATH (colon-separated), then <dir of nomad>/plugins\n"
    "blas: when OpenBLAS picked a pre-AVX2 kernel on a CPU with AVX2, nomad restarts itself with\n"
    "      OPENBLAS_CORETYPE set to a fast one; NOMAD_BLAS_CORE=keep leaves OpenBLAS's choice alone\n";

int main(int argc, char **argv)
{
    nmp_blas_ensure_fast(argv); /* may exec: first, so that no work, output or MPI state is lost */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        char blas[256];
        nmp_blas_summary(blas, sizeof blas);
        printf("nomad %s (git %s; cuda %s, mpi %s; blas %s)\n", NOMAD_VERSION, NOMAD_GIT_HASH,
               nmp_device_cuda_built() ? "yes" : "no",
#ifdef NOMAD_HAVE_MPI
               "yes",
#else
               "no",
#endif
               blas);
        return 0;
    }
    const char *cmd = argv[1];
    /* `nomad CMD --help` asks for help, not an error: run prints its own usage, the others the
     * synopsis of every command (where theirs is) */
    const int known = strcmp(cmd, "plugins") == 0 || strcmp(cmd, "eval") == 0 || strcmp(cmd, "transform") == 0 || strcmp(cmd, "sweep") == 0 ||
                      strcmp(cmd, "plot") == 0 || strcmp(cmd, "view") == 0 || strcmp(cmd, "config") == 0;
    for (int i = 2; known && i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
    if (strcmp(cmd, "run") == 0) return nmp_cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "plugins") == 0) return nmp_cli_plugins(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return nmp_cli_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "sweep") == 0) return nmp_cli_sweep(argc - 1, argv + 1);
    if (strcmp(cmd, "plot") == 0) return nmp_cli_plot(argc - 1, argv + 1);
    if (strcmp(cmd, "transform") == 0) return nmp_cli_transform(argc - 1, argv + 1);
    if (strcmp(cmd, "view") == 0) return nmp_cli_view(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0 && argc == 3 && strcmp(argv[2], "--reference") == 0) return nmp_cli_reference();
    return nmp_cli_fail(2, "unknown command \"%s\"; commands: run, transform, plugins, eval, sweep, plot, view, config (see nomad --help)", cmd);
}
