/* Value conversion of input files to f32 (in parallel blocks) and the every-value-is-finite
 * check that all readers share. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "npy_format.h"

#define CONVERT_BLOCK 65536 /* values per parallel work item: big enough to amortise, small enough to balance */

void nmp_io_to_f32_serial(const char *dtype, const void *source, float *dst, int64_t count)
{
    const unsigned char *src = source;
    if (strcmp(dtype, "f2") == 0) {
        for (int64_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2); /* little-endian host; memcpy because src may be unaligned */
            dst[i] = nmp_npy_f16_to_f32(h);
        }
    } else if (strcmp(dtype, "f8") == 0) {
        for (int64_t i = 0; i < count; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            dst[i] = (float)v;
        }
    } else if (strcmp(dtype, "u1") == 0) {
        for (int64_t i = 0; i < count; i++) dst[i] = (float)src[i];
    } else { /* f4 */
        memcpy(dst, src, (size_t)count * sizeof *dst);
    }
}

void nmp_io_to_f32(const char *dtype, const void *src, float *dst, int64_t count)
{
    int size = strcmp(dtype, "f2") == 0 ? 2 : strcmp(dtype, "f8") == 0 ? 8 : strcmp(dtype, "u1") == 0 ? 1 : 4;
    const unsigned char *bytes = src;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < count; b += CONVERT_BLOCK) {
        int64_t len = count - b < CONVERT_BLOCK ? count - b : CONVERT_BLOCK;
        nmp_io_to_f32_serial(dtype, bytes + b * size, dst + b, len);
    }
}

/* Bit tests rather than isfinite()/isnan(): they stay correct under -ffast-math. */
static uint32_t float_bits(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

static int not_finite(float v) { return (float_bits(v) & 0x7f800000u) == 0x7f800000u; }

nmp_status nmp_io_check_values(const char *path, const nmp_matrix *m, int64_t row0, float max_abs, nmp_err *err)
{
    const int64_t count = m->n * m->d;
    const uint32_t bound = max_abs > 0.0f ? float_bits(max_abs) : 0x7f800000u - 1u;
    int64_t first = count;
#pragma omp parallel for schedule(static) reduction(min : first)
    for (int64_t b = 0; b < count; b += CONVERT_BLOCK) {
        int64_t end = count - b < CONVERT_BLOCK ? count : b + CONVERT_BLOCK;
        for (int64_t i = b; i < end; i++)
            if ((float_bits(m->x[i]) & 0x7fffffffu) > bound) { /* |v| > bound, NaN and Inf included */
                if (i < first) first = i;
                break;
            }
    }
    if (first == count) return NMP_OK;
    const long long row = (long long)(row0 + first / m->d), col = (long long)(first % m->d);
    float v = m->x[first];
    if (!not_finite(v))
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: row %lld, column %lld (from 0): value %.3g is beyond %.3g, where squared distances over "
                        "%lld columns overflow float32; scale the data down (data.scale)",
                        path, row, col, (double)v, (double)max_abs, (long long)m->d);
    uint32_t bits = float_bits(v);
    const char *what = (bits & 0x007fffffu) ? "NaN" : (bits >> 31) ? "-Inf" : "+Inf";
    return nmp_fail(err, NMP_ERR_INVALID, "%s: row %lld, column %lld (from 0): value is %s; every value must be finite",
                    path, row, col, what);
}

float nmp_io_distance_bound(int64_t d)
{
    /* (2 max)^2 per column over d columns, with 2x headroom for the kernels' ||a||^2 + ||b||^2 */
    return (float)sqrt(FLT_MAX / (8.0 * (double)(d > 0 ? d : 1)));
}

nmp_status nmp_io_check_distinct(const char *path, const nmp_matrix *m, nmp_err *err)
{
    const size_t row = (size_t)m->d * sizeof(float);
    int64_t same = 1;
    while (same < m->n && memcmp(m->x, m->x + same * m->d, row) == 0)
        same++;
    if (m->n > 1 && same == m->n)
        return nmp_fail(err, NMP_ERR_INVALID,
                        "%s: all %lld rows are identical; a map needs at least two distinct points", path,
                        (long long)m->n);
    return NMP_OK;
}

nmp_status nmp_io_scale(nmp_matrix *m, double scale, float **owned)
{
    const float s = (float)scale;
    *owned = NULL;
    if (s == 1.0f) return NMP_OK;
    const int64_t len = m->n * m->d;
    if (!(*owned = malloc((size_t)len * sizeof **owned + 1))) return NMP_ERR_NOMEM;
    for (int64_t i = 0; i < len; i++) (*owned)[i] = m->x[i] * s;
    m->x = *owned;
    return NMP_OK;
}
