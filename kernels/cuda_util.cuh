/* Helpers shared by the .cu files: device buffers and cuBLAS handles that free themselves
 * (so CUDA_CHECK can return early), uploads, and the row-major C = A B^T of the CPU code. */
#ifndef NOMAD_CUDA_UTIL_CUH
#define NOMAD_CUDA_UTIL_CUH

#include <stdint.h>

#include "cuda_check.h"

/* Device array of `count` T, freed when it goes out of scope. */
template <typename T> struct dev_buf {
    T *p = nullptr;
    size_t count = 0;
    dev_buf() = default;
    dev_buf(const dev_buf &) = delete;
    dev_buf &operator=(const dev_buf &) = delete;
    ~dev_buf() { release(); }
    void release()
    {
        if (p) cudaFree(p);
        p = nullptr, count = 0;
    }
    size_t bytes() const { return count * sizeof(T); }
};

/* Allocates b (freeing what it held) for `count` elements; count 0 allocates one element so
 * that pointers are never NULL. */
#define DEV_ALLOC(b, n, what)                                                                                          \
    do {                                                                                                               \
        (b).release();                                                                                                 \
        size_t dev_alloc_n_ = (size_t)(n) > 0 ? (size_t)(n) : 1;                                                       \
        NMP_CHECK(nmp_cuda_malloc(err, (void **)&(b).p, dev_alloc_n_ * sizeof *(b).p, what, __FILE__, __LINE__));      \
        (b).count = dev_alloc_n_;                                                                                      \
    } while (0)
/* Allocates b and copies `n` elements from host array `src` into it. */
#define DEV_UPLOAD(b, src, n, what)                                                                                    \
    do {                                                                                                               \
        DEV_ALLOC(b, n, what);                                                                                         \
        if ((size_t)(n) > 0)                                                                                           \
            CUDA_CHECK(cudaMemcpy((b).p, (src), (size_t)(n) * sizeof *(b).p, cudaMemcpyHostToDevice));                 \
    } while (0)
#define DEV_DOWNLOAD(dst, b, n)                                                                                        \
    do {                                                                                                               \
        if ((size_t)(n) > 0)                                                                                           \
            CUDA_CHECK(cudaMemcpy((dst), (b).p, (size_t)(n) * sizeof *(b).p, cudaMemcpyDeviceToHost));                 \
    } while (0)

/* A cuBLAS handle, destroyed on scope exit. */
struct blas_handle {
    cublasHandle_t h = nullptr;
    blas_handle() = default;
    blas_handle(const blas_handle &) = delete;
    blas_handle &operator=(const blas_handle &) = delete;
    ~blas_handle()
    {
        if (h) cublasDestroy(h);
    }
};

/* Row-major C[m x n] = alpha A[m x k] B[n x k]^T + beta C, as cblas_sgemm(RowMajor, N, T):
 * in cuBLAS's column-major view that is C^T = B A^T. */
static inline cublasStatus_t gemm_abt(cublasHandle_t h, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                                      int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    return cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)m, (int)k, &alpha, b, (int)ldb, a, (int)lda, &beta, c,
                       (int)ldc);
}

/* Blocks of `threads` covering `n` items (at least one block). */
static inline unsigned blocks_for(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 0 ? b : 1);
}

#endif
