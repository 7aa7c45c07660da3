/* K-means on the GPU (see kmeans_cuda.h): dots by cuBLAS SGEMM over row blocks, one warp per
 * row for the argmin; the update sorts rows by cell (counting sort) and sums each cell's
 * members column-wise in double, a few atomics per block. */
#include <math.h>
#include <new>
#include <stdlib.h>
#include <string.h>

#include "cuda_util.cuh"
#include "kmeans_cuda.h"

/* Floats of the dots buffer (rows x k) per GEMM block: 256 MiB. */
#define KMEANS_DOTS_FLOATS ((int64_t)1 << 26)
/* Members summed by one block of the update before its single atomic per column. */
#define KMEANS_SUM_CHUNK 256
/* Columns per block of the update (threads per block). */
#define KMEANS_SUM_COLS 128

struct kmeans_cuda {
    int64_t n = 0, d = 0, block = 0;
    int32_t k = 0;
    int has_assign = 0;
    dev_buf<float> x, xnorm, cent, cnorm, dots, dist2;
    dev_buf<int32_t> assign, member, cursor;
    dev_buf<double> sums;
    blas_handle blas;
};

/* ||row||^2 summed in row order with no fused multiply-add: bit for bit the CPU's
 * kmeans_row_norms_cpu, so that dist2 differs from it only through the GEMM. */
__global__ void kmeans_norms_kernel(const float *x, int64_t rows, int64_t d, float *out)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float *row = x + r * d;
    float s = 0.0f;
    for (int64_t j = 0; j < d; j++) s = __fadd_rn(s, __fmul_rn(row[j], row[j]));
    out[r] = s;
}

/* One warp per row: argmin over c of ||c||^2 - 2 x.c (strict <, so ties keep the smaller id,
 * as kmeans_argmin_cpu), then dist2 = ||x||^2 + that, clamped at 0. */
__global__ void kmeans_argmin_kernel(const float *dots, int64_t rows, int32_t k, const float *cnorm, const float *xnorm,
                                     int32_t *assign, float *dist2)
{
    int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const float *dr = dots + r * k;
    float best = INFINITY;
    int32_t best_c = k; /* beyond every id: loses all ties */
    for (int32_t c = lane; c < k; c += 32) {
        float v = cnorm[c] - 2.0f * dr[c];
        if (v < best) best = v, best_c = c;
    }
    for (int off = 16; off > 0; off /= 2) {
        float ov = __shfl_down_sync(0xffffffffu, best, off);
        int32_t oc = __shfl_down_sync(0xffffffffu, best_c, off);
        if (ov < best || (ov == best && oc < best_c)) best = ov, best_c = oc;
    }
    if (lane == 0) {
        if (best_c >= k) best_c = 0, best = cnorm[0] - 2.0f * dr[0]; /* every distance NaN: cell 0, as the CPU */
        float dd = xnorm[r] + best;
        assign[r] = best_c;
        dist2[r] = dd > 0.0f ? dd : 0.0f;
    }
}

__global__ void kmeans_count_kernel(const int32_t *assign, int64_t n, int32_t *counts)
{
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n) atomicAdd(&counts[assign[i]], 1);
}

/* cursor[c] starts at cell c's first slot; members land in arbitrary order within a cell,
 * which only moves the double sums by rounding. */
__global__ void kmeans_fill_kernel(const int32_t *assign, int64_t n, int32_t *cursor, int32_t *member)
{
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n) member[atomicAdd(&cursor[assign[i]], 1)] = (int32_t)i;
}

/* Block (cell, column tile, member chunk): sums `chunk` members of the cell per column in
 * double, then one atomic add per column into sums (k x d). */
__global__ void kmeans_sum_kernel(const float *x, int64_t d, const int32_t *member, const int32_t *start, int64_t chunk,
                                  double *sums)
{
    int32_t c = blockIdx.x;
    int64_t j = blockIdx.y * (int64_t)blockDim.x + threadIdx.x;
    int64_t m0 = start[c] + blockIdx.z * chunk, m1 = m0 + chunk;
    if (m1 > start[c + 1]) m1 = start[c + 1];
    if (j >= d || m0 >= m1) return;
    double s = 0.0;
    for (int64_t m = m0; m < m1; m++) s += (double)x[(int64_t)member[m] * d + j];
    atomicAdd(&sums[(int64_t)c * d + j], s);
}

__global__ void kmeans_mean_kernel(const double *sums, const int32_t *start, int32_t k, int64_t d, float *cent)
{
    int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (v >= (int64_t)k * d) return;
    int64_t c = v / d, cnt = start[c + 1] - start[c];
    if (cnt > 0) cent[v] = (float)(sums[v] / (double)cnt);
}

static nmp_status km_check(int64_t n, int64_t d, int32_t k, nmp_gpu_err *err)
{
    if (n < 0 || d < 1 || k < 1 || n > INT32_MAX || d > INT32_MAX)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__,
                            "kmeans: need 0 <= n < 2^31, d >= 1, k >= 1 (got n = %lld, d = %lld, k = %d)", (long long)n,
                            (long long)d, k);
    return NMP_OK;
}

static nmp_status km_setup(kmeans_cuda *km, const float *x, int64_t n, int64_t d, int32_t k, nmp_gpu_err *err)
{
    NMP_CHECK(km_check(n, d, k, err));
    km->n = n, km->d = d, km->k = k;
    km->block = KMEANS_DOTS_FLOATS / k;
    if (km->block < 1) km->block = 1;
    if (km->block > n) km->block = n;
    /* everything sized by n first, so an oversized request fails before any copy */
    DEV_ALLOC(km->x, n * d, "the k-means rows");
    DEV_ALLOC(km->xnorm, n, "the k-means row norms");
    DEV_ALLOC(km->assign, n, "the k-means assignment");
    DEV_ALLOC(km->dist2, n, "the k-means distances");
    DEV_ALLOC(km->member, n, "the k-means cell members");
    DEV_ALLOC(km->dots, km->block * k, "the k-means dot products");
    DEV_ALLOC(km->cent, (int64_t)k * d, "the centroids");
    DEV_ALLOC(km->cnorm, k, "the centroid norms");
    DEV_ALLOC(km->cursor, (int64_t)k + 1, "the k-means cell starts");
    DEV_ALLOC(km->sums, (int64_t)k * d, "the k-means cell sums");
    if (n) CUDA_CHECK(cudaMemcpy(km->x.p, x, (size_t)(n * d) * sizeof(float), cudaMemcpyHostToDevice));
    CUBLAS_CHECK(cublasCreate(&km->blas.h));
    kmeans_norms_kernel<<<blocks_for(n, 256), 256>>>(km->x.p, n, d, km->xnorm.p);
    CUDA_CHECK_LAUNCH();
    return NMP_OK;
}

extern "C" nmp_status kmeans_cuda_create(const float *x, int64_t n, int64_t d, int32_t k, kmeans_cuda **out,
                                         nmp_gpu_err *err)
{
    *out = NULL;
    kmeans_cuda *km = new (std::nothrow) kmeans_cuda;
    if (!km) return nmp_gpu_fail(err, NMP_ERR_NOMEM, __FILE__, __LINE__, "kmeans: out of host memory");
    nmp_status s = km_setup(km, x, n, d, k, err);
    if (s != NMP_OK) {
        delete km;
        return s;
    }
    *out = km;
    return NMP_OK;
}

extern "C" void kmeans_cuda_destroy(kmeans_cuda *km)
{
    delete km;
}

extern "C" nmp_status kmeans_cuda_assign(kmeans_cuda *km, const float *centroids, int32_t *assign, float *dist2,
                                         nmp_gpu_err *err)
{
    int64_t n = km->n, d = km->d;
    int32_t k = km->k;
    CUDA_CHECK(cudaMemcpy(km->cent.p, centroids, (size_t)(k * d) * sizeof(float), cudaMemcpyHostToDevice));
    kmeans_norms_kernel<<<blocks_for(k, 256), 256>>>(km->cent.p, k, d, km->cnorm.p);
    CUDA_CHECK_LAUNCH();
    for (int64_t b0 = 0; b0 < n; b0 += km->block) {
        int64_t rows = n - b0 < km->block ? n - b0 : km->block;
        CUBLAS_CHECK(gemm_abt(km->blas.h, rows, k, d, 1.0f, km->x.p + b0 * d, d, km->cent.p, d, 0.0f, km->dots.p, k));
        kmeans_argmin_kernel<<<blocks_for(rows * 32, 256), 256>>>(km->dots.p, rows, k, km->cnorm.p, km->xnorm.p + b0,
                                                                  km->assign.p + b0, km->dist2.p + b0);
        CUDA_CHECK_LAUNCH();
    }
    km->has_assign = 1;
    if (assign) DEV_DOWNLOAD(assign, km->assign, n);
    if (dist2) DEV_DOWNLOAD(dist2, km->dist2, n);
    CUDA_CHECK(cudaDeviceSynchronize());
    return NMP_OK;
}

/* Cell starts from the device assignment: counts on the device, prefix sum on the host
 * (k is small next to n), then the members listed cell by cell. start: host, k + 1. */
static nmp_status km_members(kmeans_cuda *km, int32_t *start, nmp_gpu_err *err)
{
    int32_t k = km->k;
    CUDA_CHECK(cudaMemset(km->cursor.p, 0, (size_t)(k + 1) * sizeof(int32_t)));
    kmeans_count_kernel<<<blocks_for(km->n, 256), 256>>>(km->assign.p, km->n, km->cursor.p + 1);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpy(start, km->cursor.p, (size_t)(k + 1) * sizeof(int32_t), cudaMemcpyDeviceToHost));
    for (int32_t c = 0; c < k; c++) start[c + 1] += start[c];
    CUDA_CHECK(cudaMemcpy(km->cursor.p, start, (size_t)(k + 1) * sizeof(int32_t), cudaMemcpyHostToDevice));
    kmeans_fill_kernel<<<blocks_for(km->n, 256), 256>>>(km->assign.p, km->n, km->cursor.p, km->member.p);
    CUDA_CHECK_LAUNCH();
    /* the fill advanced each cursor to its cell's end: put the starts back */
    CUDA_CHECK(cudaMemcpy(km->cursor.p, start, (size_t)(k + 1) * sizeof(int32_t), cudaMemcpyHostToDevice));
    return NMP_OK;
}

static nmp_status km_update(kmeans_cuda *km, float *centroids, int64_t *counts, int32_t *start, nmp_gpu_err *err)
{
    int64_t d = km->d;
    int32_t k = km->k;
    if (!km->has_assign)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "kmeans: update called before assign");
    NMP_CHECK(km_members(km, start, err));
    int64_t largest = 0;
    for (int32_t c = 0; c < k; c++)
        if (start[c + 1] - start[c] > largest) largest = start[c + 1] - start[c];
    int64_t chunk = KMEANS_SUM_CHUNK;
    if ((largest + chunk - 1) / chunk > 65535) chunk = (largest + 65534) / 65535; /* grid.z limit */
    CUDA_CHECK(cudaMemset(km->sums.p, 0, km->sums.bytes()));
    CUDA_CHECK(cudaMemcpy(km->cent.p, centroids, (size_t)(k * d) * sizeof(float), cudaMemcpyHostToDevice));
    if (largest > 0) {
        dim3 grid((unsigned)k, blocks_for(d, KMEANS_SUM_COLS), (unsigned)((largest + chunk - 1) / chunk));
        kmeans_sum_kernel<<<grid, KMEANS_SUM_COLS>>>(km->x.p, d, km->member.p, km->cursor.p, chunk, km->sums.p);
        CUDA_CHECK_LAUNCH();
    }
    kmeans_mean_kernel<<<blocks_for(k * d, 256), 256>>>(km->sums.p, km->cursor.p, k, d, km->cent.p);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpy(centroids, km->cent.p, (size_t)(k * d) * sizeof(float), cudaMemcpyDeviceToHost));
    if (counts)
        for (int32_t c = 0; c < k; c++) counts[c] = start[c + 1] - start[c];
    return NMP_OK;
}

extern "C" nmp_status kmeans_cuda_update(kmeans_cuda *km, float *centroids, int64_t *counts, nmp_gpu_err *err)
{
    int32_t *start = (int32_t *)malloc(((size_t)km->k + 1) * sizeof *start);
    if (!start) return nmp_gpu_fail(err, NMP_ERR_NOMEM, __FILE__, __LINE__, "kmeans: out of host memory");
    nmp_status s = km_update(km, centroids, counts, start, err);
    free(start);
    return s;
}

extern "C" nmp_status kmeans_assign_cuda(const float *x, int64_t n, int64_t d, const float *centroids, int32_t k,
                                         int32_t *assign, float *dist2, nmp_gpu_err *err)
{
    kmeans_cuda *km;
    NMP_CHECK(kmeans_cuda_create(x, n, d, k, &km, err));
    nmp_status s = kmeans_cuda_assign(km, centroids, assign, dist2, err);
    kmeans_cuda_destroy(km);
    return s;
}

extern "C" nmp_status kmeans_cuda_set_assign(kmeans_cuda *km, const int32_t *assign, nmp_gpu_err *err)
{
    for (int64_t i = 0; i < km->n; i++)
        if (assign[i] < 0 || assign[i] >= km->k)
            return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__,
                                "kmeans: assign[%lld] = %d is not a cell id in [0, %d)", (long long)i, assign[i],
                                km->k);
    if (km->n) CUDA_CHECK(cudaMemcpy(km->assign.p, assign, (size_t)km->n * sizeof(int32_t), cudaMemcpyHostToDevice));
    km->has_assign = 1;
    return NMP_OK;
}

extern "C" nmp_status kmeans_update_cuda(const float *x, int64_t n, int64_t d, const int32_t *assign, int32_t k,
                                         float *centroids, int64_t *counts, nmp_gpu_err *err)
{
    kmeans_cuda *km;
    NMP_CHECK(kmeans_cuda_create(x, n, d, k, &km, err));
    nmp_status s = kmeans_cuda_set_assign(km, assign, err);
    if (s == NMP_OK) s = kmeans_cuda_update(km, centroids, counts, err);
    kmeans_cuda_destroy(km);
    return s;
}
