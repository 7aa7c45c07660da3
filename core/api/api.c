/* See nomad_api.h. Thin: each call is the CLI command's body with the rows in memory. */
#define _GNU_SOURCE
#include "nomad_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dist.h"
#include "interrupt.h"
#include "io.h"
#include "nomad_git.h"
#include "pipeline.h"
#include "plugin_host.h"
#include "stages.h"
#include "transform_map.h"

#define API __attribute__((visibility("default")))

API int nomad_api_abi(void) { return NOMAD_API_ABI; }

API const char *nomad_api_version(void) { return NOMAD_VERSION " (git " NOMAD_GIT_HASH ")"; }

/* The exit code of status s, its message into msg; a stopped call is 128 + the signal. */
static int finish(nmp_status s, const nmp_err *err, int flags, char *msg, size_t msg_len)
{
    const int sig = s != NMP_OK && (flags & NOMAD_API_SIGNALS) ? nmp_interrupt_signal() : 0;
    if (flags & NOMAD_API_SIGNALS) nmp_interrupt_uninstall();
    if (msg && msg_len) snprintf(msg, msg_len, "%s", s == NMP_OK ? "" : err->msg);
    return sig ? 128 + sig : s == NMP_OK ? 0 : nmp_exit_code(s);
}

API int nomad_api_fit(const char *config_path, const char *const *sets, int n_sets, const void *x, const char *dtype,
                      int64_t n, int64_t d, const int32_t *labels, const char *out_dir, int flags, char *msg,
                      size_t msg_len)
{
    nmp_err err = {0};
    nmp_cfg_node *root = NULL;
    nmp_config *cfg = calloc(1, sizeof *cfg);
    nmp_status s = cfg ? nmp_config_load(config_path, sets, n_sets, "a fit", &root, cfg, &err)
                       : nmp_fail(&err, NMP_ERR_NOMEM, "out of memory");
    if (s == NMP_OK && nmp_dist_mode(cfg) != &nmp_local_mode)
        s = nmp_fail(&err, NMP_ERR_UNSUPPORTED, "distributed.backend: a fit in this process runs on one rank; run "
                     "over ranks with `mpirun nomad run`");
    if (s == NMP_OK && !out_dir) s = nmp_fail(&err, NMP_ERR_INVALID, "no run folder given");
    if (s == NMP_OK) {
        nmp_run_configure_host(cfg, !(flags & NOMAD_API_VERBOSE));
        if (flags & NOMAD_API_SIGNALS) nmp_interrupt_install();
        const nmp_run_input input = {.values = x, .dtype = dtype, .n = n, .d = d, .labels = labels};
        const nmp_run_request req = {.config_path = config_path, .out_dir = out_dir, .input = &input};
        s = nmp_pipeline_run(cfg, root, &req, &err);
    } else {
        flags &= ~NOMAD_API_SIGNALS; /* nothing installed */
    }
    nmp_cfg_free(root);
    free(cfg);
    return finish(s, &err, flags, msg, msg_len);
}

API int nomad_api_transform(const char *run_dir, const char *const *sets, int n_sets, const void *x, const char *dtype,
                            int64_t n, int64_t d, const float *y, const void *x_new, const char *new_dtype,
                            int64_t n_new, int64_t d_new, float *y_new, int64_t dims, int flags, char *msg,
                            size_t msg_len)
{
    nmp_err err = {0};
    nmp_map map;
    nmp_dataset fresh = {0};
    const nmp_data_opts plain = {0};
    flags &= ~NOMAD_API_SIGNALS; /* seconds, not minutes: a signal takes its usual course */
    nmp_status s = run_dir ? nmp_map_open(&map, run_dir, sets, n_sets, &err)
                           : nmp_fail(&err, NMP_ERR_INVALID, "no run folder given");
    if (s == NMP_OK && dims != map.cfg->dims)
        s = nmp_fail(&err, NMP_ERR_INVALID, "%s: the map has %lld dimensions, not %lld", run_dir,
                     (long long)map.cfg->dims, (long long)dims);
    if (s == NMP_OK) {
        nmp_run_configure_host(map.cfg, !(flags & NOMAD_API_VERBOSE));
        const nmp_run_input train = {.values = x, .dtype = dtype, .n = n, .d = d};
        const nmp_run_input layout = {.values = y, .dtype = "f4", .n = n, .d = dims};
        s = nmp_map_load(&map, x ? &train : NULL, x && y ? &layout : NULL, &err);
    }
    if (s == NMP_OK) s = nmp_data_wrap("X_new", x_new, new_dtype, n_new, d_new, &plain, &fresh, &err);
    if (s == NMP_OK) s = nmp_map_place(&map, &fresh, y_new, &err);
    nmp_data_close(&fresh);
    if (run_dir) nmp_map_close(&map);
    return finish(s, &err, flags, msg, msg_len);
}

API int nomad_api_config_set(const char *path, const char *const *sets, int n_sets, char *msg, size_t msg_len)
{
    nmp_err err = {0};
    nmp_cfg_node *root = NULL;
    nmp_config *cfg = calloc(1, sizeof *cfg);
    char *text = NULL;
    size_t len = 0;
    nmp_status s = cfg ? nmp_config_load(path, sets, n_sets, NULL, &root, cfg, &err)
                       : nmp_fail(&err, NMP_ERR_NOMEM, "out of memory");
    FILE *f = s == NMP_OK ? open_memstream(&text, &len) : NULL;
    if (s == NMP_OK && !f) s = nmp_fail(&err, NMP_ERR_NOMEM, "out of memory");
    if (f) {
        s = nmp_config_write_resolved(f, cfg, root, &err);
        fclose(f);
    }
    if (s == NMP_OK) s = nmp_file_write_atomic(path, text, len, &err);
    free(text);
    nmp_cfg_free(root);
    free(cfg);
    return finish(s, &err, 0, msg, msg_len);
}
