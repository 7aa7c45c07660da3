/* A sweep's runs read back from their run.json: the numbers for the tables, and whether a
 * finished run was made with the config the sweep would give it now. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "io.h"
#include "run_state.h"
#include "outdir.h"
#include "sweep.h"

_Static_assert((int)NMP_SWEEP_STAGES == (int)STAGE_COUNT, "the sweep's tables have one column per pipeline stage");

static void fill(const nmp_jv *j, nmp_sweep_result *r)
{
    r->eval_k = (int64_t)nmp_jv_number_at(j, "metrics.k", NAN);
    r->np = nmp_jv_number_at(j, "metrics.np", NAN);
    r->triplet = nmp_jv_number_at(j, "metrics.triplet", NAN);
    r->knn_acc = nmp_jv_number_at(j, "metrics.knn_acc", NAN);
    r->trust = nmp_jv_number_at(j, "metrics.trust", NAN);
    if (!nmp_jv_get(j, "metrics.k")) r->eval_k = 0;
    const nmp_jv *stages = nmp_jv_get(j, "stage_seconds");
    for (int s = 0; s < NMP_SWEEP_STAGES; s++) r->stage_seconds[s] = nmp_jv_number_at(stages, nmp_stage_names[s], NAN);
    r->total_seconds = nmp_jv_number_at(j, "total_seconds", NAN);
    r->peak_rss_bytes = nmp_jv_number_at(j, "peak_rss_bytes", NAN);
    r->edges_kept = nmp_jv_number_at(j, "ann.edges_kept", NAN);
    r->recall = nmp_jv_number_at(j, "ann.recall", NAN);
    if (nmp_jv_number_at(j, "ann.recall_sample", 0) <= 0) r->edges_kept = r->recall = NAN; /* not measured */
}

/* A run.json whose status is `want` ("ok": a finished run; "failed": a failure record). */
nmp_status nmp_sweep_result_read(const char *path, nmp_sweep_result *result, nmp_err *err)
{
    nmp_jv *j = NULL;
    nmp_status s = nmp_outdir_read_record(path, "ok", &j, err);
    if (s == NMP_OK) fill(j, result);
    nmp_jv_free(j);
    return s;
}

nmp_status nmp_sweep_failure_read(const char *path, nmp_sweep_result *result, nmp_err *err)
{
    nmp_jv *j = NULL;
    nmp_status s = nmp_outdir_read_record(path, "failed", &j, err);
    const char *error = s == NMP_OK ? nmp_jv_string_at(j, "error") : NULL;
    if (s == NMP_OK && !error) s = nmp_fail(err, NMP_ERR_INVALID, "%s: a failure record without an error", path);
    if (s == NMP_OK) snprintf(result->error, sizeof result->error, "%s", error);
    nmp_jv_free(j);
    return s;
}

/* The recorded config against the one the sweep would give the run now. The sweep section
 * is left out: it says how the sweep runs, not what one run does. */
static nmp_status same_config(const char *path, const nmp_jv *record, const char *expected, nmp_err *err)
{
    static const char *const ignore[] = {"sweep", NULL};
    nmp_jv *want = NULL;
    char why[256], where[512];
    if (nmp_jv_parse(expected, strlen(expected), &want, why, sizeof why))
        return nmp_fail(err, NMP_ERR_RUNTIME, "sweep: the resolved config does not read back as JSON: %s", why);
    const nmp_jv *have = nmp_jv_get(record, "config");
    int differs = !have || nmp_jv_diff(have, want, ignore, where, sizeof where);
    nmp_jv_free(want);
    if (!differs) return NMP_OK;
    return nmp_fail(err, NMP_ERR_INVALID,
                    "%s: this run was made with another config (%s differs); remove its directory to run it again, "
                    "or give the sweep another --out",
                    path, have ? (where[0] ? where : "the whole config") : "config");
}

/* A run counts as done only if its embedding is there as run.json describes it: n x dims
 * float32, every value finite. Anything else is a run to do again (the reason is logged). */
static int embedding_matches(const char *dir, const nmp_jv *record)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/embedding.npy", dir);
    const double n = nmp_jv_number_at(record, "data.n", -1), dims = nmp_jv_number_at(record, "config.dims", -1);
    nmp_data_opts o = {.format = NMP_FMT_NPY};
    nmp_dataset y;
    nmp_err e = {0};
    nmp_status s = nmp_data_open(path, &o, &y, &e);
    if (s == NMP_OK && (strcmp(y.dtype, "f4") != 0 || (double)y.m.n != n || (double)y.m.d != dims))
        s = nmp_fail(&e, NMP_ERR_INVALID, "%s: %lld x %lld %s, but run.json says %.0f x %.0f f4", path,
                     (long long)y.m.n, (long long)y.m.d, y.dtype, n, dims);
    if (s == NMP_OK) nmp_data_close(&y);
    else nmp_log(NMP_LOG_WARN, "sweep: %s; running it again", e.msg);
    return s == NMP_OK;
}

nmp_status nmp_sweep_run_inspect(const char *dir, nmp_sweep_run *run, nmp_sweep_dir_state *state, nmp_err *err)
{
    char path[4400];
    struct stat st;
    *state = NMP_SWEEP_DIR_ABSENT;
    if (stat(dir, &st) != 0) return NMP_OK;
    if (!S_ISDIR(st.st_mode)) return nmp_fail(err, NMP_ERR_INVALID, "%s: exists and is not a run directory", dir);
    *state = NMP_SWEEP_DIR_PARTIAL;
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_CHECKPOINT);
    int checkpointed = access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_CONFIG);
    checkpointed = checkpointed && access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_RECORD);
    if (access(path, F_OK) != 0) {
        if (checkpointed) *state = NMP_SWEEP_DIR_RESUMABLE;
        return NMP_OK;
    }
    nmp_jv *j = NULL;
    nmp_err ignored = {0};
    nmp_status s = nmp_outdir_read_record(path, "ok", &j, &ignored);
    if (s) return NMP_OK; /* run.json is written last and atomically: a bad one is not ours to trust */
    s = same_config(path, j, run->config_json, err);
    if (s == NMP_OK && embedding_matches(dir, j)) {
        memset(&run->result, 0, sizeof run->result);
        fill(j, &run->result);
        run->result.state = NMP_SWEEP_OK;
        run->result.resumed = 1;
        *state = NMP_SWEEP_DIR_DONE;
    }
    nmp_jv_free(j);
    return s;
}
