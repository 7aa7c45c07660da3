/* Choosing CPU ops or CUDA entries, and refusing a CUDA run that cannot work, up front. */
#include "device.h"

#include <stdio.h>
#include <string.h>

#include "host.h"

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

/* negatives and loss run inside the fit, whose layout, gradient and graph stay on the device.
 * The graph stages take host memory in and out either way. */
int nmp_device_needs_entry(nmp_kind kind) { return kind == NMP_KIND_NEGATIVES || kind == NMP_KIND_LOSS; }

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
        if (!nmp_device_needs_entry((nmp_kind)k) || nmp_plugin_cuda_ops(ref->desc)) continue;
        char others[512];
        with_cuda_entry(&r->reg, (nmp_kind)k, others, sizeof others);
        return nmp_fail(err, NMP_ERR_INVALID,
                        "device: cuda: %s plugin %s (%s) has no CUDA entry; %s plugins with one: %s (or set device: cpu)",
                        nmp_kind_name((nmp_kind)k), ref->desc->name, ref->file, nmp_kind_name((nmp_kind)k), others);
    }
    return NMP_OK;
}

/* Points every instance with a CUDA entry at it; the others keep their CPU ops, said in one line. */
static void use_entries(nmp_run *r)
{
    char on_cpu[512] = "";
    size_t used = 0;
    for (int k = 1; k <= NMP_KIND_COUNT; k++) {
        nmp_instance *in = &r->inst[k];
        const void *entry = nmp_plugin_cuda_ops(in->ref->desc);
        if (entry) {
            in->ops = entry, in->on_cuda = 1;
        } else if (used < sizeof on_cpu) {
            used += (size_t)snprintf(on_cpu + used, sizeof on_cpu - used, "%s%s %s", used ? ", " : "",
                                     nmp_kind_name((nmp_kind)k), in->ref->desc->name);
        }
    }
    if (on_cpu[0]) nmp_log(NMP_LOG_INFO, "device: cuda: on the CPU (no CUDA entry): %s", on_cpu);
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
    use_entries(r);
    return NMP_OK;
}

#ifdef NOMAD_CUDA
/* Peak device bytes: the graph stages hold the data (kmeans keeps all rows, exact_cell a
 * cell's rows and its distance tiles); the fit holds y, velocity and gradient (n x dims
 * each), the graph (about ann.k edges a point, twice when symmetrised: index + weight) and
 * the step's arrays. 512 MiB covers cuBLAS workspaces and the kNN tiles. */
static double device_bytes(const nmp_run *r)
{
    const nmp_config *c = r->cfg;
    double n = (double)r->x.n, d = (double)r->x.d, k = (double)c->ann.k;
    double graph_stages = n * d * 4.0 + n * (d < 128 ? d : 128) * 4.0; /* + a PCA projection's output */
    double fit = n * (double)c->dims * 4.0 * 3.0 + n * 2.0 * k * 8.0 + (n + 1) * 8.0 + n * 4.0 +
                 (double)c->optimizer.batch * (double)r->cells_asked * 4.0;
    return (graph_stages > fit ? graph_stages : fit) + 512.0 * 1048576.0;
}
#endif

nmp_status nmp_device_check_memory(const nmp_run *r, nmp_err *err)
{
    if (r->cfg->device != NMP_DEVICE_CUDA) return NMP_OK;
#ifdef NOMAD_CUDA
    size_t free_bytes = 0, total_bytes = 0;
    nmp_gpu_err e = {0};
    if (nmp_cuda_mem(&free_bytes, &total_bytes, &e) != NMP_OK)
        return nmp_fail(err, NMP_ERR_RUNTIME, "device: cuda: %s", e.msg);
    double need = device_bytes(r), gib = 1073741824.0;
    nmp_log(NMP_LOG_INFO, "gpu memory: about %.2f GiB at peak (%.2f GiB free of %.2f GiB)", need / gib,
            (double)free_bytes / gib, (double)total_bytes / gib);
    if (need > (double)free_bytes)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "device: cuda: the run needs about %.2f GiB of GPU memory but %.2f GiB is free; use "
                        "data.limit, a smaller ann.k or device: cpu",
                        need / gib, (double)free_bytes / gib);
#else
    (void)r, (void)err;
#endif
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
