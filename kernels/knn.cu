/* Exact kNN on the GPU (see knn_cuda.h). Per tile of query x base rows: a cuBLAS GEMM of dot
 * products (or direct distances for d <= 8), then one warp per query row merges the tile into
 * that row's sorted k best, held across the lanes' registers (entry j in lane j % 32). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "cuda_util.cuh"
#include "knn_cuda.h"

/* Floats of one distance tile (query rows x base rows): 256 MiB. */
#define KNN_TILE_FLOATS ((int64_t)1 << 26)
/* Query rows per tile: enough warps to fill the GPU during the top-k pass. */
#define KNN_QUERY_TILE 8192
/* As knn_cpu.c: up to this width distances are computed directly (no cancellation). */
#define KNN_DIRECT_MAX_D 8
/* Id of an empty entry: loses every tie, written out as -1. */
#define KNN_NO_ID INT32_MAX

/* The total order of the CPU reference: distance, then smaller id; NaN never wins. */
__device__ __forceinline__ bool knn_better(float da, int32_t ia, float db, int32_t ib)
{
    return da < db || (da == db && ia < ib);
}

/* A dot product to the metric's distance, rounded step by step exactly as dots_to_dists in
 * knn_cpu.c (no fused multiply-add), so equal dots give equal distances. */
__device__ __forceinline__ float knn_dot_to_dist(float dot, nmp_metric metric, float qn, float bn)
{
    if (metric == NMP_METRIC_L2) {
        float v = __fsub_rn(__fadd_rn(qn, bn), __fmul_rn(2.0f, dot));
        return v > 0.0f ? v : 0.0f;
    }
    if (metric == NMP_METRIC_COSINE) {
        float v = __fsub_rn(1.0f, __fmul_rn(__fmul_rn(dot, qn), bn));
        return v > 0.0f ? v : 0.0f;
    }
    return -dot;
}

/* Per-row norms as knn_cpu.c's row_norms: squared norm (L2) or inverse norm (cosine, 0 for a
 * zero row), summed in double in row order. T: the element type the GEMM reads. */
template <typename T>
__global__ void knn_norms_kernel(const T *x, int64_t rows, int64_t d, nmp_metric metric, float *out)
{
    int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const T *row = x + r * d;
    double s = 0.0;
    for (int64_t t = 0; t < d; t++) {
        double v = (double)(float)row[t];
        s = __dadd_rn(s, __dmul_rn(v, v));
    }
    out[r] = metric == NMP_METRIC_L2 ? (float)s : (s > 0.0 ? (float)(1.0 / sqrt(s)) : 0.0f);
}

template <typename T> __global__ void knn_convert_kernel(const float *x, int64_t count, T *out)
{
    int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (v < count) out[v] = (T)x[v];
}

/* d <= 8: tile[i][c] = squared distance (L2, summed as direct_row in knn_cpu.c) or dot
 * product (other metrics; the select kernel converts it). */
__global__ void knn_direct_kernel(const float *query, const float *base, int64_t d, int64_t qn, int64_t bn,
                                  nmp_metric metric, float *tile)
{
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, i = blockIdx.y;
    if (c >= bn) return;
    const float *q = query + i * d, *b = base + c * d;
    float s = 0.0f;
    for (int64_t t = 0; t < d; t++) {
        float term =
            metric == NMP_METRIC_L2 ? __fmul_rn(__fsub_rn(q[t], b[t]), __fsub_rn(q[t], b[t])) : __fmul_rn(q[t], b[t]);
        s = t == 0 ? term : __fadd_rn(s, term);
    }
    tile[i * bn + c] = s;
}

/* What the select kernel needs about one tile. */
struct knn_tile {
    const float *tile; /* qn x bn: dot products, or L2 distances when `direct` */
    int64_t q0, qn, b0, bn;
    int direct;
    nmp_metric metric;
    const float *qnorm, *bnorm;
    const int32_t *query_id, *base_id;
    int32_t k;
    float *list_d; /* nq x k: each query's k best so far, sorted */
    int32_t *list_i;
};

/* Entry k - 1 (the worst kept) of the lane-distributed list, on every lane. */
template <int R>
__device__ __forceinline__ void knn_worst(const float (&ld)[R], const int32_t (&li)[R], int32_t k, float *wd,
                                          int32_t *wi)
{
    int rk = (k - 1) / 32, lk = (k - 1) % 32;
    float d = 0.0f;
    int32_t id = 0;
#pragma unroll
    for (int r = 0; r < R; r++)
        if (r == rk) d = ld[r], id = li[r];
    *wd = __shfl_sync(0xffffffffu, d, lk);
    *wi = __shfl_sync(0xffffffffu, id, lk);
}

/* Inserts (cd, ci), known to beat entry k - 1, into the sorted list: entries from its place
 * on move one slot up (lane l takes lane l - 1's entry; lane 0 takes lane 31's of the
 * register before). */
template <int R>
__device__ __forceinline__ void knn_insert(float (&ld)[R], int32_t (&li)[R], int32_t k, int lane, float cd, int32_t ci)
{
    int p = 0;
#pragma unroll
    for (int r = 0; r < R; r++)
        p += __popc(__ballot_sync(0xffffffffu, r * 32 + lane < k && knn_better(ld[r], li[r], cd, ci)));
    float up_d[R], last_d[R];
    int32_t up_i[R], last_i[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        up_d[r] = __shfl_up_sync(0xffffffffu, ld[r], 1);
        up_i[r] = __shfl_up_sync(0xffffffffu, li[r], 1);
        last_d[r] = __shfl_sync(0xffffffffu, ld[r], 31);
        last_i[r] = __shfl_sync(0xffffffffu, li[r], 31);
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        int j = r * 32 + lane;
        if (j == p) {
            ld[r] = cd, li[r] = ci;
        } else if (j > p) {
            if (lane > 0)
                ld[r] = up_d[r], li[r] = up_i[r];
            else if (r > 0)
                ld[r] = last_d[r - 1], li[r] = last_i[r - 1];
        }
    }
}

/* One warp per query row of the tile: 32 candidates per read (coalesced); the few that beat
 * the current worst are inserted one by one (ballot order), re-checked against the worst as
 * it tightens. */
template <int R> __global__ void knn_select_kernel(knn_tile t)
{
    int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (i >= t.qn) return;
    int64_t q = t.q0 + i;
    float ld[R];
    int32_t li[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        int j = r * 32 + lane;
        ld[r] = j < t.k ? t.list_d[q * t.k + j] : INFINITY;
        li[r] = j < t.k ? t.list_i[q * t.k + j] : KNN_NO_ID;
    }
    float wd;
    int32_t wi;
    knn_worst<R>(ld, li, t.k, &wd, &wi);
    const int check_self = t.query_id != NULL;
    const int32_t self = check_self ? t.query_id[q] : -1;
    const float qn = t.metric == NMP_METRIC_IP ? 0.0f : t.qnorm[q];
    const float *row = t.tile + i * t.bn;
    for (int64_t c0 = 0; c0 < t.bn; c0 += 32) {
        int64_t c = c0 + lane;
        bool pass = false;
        float dist = 0.0f;
        int32_t id = 0;
        if (c < t.bn) {
            float v = row[c];
            dist =
                t.direct ? v : knn_dot_to_dist(v, t.metric, qn, t.metric == NMP_METRIC_IP ? 0.0f : t.bnorm[t.b0 + c]);
            id = t.base_id ? t.base_id[t.b0 + c] : (int32_t)(t.b0 + c);
            pass = knn_better(dist, id, wd, wi) && !(check_self && id == self);
        }
        unsigned mask = __ballot_sync(0xffffffffu, pass);
        while (mask) {
            int src = __ffs(mask) - 1;
            mask &= mask - 1;
            float cd = __shfl_sync(0xffffffffu, dist, src);
            int32_t ci = __shfl_sync(0xffffffffu, id, src);
            if (!knn_better(cd, ci, wd, wi)) continue; /* the same on every lane */
            knn_insert<R>(ld, li, t.k, lane, cd, ci);
            knn_worst<R>(ld, li, t.k, &wd, &wi);
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        int j = r * 32 + lane;
        if (j < t.k) t.list_d[q * t.k + j] = ld[r], t.list_i[q * t.k + j] = li[r];
    }
}

__global__ void knn_list_init_kernel(float *list_d, int32_t *list_i, int64_t count)
{
    int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (v < count) list_d[v] = INFINITY, list_i[v] = KNN_NO_ID;
}

__global__ void knn_list_finish_kernel(int32_t *list_i, int64_t count)
{
    int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (v < count && list_i[v] == KNN_NO_ID) list_i[v] = -1;
}

static nmp_status knn_launch_select(const knn_tile &t, nmp_gpu_err *err)
{
    unsigned blocks = blocks_for(t.qn * 32, 256);
    int R = (t.k + 31) / 32;
    if (R == 1)
        knn_select_kernel<1><<<blocks, 256>>>(t);
    else if (R == 2)
        knn_select_kernel<2><<<blocks, 256>>>(t);
    else if (R == 3)
        knn_select_kernel<3><<<blocks, 256>>>(t);
    else
        knn_select_kernel<4><<<blocks, 256>>>(t);
    CUDA_CHECK_LAUNCH();
    return NMP_OK;
}

/* The rows as the GEMM reads them: f32 as uploaded, or converted to half / bfloat16. */
struct knn_inputs {
    dev_buf<float> q32, b32;
    dev_buf<__half> q16, b16;
    dev_buf<__nv_bfloat16> qbf, bbf;
};

template <typename T>
static nmp_status knn_convert(const dev_buf<float> &src, int64_t count, dev_buf<T> &dst, const char *what,
                              nmp_gpu_err *err)
{
    DEV_ALLOC(dst, count, what);
    knn_convert_kernel<T><<<blocks_for(count, 256), 256>>>(src.p, count, dst.p);
    CUDA_CHECK_LAUNCH();
    return NMP_OK;
}

template <typename T>
static nmp_status knn_norms(const T *x, int64_t rows, int64_t d, nmp_metric metric, float *out, nmp_gpu_err *err)
{
    knn_norms_kernel<T><<<blocks_for(rows, 128), 128>>>(x, rows, d, metric, out);
    CUDA_CHECK_LAUNCH();
    return NMP_OK;
}

/* Uploads (and converts) the rows and takes their norms from what the GEMM will read. */
static nmp_status knn_prepare(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d,
                              nmp_metric metric, knn_cuda_precision prec, knn_inputs &in, dev_buf<float> &qnorm,
                              dev_buf<float> &bnorm, nmp_gpu_err *err)
{
    DEV_UPLOAD(in.q32, query, nq * d, "the kNN query rows");
    DEV_UPLOAD(in.b32, base, nb * d, "the kNN base rows");
    DEV_ALLOC(qnorm, nq, "the kNN query norms");
    DEV_ALLOC(bnorm, nb, "the kNN base norms");
    const int norms = metric != NMP_METRIC_IP;
    if (prec == KNN_CUDA_F16) {
        NMP_CHECK(knn_convert(in.q32, nq * d, in.q16, "the kNN query rows (f16)", err));
        NMP_CHECK(knn_convert(in.b32, nb * d, in.b16, "the kNN base rows (f16)", err));
        if (norms) NMP_CHECK(knn_norms(in.q16.p, nq, d, metric, qnorm.p, err));
        if (norms) NMP_CHECK(knn_norms(in.b16.p, nb, d, metric, bnorm.p, err));
    } else if (prec == KNN_CUDA_BF16) {
        NMP_CHECK(knn_convert(in.q32, nq * d, in.qbf, "the kNN query rows (bf16)", err));
        NMP_CHECK(knn_convert(in.b32, nb * d, in.bbf, "the kNN base rows (bf16)", err));
        if (norms) NMP_CHECK(knn_norms(in.qbf.p, nq, d, metric, qnorm.p, err));
        if (norms) NMP_CHECK(knn_norms(in.bbf.p, nb, d, metric, bnorm.p, err));
    } else if (norms) {
        NMP_CHECK(knn_norms(in.q32.p, nq, d, metric, qnorm.p, err));
        NMP_CHECK(knn_norms(in.b32.p, nb, d, metric, bnorm.p, err));
    }
    return NMP_OK;
}

/* tile (qn x bn) = dot products of query rows q0.. with base rows b0.. in the chosen precision. */
static nmp_status knn_gemm(cublasHandle_t h, const knn_inputs &in, knn_cuda_precision prec, int64_t d, int64_t q0,
                           int64_t qn, int64_t b0, int64_t bn, float *tile, nmp_gpu_err *err)
{
    const float one = 1.0f, zero = 0.0f;
    if (prec == KNN_CUDA_F32) {
        CUBLAS_CHECK(gemm_abt(h, qn, bn, d, 1.0f, in.q32.p + q0 * d, d, in.b32.p + b0 * d, d, 0.0f, tile, bn));
        return NMP_OK;
    }
    const void *a = prec == KNN_CUDA_F16 ? (const void *)(in.q16.p + q0 * d) : (const void *)(in.qbf.p + q0 * d);
    const void *b = prec == KNN_CUDA_F16 ? (const void *)(in.b16.p + b0 * d) : (const void *)(in.bbf.p + b0 * d);
    cudaDataType_t type = prec == KNN_CUDA_F16 ? CUDA_R_16F : CUDA_R_16BF;
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)bn, (int)qn, (int)d, &one, b, type, (int)d, a, type,
                              (int)d, &zero, tile, CUDA_R_32F, (int)bn, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return NMP_OK;
}

static nmp_status knn_check(int64_t nq, int64_t nb, int64_t d, int32_t k, nmp_metric metric, knn_cuda_precision prec,
                            nmp_gpu_err *err)
{
    if (nq < 0 || nb < 0 || d < 1 || k < 0 || nq > INT32_MAX || nb > INT32_MAX || d > INT32_MAX ||
        (metric != NMP_METRIC_L2 && metric != NMP_METRIC_IP && metric != NMP_METRIC_COSINE) ||
        (prec != KNN_CUDA_F32 && prec != KNN_CUDA_F16 && prec != KNN_CUDA_BF16))
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__,
                            "knn: bad arguments (nq = %lld, nb = %lld, d = %lld, k = %d, metric %d, precision %d)",
                            (long long)nq, (long long)nb, (long long)d, k, (int)metric, (int)prec);
    if (k > KNN_CUDA_MAX_K)
        return nmp_gpu_fail(err, NMP_ERR_UNSUPPORTED, __FILE__, __LINE__,
                            "knn: k = %d is more than the GPU top-k keeps (%d); use the CPU kNN", k, KNN_CUDA_MAX_K);
    return NMP_OK;
}

extern "C" nmp_status knn_topk_cuda(const float *query, int64_t nq, const float *base, int64_t nb, int64_t d, int32_t k,
                                    nmp_metric metric, const int32_t *query_id, const int32_t *base_id,
                                    knn_cuda_precision precision, int32_t *out_idx, float *out_dist, nmp_gpu_err *err)
{
    NMP_CHECK(knn_check(nq, nb, d, k, metric, precision, err));
    if (nq == 0 || k == 0) return NMP_OK;
    const int direct = d <= KNN_DIRECT_MAX_D;
    if (direct) precision = KNN_CUDA_F32;
    int64_t qt = nq < KNN_QUERY_TILE ? nq : KNN_QUERY_TILE, bt = KNN_TILE_FLOATS / qt;
    if (bt > nb) bt = nb;
    knn_inputs in;
    dev_buf<float> qnorm, bnorm, tile, list_d;
    dev_buf<int32_t> qid, bid, list_i;
    DEV_ALLOC(list_d, nq * k, "the kNN results");
    DEV_ALLOC(list_i, nq * k, "the kNN results");
    DEV_ALLOC(tile, qt * (bt > 0 ? bt : 1), "a kNN distance tile");
    NMP_CHECK(knn_prepare(query, nq, base, nb, d, metric, precision, in, qnorm, bnorm, err));
    if (query_id) DEV_UPLOAD(qid, query_id, nq, "the kNN query ids");
    if (base_id) DEV_UPLOAD(bid, base_id, nb, "the kNN base ids");
    blas_handle blas;
    CUBLAS_CHECK(cublasCreate(&blas.h));
    knn_list_init_kernel<<<blocks_for(nq * k, 256), 256>>>(list_d.p, list_i.p, nq * k);
    CUDA_CHECK_LAUNCH();
    for (int64_t q0 = 0; q0 < nq; q0 += qt) {
        int64_t qn = nq - q0 < qt ? nq - q0 : qt;
        for (int64_t b0 = 0; b0 < nb; b0 += bt) {
            int64_t bn = nb - b0 < bt ? nb - b0 : bt;
            if (direct) {
                dim3 grid(blocks_for(bn, 256), (unsigned)qn);
                knn_direct_kernel<<<grid, 256>>>(in.q32.p + q0 * d, in.b32.p + b0 * d, d, qn, bn, metric, tile.p);
                CUDA_CHECK_LAUNCH();
            } else {
                NMP_CHECK(knn_gemm(blas.h, in, precision, d, q0, qn, b0, bn, tile.p, err));
            }
            knn_tile t = {tile.p,
                          q0,
                          qn,
                          b0,
                          bn,
                          direct && metric == NMP_METRIC_L2,
                          metric,
                          qnorm.p,
                          bnorm.p,
                          query_id ? qid.p : NULL,
                          base_id ? bid.p : NULL,
                          k,
                          list_d.p,
                          list_i.p};
            NMP_CHECK(knn_launch_select(t, err));
        }
    }
    knn_list_finish_kernel<<<blocks_for(nq * k, 256), 256>>>(list_i.p, nq * k);
    CUDA_CHECK_LAUNCH();
    DEV_DOWNLOAD(out_idx, list_i, nq * k);
    DEV_DOWNLOAD(out_dist, list_d, nq * k);
    return NMP_OK;
}
