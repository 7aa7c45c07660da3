/* `device: cpu | cuda`: which calls of each plugin the run uses, and the checks that make a
 * CUDA run fail before any stage has done work or written a file. */
#ifndef NOMAD_DEVICE_H
#define NOMAD_DEVICE_H

#include <stddef.h>

#include "run_state.h"

/* 1 when this nomad was built with the CUDA kernels (NOMAD_CUDA), else 0. */
int nmp_device_cuda_built(void);

/* 1 for the kinds device: cuda cannot run without a CUDA entry (negatives, loss: the fit's
 * state stays on the device); 0 for the graph stages, which then run their CPU ops. */
int nmp_device_needs_entry(nmp_kind kind);

/* On device: cuda, after every plugin instance exists: refuses (NMP_ERR_INVALID or
 * NMP_ERR_UNSUPPORTED, one line) a build without CUDA, a distributed run, a negatives or loss
 * plugin without a CUDA entry (naming it and the plugins of its kind that have one) and a
 * machine without a usable GPU; then points every instance that has a CUDA entry at it. A
 * partitioner, ann, affinity or init plugin without one keeps its CPU ops (logged once, in
 * one line naming those stages). device: cpu: nothing. */
nmp_status nmp_device_select(nmp_run *r, nmp_err *err);

/* device: cuda, once the data is open: the device memory the run needs at its peak (the
 * data on the GPU for the graph stages, or the fit's layout, velocity, gradient and graph),
 * logged, and refused (NMP_ERR_INVALID, one line) when the device has less free. */
nmp_status nmp_device_check_memory(const nmp_run *r, nmp_err *err);

/* One line naming the GPU of a CUDA run ("" on device: cpu) into buf. */
void nmp_device_describe(const nmp_run *r, char *buf, size_t cap);

#endif
