/* Helpers shared by the init plugins: Gaussian draws from the INIT stream, the sign convention
 * for eigenvectors, and scaling a layout to a given std of its first coordinate. */
#ifndef NOMAD_INIT_LAYOUT_H
#define NOMAD_INIT_LAYOUT_H

#include <math.h>
#include <stdint.h>

#include "nomad/plugin.h"
#include "nomad/rng.h"

/* Standard normal number `counter` of (seed, NMP_STREAM_INIT): Box-Muller on two uniforms. */
static inline double init_gaussian(uint64_t seed, uint64_t counter)
{
    double u1 = nmp_rng_uniform(seed, NMP_STREAM_INIT, 2 * counter);
    double u2 = nmp_rng_uniform(seed, NMP_STREAM_INIT, 2 * counter + 1);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2); /* 1 - u1 is in (0, 1] */
}

/* Flips the sign of each of the `cols` columns of v (rows x cols, row stride ld) so that its
 * entry of largest magnitude (the first one on ties) is positive: eigenvectors are defined up
 * to sign, and this makes the layout a function of the data alone. */
void init_flip_signs(double *v, int64_t rows, int64_t cols, int64_t ld);

/* Scales y (n x dims, row-major) by one factor so that column 0 has population std `std`
 * (NOMAD's init: pca / std(pca[:, 0]) * 1e-4). Fails (naming `who`) if column 0 is constant
 * or not finite. Deterministic for a given thread count. */
nmp_status init_scale_first(const nmp_host *h, const char *who, float *y, int64_t n, int32_t dims, double std);

#endif
