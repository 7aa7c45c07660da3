/* The simple bound of issue 13: a plain float32 loop over B targets x M shared negatives
 * (d2, q = 1/(1+d2), Z += q, g += q^2 (y_i - y_l)) with `omp simd`, built with -O3
 * -march=native -ffast-math, on every thread. What a pair term costs at the least on this
 * machine; the step engine's rates are printed as a share of it. */
#include "pair_bound.h"

#include <math.h>
#include <omp.h>

#include "nomad/loss_math.h"
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double pair_bound_rate(int targets, int negatives, int reps, int threads, double *check)
{
    float *yx = malloc((size_t)targets * sizeof *yx), *yy = malloc((size_t)targets * sizeof *yy);
    float *nx = malloc((size_t)negatives * sizeof *nx), *ny = malloc((size_t)negatives * sizeof *ny);
    float *z = malloc((size_t)targets * sizeof *z), *gx = malloc((size_t)targets * sizeof *gx);
    float *gy = malloc((size_t)targets * sizeof *gy);
    for (int i = 0; i < targets; i++) yx[i] = (float)(i % 97) * 0.37f, yy[i] = (float)(i % 89) * 0.21f;
    for (int l = 0; l < negatives; l++) nx[l] = (float)(l % 83) * 0.33f, ny[l] = (float)(l % 79) * 0.29f;
    double t0 = now();
    for (int r = 0; r < reps; r++) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int b = 0; b < targets; b++) {
            float xi = yx[b], yi = yy[b], zs = 0.0f, g0 = 0.0f, g1 = 0.0f;
#pragma omp simd reduction(+ : zs, g0, g1)
            for (int l = 0; l < negatives; l++) {
                float dx = xi - nx[l], dy = yi - ny[l], q = 1.0f / (1.0f + dx * dx + dy * dy), q2 = q * q;
                zs += q, g0 += q2 * dx, g1 += q2 * dy;
            }
            z[b] = zs, gx[b] = g0, gy[b] = g1;
        }
    }
    double seconds = now() - t0, sum = 0.0;
    for (int b = 0; b < targets; b++) sum += z[b] + gx[b] + gy[b];
    *check = sum;
    free(yx), free(yy), free(nx), free(ny), free(z), free(gx), free(gy);
    return (double)targets * negatives * reps / seconds;
}

/* The same loop with UMAP's repulsion in place of the Cauchy kernel's: c = -gamma b / ((eps +
 * d2)(1 + a d2^b)) with umap-learn's a, b for min_dist 0.1, each coordinate clipped to +-4 as
 * umap-learn does, d2^b by nomad/loss_math.h's nmp_pow (pure float arithmetic; libm's powf in
 * its SIMD form, which -ffast-math allows, runs at a third of its rate here). A formula with a power
 * costs several times the Cauchy kernel's few operations: this is what such a pair term costs
 * at the least. */
double pair_bound_rate_umap(int targets, int negatives, int reps, int threads, double *check)
{
    const float a = 1.577f, b = 0.8951f, gamma_b = 0.8951f, eps = 1e-3f, clip = 4.0f;
    float *yx = malloc((size_t)targets * sizeof *yx), *yy = malloc((size_t)targets * sizeof *yy);
    float *nx = malloc((size_t)negatives * sizeof *nx), *ny = malloc((size_t)negatives * sizeof *ny);
    float *gx = malloc((size_t)targets * sizeof *gx), *gy = malloc((size_t)targets * sizeof *gy);
    for (int i = 0; i < targets; i++) yx[i] = (float)(i % 97) * 0.37f, yy[i] = (float)(i % 89) * 0.21f;
    for (int l = 0; l < negatives; l++) nx[l] = (float)(l % 83) * 0.33f, ny[l] = (float)(l % 79) * 0.29f;
    double t0 = now();
    for (int r = 0; r < reps; r++) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int t = 0; t < targets; t++) {
            float xi = yx[t], yi = yy[t], g0 = 0.0f, g1 = 0.0f;
#pragma omp simd reduction(+ : g0, g1)
            for (int l = 0; l < negatives; l++) {
                float dx = xi - nx[l], dy = yi - ny[l], d2 = dx * dx + dy * dy + 1e-12f;
                float c = -2.0f * gamma_b / ((eps + d2) * (1.0f + a * nmp_pow(d2, b)));
                g0 += fminf(fmaxf(c * dx, -clip), clip), g1 += fminf(fmaxf(c * dy, -clip), clip);
            }
            gx[t] = g0, gy[t] = g1;
        }
    }
    double seconds = now() - t0, sum = 0.0;
    for (int t = 0; t < targets; t++) sum += gx[t] + gy[t];
    *check = sum;
    free(yx), free(yy), free(nx), free(ny), free(gx), free(gy);
    return (double)targets * negatives * reps / seconds;
}
