/* The C API (core/api/nomad_api.h) as a C program links it, libnomad.so: a fit and a transform
 * of rows in memory, its exit codes and one-line messages, and a config rewrite. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nomad_api.h"
#include "test_host.h"

#define CONFIG NOMAD_SOURCE_DIR "/configs/nomad.yaml"
/* the first 5 for unlabelled rows; the 6th names the labels */
static const char *const fast[] = {"optimizer.epochs=60", "threads=2", "output.plot=false", "data.path=X",
                                   "partitioner.cells=4", "data.labels=y"};
enum { N = 600, D = 16 };

static char *scratch(const char *name)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/nomad_test_api_%d_%s", (int)getpid(), name);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

static int exists(const char *dir, const char *file)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

static void fit_then_transform(void **state)
{
    (void)state;
    assert_int_equal(nomad_api_abi(), NOMAD_API_ABI);
    int32_t *labels = NULL;
    float *x = test_blobs(N, D, 3, 7, &labels);
    char msg[512] = "untouched";
    const char *dir = scratch("fit");
    assert_int_equal(nomad_api_fit(CONFIG, fast, 6, x, "f4", N, D, labels, dir, 0, msg, sizeof msg), 0);
    assert_string_equal(msg, "");
    assert_true(exists(dir, "embedding.npy") && exists(dir, "run.json") && exists(dir, "config.yaml"));
    assert_false(exists(dir, "map.png"));

    /* the first rows again, in memory, against the training rows and layout read back */
    float *y_new = calloc(20 * 2, sizeof *y_new);
    assert_int_equal(nomad_api_transform(dir, NULL, 0, x, "f4", N, D, NULL, x, "f4", 20, D, y_new, 2, 0, msg,
                                         sizeof msg), 0);
    for (int i = 0; i < 40; i++) assert_true(isfinite(y_new[i]));
    /* the wrong number of columns or dimensions: exit code 2, one line naming the problem */
    assert_int_equal(nomad_api_transform(dir, NULL, 0, x, "f4", N, D, NULL, x, "f4", 20, D - 1, y_new, 2, 0, msg,
                                         sizeof msg), 2);
    assert_non_null(strstr(msg, "rows of 15 values"));
    assert_int_equal(nomad_api_transform(dir, NULL, 0, x, "f4", N, D, NULL, x, "f4", 20, D, y_new, 3, 0, msg,
                                         sizeof msg), 2);
    assert_non_null(strstr(msg, "2 dimensions, not 3"));
    const char *other[] = {"optimizer.epochs=5"};
    assert_int_equal(nomad_api_transform(dir, other, 1, x, "f4", N, D, NULL, x, "f4", 20, D, y_new, 2, 0, msg,
                                         sizeof msg), 2);
    assert_non_null(strstr(msg, "only transform.* keys"));

    /* a saved folder names where its data went */
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.yaml", dir);
    const char *moved[] = {"data.path=/somewhere/data.npy"};
    assert_int_equal(nomad_api_config_set(cfg, moved, 1, msg, sizeof msg), 0);
    FILE *f = fopen(cfg, "r");
    char text[8192] = {0};
    assert_true(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    assert_non_null(strstr(text, "/somewhere/data.npy"));
    assert_non_null(strstr(text, "epochs: 60"));
    free(y_new), free(x), free(labels);
}

static void other_dtypes_and_failures(void **state)
{
    (void)state;
    float *x = test_blobs(N, D, 3, 8, NULL);
    uint8_t *u = malloc(N * D);
    for (int i = 0; i < N * D; i++) u[i] = (uint8_t)fminf(fmaxf(x[i] * 10 + 128, 0), 255);
    char msg[512];
    const char *dir = scratch("u1");
    assert_int_equal(nomad_api_fit(CONFIG, fast, 5, u, "u1", N, D, NULL, dir, 0, msg, sizeof msg), 0);
    assert_true(exists(dir, "embedding.npy"));

    const char *bad_key[] = {"optimizer.epochs=abc"};
    dir = scratch("bad");
    assert_int_equal(nomad_api_fit(CONFIG, bad_key, 1, x, "f4", N, D, NULL, dir, 0, msg, sizeof msg), 2);
    assert_non_null(strstr(msg, "optimizer.epochs"));
    assert_null(strchr(msg, '\n'));
    assert_int_equal(nomad_api_fit(CONFIG, fast, 5, x, "i8", N, D, NULL, dir, 0, msg, sizeof msg), 2);
    assert_non_null(strstr(msg, "X: values of type i8"));
    x[5 * D + 2] = NAN;
    assert_int_equal(nomad_api_fit(CONFIG, fast, 5, x, "f4", N, D, NULL, dir, 0, msg, sizeof msg), 2);
    assert_non_null(strstr(msg, "row 5"));
    assert_false(exists(dir, "")); /* a failed fit leaves nothing */
    const char *mpi[] = {"distributed.backend=mpi"};
    assert_int_equal(nomad_api_fit(CONFIG, mpi, 1, x, "f4", N, D, NULL, dir, 0, msg, sizeof msg), 2);
    assert_non_null(strstr(msg, "mpirun"));
    assert_int_equal(nomad_api_transform("/nonexistent", NULL, 0, NULL, NULL, 0, 0, NULL, x, "f4", 1, D, x, 2, 0, msg,
                                         sizeof msg), 2);
    assert_non_null(strstr(msg, "not the folder of a finished nomad run"));
    free(x), free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(fit_then_transform), cmocka_unit_test(other_dtypes_and_failures)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
