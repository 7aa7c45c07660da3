/* Times each CUDA kernel against its CPU reference on generated data of the sizes nomad
 * meets (Fashion-MNIST-like 70k x 784 cells, 1M x 128). Built as nomad_gpu_bench when
 * NOMAD_CUDA is on; prints one line per measurement (exit 77 without a GPU). Usage: nomad_gpu_bench [scale]
 * (scale < 1 shrinks every size, for a quick look). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_check.h"
#include "kmeans_cpu.h"
#include "kmeans_cuda.h"
#include "knn_cpu.h"
#include "knn_cuda.h"
#include "nomad/rng.h"
#include "sgd_step_cpu.h"
#include "sgd_step_cuda.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *uniform(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) exit(1);
    for (int64_t i = 0; i < n; i++) x[i] = (float)nmp_rng_uniform(seed, 1, (uint64_t)i);
    return x;
}

static void check(nmp_status s, const nmp_gpu_err *e, const char *what)
{
    if (s == NMP_OK) return;
    fprintf(stderr, "%s failed (%d): %s\n", what, (int)s, e->msg);
    exit(1);
}

static void bench_kmeans(int64_t n, int64_t d, int32_t k, int cpu)
{
    float *x = uniform(n * d, 1), *c = uniform((int64_t)k * d, 2), *d2 = malloc((size_t)n * sizeof *d2);
    int32_t *a = malloc((size_t)n * sizeof *a);
    int64_t *cnt = malloc((size_t)k * sizeof *cnt);
    nmp_gpu_err e = {0};
    kmeans_cuda *km;
    double t0 = now();
    check(kmeans_cuda_create(x, n, d, k, &km, &e), &e, "kmeans_cuda_create");
    double t1 = now();
    check(kmeans_cuda_assign(km, c, a, d2, &e), &e, "kmeans_cuda_assign");
    double t2 = now();
    for (int it = 0; it < 10; it++) check(kmeans_cuda_assign(km, c, NULL, NULL, &e), &e, "kmeans_cuda_assign");
    double t3 = now();
    for (int it = 0; it < 10; it++) check(kmeans_cuda_update(km, c, cnt, &e), &e, "kmeans_cuda_update");
    double t4 = now();
    kmeans_cuda_destroy(km);
    printf("kmeans n=%lld d=%lld k=%d: gpu upload %.1f ms, assign %.2f ms (first, with download %.2f ms), update %.2f "
           "ms\n",
           (long long)n, (long long)d, k, 1e3 * (t1 - t0), 1e3 * (t3 - t2) / 10, 1e3 * (t2 - t1), 1e3 * (t4 - t3) / 10);
    if (cpu) {
        double c0 = now();
        kmeans_assign_cpu(x, n, d, c, k, a, d2);
        double c1 = now();
        kmeans_update_cpu(x, n, d, a, k, c, cnt);
        double c2 = now();
        printf("kmeans n=%lld d=%lld k=%d: cpu assign %.2f ms, update %.2f ms\n", (long long)n, (long long)d, k,
               1e3 * (c1 - c0), 1e3 * (c2 - c1));
    }
    free(x), free(c), free(d2), free(a), free(cnt);
}

/* All-vs-all kNN inside `cells` cells of n / cells rows (exact_cell's work). */
static void bench_knn(int64_t n, int64_t d, int32_t cells, int32_t k, int cpu)
{
    int64_t rows = n / cells;
    float *x = uniform(rows * d, 3);
    int32_t *idx = malloc((size_t)(rows * k) * sizeof *idx), *ids = malloc((size_t)rows * sizeof *ids);
    float *dist = malloc((size_t)(rows * k) * sizeof *dist);
    for (int64_t i = 0; i < rows; i++) ids[i] = (int32_t)i;
    nmp_gpu_err e = {0};
    const char *names[] = {"f32", "f16", "bf16"};
    check(knn_topk_cuda(x, rows, x, rows, d, k, NMP_METRIC_L2, ids, ids, KNN_CUDA_F32, idx, dist, &e), &e, "warm-up");
    for (int p = 0; p < 3; p++) {
        double t0 = now();
        for (int32_t c = 0; c < cells; c++)
            check(knn_topk_cuda(x, rows, x, rows, d, k, NMP_METRIC_L2, ids, ids, (knn_cuda_precision)p, idx, dist, &e),
                  &e, "knn_topk_cuda");
        double t1 = now();
        double flop = 2.0 * (double)rows * (double)rows * (double)d * cells;
        printf("knn n=%lld d=%lld cells=%d (%lld rows each) k=%d %s: gpu %.3f s (%.1f TFLOP/s of GEMM work)\n",
               (long long)n, (long long)d, cells, (long long)rows, k, names[p], t1 - t0, flop / (t1 - t0) / 1e12);
    }
    if (cpu) {
        double t0 = now();
        knn_topk_cpu(x, rows, x, rows, d, k, NMP_METRIC_L2, ids, ids, idx, dist);
        double t1 = now();
        printf("knn n=%lld d=%lld cells=%d k=%d: cpu %.3f s (one cell timed, x %d)\n", (long long)n, (long long)d,
               cells, k, (t1 - t0) * cells, cells);
    }
    free(x), free(idx), free(ids), free(dist);
}

/* NOMAD steps on n points (k = 15 neighbours, `cells` cells, batch 4096, 128 exact negatives
 * per target and every cell mean as an approximate term, infonce, no loss value): GPU time
 * per step, batches made on the host and uploaded, as the host would. The CPU side of the
 * step is the step engine: time it with whole runs (experiments/bench/gpu.sh, part 2). */
static void bench_sgd(int64_t n, int32_t cells, int steps)
{
    const int32_t k = 15, B = 4096, m = 128, D = 2;
    float *y = uniform(n * D, 4), *w = uniform(n * k, 5), *mass = calloc((size_t)cells, sizeof *mass);
    int64_t *off = malloc((size_t)(n + 1) * sizeof *off);
    int32_t *idx = malloc((size_t)(n * k) * sizeof *idx), *cell_of = malloc((size_t)n * sizeof *cell_of);
    int32_t *target = malloc((size_t)B * sizeof *target), *neg = malloc((size_t)B * m * sizeof *neg);
    float *aw = malloc((size_t)B * cells * sizeof *aw);
    off[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        off[i + 1] = off[i] + k;
        for (int32_t j = 0; j < k; j++)
            idx[i * k + j] = (int32_t)nmp_rng_below(6, 1, (uint64_t)(i * k + j), (uint64_t)n);
        cell_of[i] = (int32_t)(i * cells / n);
        mass[cell_of[i]] += 1.0f;
    }
    for (int64_t s = 0; s < (int64_t)B * cells; s++) aw[s] = 0.01f;
    sgd_problem p = {n, D, off, idx, w, cells, cell_of, mass};
    sgd_loss l = {.kind = SGD_LOSS_INFONCE, .exaggeration = 1.0, .move_negatives = 1, .loss_every = 0};
    sgd_update u = {.lr = 0.1 * (double)n, .momentum = 0.8, .inv_batch = 1.0 / B, .clip = 0.0};
    sgd_batch b = {B, target, m, 0, 0, NULL, neg, NULL, cells, NULL, aw};
    nmp_gpu_err e = {0};
    sgd_cuda *s;
    check(sgd_cuda_create(&p, y, &s, &e), &e, "sgd_cuda_create");
    double draw = 0.0, t0 = now();
    for (int step = 0; step < steps; step++) {
        double d0 = now();
        for (int32_t t = 0; t < B; t++) target[t] = (int32_t)nmp_rng_below(7, (uint64_t)step, (uint64_t)t, (uint64_t)n);
        for (int64_t q = 0; q < (int64_t)B * m; q++)
            neg[q] = (int32_t)nmp_rng_below(8, (uint64_t)step, (uint64_t)q, (uint64_t)n);
        draw += now() - d0;
        check(sgd_cuda_step(s, &b, &l, &u, &e), &e, "sgd_cuda_step");
    }
    int bad = 0;
    check(sgd_cuda_take_nonfinite(s, &bad, &e), &e, "sgd_cuda_take_nonfinite");
    double t1 = now();
    sgd_cuda_destroy(s);
    printf("sgd n=%lld cells=%d batch=%d negatives=%d: gpu %.3f ms/step (host draws %.3f ms of it)\n", (long long)n,
           cells, B, m, 1e3 * (t1 - t0) / steps, 1e3 * draw / steps);
    free(y), free(w), free(mass), free(off), free(idx), free(cell_of), free(target), free(neg), free(aw);
}

int main(int argc, char **argv)
{
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    char info[256];
    nmp_cuda_describe(info, sizeof info);
    printf("device: %s\n", info);
    if (!nmp_cuda_available()) return 77;
    bench_kmeans((int64_t)(70000 * scale), 784, 8, 1);
    bench_kmeans((int64_t)(1000000 * scale), 128, 128, 1);
    bench_knn((int64_t)(70000 * scale), 784, 8, 15, 1);
    bench_knn((int64_t)(1000000 * scale), 128, 128, 15, 1);
    bench_sgd((int64_t)(70000 * scale), 8, 200);
    bench_sgd((int64_t)(1000000 * scale), 128, 200);
    return 0;
}
