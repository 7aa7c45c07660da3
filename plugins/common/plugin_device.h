/* Which entry of a plugin is running: its CPU ops or its CUDA entry (its NMP_EXT_CUDA extension).
 * Shared helpers take it so that one body serves both entries and only the kernel calls
 * differ. Without NOMAD_CUDA no plugin has a CUDA entry, and the helpers ignore it. */
#ifndef NOMAD_PLUGIN_DEVICE_H
#define NOMAD_PLUGIN_DEVICE_H

#include <string.h>

#include "nomad/plugin.h"

typedef enum { PLUGIN_ON_CPU = 0, PLUGIN_ON_CUDA = 1 } plugin_device;

/* PLUGIN_CUDA_ENTRY(prefix, cuda_ops) defines prefix_extension, which offers cuda_ops as the
 * plugin's NMP_EXT_CUDA entry (write it inside #ifdef NOMAD_CUDA, after cuda_ops).
 * PLUGIN_CUDA_EXTENSION(prefix) is the extension NMP_PLUGIN_REGISTER takes: prefix_extension,
 * or NULL in builds without CUDA. */
#define PLUGIN_CUDA_ENTRY(prefix, cuda_ops)                                                                      \
    static const void *prefix##_extension(const char *uri)                                                       \
    {                                                                                                            \
        return strcmp(uri, NMP_EXT_CUDA) == 0 ? &cuda_ops : NULL;                                                \
    }
#ifdef NOMAD_CUDA
#define PLUGIN_CUDA_EXTENSION(prefix) prefix##_extension
#else
#define PLUGIN_CUDA_EXTENSION(prefix) NULL
#endif

/* PLUGIN_REGISTER_ON_DEVICES(kind, name, version, summary, decls, create, destroy, member, body,
 * (proto), args...) is NMP_PLUGIN_REGISTER (decls: the nmp_param_decl array) for a plugin whose
 * one call runs on either device: its CPU ops' `member` calls body(args..., PLUGIN_ON_CPU) and, in
 * CUDA builds, its CUDA entry's calls body(args..., PLUGIN_ON_CUDA); proto is the call's
 * parameter list:
 *
 *     PLUGIN_REGISTER_ON_DEVICES(NMP_KIND_PARTITIONER, "kmeans", "1.1.0", "K-means cells",
 *                                kmeans_params, kmeans_create, free, partition, kmeans_partition_on,
 *                                (void *state, const nmp_matrix *x, nmp_partition *out), state, x, out);
 */
#define PLUGIN_REGISTER_ON_DEVICES(kind, name, version, summary, decls, create, destroy, member, body, proto, ...) \
    PLUGIN_DEVICE_ENTRIES(plugin_call, NMP_PLUGIN_OPS_##kind, member, body, proto, __VA_ARGS__)                 \
    NMP_PLUGIN_REGISTER(kind, name, version, summary, NMP_PARAMS(decls), create, destroy,                      \
                        (.member = plugin_call_on_cpu), PLUGIN_CUDA_EXTENSION(plugin_call))

/* PLUGIN_DEVICE_ENTRIES(prefix, ops_type, member, body, (proto), args...): prefix_on_cpu and, in
 * CUDA builds, the CUDA entry (PLUGIN_CUDA_EXTENSION(prefix)), an ops_type whose `member` is
 * prefix_on_cuda; each calls body(args..., PLUGIN_ON_CPU or _CUDA). */
#define PLUGIN_DEVICE_ENTRIES(prefix, ops_type, member, body, params, ...)                                       \
    static nmp_status prefix##_on_cpu params { return body(__VA_ARGS__, PLUGIN_ON_CPU); }                        \
    PLUGIN_DEVICE_ENTRIES_CUDA_(prefix, ops_type, member, body, params, __VA_ARGS__)
#ifdef NOMAD_CUDA
#define PLUGIN_DEVICE_ENTRIES_CUDA_(prefix, ops_type, member, body, params, ...)                                 \
    static nmp_status prefix##_on_cuda params { return body(__VA_ARGS__, PLUGIN_ON_CUDA); }                      \
    static const ops_type prefix##_cuda_ops = {.struct_size = sizeof(ops_type), .member = prefix##_on_cuda};     \
    PLUGIN_CUDA_ENTRY(prefix, prefix##_cuda_ops)
#else
#define PLUGIN_DEVICE_ENTRIES_CUDA_(prefix, ops_type, member, body, params, ...)
#endif

#ifdef NOMAD_CUDA
#include "cuda_check.h"

/* Passes a kernel's status on; a failure's one-line message goes to the host's error. */
static inline nmp_status plugin_gpu_status(const nmp_host *h, nmp_status s, const nmp_gpu_err *e)
{
    if (s != NMP_OK) h->set_error(h, "%s", e->msg[0] ? e->msg : "CUDA kernel failed (no message)");
    return s;
}
#endif

#endif
