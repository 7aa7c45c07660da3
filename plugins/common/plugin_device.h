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
 * PLUGIN_CUDA_EXTENSION(prefix) is what NMP_PLUGIN_DEFINE takes: prefix_extension, or NULL in
 * builds without CUDA. */
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
