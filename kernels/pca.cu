/* PCA mean, covariance and projection on the GPU (see pca_cuda.h). The rows stay on the
 * device; each block of rows is gathered and centred in float (as the CPU does), multiplied
 * by cuBLAS SGEMM, and the covariance blocks are added in double. */
#include <new>

#include "cuda_util.cuh"
#include "pca_cuda.h"

/* Rows per block of the mean's partial sums (one double atomic per column per block). */
#define PCA_MEAN_CHUNK 1024
/* Rows per projection GEMM. */
#define PCA_PROJECT_BLOCK ((int64_t)1 << 16)

struct pca_cuda {
    int64_t n = 0, d = 0;
    dev_buf<float> x;
    blas_handle blas;
};

/* sums[j] += the chunk's rows' column j, in double. */
__global__ void pca_sum_kernel(const float *x, int64_t d, const int64_t *rows, int64_t m, int64_t chunk, double *sums)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t s0 = (int64_t)blockIdx.y * chunk, s1 = s0 + chunk < m ? s0 + chunk : m;
    if (j >= d) return;
    double acc = 0.0;
    for (int64_t s = s0; s < s1; s++) acc += (double)x[(rows ? rows[s] : s) * d + j];
    atomicAdd(&sums[j], acc);
}

__global__ void pca_divide_kernel(double *v, int64_t d, double by)
{
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j < d) v[j] /= by;
}

/* buf (count x d) = rows first.. of x minus the mean, rounded to float. */
__global__ void pca_center_kernel(const float *x, int64_t d, const int64_t *rows, int64_t first, int64_t count,
                                  const double *mean, float *buf)
{
    int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (v >= count * d) return;
    int64_t r = v / d, j = v % d, s = first + r;
    buf[v] = (float)((double)x[(rows ? rows[s] : s) * d + j] - mean[j]);
}

__global__ void pca_accumulate_kernel(const float *part, int64_t count, double *cov)
{
    int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (v < count) cov[v] += (double)part[v];
}

extern "C" nmp_status pca_cuda_create(const float *x, int64_t n, int64_t d, pca_cuda **out, nmp_gpu_err *err)
{
    *out = NULL;
    if (n < 1 || d < 1 || d > INT32_MAX)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__,
                            "pca: need n >= 1 and 1 <= d < 2^31 (got n = %lld, d = %lld)", (long long)n, (long long)d);
    pca_cuda *p = new (std::nothrow) pca_cuda;
    if (!p) return nmp_gpu_fail(err, NMP_ERR_NOMEM, __FILE__, __LINE__, "pca: out of host memory");
    p->n = n, p->d = d;
    nmp_status s =
        nmp_cuda_malloc(err, (void **)&p->x.p, (size_t)(n * d) * sizeof(float), "the PCA rows", __FILE__, __LINE__);
    if (s == NMP_OK) {
        p->x.count = (size_t)(n * d);
        cudaError_t e = cudaMemcpy(p->x.p, x, p->x.bytes(), cudaMemcpyHostToDevice);
        if (e != cudaSuccess) s = nmp_cuda_fail(err, e, __FILE__, __LINE__, "cudaMemcpy(the PCA rows)");
    }
    if (s == NMP_OK) {
        cublasStatus_t b = cublasCreate(&p->blas.h);
        if (b != CUBLAS_STATUS_SUCCESS) s = nmp_cublas_fail(err, b, __FILE__, __LINE__, "cublasCreate");
    }
    if (s != NMP_OK) {
        delete p;
        return s;
    }
    *out = p;
    return NMP_OK;
}

extern "C" void pca_cuda_destroy(pca_cuda *p)
{
    delete p;
}

static nmp_status pca_check_rows(const pca_cuda *p, const int64_t *rows, int64_t m, nmp_gpu_err *err)
{
    if (m < 1 || (!rows && m > p->n))
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "pca: %lld sample rows of %lld", (long long)m,
                            (long long)p->n);
    for (int64_t s = 0; rows && s < m; s++)
        if (rows[s] < 0 || rows[s] >= p->n)
            return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__,
                                "pca: sample row %lld = %lld not in [0, %lld)", (long long)s, (long long)rows[s],
                                (long long)p->n);
    return NMP_OK;
}

extern "C" nmp_status pca_cuda_covariance(pca_cuda *p, const int64_t *rows, int64_t m, int64_t block, double *mean,
                                          double *cov, nmp_gpu_err *err)
{
    NMP_CHECK(pca_check_rows(p, rows, m, err));
    int64_t d = p->d;
    if (block > m) block = m;
    if (block < 1) block = 1;
    dev_buf<int64_t> r;
    dev_buf<double> mu, acc;
    dev_buf<float> buf, part;
    if (rows) DEV_UPLOAD(r, rows, m, "the PCA sample");
    DEV_ALLOC(mu, d, "the PCA mean");
    DEV_ALLOC(acc, d * d, "the covariance");
    DEV_ALLOC(buf, block * d, "a block of centred rows");
    DEV_ALLOC(part, d * d, "a block's covariance");
    const int64_t *rp = rows ? r.p : NULL;
    CUDA_CHECK(cudaMemset(mu.p, 0, mu.bytes()));
    CUDA_CHECK(cudaMemset(acc.p, 0, acc.bytes()));
    int64_t chunk = PCA_MEAN_CHUNK;
    if ((m + chunk - 1) / chunk > 65535) chunk = (m + 65534) / 65535; /* grid.y limit */
    dim3 grid(blocks_for(d, 128), (unsigned)((m + chunk - 1) / chunk));
    pca_sum_kernel<<<grid, 128>>>(p->x.p, d, rp, m, chunk, mu.p);
    CUDA_CHECK_LAUNCH();
    pca_divide_kernel<<<blocks_for(d, 128), 128>>>(mu.p, d, (double)m);
    CUDA_CHECK_LAUNCH();
    const float one = 1.0f, zero = 0.0f;
    for (int64_t first = 0; first < m; first += block) {
        int64_t count = m - first < block ? m - first : block;
        pca_center_kernel<<<blocks_for(count * d, 256), 256>>>(p->x.p, d, rp, first, count, mu.p, buf.p);
        CUDA_CHECK_LAUNCH();
        /* row-major buf (count x d) is column-major d x count: part = buf^T buf = B B^T there */
        CUBLAS_CHECK(cublasSgemm(p->blas.h, CUBLAS_OP_N, CUBLAS_OP_T, (int)d, (int)d, (int)count, &one, buf.p, (int)d,
                                 buf.p, (int)d, &zero, part.p, (int)d));
        pca_accumulate_kernel<<<blocks_for(d * d, 256), 256>>>(part.p, d * d, acc.p);
        CUDA_CHECK_LAUNCH();
    }
    DEV_DOWNLOAD(mean, mu, d);
    DEV_DOWNLOAD(cov, acc, d * d);
    return NMP_OK;
}

extern "C" nmp_status pca_cuda_project(pca_cuda *p, const double *mean, const float *vt, int32_t dims, float *y,
                                       nmp_gpu_err *err)
{
    int64_t n = p->n, d = p->d, block = n < PCA_PROJECT_BLOCK ? n : PCA_PROJECT_BLOCK;
    if (dims < 1 || dims > d)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "pca: dims = %d not in [1, %lld]", dims,
                            (long long)d);
    dev_buf<double> mu;
    dev_buf<float> v, buf, out;
    DEV_UPLOAD(mu, mean, d, "the PCA mean");
    DEV_UPLOAD(v, vt, (int64_t)dims * d, "the principal axes");
    DEV_ALLOC(buf, block * d, "a block of centred rows");
    DEV_ALLOC(out, n * dims, "the projected layout");
    for (int64_t first = 0; first < n; first += block) {
        int64_t count = n - first < block ? n - first : block;
        pca_center_kernel<<<blocks_for(count * d, 256), 256>>>(p->x.p, d, NULL, first, count, mu.p, buf.p);
        CUDA_CHECK_LAUNCH();
        CUBLAS_CHECK(gemm_abt(p->blas.h, count, dims, d, 1.0f, buf.p, d, v.p, d, 0.0f, out.p + first * dims, dims));
    }
    DEV_DOWNLOAD(y, out, n * dims);
    return NMP_OK;
}
