/* The fused NOMAD step on the GPU (see sgd_step_cuda.h). sgd_grad_kernel<Loss, D>: one warp
 * per target, lanes split its positives, negatives and approximate terms; float32 pair terms
 * whose every formula is nomad/loss_math.h's (as the CPU step engine's); float atomics into the
 * dense gradient. sgd_update_kernel: one thread per point, the update in float rounded as
 * written, the new layout's cell sums in double (in shared memory per block when they fit). */
#include <math.h>
#include <new>

#include "cuda_util.cuh"
#include "nomad/loss_math.h"
#include "sgd_step_cuda.h"

/* Cell sums a block keeps in shared memory (cells x dims doubles), beyond which it adds to
 * the global sums directly. */
#define SGD_SHARED_SUMS 4096
#define SGD_UPDATE_THREADS 256
#define SGD_GRAD_THREADS 256 /* 8 targets (warps) per block */

struct sgd_cuda {
    sgd_problem p = {};
    int64_t nnz = 0;
    dev_buf<float> y, vel, grad, weight, mass, mean;
    dev_buf<int64_t> offsets;
    dev_buf<int32_t> index, cell_of;
    dev_buf<double> cell_sum, loss;
    dev_buf<int> bad;
    /* per-step inputs, grown as needed */
    dev_buf<int32_t> target, neg_index, row_start;
    dev_buf<float> neg_weight, approx_y, approx_weight;
};

/* Everything the gradient kernel reads but the loss's own parameters, by value. */
struct sgd_grad_args {
    const float *y;
    float *grad;
    int dims;
    const int64_t *offsets;
    const int32_t *index;
    const float *weight; /* NULL: 1 */
    int32_t batch;
    const int32_t *target;
    int32_t per_target, shared, rows;
    const int32_t *row_start, *neg_index;
    const float *neg_weight; /* NULL: 1 */
    int32_t approx_count;
    const float *approx_y, *approx_weight;
    float clip;         /* > 0: clip each coordinate of a pair's 2 s c (y_i - y_z) */
    int move_negatives; /* exact negatives receive their gradient */
    int32_t loss_every; /* 0: no loss value; else L_i of targets b % loss_every == 0, times loss_every */
    double *loss_sum;
};

/* ------------------------------------------------------------------ the losses */
/* One kernel instantiation per shipped loss (CCCL style), chosen once on the host by
 * sgd_loss.kind. Each says its pair terms as its CPU plugin does (plugins/loss/): repel()
 * gives dL/d(d2) per unit weight and *phi, its share of the coupling sum Z_i; attract() gives
 * dL/d(d2) per unit p and adds to the per-target sum s (InfoNCE's S_i); scale() is the factor
 * of a coupled loss's repulsive coefficients, from s and Z_i (InfoNCE: S_i = s); pool() sees
 * each target's Z_i once (tsne pools them); value_*() are L_i's terms in double, for the loss
 * curve only (value_target: the target's own, once). `coupled`: repulsive coefficients wait
 * for the complete Z_i. */

struct sgd_infonce {
    static constexpr bool coupled = true;
    static constexpr bool repel_value = false; /* the repulsion is inside L_i's log(q + Z_i) */
    float a;                                   /* exaggeration */
    __device__ float repel(float d2, float *phi) const { return nmp_infonce_repel(d2, phi); }
    __device__ float attract(float d2, float p, float z, float *s) const { return nmp_infonce_attract(d2, p, z, a, s); }
    __device__ float scale(float s, double z) const { return s; }
    __device__ void pool(int32_t t, double z) const {}
    __device__ double value_attract(float d2, float p, double z) const { return nmp_infonce_value(d2, p, z, a); }
    __device__ double value_repel(float d2) const { return 0.0; }
    __device__ double value_target(double z) const { return 0.0; }
};

/* t-SNE's KL, sampled (plugins/loss/tsne): InfoNCE's repulsive terms, attraction a q, every
 * target repelled by 1 / max(Z, Z_i) (z_max; else 1 / Z), Z pooled from the steps before and
 * read from the device (0 on the first step: 1 / Z_i), as the plugin's set_scale in float. */
struct sgd_tsne {
    static constexpr bool coupled = true;
    static constexpr bool repel_value = false;
    float a;         /* exaggeration */
    int z_max;       /* 1 / max(Z, Z_i) */
    const double *z; /* the pooled Z (device; 0: none yet) */
    double *z_sum;   /* the step's sum of Z_i in SGD_POOL_PARTS parts (device) */
    __device__ float repel(float d2, float *phi) const { return nmp_infonce_repel(d2, phi); }
    __device__ float attract(float d2, float p, float zi, float *s) const { return a * nmp_cauchy(d2); }
    __device__ float scale(float s, double zi) const
    {
        const double zp = *z;
        const float inv_z = zp > 0.0 ? (float)(1.0 / zp) : 0.0f, zf = (float)zi;
        const float zmax = inv_z > 0.0f && (!z_max || inv_z * zf < 1.0f) ? 1.0f / inv_z : zf;
        return zmax > 0.0f ? 1.0f / zmax : 0.0f;
    }
    /* the plugin's stat, a float; target t into part t % parts */
    __device__ void pool(int32_t t, double zi) const { atomicAdd(z_sum + t % SGD_POOL_PARTS, (double)(float)zi); }
    __device__ double value_attract(float d2, float p, double zi) const { return p * a * nmp_ln(1.0f + d2); }
    __device__ double value_repel(float d2) const { return 0.0; }
    __device__ double value_target(double zi) const
    {
        const double zn = *z > 0.0 ? *z : zi;
        return zn > 0.0 ? (double)nmp_ln((float)zn) : 0.0;
    }
};

struct sgd_neg {
    static constexpr bool coupled = false;
    static constexpr bool repel_value = true;
    float a, c; /* exaggeration, normalisation constant */
    __device__ float repel(float d2, float *phi) const { return nmp_neg_repel(d2, c, phi); }
    __device__ float attract(float d2, float p, float z, float *s) const
    {
        float dlogc; /* NCE's statistic: not on the GPU */
        return nmp_neg_attract(d2, c, a, &dlogc);
    }
    __device__ float scale(float s, double z) const { return 1.0f; }
    __device__ void pool(int32_t t, double z) const {}
    __device__ double value_attract(float d2, float p, double z) const { return p * nmp_neg_value_attract(d2, c, a); }
    __device__ double value_repel(float d2) const { return nmp_neg_value_repel(d2, c); }
    __device__ double value_target(double z) const { return 0.0; }
};

struct sgd_umap {
    static constexpr bool coupled = false;
    static constexpr bool repel_value = true;
    float a; /* exaggeration */
    nmp_umap_curve k;
    __device__ float repel(float d2, float *phi) const
    {
        *phi = 0.0f;
        return nmp_umap_repel(&k, d2);
    }
    __device__ float attract(float d2, float p, float z, float *s) const { return nmp_umap_attract(&k, d2, a); }
    __device__ float scale(float s, double z) const { return 1.0f; }
    __device__ void pool(int32_t t, double z) const {}
    __device__ double value_attract(float d2, float p, double z) const { return p * nmp_umap_value_attract(&k, d2, a); }
    __device__ double value_repel(float d2) const { return nmp_umap_value_repel(&k, d2); }
    __device__ double value_target(double z) const { return 0.0; }
};

/* ------------------------------------------------------------------ pair helpers */

/* Coordinates a target keeps in registers: D, or all SGD_MAX_DIMS (D = 0: dims at run time). */
#define SGD_W(D) ((D) > 0 ? (D) : SGD_MAX_DIMS)

template <typename T> __device__ __forceinline__ T warp_sum(T v)
{
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* |y_i - y_z|^2 in float, as the CPU engine's tiles. */
template <int D> __device__ __forceinline__ float sgd_d2(const float (&yi)[SGD_W(D)], const float *yz, int dims)
{
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < SGD_W(D); k++)
        if (D > 0 || k < dims) {
            const float d = yi[k] - yz[k];
            s += d * d;
        }
    return s;
}

/* One pair: v = clip(c2 (y_i - y_z)) w per coordinate (c2 = 2 s c), gi += v, and when `other`
 * is not NULL other -= v (float atomics). */
template <int D>
__device__ __forceinline__ void sgd_pair(const float (&yi)[SGD_W(D)], float (&gi)[SGD_W(D)], const float *yz, float c2,
                                         float w, float clip, int dims, float *other)
{
#pragma unroll
    for (int k = 0; k < SGD_W(D); k++) {
        if (D == 0 && k >= dims) continue;
        float v = nmp_pair_grad(c2, yi[k] - yz[k]);
        if (clip > 0.0f) v = nmp_clip(v, clip);
        v *= w;
        gi[k] += v;
        if (other) atomicAdd(other + k, -v);
    }
}

/* The negatives row of target t (nmp_negatives_row_of). */
__device__ __forceinline__ int32_t sgd_row(const sgd_grad_args &a, int32_t t)
{
    if (a.rows <= 0) return a.shared ? 0 : t;
    int32_t lo = 0, hi = a.rows - 1;
    while (lo < hi) {
        int32_t mid = (lo + hi + 1) / 2;
        if (a.row_start[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* One target's repulsive terms: its row of exact negatives and its approximate weights. */
struct sgd_terms {
    const int32_t *index;
    const float *weight;   /* NULL: 1 */
    const float *approx_w; /* 0 drops a term */
};

/* ------------------------------------------------------------------ one target, lane by lane */

/* This lane's share of Z_i = sum_l w_l phi_l over the negatives and approximate terms. */
template <class Loss, int D>
__device__ __forceinline__ float sgd_lane_coupling(const sgd_grad_args &a, const Loss &loss,
                                                   const float (&yi)[SGD_W(D)], const sgd_terms &r, int dims, int lane)
{
    float part = 0.0f, phi;
    for (int32_t l = lane; l < a.per_target; l += 32) {
        loss.repel(sgd_d2<D>(yi, a.y + (int64_t)r.index[l] * dims, dims), &phi);
        part += (r.weight ? r.weight[l] : 1.0f) * phi;
    }
    for (int32_t c = lane; c < a.approx_count; c += 32) {
        if (r.approx_w[c] == 0.0f) continue;
        loss.repel(sgd_d2<D>(yi, a.approx_y + (int64_t)c * dims, dims), &phi);
        part += r.approx_w[c] * phi;
    }
    return part;
}

/* This lane's positives of target i: attract(), both sides' gradients, and (a sampled target)
 * their value terms into `value`. Returns the lane's share of s. */
template <class Loss, int D>
__device__ __forceinline__ float sgd_lane_positives(const sgd_grad_args &a, const Loss &loss, int32_t i,
                                                    const float (&yi)[SGD_W(D)], float (&gi)[SGD_W(D)], double z,
                                                    int dims, bool sampled, double &value, int lane)
{
    float s = 0.0f;
    for (int64_t e = a.offsets[i] + lane; e < a.offsets[i + 1]; e += 32) {
        const int64_t j = a.index[e];
        const float *yj = a.y + j * dims;
        const float p = a.weight ? a.weight[e] : 1.0f, d2 = sgd_d2<D>(yi, yj, dims);
        const float coef = loss.attract(d2, p, (float)z, &s);
        sgd_pair<D>(yi, gi, yj, 2.0f * coef, p, a.clip, dims, a.grad + j * dims);
        if (sampled) value += loss.value_attract(d2, p, z);
    }
    return s;
}

/* This lane's approximate terms and exact negatives, each coefficient times s2 = 2 S_i
 * (coupled) or 2; approximate terms never move, negatives when move_negatives. */
template <class Loss, int D>
__device__ __forceinline__ void
sgd_lane_repulsion(const sgd_grad_args &a, const Loss &loss, const float (&yi)[SGD_W(D)], float (&gi)[SGD_W(D)],
                   const sgd_terms &r, float s2, int dims, bool sampled, double &value, int lane)
{
    float phi;
    for (int32_t c = lane; c < a.approx_count; c += 32) {
        const float w = r.approx_w[c];
        if (w == 0.0f) continue;
        const float *yz = a.approx_y + (int64_t)c * dims, d2 = sgd_d2<D>(yi, yz, dims);
        sgd_pair<D>(yi, gi, yz, s2 * loss.repel(d2, &phi), w, a.clip, dims, nullptr);
        if (Loss::repel_value && sampled) value += w * loss.value_repel(d2);
    }
    for (int32_t l = lane; l < a.per_target; l += 32) {
        const int64_t other = r.index[l];
        const float *yz = a.y + other * dims, d2 = sgd_d2<D>(yi, yz, dims), w = r.weight ? r.weight[l] : 1.0f;
        sgd_pair<D>(yi, gi, yz, s2 * loss.repel(d2, &phi), w, a.clip, dims,
                    a.move_negatives ? a.grad + other * dims : nullptr);
        if (Loss::repel_value && sampled) value += w * loss.value_repel(d2);
    }
}

/* One warp per target: Z_i (coupled losses; lanes' float sums added in double, as the CPU adds
 * its tiles), the positives and the scale (InfoNCE's S_i), then the repulsive terms; the
 * target's gradient summed over the lanes in float and added once; L_i (double) only for a
 * sampled target. */
template <class Loss, int D> __global__ void sgd_grad_kernel(const sgd_grad_args a, const Loss loss)
{
    const int64_t t64 = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    if (t64 >= a.batch) return; /* the whole warp: blockDim is a multiple of 32 */
    const int lane = threadIdx.x % 32, dims = D > 0 ? D : a.dims;
    const int32_t t = (int32_t)t64, i = a.target[t];
    float yi[SGD_W(D)], gi[SGD_W(D)];
#pragma unroll
    for (int k = 0; k < SGD_W(D); k++) yi[k] = D > 0 || k < dims ? a.y[(int64_t)i * dims + k] : 0.0f, gi[k] = 0.0f;
    const int64_t row = sgd_row(a, t), m = a.per_target;
    const sgd_terms r = {a.neg_index + row * m, a.neg_weight ? a.neg_weight + row * m : nullptr,
                         a.approx_weight + (int64_t)t * a.approx_count};
    const bool sampled = a.loss_every > 0 && t % a.loss_every == 0; /* the same for every lane */
    double value = 0.0, z = 0.0;
    if (Loss::coupled) z = warp_sum((double)sgd_lane_coupling<Loss, D>(a, loss, yi, r, dims, lane));
    const float s = sgd_lane_positives<Loss, D>(a, loss, i, yi, gi, z, dims, sampled, value, lane);
    const float scale = Loss::coupled ? loss.scale(warp_sum(s), z) : 1.0f;
    if (lane == 0) loss.pool(t, z);
    sgd_lane_repulsion<Loss, D>(a, loss, yi, gi, r, 2.0f * scale, dims, sampled, value, lane);
#pragma unroll
    for (int k = 0; k < SGD_W(D); k++) {
        if (D == 0 && k >= dims) continue;
        const float g = warp_sum(gi[k]);
        if (lane == 0) atomicAdd(a.grad + (int64_t)i * dims + k, g);
    }
    if (!sampled) return;
    if (lane == 0) value += loss.value_target(z);
    value = warp_sum(value);
    if (lane == 0) atomicAdd(a.loss_sum, value * a.loss_every);
}

/* One thread per point: the update (when `update`) and the layout's cell sums. Each float
 * operation rounds as written (__fmul_rn, no fused multiply-add), the order of
 * sgd_momentum_cpu; a host compiler may fuse there (-march=native), hence the test's 1e-6. */
template <bool update>
__global__ void sgd_update_kernel(float *y, float *vel, float *grad, int64_t n, int dims, const int32_t *cell_of,
                                  int32_t cells, float mu, float lr, float ib, float clip, double *cell_sum, int *bad)
{
    extern __shared__ double block_sum[];
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    const int64_t width = (int64_t)cells * dims;
    const bool local = width <= SGD_SHARED_SUMS;
    if (local) {
        for (int64_t v = threadIdx.x; v < width; v += blockDim.x) block_sum[v] = 0.0;
        __syncthreads();
    }
    if (i < n) {
        const int64_t cell = cell_of[i];
        int not_finite = 0;
        for (int k = 0; k < dims; k++) {
            const int64_t at = i * dims + k;
            float yn = y[at];
            if (update) {
                float g = __fmul_rn(grad[at], ib);
                if (clip > 0.0f) g = nmp_clip(g, clip);
                float v = __fadd_rn(__fmul_rn(mu, vel[at]), g);
                vel[at] = v;
                yn = __fsub_rn(yn, __fmul_rn(lr, v));
                y[at] = yn;
                grad[at] = 0.0f;
                not_finite |= !isfinite(yn);
            }
            atomicAdd(local ? block_sum + cell * dims + k : cell_sum + cell * dims + k, (double)yn);
        }
        if (not_finite) atomicOr(bad, 1);
    }
    if (local) {
        __syncthreads();
        for (int64_t v = threadIdx.x; v < width; v += blockDim.x)
            if (block_sum[v] != 0.0) atomicAdd(cell_sum + v, block_sum[v]);
    }
}

/* tsne, after a step's gradient: its mean Z_i pooled into Z (as the plugin's end_step), the
 * parts of the sum reset for the next step. One thread. */
__global__ void sgd_pool_kernel(double *pooled, int32_t batch, double decay)
{
    double sum = 0.0;
    for (int k = 1; k <= SGD_POOL_PARTS; k++) sum += pooled[k], pooled[k] = 0.0;
    if (batch <= 0 || !(sum > 0.0)) return;
    const double mean = sum / batch;
    pooled[0] = pooled[0] > 0.0 ? decay * pooled[0] + (1.0 - decay) * mean : mean;
}

/* mean = sum / mass (0 for an empty cell); the sums start again from 0. */
__global__ void sgd_mean_kernel(double *cell_sum, const float *mass, int32_t cells, int dims, float *mean)
{
    const int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (v >= (int64_t)cells * dims) return;
    const float m = mass[v / dims];
    mean[v] = m > 0.0f ? (float)(cell_sum[v] / (double)m) : 0.0f;
    cell_sum[v] = 0.0;
}

/* Grows b to hold `count` elements (keeps it when large enough). */
template <typename T> static nmp_status sgd_ensure(dev_buf<T> &b, int64_t count, const char *what, nmp_gpu_err *err)
{
    if ((size_t)count <= b.count && b.p) return NMP_OK;
    DEV_ALLOC(b, count, what);
    return NMP_OK;
}

template <typename T>
static nmp_status sgd_put(dev_buf<T> &b, const T *src, int64_t count, const char *what, nmp_gpu_err *err)
{
    NMP_CHECK(sgd_ensure(b, count, what, err));
    if (count > 0) CUDA_CHECK(cudaMemcpy(b.p, src, (size_t)count * sizeof(T), cudaMemcpyHostToDevice));
    return NMP_OK;
}

/* Cell sums of the current y (with the update first when u is not NULL), then the means. */
static nmp_status sgd_pass(sgd_cuda *s, const sgd_update *u, nmp_gpu_err *err)
{
    const sgd_problem &p = s->p;
    const int64_t width = (int64_t)p.cells * p.dims;
    const size_t shared = width <= SGD_SHARED_SUMS ? (size_t)width * sizeof(double) : 0;
    const unsigned blocks = blocks_for(p.n, SGD_UPDATE_THREADS);
    if (u)
        sgd_update_kernel<true><<<blocks, SGD_UPDATE_THREADS, shared>>>(
            s->y.p, s->vel.p, s->grad.p, p.n, p.dims, s->cell_of.p, p.cells, (float)u->momentum, (float)u->lr,
            (float)u->inv_batch, (float)u->clip, s->cell_sum.p, s->bad.p);
    else
        sgd_update_kernel<false><<<blocks, SGD_UPDATE_THREADS, shared>>>(s->y.p, s->vel.p, s->grad.p, p.n, p.dims,
                                                                         s->cell_of.p, p.cells, 0.0f, 0.0f, 0.0f, 0.0f,
                                                                         s->cell_sum.p, s->bad.p);
    CUDA_CHECK_LAUNCH();
    sgd_mean_kernel<<<blocks_for(width, 256), 256>>>(s->cell_sum.p, s->mass.p, p.cells, p.dims, s->mean.p);
    CUDA_CHECK_LAUNCH();
    return NMP_OK;
}

static nmp_status sgd_setup(sgd_cuda *s, const sgd_problem *p, const float *y, nmp_gpu_err *err)
{
    if (p->n < 1 || p->dims < 1 || p->dims > SGD_MAX_DIMS || p->cells < 1 || p->n > INT32_MAX)
        return nmp_gpu_fail(
            err, NMP_ERR_INVALID, __FILE__, __LINE__,
            "sgd: need 1 <= n < 2^31, 1 <= dims <= %d, cells >= 1 (got n = %lld, dims = %d, cells = %d)", SGD_MAX_DIMS,
            (long long)p->n, p->dims, p->cells);
    s->p = *p; /* sizes only: the arrays are read here and not kept */
    s->p.offsets = NULL, s->p.index = NULL, s->p.weight = NULL, s->p.cell_of = NULL, s->p.cell_mass = NULL;
    s->nnz = p->offsets[p->n];
    const int64_t nd = p->n * p->dims, width = (int64_t)p->cells * p->dims;
    DEV_UPLOAD(s->y, y, nd, "the layout");
    DEV_ALLOC(s->vel, nd, "the velocity");
    DEV_ALLOC(s->grad, nd, "the gradient");
    CUDA_CHECK(cudaMemset(s->vel.p, 0, s->vel.bytes()));
    CUDA_CHECK(cudaMemset(s->grad.p, 0, s->grad.bytes()));
    DEV_UPLOAD(s->offsets, p->offsets, p->n + 1, "the graph's row offsets");
    DEV_UPLOAD(s->index, p->index, s->nnz, "the graph's edges");
    if (p->weight) DEV_UPLOAD(s->weight, p->weight, s->nnz, "the graph's weights");
    DEV_UPLOAD(s->cell_of, p->cell_of, p->n, "the cell of each point");
    DEV_UPLOAD(s->mass, p->cell_mass, p->cells, "the cell masses");
    DEV_ALLOC(s->mean, width, "the cell means");
    DEV_ALLOC(s->cell_sum, width, "the cell sums");
    DEV_ALLOC(s->loss, 1, "the loss sum");
    DEV_ALLOC(s->bad, 1, "the non-finite flag");
    CUDA_CHECK(cudaMemset(s->cell_sum.p, 0, s->cell_sum.bytes()));
    CUDA_CHECK(cudaMemset(s->loss.p, 0, s->loss.bytes()));
    CUDA_CHECK(cudaMemset(s->bad.p, 0, s->bad.bytes()));
    return sgd_pass(s, NULL, err);
}

extern "C" nmp_status sgd_cuda_create(const sgd_problem *p, const float *y, sgd_cuda **out, nmp_gpu_err *err)
{
    *out = NULL;
    sgd_cuda *s = new (std::nothrow) sgd_cuda;
    if (!s) return nmp_gpu_fail(err, NMP_ERR_NOMEM, __FILE__, __LINE__, "sgd: out of host memory");
    nmp_status st = sgd_setup(s, p, y, err);
    if (st != NMP_OK) {
        delete s;
        return st;
    }
    *out = s;
    return NMP_OK;
}

extern "C" void sgd_cuda_destroy(sgd_cuda *s)
{
    delete s;
}

extern "C" nmp_status sgd_cuda_set_state(sgd_cuda *s, const float *y, const float *velocity, const float *grad,
                                         nmp_gpu_err *err)
{
    const size_t bytes = (size_t)(s->p.n * s->p.dims) * sizeof(float);
    if (velocity) CUDA_CHECK(cudaMemcpy(s->vel.p, velocity, bytes, cudaMemcpyHostToDevice));
    if (grad) CUDA_CHECK(cudaMemcpy(s->grad.p, grad, bytes, cudaMemcpyHostToDevice));
    if (!y) return NMP_OK;
    CUDA_CHECK(cudaMemcpy(s->y.p, y, bytes, cudaMemcpyHostToDevice));
    return sgd_pass(s, NULL, err);
}

extern "C" nmp_status sgd_cuda_get_state(sgd_cuda *s, float *y, float *velocity, float *grad, float *cell_mean,
                                         nmp_gpu_err *err)
{
    const int64_t nd = s->p.n * s->p.dims;
    if (y) DEV_DOWNLOAD(y, s->y, nd);
    if (velocity) DEV_DOWNLOAD(velocity, s->vel, nd);
    if (grad) DEV_DOWNLOAD(grad, s->grad, nd);
    if (cell_mean) DEV_DOWNLOAD(cell_mean, s->mean, (int64_t)s->p.cells * s->p.dims);
    return NMP_OK;
}

/* Uploads the batch's arrays and fills the kernel's arguments. */
static nmp_status sgd_upload_batch(sgd_cuda *s, const sgd_batch *b, sgd_grad_args *a, nmp_gpu_err *err)
{
    const int64_t rows = b->rows > 0 ? b->rows : b->shared ? 1 : b->batch, slots = rows * b->per_target;
    NMP_CHECK(sgd_put(s->target, b->target, b->batch, "the batch's targets", err));
    NMP_CHECK(sgd_put(s->neg_index, b->neg_index, slots, "the negatives", err));
    if (b->neg_weight) NMP_CHECK(sgd_put(s->neg_weight, b->neg_weight, slots, "the negatives' weights", err));
    if (b->rows > 0) NMP_CHECK(sgd_put(s->row_start, b->row_start, (int64_t)b->rows + 1, "the rows of negatives", err));
    if (b->approx_count > 0) {
        NMP_CHECK(sgd_put(s->approx_weight, b->approx_weight, (int64_t)b->batch * b->approx_count,
                          "the approximate terms' weights", err));
        if (b->approx_y)
            NMP_CHECK(
                sgd_put(s->approx_y, b->approx_y, (int64_t)b->approx_count * s->p.dims, "the approximate terms", err));
    }
    NMP_CHECK(sgd_ensure(s->approx_weight, 1, "the approximate terms' weights", err));
    *a = sgd_grad_args{};
    a->y = s->y.p, a->grad = s->grad.p, a->dims = s->p.dims;
    a->offsets = s->offsets.p, a->index = s->index.p, a->weight = s->weight.p; /* NULL: no weights */
    a->batch = b->batch, a->target = s->target.p;
    a->per_target = b->per_target, a->shared = b->shared, a->rows = b->rows;
    a->row_start = b->rows > 0 ? s->row_start.p : NULL, a->neg_index = s->neg_index.p;
    a->neg_weight = b->neg_weight ? s->neg_weight.p : NULL;
    a->approx_count = b->approx_count, a->approx_weight = s->approx_weight.p;
    a->approx_y = b->approx_y ? s->approx_y.p : s->mean.p;
    a->loss_sum = s->loss.p;
    return NMP_OK;
}

static nmp_status sgd_check_loss(const sgd_loss *l, nmp_gpu_err *err)
{
    if (l->kind != SGD_LOSS_INFONCE && l->kind != SGD_LOSS_NEG && l->kind != SGD_LOSS_UMAP && l->kind != SGD_LOSS_TSNE)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "sgd: unknown loss kind %d", (int)l->kind);
    if (l->kind == SGD_LOSS_TSNE && (!l->pooled || !(l->z_decay >= 0.0 && l->z_decay < 1.0)))
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__,
                            "sgd: tsne needs its pooled Z on the device and 0 <= z_decay < 1 (got %s, %g)",
                            l->pooled ? "a pointer" : "NULL", l->z_decay);
    if (l->kind == SGD_LOSS_NEG && !(l->c > 0.0))
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "sgd: neg needs c > 0, got %g", l->c);
    if (l->loss_every < 0)
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "sgd: loss_every must be >= 0, got %d",
                            l->loss_every);
    return NMP_OK;
}

/* One warp per target, the layout width fixed at compile time for 2-D and 3-D. */
template <class Loss> static nmp_status sgd_launch_dims(const sgd_grad_args &a, const Loss &loss, nmp_gpu_err *err)
{
    const unsigned blocks = blocks_for((int64_t)a.batch * 32, SGD_GRAD_THREADS);
    if (a.dims == 2)
        sgd_grad_kernel<Loss, 2><<<blocks, SGD_GRAD_THREADS>>>(a, loss);
    else if (a.dims == 3)
        sgd_grad_kernel<Loss, 3><<<blocks, SGD_GRAD_THREADS>>>(a, loss);
    else
        sgd_grad_kernel<Loss, 0><<<blocks, SGD_GRAD_THREADS>>>(a, loss);
    CUDA_CHECK_LAUNCH();
    return NMP_OK;
}

/* The loss's instantiation, chosen here once (l checked by sgd_check_loss); its parameters in
 * float, as the CPU plugins keep them. */
static nmp_status sgd_launch_grad(sgd_grad_args a, const sgd_loss &l, nmp_gpu_err *err)
{
    a.clip = (float)l.clip, a.move_negatives = l.move_negatives, a.loss_every = l.loss_every;
    const float ex = (float)l.exaggeration;
    if (l.kind == SGD_LOSS_INFONCE) return sgd_launch_dims(a, sgd_infonce{ex}, err);
    if (l.kind == SGD_LOSS_NEG) return sgd_launch_dims(a, sgd_neg{ex, (float)l.c}, err);
    if (l.kind == SGD_LOSS_TSNE) {
        NMP_CHECK(sgd_launch_dims(a, sgd_tsne{ex, l.z_max, l.pooled, l.pooled + 1}, err));
        sgd_pool_kernel<<<1, 1>>>(l.pooled, a.batch, l.z_decay);
        CUDA_CHECK_LAUNCH();
        return NMP_OK;
    }
    const nmp_umap_curve curve = {(float)l.a, (float)l.b, (float)l.gamma, (float)l.eps};
    return sgd_launch_dims(a, sgd_umap{ex, curve}, err);
}

extern "C" nmp_status sgd_cuda_grad(sgd_cuda *s, const sgd_batch *b, const sgd_loss *l, nmp_gpu_err *err)
{
    const char *bad = sgd_batch_problem(&s->p, b);
    if (bad) return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__, "sgd: inconsistent batch: %s", bad);
    NMP_CHECK(sgd_check_loss(l, err));
    if (b->batch == 0) return NMP_OK;
    sgd_grad_args a;
    NMP_CHECK(sgd_upload_batch(s, b, &a, err));
    return sgd_launch_grad(a, *l, err);
}

extern "C" nmp_status sgd_cuda_grad_dev(const sgd_dev_fit *f, const sgd_batch *b, const sgd_loss *l, nmp_gpu_err *err)
{
    if (f->dims < 1 || f->dims > SGD_MAX_DIMS || b->batch < 0 || b->per_target < 0 || b->approx_count < 0 ||
        (b->approx_count > 0 && !b->approx_weight) || (b->per_target > 0 && !b->neg_index) ||
        (b->rows > 0 && !b->row_start) || (l->loss_every > 0 && !f->loss_sum))
        return nmp_gpu_fail(err, NMP_ERR_INVALID, __FILE__, __LINE__,
                            "sgd: inconsistent batch (dims %d, batch %d, per_target %d, approx_count %d, loss_every "
                            "%d with%s a loss sum)",
                            f->dims, b->batch, b->per_target, b->approx_count, l->loss_every, f->loss_sum ? "" : "out");
    NMP_CHECK(sgd_check_loss(l, err));
    if (b->batch == 0) return NMP_OK;
    sgd_grad_args a = {};
    a.y = f->y, a.grad = f->grad, a.dims = f->dims;
    a.offsets = f->offsets, a.index = f->index, a.weight = f->weight;
    a.batch = b->batch, a.target = b->target;
    a.per_target = b->per_target, a.shared = b->shared, a.rows = b->rows;
    a.row_start = b->rows > 0 ? b->row_start : NULL, a.neg_index = b->neg_index, a.neg_weight = b->neg_weight;
    a.approx_count = b->approx_count, a.approx_weight = b->approx_weight;
    a.approx_y = b->approx_y ? b->approx_y : f->cell_mean;
    a.loss_sum = f->loss_sum;
    return sgd_launch_grad(a, *l, err);
}

extern "C" void sgd_cuda_arrays_of(sgd_cuda *s, sgd_cuda_arrays *out)
{
    out->y = s->y.p, out->velocity = s->vel.p, out->grad = s->grad.p, out->cell_mean = s->mean.p;
    out->offsets = s->offsets.p, out->index = s->index.p, out->weight = s->weight.p; /* NULL: no weights */
    out->cell_of = s->cell_of.p, out->cell_mass = s->mass.p, out->loss_sum = s->loss.p;
}

extern "C" nmp_status sgd_cuda_put_targets(sgd_cuda *s, const int32_t *target, int32_t count, const int32_t **dev,
                                           nmp_gpu_err *err)
{
    *dev = NULL;
    NMP_CHECK(sgd_put(s->target, target, count, "the batch's targets", err));
    *dev = s->target.p;
    return NMP_OK;
}

extern "C" nmp_status sgd_cuda_update(sgd_cuda *s, const sgd_update *u, nmp_gpu_err *err)
{
    return sgd_pass(s, u, err);
}

extern "C" nmp_status sgd_cuda_step(sgd_cuda *s, const sgd_batch *b, const sgd_loss *l, const sgd_update *u,
                                    nmp_gpu_err *err)
{
    NMP_CHECK(sgd_cuda_grad(s, b, l, err));
    return sgd_pass(s, u, err);
}

extern "C" nmp_status sgd_cuda_take_loss(sgd_cuda *s, double *loss, nmp_gpu_err *err)
{
    CUDA_CHECK(cudaMemcpy(loss, s->loss.p, sizeof(double), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemset(s->loss.p, 0, sizeof(double)));
    return NMP_OK;
}

extern "C" nmp_status sgd_cuda_take_nonfinite(sgd_cuda *s, int *nonfinite, nmp_gpu_err *err)
{
    CUDA_CHECK(cudaMemcpy(nonfinite, s->bad.p, sizeof(int), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemset(s->bad.p, 0, sizeof(int)));
    return NMP_OK;
}
