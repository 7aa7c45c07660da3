/* Partitioner helpers: member lists, ordered cell sums and means, dropping empty cells. */
#include "part_common.h"

#include <stdlib.h>
#include <string.h>

#include "kmeans_cpu.h"
#include "nomad/rng.h"

nmp_status part_members(const int32_t *cell_of, const int32_t *ids, int64_t n, int32_t cells, int64_t **start,
                        int32_t **member)
{
    int64_t *s = malloc(((size_t)cells + 1) * sizeof *s);
    int32_t *m = malloc((size_t)(n ? n : 1) * sizeof *m);
    if (!s || !m) {
        free(s), free(m);
        return NMP_ERR_NOMEM;
    }
    kmeans_members_cpu(cell_of, ids, n, cells, s, m);
    *start = s;
    *member = m;
    return NMP_OK;
}

void part_cell_sums(const nmp_host *h, const float *x, int64_t d, const int64_t *start, const int32_t *member,
                    int32_t cells, double *sums)
{
    kmeans_sums_job job;
    int64_t items = kmeans_sums_job_init(&job, x, d, start, member, cells, sums);
    if (items > 0) h->parallel_for(h, items, kmeans_sums_range, &job);
}

nmp_status part_cell_means(const nmp_host *h, const float *x, int64_t d, const int32_t *cell_of, const int32_t *ids,
                           int64_t n, int32_t cells, float *centroids, int64_t *counts)
{
    int64_t *start = NULL;
    int32_t *member = NULL;
    double *sums = malloc((size_t)cells * (size_t)d * sizeof *sums + 1);
    if (!sums || part_members(cell_of, ids, n, cells, &start, &member) != NMP_OK) {
        free(sums);
        h->set_error(h, "out of memory computing %d cell means of %lld x %lld", cells, (long long)n, (long long)d);
        return NMP_ERR_NOMEM;
    }
    part_cell_sums(h, x, d, start, member, cells, sums);
    for (int32_t c = 0; c < cells; c++) {
        int64_t cnt = start[c + 1] - start[c];
        if (counts) counts[c] = cnt;
        if (cnt == 0) continue;
        for (int64_t j = 0; j < d; j++) centroids[c * d + j] = (float)(sums[c * d + j] / (double)cnt);
    }
    free(sums);
    free(start);
    free(member);
    return NMP_OK;
}

int32_t part_drop_empty(int32_t *cell_of, int64_t n, const int64_t *counts, int32_t cells, float *centroids,
                        int64_t d)
{
    int32_t *renum = malloc((size_t)cells * sizeof *renum + 1);
    if (!renum) return -1;
    int32_t kept = 0;
    for (int32_t c = 0; c < cells; c++) {
        renum[c] = counts[c] > 0 ? kept : -1;
        if (counts[c] > 0) {
            if (kept != c) memmove(centroids + kept * d, centroids + c * d, (size_t)d * sizeof *centroids);
            kept++;
        }
    }
    for (int64_t p = 0; p < n; p++) cell_of[p] = renum[cell_of[p]];
    free(renum);
    return kept;
}

void part_sample_sorted(uint64_t seed, uint64_t stream, uint64_t purpose, int64_t count, int64_t n, int32_t *out)
{
    int64_t taken = 0;
    for (int64_t p = 0; p < n && taken < count; p++) {
        double u = nmp_rng_uniform(seed, stream, nmp_rng_counter2(purpose, (uint64_t)p));
        /* take p with probability (still needed) / (still available): exactly `count` in all */
        if ((double)(n - p) * u < (double)(count - taken)) out[taken++] = (int32_t)p;
    }
}
