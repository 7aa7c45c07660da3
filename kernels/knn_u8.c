/* Byte distance tiles by AVX-512 VNNI (see knn_u8.h). The kernel takes 16 query rows against
 * one panel of 16 base rows over every coordinate: 16 accumulators, one base vector and 16
 * broadcast query words per group of 4 coordinates, so the panel (d bytes x 16) stays in L1
 * while the query block streams past it. */
#include "knn_u8.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KNN_U8_X86 1
#endif

/* Above this width |q|^2 + |b|^2 (2 d 255^2 at most) may pass an int32. */
#define KNN_U8_MAX_D 16384

int knn_u8_available(void)
{
    const char *env = getenv("NOMAD_KNN_U8");
    if (env && strcmp(env, "0") == 0) return 0;
#ifdef KNN_U8_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

/* f clamped to [0, 255] and truncated (NaN: 0): f is a byte exactly when the result equals it. One
 * expression, which GCC vectorises inside the pack's loop. */
static inline int32_t byte_of(float f)
{
    return (int32_t)(f > 0.0f ? (f < 255.0f ? f : 255.0f) : 0.0f);
}

int knn_u8_is_bytes(const float *x, int64_t n, int64_t d)
{
    if (d > KNN_U8_MAX_D) return 0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        int32_t bad = 0; /* a row's values tested together: one branch a row (the pack's first row, tests) */
        for (int64_t t = 0; t < d; t++) bad |= (float)byte_of(r[t]) != r[t];
        if (bad) return 0;
    }
    return 1;
}

void knn_u8_free(knn_u8_rows *r)
{
    free(r->panel), free(r->norm), free(r->shift);
    memset(r, 0, sizeof *r);
}

/* Row r (d values) into its panel slot (4 d4 bytes, the padding included), through iv (d
 * ints) and tmp (4 d4 bytes): a vector pass converts and checks, a second narrows and sums (as
 * one loop GCC vectorised neither), then a word per group of 4 moves. 1 if a value is not a
 * byte. */
static int pack_row(const float *r, int64_t d, int64_t d4, int query, int32_t *iv, uint8_t *tmp, uint8_t *slot,
                    int32_t *sq, int32_t *sum)
{
    int32_t bad = 0, s2 = 0, s1 = 0;
    const int32_t off = query ? 128 : 0;
#pragma omp simd reduction(| : bad)
    for (int64_t t = 0; t < d; t++) {
        const int32_t v = byte_of(r[t]);
        iv[t] = v;
        bad |= (float)v != r[t]; /* a fraction, out of range (clamped) or NaN */
    }
#pragma omp simd reduction(+ : s2, s1)
    for (int64_t t = 0; t < d; t++) {
        const int32_t v = iv[t];
        tmp[t] = (uint8_t)(v - off); /* two's complement: v - 128 as int8 */
        s2 += v * v, s1 += v;
    }
    for (int64_t t = d; t < 4 * d4; t++) tmp[t] = 0; /* padding adds nothing (a query's is 128) */
    for (int64_t g = 0; g < d4; g++) memcpy(slot + g * 64, tmp + 4 * g, 4);
    *sq = s2, *sum = s1;
    return bad;
}

int knn_u8_pack(const float *x, int64_t n, int64_t d, int query, knn_u8_rows *out)
{
    const int64_t panels = (n + 15) / 16, d4 = (d + 3) / 4, bytes = panels * d4 * 64;
    memset(out, 0, sizeof *out);
    if (d > KNN_U8_MAX_D || (n > 0 && !knn_u8_is_bytes(x, 1, d))) return 0; /* float data stop here */
    *out = (knn_u8_rows){.n = n, .d4 = d4};
    out->panel = aligned_alloc(64, (size_t)(bytes > 0 ? bytes : 64));
    out->norm = calloc((size_t)(panels * 16 + 1), sizeof *out->norm);
    out->shift = query ? NULL : calloc((size_t)(panels * 16 + 1), sizeof *out->shift);
    if (!out->panel || !out->norm || (!query && !out->shift)) {
        knn_u8_free(out);
        return 0;
    }
    int bad = 0;
#pragma omp parallel reduction(| : bad)
    {
        uint8_t *tmp = malloc((size_t)(4 * d4 + 1));
        int32_t *iv = malloc((size_t)(d + 1) * sizeof *iv);
        bad |= tmp == NULL || iv == NULL;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < panels * 16; i++) {
            uint8_t *slot = out->panel + (i / 16) * d4 * 64 + (i % 16) * 4;
            if (i >= n || !tmp || !iv) { /* the last panel's rows past n */
                for (int64_t g = 0; g < d4; g++) memset(slot + g * 64, 0, 4);
                continue;
            }
            int32_t sum;
            bad |= pack_row(x + i * d, d, d4, query, iv, tmp, slot, &out->norm[i], &sum);
            if (!query) out->shift[i] = 128 * sum;
        }
        free(tmp), free(iv);
    }
    if (bad) knn_u8_free(out);
    return !bad;
}

#ifdef KNN_U8_X86
/* Four packed bytes as one word (a copy: the panel is bytes, and C lets no int32 read alias it). */
static inline int32_t word(const uint8_t *p)
{
    int32_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* 16 query rows (qp: their panel) against 16 base rows (bp), over d4 groups of 4: acc[i] lane
 * j = sum_t (q_it - 128) b_jt. */
__attribute__((target("avx512f,avx512vnni"))) static void block16(const uint8_t *qp, const uint8_t *bp, int64_t d4,
                                                                  __m512i *acc)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512i a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
    for (int64_t g = 0; g < d4; g++) {
        const __m512i b = _mm512_load_si512((const void *)(bp + g * 64));
        const uint8_t *q = qp + g * 64;
#define DP(i) a##i = _mm512_dpbusd_epi32(a##i, b, _mm512_set1_epi32(word(q + 4 * (i))))
        DP(0), DP(1), DP(2), DP(3), DP(4), DP(5), DP(6), DP(7);
        DP(8), DP(9), DP(10), DP(11), DP(12), DP(13), DP(14), DP(15);
#undef DP
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
    acc[8] = a8, acc[9] = a9, acc[10] = a10, acc[11] = a11, acc[12] = a12, acc[13] = a13, acc[14] = a14;
    acc[15] = a15;
}

__attribute__((target("avx512f,avx512vnni"))) void knn_u8_tile(const knn_u8_rows *q, int64_t q0, int64_t qn,
                                                               const knn_u8_rows *b, int64_t b0, int64_t bn, int l2,
                                                               float *tile)
{
    const int64_t d4 = b->d4, stride = d4 * 64;
    for (int64_t c0 = 0; c0 < bn; c0 += 16) {
        const int64_t p = (b0 + c0) / 16, cols = bn - c0 < 16 ? bn - c0 : 16;
        const uint8_t *bp = b->panel + p * stride;
        const __m512i shift = _mm512_loadu_si512((const void *)(b->shift + p * 16));
        const __m512i bnorm = _mm512_loadu_si512((const void *)(b->norm + p * 16));
        const __mmask16 keep = (__mmask16)((1u << cols) - 1u);
        for (int64_t r0 = 0; r0 < qn; r0 += 16) {
            __m512i acc[16];
            block16(q->panel + (q0 + r0) / 16 * stride, bp, d4, acc);
            const int64_t rows = qn - r0 < 16 ? qn - r0 : 16;
            for (int64_t i = 0; i < rows; i++) {
                const __m512i dot = _mm512_add_epi32(acc[i], shift);
                __m512i v;
                if (l2) /* |q|^2 + |b|^2 - 2 q.b, exact */
                    v = _mm512_sub_epi32(_mm512_add_epi32(_mm512_set1_epi32(q->norm[q0 + r0 + i]), bnorm),
                                         _mm512_add_epi32(dot, dot));
                else
                    v = _mm512_sub_epi32(_mm512_setzero_si512(), dot);
                _mm512_mask_storeu_ps(tile + (r0 + i) * bn + c0, keep, _mm512_cvtepi32_ps(v));
            }
        }
    }
}
#else
void knn_u8_tile(const knn_u8_rows *q, int64_t q0, int64_t qn, const knn_u8_rows *b, int64_t b0, int64_t bn, int l2,
                 float *tile)
{
    (void)q, (void)q0, (void)qn, (void)b, (void)b0, (void)bn, (void)l2, (void)tile; /* knn_u8_available() is 0 */
}
#endif
