/* Shared declarations of the kmeans partitioner's files: its resolved parameters, one run's
 * working data, seeding and Lloyd steps. */
#ifndef NOMAD_KMEANS_INTERNAL_H
#define NOMAD_KMEANS_INTERNAL_H

#include "nomad/plugin.h"

typedef enum { KM_SEED_LSH, KM_SEED_PLUSPLUS, KM_SEED_RANDOM } km_seeding;

/* Counter purposes on NMP_STREAM_PARTITION, so no two uses share random numbers. */
enum { KM_RNG_SAMPLE = 1, KM_RNG_HYPERPLANE = 2, KM_RNG_PLUSPLUS = 3, KM_RNG_RANDOM = 4, KM_RNG_FILL = 5 };

typedef struct {
    const nmp_host *host;
    km_seeding seeding;
    int hyperplanes;
    int64_t max_iter;
    double tol;
    int64_t sample, sample_per_cell;
    int drop_empty; /* 0: reseed empty cells, 1: drop them */
    int64_t block_rows;
} kmeans_state;

typedef struct km_run km_run;

/* Where Lloyd's two steps run, for the sample (all = 0) or for every point (all = 1): the
 * CPU entry's host threads and BLAS, or the CUDA entry's kernels. Both set the host's error
 * on failure. */
typedef struct {
    /* Nearest centroid of each row, as km_assign: assign and dist2 (m or n each). */
    nmp_status (*assign)(km_run *r, int all, int32_t *assign, float *dist2);
    /* r->centroids rows of non-empty cells of `assign` become their members' mean. moved: the
     * caller changed `assign` since its assign() call (empty cells reseeded). */
    nmp_status (*means)(km_run *r, int all, const int32_t *assign, int moved);
    /* Frees r->dev; may be NULL. */
    void (*release)(km_run *r);
} km_engine;

extern const km_engine km_cpu_engine;
#ifdef NOMAD_CUDA
extern const km_engine km_cuda_engine; /* kmeans_gpu.c */
#endif

/* One partition() call. rows lists the Lloyd sample (increasing row ids, m of them). */
struct km_run {
    const nmp_host *h;
    const kmeans_state *st;
    const float *x;
    int64_t n, d;
    int32_t *rows;
    int64_t m;
    int32_t k;
    float *centroids; /* k x d, the host's out->centroids */
    const km_engine *eng;
    void *dev; /* the engine's own state, NULL until it makes one */
};

/* Rows per GEMM block when the other operand has `width` rows. */
int64_t km_block_rows(const km_run *r, int64_t width);
/* Copies rows x[rows[0..count)] into buf (count x d), over host threads. */
void km_gather(const km_run *r, const int32_t *rows, int64_t count, float *buf);

/* Fills r->centroids with the seeds of r->st->seeding, drawn from the sample. */
nmp_status km_seed(km_run *r);
/* Nearest centroid of rows[0..m) (rows NULL: all n points) into assign and dist2 (m each). */
nmp_status km_assign(const km_run *r, const int32_t *rows, int64_t m, int32_t *assign, float *dist2);
/* Cell sizes of assign (m) into counts (k); returns the number of empty cells. */
int32_t km_count(const int32_t *assign, int64_t m, int32_t k, int64_t *counts);
/* Gives each empty cell the point farthest from its centroid among cells that keep >= 1
 * point: updates assign, dist2 (0 for a moved point) and counts. NMP_ERR_NOMEM on failure. */
nmp_status km_reseed(int64_t m, int32_t k, int32_t *assign, float *dist2, int64_t *counts);
/* Lloyd iterations on the sample through r->eng; *iterations receives how many ran. */
nmp_status km_lloyd(km_run *r, int64_t *iterations);

#endif
