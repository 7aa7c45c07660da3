/* sgemm GFLOP/s of the BLAS kernel this process loaded (experiments/bench/step_engine.sh runs
 * it once per OPENBLAS_CORETYPE): C[m x n] = A[m x k] B[n x k]^T, the 4096 x 8192 x
 * 784, the best of three after a warm-up.
 *
 *   nomad_sgemm_bench [m n k]        prints "kernel NAME threads T gflops G" */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    int m = argc > 3 ? atoi(argv[1]) : 4096, n = argc > 3 ? atoi(argv[2]) : 8192, k = argc > 3 ? atoi(argv[3]) : 784;
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)n * k * sizeof *b);
    float *c = malloc((size_t)m * n * sizeof *c);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)n * k; i++) b[i] = (float)(i % 5) * 0.1f;
    double best = 0.0;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double gflops = 2.0 * m * n * k / (now() - t0) / 1e9;
        if (rep > 0 && gflops > best) best = gflops; /* rep 0 warms up */
    }
    printf("kernel %s threads %d gflops %.1f (check %g)\n", openblas_get_corename(), openblas_get_num_threads(), best,
           (double)c[12345]);
    free(a), free(b), free(c);
    return 0;
}
