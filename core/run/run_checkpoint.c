/* Checkpointing a run (output.checkpoint_every) and going on with one (`nomad run --resume`):
 * the run folder's config.yaml (the resolved config, data paths made absolute, so the run can
 * go on from any working directory; every local run writes it, and `nomad transform` reads it
 * too) and checkpoint.bin (checkpoint.h). Both stay when the run
 * stops early once a checkpoint exists; a finished run removes checkpoint.bin. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "interrupt.h"
#include "host.h"
#include "io.h"
#include "stages.h"

/* The resolved config as YAML text (malloc'd), with data.path and data.labels absolute when
 * they name files. */
static char *config_text(const nmp_run *r, size_t *len)
{
    nmp_config *c = malloc(sizeof *c);
    if (!c) return NULL;
    *c = *r->cfg;
    char abs[PATH_MAX];
    if (realpath(c->data.path, abs) && strlen(abs) < sizeof c->data.path) strcpy(c->data.path, abs);
    if (c->data.labels[0] && realpath(c->data.labels, abs) && strlen(abs) < sizeof c->data.labels)
        strcpy(c->data.labels, abs);
    const nmp_params *params[NMP_KIND_COUNT];
    for (int k = 1; k <= NMP_KIND_COUNT; k++) params[k - 1] = &r->inst[k].params;
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    nmp_status s = f ? nmp_config_dump(f, c, params) : NMP_ERR_NOMEM;
    if (f) fclose(f);
    free(c);
    if (s != NMP_OK) free(text);
    return s == NMP_OK ? text : NULL;
}

/* Reads dir's checkpoint.bin into *state and checks it belongs to the config whose hash is
 * `want` and to this process's thread count (*state zeroed on failure). */
static nmp_status check_state(const char *dir, uint64_t want, nmp_opt_state *state, nmp_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_CHECKPOINT);
    uint64_t hash = 0;
    int32_t threads = 0;
    nmp_status s = nmp_checkpoint_read(path, state, &hash, &threads, err);
    if (s == NMP_OK && hash != want)
        s = nmp_fail(err, NMP_ERR_INVALID, "%s: was written for another %s (it was edited?); it cannot be resumed",
                     path, NMP_OUTDIR_CONFIG);
    else if (s == NMP_OK && threads != nmp_host_settings()->threads)
        s = nmp_fail(err, NMP_ERR_INVALID,
                     "%s: was written with %d threads, this process has %d; the same bytes need the same count "
                     "(threads: %d in its %s)",
                     path, (int)threads, nmp_host_settings()->threads, (int)threads, NMP_OUTDIR_CONFIG);
    if (s != NMP_OK) nmp_checkpoint_free(state);
    return s;
}

/* The bytes of a file (malloc'd), or NULL. */
nmp_status nmp_run_resume_check(const char *dir, nmp_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/run.json", dir);
    if (access(path, F_OK) == 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: holds a finished run (run.json); nothing to resume", dir);
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_CHECKPOINT);
    if (access(path, F_OK) != 0)
        return nmp_fail(err, NMP_ERR_INVALID, "%s: no %s: this run stopped before its first checkpoint and must "
                        "start again", dir, NMP_OUTDIR_CHECKPOINT);
    snprintf(path, sizeof path, "%s/%s", dir, NMP_OUTDIR_CONFIG);
    int64_t len = 0;
    char *text = NULL;
    nmp_status read = nmp_file_read_all(path, &text, &len, err);
    if (read != NMP_OK) return read;
    const uint64_t want = nmp_checkpoint_hash(text, (size_t)len);
    free(text);
    nmp_opt_state state;
    nmp_status s = check_state(dir, want, &state, err);
    nmp_checkpoint_free(&state);
    return s;
}

nmp_status nmp_run_write_config(nmp_run *r, nmp_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", r->out.path, NMP_OUTDIR_CONFIG);
    size_t len = 0;
    char *text = NULL;
    if (r->req->resume) { /* the config this run was started with: cli_run read it from here */
        int64_t size = 0;
        nmp_status s = nmp_file_read_all(path, &text, &size, err);
        if (s != NMP_OK) return s;
        len = (size_t)size;
    } else {
        if (!(text = config_text(r, &len))) return nmp_fail(err, NMP_ERR_NOMEM, "checkpoint: cannot write the config");
        nmp_status s = nmp_file_write_atomic(nmp_outdir_file(&r->out, NMP_OUTDIR_CONFIG, path, sizeof path), text,
                                             len, err);
        if (s != NMP_OK) {
            free(text);
            return s;
        }
    }
    r->config_hash = nmp_checkpoint_hash(text, len);
    free(text);
    return NMP_OK;
}

nmp_status nmp_run_on_checkpoint(void *ctx, const nmp_opt_state *state, nmp_err *err)
{
    nmp_run *r = ctx;
    char path[4400];
    nmp_status s = nmp_checkpoint_write(nmp_outdir_file(&r->out, NMP_OUTDIR_CHECKPOINT, path, sizeof path), state,
                                        r->config_hash, nmp_host_settings()->threads, err);
    if (s != NMP_OK) return s;
    nmp_outdir_keep(&r->out, NMP_OUTDIR_CHECKPOINT); /* from now on a stopped run can go on */
    nmp_outdir_keep(&r->out, NMP_OUTDIR_CONFIG);
    r->checkpoint_epoch = state->epochs_done;
    nmp_log(NMP_LOG_DEBUG, "checkpoint: epoch %lld in %s", (long long)state->epochs_done, path);
    return NMP_OK;
}

nmp_status nmp_run_resume_state(nmp_run *r, nmp_opt_state *state, nmp_err *err)
{
    nmp_status s = check_state(r->out.path, r->config_hash, state, err);
    if (s == NMP_OK) r->checkpoint_epoch = state->epochs_done; /* kept if this run stops too */
    if (s == NMP_OK)
        nmp_log(NMP_LOG_INFO, "resume: from epoch %lld of %s/%s", (long long)state->epochs_done, r->out.path,
                NMP_OUTDIR_CHECKPOINT);
    return s;
}

void nmp_run_checkpoint_done(nmp_run *r)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", r->out.path, NMP_OUTDIR_CHECKPOINT);
    unlink(path); /* a finished run needs none; config.yaml stays as the run's record */
}

nmp_status nmp_run_interrupted(const nmp_run *r, const char *during, nmp_err *err)
{
    if (r->out.keep[0]) /* the pipeline's failure path says what it kept and how to go on */
        return nmp_fail(err, NMP_ERR_RUNTIME, "interrupted by %s during %s", nmp_interrupt_name(), during);
    return nmp_fail(err, NMP_ERR_RUNTIME, "interrupted by %s during %s; removed what the run wrote",
                    nmp_interrupt_name(), during);
}
