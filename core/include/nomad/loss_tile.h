/* Helpers for loss plugins: define repel() and attract() that run per-pair formulas over a
 * tile as straight vector loops. The formulas are called directly, so they inline and
 * vectorise (a call through a pointer per pair would not):
 *
 *   static inline float my_repel_term(const void *state, float d2, float *phi) { ... }
 *   NMP_DEFINE_REPEL(my_repel, my_repel_term)    -- then .repel = my_repel in nmp_loss_ops
 *
 * my_repel_term returns dL/d(d2) of one repulsive term per unit weight and writes into *phi
 * the term's share of the target's coupling sum z (0 when the loss has none).
 *
 *   static inline float my_attract_term(const void *state, float d2, float p, float z, float a, float *phi)
 *   static inline void my_finish(const void *state, const nmp_attract_tile *t, int32_t r, float phi_sum)
 *   NMP_DEFINE_ATTRACT(my_attract, my_attract_term, my_finish)
 *
 * my_attract_term returns dL/d(d2) of a positive per unit p (z: the target's coupling sum,
 * a: the exaggeration) and writes into *phi what the target sums over its positives, which
 * my_finish then stores for target r (InfoNCE: t->scale[r] = S_i; NCE: its stat). */
#ifndef NOMAD_LOSS_TILE_H
#define NOMAD_LOSS_TILE_H

#include "nomad/plugin.h"

#define NMP_DEFINE_REPEL(name, term)                                                                                   \
    static void name(const void *state, const nmp_repel_tile *t)                                                       \
    {                                                                                                                  \
        for (int32_t r = 0; r < t->rows; r++) {                                                                        \
            const float *d2 = t->d2 + (int64_t)r * t->n, *w = t->w ? t->w + (int64_t)r * t->w_stride : NULL;           \
            float *coef = t->coef + (int64_t)r * t->n, z = 0.0f;                                                      \
            if (w) {                                                                                                   \
                _Pragma("omp simd reduction(+ : z)") for (int32_t l = 0; l < t->n; l++)                                \
                {                                                                                                      \
                    float phi;                                                                                         \
                    coef[l] = term(state, d2[l], &phi);                                                                \
                    z += w[l] * phi;                                                                                   \
                }                                                                                                      \
            } else {                                                                                                   \
                _Pragma("omp simd reduction(+ : z)") for (int32_t l = 0; l < t->n; l++)                                \
                {                                                                                                      \
                    float phi;                                                                                         \
                    coef[l] = term(state, d2[l], &phi);                                                                \
                    z += phi;                                                                                          \
                }                                                                                                      \
            }                                                                                                          \
            t->z[r] = z;                                                                                               \
        }                                                                                                              \
    }

#define NMP_DEFINE_ATTRACT(name, term, finish)                                                                         \
    static void name(const void *state, const nmp_attract_tile *t)                                                     \
    {                                                                                                                  \
        for (int32_t r = 0; r < t->rows; r++) {                                                                        \
            const float z = (float)t->z[r], a = t->exaggeration;                                                       \
            const float *d2 = t->d2 + t->offset[r], *p = t->p + t->offset[r];                                          \
            float *coef = t->coef + t->offset[r], sum = 0.0f;                                                          \
            const int64_t n = t->offset[r + 1] - t->offset[r];                                                         \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t j = 0; j < n; j++)                                     \
            {                                                                                                          \
                float phi;                                                                                             \
                coef[j] = term(state, d2[j], p[j], z, a, &phi);                                                        \
                sum += phi;                                                                                            \
            }                                                                                                          \
            finish(state, t, r, sum);                                                                                  \
        }                                                                                                              \
    }

#endif
