/* Every formula of nomad's pair terms, in one place for the CPU step engine, the CUDA step
 * kernel and the loss plugins: the geometry of a pair (how a coefficient dL/d(d2) becomes a
 * gradient) and the terms of each shipped loss (infonce, neg and nce, umap). Scalar float
 * functions, so they vectorise inside `#pragma omp simd` loops and compile as device code
 * under nvcc. docs/losses.md derives each line. */
#ifndef NOMAD_LOSS_MATH_H
#define NOMAD_LOSS_MATH_H

#include <math.h> /* floorf */
#include <stdint.h>

#ifdef __CUDACC__
#define NMP_HD static __host__ __device__ __forceinline__
#else
#define NMP_HD static inline __attribute__((always_inline))
#endif

/* ------------------------------------------------------------------ pair geometry */

/* The Cauchy kernel q = 1 / (1 + d2) of t-SNE, NOMAD and the NEG/NCE family. */
NMP_HD float nmp_cauchy(float d2) { return 1.0f / (1.0f + d2); }

/* One coordinate of a pair's gradient on y_i: since d(d2)/dy_i = 2 (y_i - y_z), the pair
 * adds 2 c (y_i - y_z) per unit weight, c = dL/d(d2); y_z gets the opposite. UMAP clips each
 * coordinate to +-clip before the weight (clip > 0), as umap-learn does. */
NMP_HD float nmp_pair_grad(float c2, float diff) { return c2 * diff; } /* c2 = 2 c */
NMP_HD float nmp_clip(float g, float clip) { return g > clip ? clip : (g < -clip ? -clip : g); }

/* ------------------------------------------------------------------ fast log2 / exp2 / pow */
/* UMAP's d2^b in float, within 3e-6 relative, as pure arithmetic: libm's powf does not
 * vectorise without -ffast-math, and the same formula must run on the CPU and the GPU. */

/* Bit casts by a union (C11 allows it): a memcpy here would make each vector lane's value
 * addressable, and the vectoriser would send it through memory. In device code nvcc emits
 * the same PTX for it as for __float_as_uint / __uint_as_float. */
typedef union {
    float f;
    uint32_t u;
} nmp_float_word;
NMP_HD float nmp_bits_float(uint32_t u)
{
    nmp_float_word w = {.u = u};
    return w.f;
}
NMP_HD uint32_t nmp_float_bits(float f)
{
    nmp_float_word w = {.f = f};
    return w.u;
}

/* ln x for a normal x > 0, within 1e-6: x = 2^e m with m in [0.707, 1.414), and
 * ln m = u + u^2 P(u), u = m - 1, P a least-squares fit of degree 5 on that range: no
 * division and few constants, so it vectorises cheaply. */
NMP_HD float nmp_ln(float x)
{
    uint32_t bits = nmp_float_bits(x);
    float e = (float)((int32_t)((bits >> 23) & 255u) - 126);
    float m = nmp_bits_float((bits & 0x7fffffu) | 0x3f000000u); /* [0.5, 1) */
    if (m < 0.707106781f) m += m, e -= 1.0f;
    float u = m - 1.0f;
    float p = -0.500004113f +
              u * (0.333249211f + u * (-0.249328002f + u * (0.203463733f + u * (-0.184828445f + u * 0.122827709f))));
    return u + u * u * p + 0.693147181f * e;
}

NMP_HD float nmp_log2(float x) { return nmp_ln(x) * 1.44269504f; }

/* 2^x, x clamped to the normal range, within 3e-7: 2^i from the exponent bits (i the nearest
 * integer) and 2^f = 1 + f P(f), f in [-1/2, 1/2], P a least-squares fit of degree 4. */
NMP_HD float nmp_exp2(float x)
{
    x = x > 127.0f ? 127.0f : x;
    x = x < -126.0f ? -126.0f : x;
    float i = floorf(x + 0.5f), f = x - i;
    float p = 1.0f + f * (0.693147182f + f * (0.240223482f + f * (0.0555035695f + f * (0.00966637861f +
                                                                                     f * 0.00133908726f))));
    return p * nmp_bits_float((uint32_t)((int32_t)i + 127) << 23);
}

/* x^b for x > 0 (callers handle x <= 0). */
NMP_HD float nmp_pow(float x, float b) { return nmp_exp2(b * nmp_log2(x)); }

/* ------------------------------------------------------------------ infonce */
/* L_i = sum_j p_j [a log(1 + d2_j) + log(q_j + Z_i)],  Z_i = sum_l w_l q_il + sum_c a_ic q_ic.
 * Repulsive terms couple through Z_i: their coefficient is -S_i q^2 with
 * S_i = dL_i/dZ_i = sum_j p_j / (q_j + Z_i), known once Z_i is complete. */

/* A repulsive term: adds q to Z_i (*phi) and returns dZ/d(d2) = -q^2 (times S_i later). */
NMP_HD float nmp_infonce_repel(float d2, float *phi)
{
    float q = nmp_cauchy(d2);
    *phi = q;
    return -q * q;
}
/* A positive of weight p: *s gets its share p / (q + Z) of S_i; returns dL/d(d2) per unit p,
 * a q - q^2 / (q + Z). */
NMP_HD float nmp_infonce_attract(float d2, float p, float z, float a, float *s)
{
    float q = nmp_cauchy(d2), r = 1.0f / (q + z);
    *s = p * r;
    return a * q - q * q * r;
}
/* L_i's term of one positive (the curve only; float, vectorisable). */
NMP_HD float nmp_infonce_value(float d2, float p, float z, float a)
{
    return p * (a * nmp_ln(1.0f + d2) + nmp_ln(nmp_cauchy(d2) + z));
}

/* ------------------------------------------------------------------ neg (and nce, c = m Z) */
/* L_i = a sum_j p_j log(1 + c (1 + d2_j)) + sum_l w_l log(1 + q_l / c)  (Neg-t-SNE; c = 1: UMAP's
 * effective constant). */

/* A repulsive term: dL/d(d2) = -q^2 / (q + c) = -1 / ((1 + d2)(1 + c (1 + d2))); *phi gets
 * q / (q + c) = -dL/d(log c) of the term, which NCE learns Z from. */
NMP_HD float nmp_neg_repel(float d2, float c, float *phi)
{
    float u = 1.0f + d2, r = 1.0f / (u * (1.0f + c * u));
    *phi = r * u; /* 1 / (1 + c u) = q / (q + c) */
    return -r;
}
/* A positive: dL/d(d2) per unit p = a c / (1 + c (1 + d2)); *phi gets 1 - 1 / (1 + c (1 + d2)),
 * the positive's dL/d(log c) per unit a p. */
NMP_HD float nmp_neg_attract(float d2, float c, float a, float *phi)
{
    float r = 1.0f / (1.0f + c * (1.0f + d2));
    *phi = 1.0f - r;
    return a * c * r;
}
NMP_HD float nmp_neg_value_attract(float d2, float c, float a) { return a * nmp_ln(1.0f + c * (1.0f + d2)); }
NMP_HD float nmp_neg_value_repel(float d2, float c) { return nmp_ln(1.0f + 1.0f / ((1.0f + d2) * c)); }

/* ------------------------------------------------------------------ umap */
/* umap-learn's forces as the gradient of L = a_x sum_j p_j log(1 + a s_j)
 * + gamma sum_l w_l log((1 + a s_l) / (eps + a s_l)), s = d2^b; both 0 at d2 = 0, as there. */
typedef struct {
    float a, b, gamma, eps;
} nmp_umap_curve;

/* A positive: dL/d(d2) per unit p = a_x a b d2^(b-1) / (1 + a d2^b). */
NMP_HD float nmp_umap_attract(const nmp_umap_curve *k, float d2, float ax)
{
    float d = d2 > 0.0f ? d2 : 1.0f, s = nmp_pow(d, k->b);
    float c = ax * k->a * k->b * s / (d * (1.0f + k->a * s));
    return d2 > 0.0f ? c : 0.0f;
}
/* A repulsive term: dL/d(d2) per unit w = -gamma b / ((eps + d2)(1 + a d2^b)). */
NMP_HD float nmp_umap_repel(const nmp_umap_curve *k, float d2)
{
    float d = d2 > 0.0f ? d2 : 1.0f, s = nmp_pow(d, k->b);
    float c = -k->gamma * k->b / ((k->eps + d) * (1.0f + k->a * s));
    return d2 > 0.0f ? c : 0.0f;
}
NMP_HD float nmp_umap_value_attract(const nmp_umap_curve *k, float d2, float ax)
{
    float as = k->a * nmp_pow(d2 > 0.0f ? d2 : 1.0f, k->b);
    return d2 > 0.0f ? ax * nmp_ln(1.0f + as) : 0.0f;
}
NMP_HD float nmp_umap_value_repel(const nmp_umap_curve *k, float d2)
{
    float as = k->a * nmp_pow(d2 > 0.0f ? d2 : 1.0f, k->b);
    return d2 > 0.0f ? k->gamma * nmp_ln((1.0f + as) / (as + k->eps)) : 0.0f;
}

#endif
