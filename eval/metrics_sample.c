/* The random parts of the evaluation protocol (query sample, triplets) and the mean +-
 * ci95 summary every metric reports. */
#include <math.h>
#include <stdlib.h>

#include "metrics.h"
#include "nomad/rng.h"

/* Sub-streams of NMP_STREAM_EVAL, so queries and triplets never share numbers. */
enum { EVAL_DRAW_QUERIES = 1, EVAL_DRAW_TRIPLETS = 2 };

nmp_eval_opts nmp_eval_opts_default(void)
{
    return (nmp_eval_opts){.k = 10, .queries = 5000, .triplets = 5000, .seed = 42, .metric = NMP_METRIC_L2};
}

static int compare_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Open-addressing set of point ids, sized for `count` members at load <= 1/2. */
typedef struct {
    int64_t *slot; /* -1 = empty */
    uint64_t mask;
} id_set;

static int id_set_insert(id_set *s, int64_t id)
{
    uint64_t h = nmp_mix64((uint64_t)id) & s->mask;
    while (s->slot[h] >= 0) {
        if (s->slot[h] == id)
            return 0;
        h = (h + 1) & s->mask;
    }
    s->slot[h] = id;
    return 1;
}

/* Floyd's algorithm: `count` draws for `count` distinct ids, memory O(count) not O(n), so
 * a 5,000-point sample of 60M points costs nothing. */
nmp_status nmp_eval_sample_queries(int64_t n, int64_t count, uint64_t seed, int32_t **out, int64_t *out_count)
{
    if (count > n)
        count = n;
    if (count < 0)
        count = 0;
    uint64_t size = 2;
    while (size < 2 * (uint64_t)count)
        size *= 2;
    id_set set = {malloc(size * sizeof(int64_t)), size - 1};
    int32_t *ids = malloc(((size_t)count + 1) * sizeof *ids);
    if (!set.slot || !ids) {
        free(set.slot);
        free(ids);
        return NMP_ERR_NOMEM;
    }
    for (uint64_t h = 0; h < size; h++)
        set.slot[h] = -1;
    int64_t m = 0;
    for (int64_t j = n - count; j < n; j++) {
        uint64_t c = nmp_rng_counter2(EVAL_DRAW_QUERIES, (uint64_t)j);
        int64_t t = (int64_t)nmp_rng_below(seed, NMP_STREAM_EVAL, c, (uint64_t)j + 1);
        int64_t pick = id_set_insert(&set, t) ? t : j;
        if (pick == j)
            id_set_insert(&set, j);
        ids[m++] = (int32_t)pick;
    }
    free(set.slot);
    qsort(ids, (size_t)m, sizeof *ids, compare_i32);
    *out = ids;
    *out_count = m;
    return NMP_OK;
}

void nmp_eval_triplet(int64_t n, uint64_t seed, int64_t t, int32_t out[3])
{
    const uint64_t base = (uint64_t)t * 3;
    int64_t i = (int64_t)nmp_rng_below(seed, NMP_STREAM_EVAL, nmp_rng_counter2(EVAL_DRAW_TRIPLETS, base), (uint64_t)n);
    int64_t j = (int64_t)nmp_rng_below(seed, NMP_STREAM_EVAL, nmp_rng_counter2(EVAL_DRAW_TRIPLETS, base + 1),
                                       (uint64_t)n - 1);
    int64_t l = (int64_t)nmp_rng_below(seed, NMP_STREAM_EVAL, nmp_rng_counter2(EVAL_DRAW_TRIPLETS, base + 2),
                                       (uint64_t)n - 2);
    /* Uniform over distinct points: skip past the ids already taken, smallest first. */
    j += j >= i;
    int64_t lo = i < j ? i : j, hi = i < j ? j : i;
    l += l >= lo;
    l += l >= hi;
    out[0] = (int32_t)i;
    out[1] = (int32_t)j;
    out[2] = (int32_t)l;
}

nmp_estimate nmp_estimate_of(const double *values, int64_t m)
{
    if (m <= 0)
        return (nmp_estimate){NAN, NAN};
    double sum = 0.0;
    for (int64_t i = 0; i < m; i++)
        sum += values[i];
    const double mean = sum / (double)m;
    if (m < 2)
        return (nmp_estimate){mean, 0.0};
    double ss = 0.0;
    for (int64_t i = 0; i < m; i++)
        ss += (values[i] - mean) * (values[i] - mean);
    return (nmp_estimate){mean, 1.96 * sqrt(ss / (double)(m - 1)) / sqrt((double)m)};
}
