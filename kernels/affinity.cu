/* Affinity edge weights on the GPU (see affinity_cuda.h): one thread per row, the same
 * double arithmetic as affinity_cpu.c, so the weights match bit for bit. */
#include <stdlib.h>

#include "affinity_cuda.h"
#include "cuda_util.cuh"
extern "C" {
#include "affinity_cpu.h"
}

__global__ void affinity_rank_exp_kernel(const int64_t *offsets, int64_t n, const double *term, const double *norm,
                                         float *weight)
{
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t first = offsets[i], k = offsets[i + 1] - first;
    for (int64_t r = 0; r < k; r++) weight[first + r] = (float)__ddiv_rn(term[r], norm[k]);
}

__global__ void affinity_uniform_kernel(const int64_t *offsets, int64_t n, int normalize, float *weight)
{
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t k = offsets[i + 1] - offsets[i];
    for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) weight[e] = (float)__ddiv_rn(1.0, (double)k);
    if (!normalize) return;
    double sum = 0.0;
    for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) sum = __dadd_rn(sum, (double)weight[e]);
    if (sum <= 0.0) return;
    for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) weight[e] = (float)__ddiv_rn((double)weight[e], sum);
}

__global__ void affinity_normalize_kernel(const int64_t *offsets, int64_t n, float *weight)
{
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    double sum = 0.0;
    for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) sum = __dadd_rn(sum, (double)weight[e]);
    if (sum <= 0.0) return;
    for (int64_t e = offsets[i]; e < offsets[i + 1]; e++) weight[e] = (float)__ddiv_rn((double)weight[e], sum);
}

static nmp_status aff_check(const int64_t *offsets, int64_t n, int64_t *kmax, nmp_gpu_err *err)
{
    *kmax = 0;
    if (n < 0 || !offsets || offsets[0] != 0)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "affinity: need n >= 0 and offsets from 0");
    for (int64_t i = 0; i < n; i++) {
        int64_t k = offsets[i + 1] - offsets[i];
        if (k < 0)
            return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "affinity: offsets decrease at row %lld",
                                (long long)i);
        if (k > *kmax) *kmax = k;
    }
    return NMP_OK;
}

static nmp_status aff_rank_exp(const int64_t *offsets, int64_t n, int64_t kmax, const double *term, const double *norm,
                               float *weight, nmp_gpu_err *err)
{
    dev_buf<int64_t> off;
    dev_buf<double> t, s;
    dev_buf<float> w;
    DEV_UPLOAD(off, offsets, n + 1, "the graph's row offsets");
    DEV_UPLOAD(t, term, kmax, "the rank weights");
    DEV_UPLOAD(s, norm, kmax + 1, "the rank weight sums");
    DEV_ALLOC(w, offsets[n], "the edge weights");
    affinity_rank_exp_kernel<<<blocks_for(n, 256), 256>>>(off.p, n, t.p, s.p, w.p);
    CUDA_CHECK_LAUNCH();
    DEV_DOWNLOAD(weight, w, offsets[n]);
    return NMP_OK;
}

extern "C" nmp_status affinity_rank_exp_cuda(const int64_t *offsets, int64_t n, double temperature, float *weight,
                                             nmp_gpu_err *err)
{
    int64_t kmax;
    NMP_CHECK(aff_check(offsets, n, &kmax, err));
    double *term = (double *)malloc((size_t)(kmax + 1) * sizeof *term);
    double *norm = (double *)malloc((size_t)(kmax + 1) * sizeof *norm);
    nmp_status s = NMP_ERR_NOMEM;
    if (term && norm) {
        affinity_rank_exp_table_cpu(temperature, kmax, term, norm);
        s = aff_rank_exp(offsets, n, kmax, term, norm, weight, err);
    } else {
        nmp_gpu_fail(err, s, __FILE__, __LINE__, "affinity: out of host memory for %lld ranks", (long long)kmax);
    }
    free(term), free(norm);
    return s;
}

extern "C" nmp_status affinity_uniform_cuda(const int64_t *offsets, int64_t n, int normalize_rows, float *weight,
                                            nmp_gpu_err *err)
{
    int64_t kmax;
    NMP_CHECK(aff_check(offsets, n, &kmax, err));
    dev_buf<int64_t> off;
    dev_buf<float> w;
    DEV_UPLOAD(off, offsets, n + 1, "the graph's row offsets");
    DEV_ALLOC(w, offsets[n], "the edge weights");
    affinity_uniform_kernel<<<blocks_for(n, 256), 256>>>(off.p, n, normalize_rows, w.p);
    CUDA_CHECK_LAUNCH();
    DEV_DOWNLOAD(weight, w, offsets[n]);
    return NMP_OK;
}

extern "C" nmp_status affinity_normalize_rows_cuda(const int64_t *offsets, int64_t n, float *weight, nmp_gpu_err *err)
{
    int64_t kmax;
    NMP_CHECK(aff_check(offsets, n, &kmax, err));
    dev_buf<int64_t> off;
    dev_buf<float> w;
    DEV_UPLOAD(off, offsets, n + 1, "the graph's row offsets");
    DEV_UPLOAD(w, weight, offsets[n], "the edge weights");
    affinity_normalize_kernel<<<blocks_for(n, 256), 256>>>(off.p, n, w.p);
    CUDA_CHECK_LAUNCH();
    DEV_DOWNLOAD(weight, w, offsets[n]);
    return NMP_OK;
}
