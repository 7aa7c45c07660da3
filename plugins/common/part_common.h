/* Helpers shared by the partitioner plugins: cell member lists, cell means computed in a
 * thread-count-independent order, dense renumbering of empty cells, uniform sampling. */
#ifndef NOMAD_PART_COMMON_H
#define NOMAD_PART_COMMON_H

#include "nomad/plugin.h"

/* Members of each cell by a stable counting sort: ids[p] (or p when ids is NULL) for the
 * positions p = 0..n-1 whose cell_of[p] == c, in position order, are
 * member[start[c] .. start[c+1]). start (cells + 1) and member (n) are malloc'd by the
 * callee, freed by the caller with free(). Returns NMP_OK or NMP_ERR_NOMEM. */
nmp_status part_members(const int32_t *cell_of, const int32_t *ids, int64_t n, int32_t cells, int64_t **start,
                        int32_t **member);

/* Sums of the rows of x listed per cell (start/member as above) into sums (cells x d
 * doubles, caller-owned), split over host threads by (cell, column block); every sum is
 * taken in member order, so results never depend on the thread count. */
void part_cell_sums(const nmp_host *h, const float *x, int64_t d, const int64_t *start, const int32_t *member,
                    int32_t cells, double *sums);

/* centroids[c] = mean of the rows of x in cell c (positions p with cell_of[p] == c mapped
 * through ids, NULL = identity); empty cells keep their centroid row. counts (cells) is
 * filled when not NULL. Returns NMP_OK or NMP_ERR_NOMEM (host->set_error done). */
nmp_status part_cell_means(const nmp_host *h, const float *x, int64_t d, const int32_t *cell_of, const int32_t *ids,
                           int64_t n, int32_t cells, float *centroids, int64_t *counts);

/* Renumbers the non-empty cells 0..m-1 keeping their order, moves their centroid rows down
 * and returns m (-1 when out of memory). counts (cells) are the sizes before renumbering. */
int32_t part_drop_empty(int32_t *cell_of, int64_t n, const int64_t *counts, int32_t cells, float *centroids,
                        int64_t d);

/* Picks `count` distinct positions of [0, n) uniformly (Knuth's selection sampling, one
 * counter draw per position), in increasing order, into out (caller-owned, count). The draws
 * are nmp_rng_uniform(seed, stream, nmp_rng_counter2(purpose, p)). */
void part_sample_sorted(uint64_t seed, uint64_t stream, uint64_t purpose, int64_t count, int64_t n, int32_t *out);

#endif
