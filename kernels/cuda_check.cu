/* CUDA / cuBLAS failures as nmp_status plus a one-line message with file:line; device query. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

/* "/any/where/kernels/knn.cu" -> "kernels/knn.cu". */
static const char *short_path(const char *file)
{
    const char *best = NULL;
    for (const char *p = strstr(file, "kernels/"); p; p = strstr(p + 1, "kernels/")) best = p;
    return best ? best : file;
}

nmp_status nmp_gpu_fail(nmp_gpu_err *err, nmp_status status, const char *file, int line, const char *fmt, ...)
{
    if (err) {
        int used = snprintf(err->msg, sizeof err->msg, "%s:%d: ", short_path(file), line);
        if (used < 0 || (size_t)used >= sizeof err->msg) used = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg + used, sizeof err->msg - (size_t)used, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

nmp_status nmp_cuda_fail(nmp_gpu_err *err, cudaError_t e, const char *file, int line, const char *expr)
{
    nmp_status s = NMP_ERR_RUNTIME;
    if (e == cudaErrorMemoryAllocation) s = NMP_ERR_NOMEM;
    switch (e) { /* no usable device or driver here: the build can do it, this machine cannot */
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInitializationError:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorDevicesUnavailable:
    case cudaErrorStubLibrary:
    case cudaErrorSystemNotReady:
        s = NMP_ERR_UNSUPPORTED;
        break;
    default:
        break;
    }
    cudaGetLastError(); /* clear a non-sticky error so the next call starts clean */
    return nmp_gpu_fail(err, s, file, line, "%s failed: %s (%s)", expr, cudaGetErrorString(e), cudaGetErrorName(e));
}

nmp_status nmp_cublas_fail(nmp_gpu_err *err, cublasStatus_t st, const char *file, int line, const char *expr)
{
    nmp_status s = st == CUBLAS_STATUS_ALLOC_FAILED                                         ? NMP_ERR_NOMEM
                   : st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_ARCH_MISMATCH ? NMP_ERR_UNSUPPORTED
                                                                                            : NMP_ERR_RUNTIME;
    return nmp_gpu_fail(err, s, file, line, "%s failed: %s (%s)", expr, cublasGetStatusString(st),
                        cublasGetStatusName(st));
}

nmp_status nmp_cuda_malloc(nmp_gpu_err *err, void **p, size_t bytes, const char *what, const char *file, int line)
{
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaSuccess) return NMP_OK;
    *p = NULL;
    if (e != cudaErrorMemoryAllocation) return nmp_cuda_fail(err, e, file, line, "cudaMalloc");
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return nmp_gpu_fail(err, NMP_ERR_NOMEM, file, line,
                        "GPU out of memory: %s needs %zu bytes (%.1f MiB); the device has %.1f MiB free of %.1f MiB",
                        what, bytes, (double)bytes / 1048576.0, (double)free_b / 1048576.0,
                        (double)total_b / 1048576.0);
}

nmp_status nmp_cuda_try_alloc(size_t bytes, const char *what, nmp_gpu_err *err)
{
    void *p = NULL;
    nmp_status s = nmp_cuda_malloc(err, &p, bytes, what, __FILE__, __LINE__);
    if (p) cudaFree(p);
    return s;
}

int nmp_cuda_available(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    if (count < 1) return 0;
    /* The runtime may list a device whose context cannot be made (driver too old): try it. */
    if (cudaFree(0) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return 1;
}

void nmp_cuda_describe(char *buf, size_t cap)
{
    int count = 0, dev = 0, rt = 0, drv = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        snprintf(buf, cap, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "count is 0");
        cudaGetLastError();
        return;
    }
    cudaDeviceProp p;
    cudaGetDevice(&dev);
    cudaGetDeviceProperties(&p, dev);
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    snprintf(buf, cap, "%s (sm_%d%d, %d SMs, %.1f GiB), runtime %d, driver %d", p.name, p.major, p.minor,
             p.multiProcessorCount, (double)p.totalGlobalMem / 1073741824.0, rt, drv);
}

nmp_status nmp_gpu_buf_put(nmp_gpu_buf *b, const void *src, size_t bytes, const char *what, nmp_gpu_err *err)
{
    if (bytes > b->bytes || !b->p) {
        /* grow by half again at least: sizes that creep up step by step (rows of negatives cut
         * at cell boundaries) would otherwise free and allocate, each a device sync, often */
        size_t cap = bytes > b->bytes + b->bytes / 2 ? bytes : b->bytes + b->bytes / 2;
        nmp_gpu_buf_free(b);
        cap = cap > 0 ? cap : 1;
        NMP_CHECK(nmp_cuda_malloc(err, &b->p, cap, what, __FILE__, __LINE__));
        b->bytes = cap;
    }
    if (bytes > 0) CUDA_CHECK(cudaMemcpy(b->p, src, bytes, cudaMemcpyHostToDevice));
    return NMP_OK;
}

nmp_status nmp_gpu_buf_get(const nmp_gpu_buf *b, void *dst, size_t bytes, nmp_gpu_err *err)
{
    if (bytes > b->bytes)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "gpu buffer: %zu bytes asked of %zu", bytes,
                            b->bytes);
    if (bytes > 0) CUDA_CHECK(cudaMemcpy(dst, b->p, bytes, cudaMemcpyDeviceToHost));
    return NMP_OK;
}

void nmp_gpu_buf_free(nmp_gpu_buf *b)
{
    if (b->p) cudaFree(b->p);
    b->p = NULL, b->bytes = 0;
}

nmp_status nmp_cuda_sync(nmp_gpu_err *err)
{
    CUDA_CHECK(cudaDeviceSynchronize());
    return NMP_OK;
}

nmp_status nmp_cuda_mem(size_t *free_bytes, size_t *total_bytes, nmp_gpu_err *err)
{
    *free_bytes = 0, *total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
    return NMP_OK;
}
