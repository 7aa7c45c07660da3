/* Distance tiles between byte vectors (every coordinate an integer in [0, 255]: pixels, SIFT's
 * bvecs) by integer dot products: AVX-512 VNNI's vpdpbusd does 64 byte products an instruction
 * where a float32 FMA does 16, and the sums are exact where float32 GEMM rounds (784 x 255^2
 * exceeds 2^24). knn_cpu.c takes this path when every value of both sides is a byte. A result
 * thus holds for a seed, a thread count and a CPU: without VNNI (or with NOMAD_KNN_U8=0) the
 * float GEMM's sums round where they pass 2^24, and a near tie can fall the other way. */
#ifndef NOMAD_KNN_U8_H
#define NOMAD_KNN_U8_H

#include <stdint.h>

/* Rows of one side, packed for the kernel in panels of 16 rows: panel p holds, for each group
 * of 4 coordinates, the 4 bytes of each of its 16 rows (64 bytes, one vector). Base rows are
 * stored as they are, query rows less 128 (vpdpbusd multiplies unsigned by signed bytes).
 * Rows past n and coordinates past d are zero (a query's padding is 128, stored as 0). */
typedef struct {
    int64_t n, d4;  /* rows; groups of 4 coordinates (d rounded up) */
    uint8_t *panel; /* ceil(n / 16) x d4 x 64 bytes, 64-byte aligned */
    int32_t *norm;  /* ceil(n / 16) x 16: each row's sum of squares */
    int32_t *shift; /* base only, ceil(n / 16) x 16: 128 x each row's sum, what the query's shift took off */
} knn_u8_rows;

/* Whether this CPU runs the kernel (AVX-512 F and VNNI) and NOMAD_KNN_U8 is not 0. */
int knn_u8_available(void);

/* Whether all n x d values are integers in [0, 255] (and d <= 16384, the widest rows whose
 * distances fit an int32); float data stop at their first row. */
int knn_u8_is_bytes(const float *x, int64_t n, int64_t d);

/* Packs x (n x d) as base rows (query = 0) or as query rows (1); 0 (nothing to free then)
 * when a value is not a byte (float data stop at their first row) or out of memory. */
int knn_u8_pack(const float *x, int64_t n, int64_t d, int query, knn_u8_rows *out);
void knn_u8_free(knn_u8_rows *r);

/* tile (qn x bn, row-major) = squared L2 distances (l2 = 1) or negative dot products (0) of
 * query rows q0.. to base rows b0.., each the exact integer rounded once to a float. q0 and
 * b0 must be multiples of 16. Single-threaded. */
void knn_u8_tile(const knn_u8_rows *q, int64_t q0, int64_t qn, const knn_u8_rows *b, int64_t b0, int64_t bn, int l2,
                 float *tile);

#endif
