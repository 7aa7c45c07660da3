/* Errors of the CUDA kernels: every CUDA / cuBLAS failure becomes an nmp_status plus one
 * line "kernels/<file>.cu:<line>: <call> failed: <reason>"; kernels never print or exit. */
#ifndef NOMAD_CUDA_CHECK_H
#define NOMAD_CUDA_CHECK_H

#include <stddef.h>

#include "nomad/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NMP_GPU_MSG_MAX 512

/* Why a `_cuda` entry failed. Caller-owned; every entry takes one (NULL: status only). */
typedef struct {
    nmp_status status;
    char msg[NMP_GPU_MSG_MAX];
} nmp_gpu_err;

/* 1 when a CUDA device can run kernels here (driver loaded, a device present), else 0.
 * Never fails loudly: the parity tests use it to skip (exit 77) on machines without a GPU. */
int nmp_cuda_available(void);

/* One line naming the device (or why there is none) into buf, for test and run logs. */
void nmp_cuda_describe(char *buf, size_t cap);

/* Checks that `bytes` of device memory for `what` can be had now (allocates and frees
 * them): NMP_OK, or NMP_ERR_NOMEM with the size asked, as any kernel reports it. Lets a
 * caller refuse a run up front rather than fail half way. */
nmp_status nmp_cuda_try_alloc(size_t bytes, const char *what, nmp_gpu_err *err);

/* Free and total bytes of the current device. */
nmp_status nmp_cuda_mem(size_t *free_bytes, size_t *total_bytes, nmp_gpu_err *err);

/* Waits for the device's queued work (the host's phase timings); reports an asynchronous
 * kernel failure as any call's. */
nmp_status nmp_cuda_sync(nmp_gpu_err *err);

/* A growable device buffer that C code (plugins' CUDA entries) can own. Zero-initialise it. */
typedef struct {
    void *p;
    size_t bytes; /* capacity */
} nmp_gpu_buf;
/* Copies `bytes` from host `src` into b, growing it first when it is too small (by half
 * again at least; its old contents are then lost); `what` names it in an out-of-memory
 * message. */
nmp_status nmp_gpu_buf_put(nmp_gpu_buf *b, const void *src, size_t bytes, const char *what, nmp_gpu_err *err);
/* Copies the first `bytes` of b into host dst (a wait for the device's queued work). */
nmp_status nmp_gpu_buf_get(const nmp_gpu_buf *b, void *dst, size_t bytes, nmp_gpu_err *err);
void nmp_gpu_buf_free(nmp_gpu_buf *b);

/* Sets err (if not NULL) to "<file>:<line>: <message>" and returns `status`. `file` is cut
 * to its path from kernels/ so messages do not depend on the build machine. */
nmp_status nmp_gpu_fail(nmp_gpu_err *err, nmp_status status, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#include <cublas_v2.h>
#include <cuda_runtime.h>

/* The status and message for a failed CUDA call (`expr` is its source text). Out of memory
 * maps to NMP_ERR_NOMEM, a missing or unusable device to NMP_ERR_UNSUPPORTED, the rest to
 * NMP_ERR_RUNTIME. */
nmp_status nmp_cuda_fail(nmp_gpu_err *err, cudaError_t e, const char *file, int line, const char *expr);
nmp_status nmp_cublas_fail(nmp_gpu_err *err, cublasStatus_t s, const char *file, int line, const char *expr);
/* cudaMalloc of `bytes` for `what`; out of memory is NMP_ERR_NOMEM with the bytes asked and
 * the bytes free. *p is NULL on failure. */
nmp_status nmp_cuda_malloc(nmp_gpu_err *err, void **p, size_t bytes, const char *what, const char *file, int line);

/* In a function returning nmp_status with `nmp_gpu_err *err` in scope: returns the error of
 * a failed call, with this file and line. Device memory is owned by objects that free it on
 * return (cuda_util.cuh), so an early return leaks nothing. */
#define CUDA_CHECK(call)                                                                                               \
    do {                                                                                                               \
        cudaError_t cuda_check_e_ = (call);                                                                            \
        if (cuda_check_e_ != cudaSuccess) return nmp_cuda_fail(err, cuda_check_e_, __FILE__, __LINE__, #call);         \
    } while (0)
#define CUBLAS_CHECK(call)                                                                                             \
    do {                                                                                                               \
        cublasStatus_t cublas_check_s_ = (call);                                                                       \
        if (cublas_check_s_ != CUBLAS_STATUS_SUCCESS)                                                                  \
            return nmp_cublas_fail(err, cublas_check_s_, __FILE__, __LINE__, #call);                                   \
    } while (0)
/* A kernel launch: launch errors (bad configuration) are reported at once. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
/* Propagates a non-OK nmp_status (err already filled by the callee). */
#define NMP_CHECK(call)                                                                                                \
    do {                                                                                                               \
        nmp_status nmp_check_s_ = (call);                                                                              \
        if (nmp_check_s_ != NMP_OK) return nmp_check_s_;                                                               \
    } while (0)
#endif

#endif
