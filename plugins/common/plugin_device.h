/* Which entry of a plugin is running: its CPU ops or its CUDA entry (its NMP_EXT_CUDA extension).
 * Shared helpers take it so that one body serves both entries and only the kernel calls
 * differ. Without NOMAD_CUDA no plugin has a CUDA entry, and the helpers ignore it. */
#ifndef NOMAD_PLUGIN_DEVICE_H
#define NOMAD_PLUGIN_DEVICE_H

#include "nomad/plugin.h"

typedef enum { PLUGIN_ON_CPU = 0, PLUGIN_ON_CUDA = 1 } plugin_device;

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
