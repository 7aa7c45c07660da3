/* Choosing CPU ops or CUDA entries, and refusing a CUDA run that cannot work, up front. */
#include "device.h"

#include <stdio.h>
#include <string.h>

#ifdef NOMAD_CUDA
#include "cuda_check.h"
#endif

int nmp_device_cuda_built(void)
{
#ifdef NOMAD_CUDA
    return 1;
#else
    return 0;
#endif
}

/* "a, b" of the plugins of `kind` on the path that have a CUDA entry, or "none". */
static void with_cuda_entry(const nmp_registry *reg, nmp_kind kind, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < reg->count && used < cap; i++) {
        const nmp_plugin *p = reg->items[i]->desc;
        if (p->kind != kind || !nmp_plugin_cuda_ops(p)) continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", p->name);
    }
    if (!buf[0]) snprintf(buf, cap, "none");
}

static nmp_status check_entries(nmp_run *r, nmp_err *err)
{
    for (int k = 1; k <= NMP_KIND_COUNT; k++) {
        const nmp_plugin_ref *ref = r->inst[k].ref;
        if (nmp_plugin_cuda_ops(ref->desc)) continue;
        char others[512];
        with_cuda_entry(&r->reg, (nmp_kind)k, others, sizeof others);
        return nmp_fail(err, NMP_ERR_INVALID,
                        "device: cuda: %s plugin %s (%s) has no CUDA entry; %s plugins with one: %s (or set device: cpu)",
                        nmp_kind_name((nmp_kind)k), ref->desc->name, ref->file, nmp_kind_name((nmp_kind)k), others);
    }
    return NMP_OK;
}

nmp_status nmp_device_select(nmp_run *r, nmp_err *err)
{
    if (r->cfg->device != NMP_DEVICE_CUDA) return NMP_OK;
    if (!nmp_device_cuda_built())
        return nmp_fail(err, NMP_ERR_UNSUPPORTED,
                        "device: cuda: this nomad was built without CUDA (configure with -DNOMAD_CUDA=ON, which needs "
                        "nvcc); set device: cpu");
    if (r->cfg->distributed.backend != NMP_BACKEND_LOCAL)
        return nmp_fail(err, NMP_ERR_UNSUPPORTED,
                        "device: cuda runs on one GPU: distributed.backend must be local (a multi-GPU fit is not "
                        "built yet); set device: cpu for mpi or nccl");
    nmp_status s = check_entries(r, err);
    if (s != NMP_OK) return s;
#ifdef NOMAD_CUDA
    if (!nmp_cuda_available()) {
        char why[256];
        nmp_cuda_describe(why, sizeof why);
        return nmp_fail(err, NMP_ERR_UNSUPPORTED, "device: cuda: no usable CUDA device here (%s); set device: cpu", why);
    }
#endif
    for (int k = 1; k <= NMP_KIND_COUNT; k++) r->inst[k].ops = nmp_plugin_cuda_ops(r->inst[k].ref->desc);
    return NMP_OK;
}

void nmp_device_describe(const nmp_run *r, char *buf, size_t cap)
{
    buf[0] = 0;
#ifdef NOMAD_CUDA
    if (r->cfg->device == NMP_DEVICE_CUDA) nmp_cuda_describe(buf, cap);
#else
    (void)r, (void)cap;
#endif
}
