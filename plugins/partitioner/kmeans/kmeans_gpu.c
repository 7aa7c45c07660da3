/* The kmeans partitioner's CUDA engine (kmeans_cuda.h): the rows go to the device once per
 * phase (the Lloyd sample, then every point; once in all when the sample is every point), so
 * an iteration moves only the k centroids and the assignment. */
#ifdef NOMAD_CUDA
#include <stdlib.h>

#include "kmeans_cuda.h"
#include "kmeans_internal.h"
#include "plugin_device.h"

typedef struct {
    kmeans_cuda *km;
    int all; /* km holds every point, else the sample */
} km_gpu;

/* The device context holding the rows of `all` (r->dev), made on first use and replaced
 * when it holds the other set. */
static nmp_status gpu_rows(km_run *r, int all, kmeans_cuda **out)
{
    km_gpu *g = r->dev ? r->dev : (r->dev = calloc(1, sizeof *g));
    if (!g) {
        r->h->set_error(r->h, "kmeans: out of memory");
        return NMP_ERR_NOMEM;
    }
    /* a sample of all n points lists every row in order: the same matrix */
    int want_all = all || r->m == r->n;
    *out = g->km;
    if (g->km && g->all == want_all) return NMP_OK;
    kmeans_cuda_destroy(g->km); /* before the next upload, so the two never share the device */
    g->km = NULL;
    nmp_gpu_err e = {0};
    nmp_status s;
    if (want_all) {
        s = kmeans_cuda_create(r->x, r->n, r->d, r->k, &g->km, &e);
    } else {
        float *buf = malloc((size_t)(r->m * r->d) * sizeof *buf + 1);
        if (!buf) {
            r->h->set_error(r->h, "kmeans: out of memory gathering the %lld-point sample for the GPU", (long long)r->m);
            return NMP_ERR_NOMEM;
        }
        km_gather(r, r->rows, r->m, buf);
        s = kmeans_cuda_create(buf, r->m, r->d, r->k, &g->km, &e);
        free(buf);
    }
    g->all = want_all;
    *out = g->km;
    return plugin_gpu_status(r->h, s, &e);
}

static nmp_status gpu_assign(km_run *r, int all, int32_t *assign, float *dist2)
{
    kmeans_cuda *km;
    nmp_status s = gpu_rows(r, all, &km);
    if (s != NMP_OK) return s;
    nmp_gpu_err e = {0};
    return plugin_gpu_status(r->h, kmeans_cuda_assign(km, r->centroids, assign, dist2, &e), &e);
}

static nmp_status gpu_means(km_run *r, int all, const int32_t *assign, int moved)
{
    kmeans_cuda *km;
    nmp_status s = gpu_rows(r, all, &km);
    if (s != NMP_OK) return s;
    nmp_gpu_err e = {0};
    /* the device still has the assignment from before the reseeding */
    if (moved) s = kmeans_cuda_set_assign(km, assign, &e);
    if (s == NMP_OK) s = kmeans_cuda_update(km, r->centroids, NULL, &e);
    return plugin_gpu_status(r->h, s, &e);
}

static void gpu_release(km_run *r)
{
    km_gpu *g = r->dev;
    if (g) kmeans_cuda_destroy(g->km);
    free(g);
    r->dev = NULL;
}

const km_engine km_cuda_engine = {gpu_assign, gpu_means, gpu_release};
#endif
