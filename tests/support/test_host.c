/* The test host: nmp_host services with OpenMP and CBLAS, and plugin loading helpers. */
#include "test_host.h"

#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/rng.h"

typedef struct {
    char error[2048];
} test_host_data;

static void th_log(const nmp_host *h, nmp_log_level level, const char *fmt, ...)
{
    (void)h;
    if (level < NMP_LOG_WARN && !getenv("NOMAD_TEST_VERBOSE")) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[plugin] ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void th_set_error(const nmp_host *h, const char *fmt, ...)
{
    test_host_data *d = h->host_data;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
}

static void th_parallel_for(const nmp_host *h, int64_t n, nmp_range_fn fn, void *ctx)
{
    int t = h->threads;
#pragma omp parallel for num_threads(t) schedule(static, 1)
    for (int w = 0; w < t; w++) {
        int64_t b = n * w / t, e = n * (w + 1) / t;
        if (b < e) fn(ctx, b, e, w);
    }
}

static void th_progress(const nmp_host *h, const char *stage, double f) { (void)h, (void)stage, (void)f; }
static void *th_alloc(size_t n) { return malloc(n ? n : 1); }
static void th_free(void *p) { free(p); }

static void th_gemm_abt(const nmp_host *h, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                        int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    (void)h;
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb,
                beta, c, (int)ldc);
}

static nmp_status th_allgather(const nmp_host *h, const void *send, void *recv, size_t bytes)
{
    (void)h;
    memmove(recv, send, bytes);
    return NMP_OK;
}

nmp_host *test_host_new(int threads, uint64_t seed)
{
    nmp_host *h = calloc(1, sizeof *h);
    h->struct_size = sizeof *h;
    h->abi_major = NMP_ABI_MAJOR;
    h->abi_minor = NMP_ABI_MINOR;
    h->threads = threads > 0 ? threads : omp_get_max_threads();
    h->rank = 0;
    h->ranks = 1;
    h->seed = seed;
    h->log = th_log;
    h->set_error = th_set_error;
    h->parallel_for = th_parallel_for;
    h->progress = th_progress;
    h->alloc = th_alloc;
    h->free = th_free;
    h->gemm_abt = th_gemm_abt;
    h->allgather = th_allgather;
    h->host_data = calloc(1, sizeof(test_host_data));
    return h;
}

void test_host_free(nmp_host *h)
{
    free(h->host_data);
    free(h);
}

const char *test_host_error(const nmp_host *h) { return ((test_host_data *)h->host_data)->error; }

static const char *kind_dir(nmp_kind k)
{
    static const char *names[] = {"", "partitioner", "ann", "affinity", "init", "negatives", "loss"};
    return (k >= 1 && k <= NMP_KIND_COUNT) ? names[k] : "?";
}

const nmp_plugin *test_plugin_find(nmp_kind kind, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%s.so", NOMAD_PLUGIN_DIR, kind_dir(kind), name);
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) fail_msg("dlopen %s: %s", path, dlerror());
    nmp_plugin_entry_fn entry = (nmp_plugin_entry_fn)(uintptr_t)dlsym(so, NMP_PLUGIN_ENTRY_SYMBOL);
    if (!entry) fail_msg("%s: no %s", path, NMP_PLUGIN_ENTRY_SYMBOL);
    for (uint32_t i = 0;; i++) {
        const nmp_plugin *p = entry(i);
        if (!p) break;
        if (p->kind == kind && strcmp(p->name, name) == 0) return p;
    }
    fail_msg("%s: no %s plugin named %s", path, kind_dir(kind), name);
    return NULL;
}

static void set_value(nmp_param_value *v, const nmp_param_decl *d, const char *text)
{
    v->name = d->name;
    v->type = d->type;
    v->s = strdup(text);
    v->i = 0;
    v->d = 0;
    switch (d->type) {
    case NMP_PARAM_INT: v->i = strtoll(text, NULL, 10); v->d = (double)v->i; break;
    case NMP_PARAM_DOUBLE: v->d = strtod(text, NULL); break;
    case NMP_PARAM_BOOL: v->i = strcmp(text, "true") == 0 || strcmp(text, "1") == 0; break;
    case NMP_PARAM_ENUM: {
        const char *colon = strchr(text, ':');
        v->i = colon ? strtoll(colon + 1, NULL, 10) : 0;
        break;
    }
    default: break;
    }
}

nmp_status test_plugin_try_create(nmp_host *h, nmp_kind kind, const char *name, const char *const *kv,
                                  test_instance *out)
{
    memset(out, 0, sizeof *out);
    out->plugin = test_plugin_find(kind, name);
    const nmp_plugin *p = out->plugin;
    out->values = calloc(p->n_params ? p->n_params : 1, sizeof *out->values);
    for (uint32_t i = 0; i < p->n_params; i++) {
        const char *text = p->params[i].default_value;
        size_t nl = strlen(p->params[i].name);
        for (const char *const *q = kv; q && *q; q++)
            if (strncmp(*q, p->params[i].name, nl) == 0 && (*q)[nl] == '=') text = *q + nl + 1;
        set_value(&out->values[i], &p->params[i], text);
    }
    for (const char *const *q = kv; q && *q; q++) {
        int found = 0;
        for (uint32_t i = 0; i < p->n_params; i++) {
            size_t nl = strlen(p->params[i].name);
            if (strncmp(*q, p->params[i].name, nl) == 0 && (*q)[nl] == '=') found = 1;
        }
        if (!found) fail_msg("%s: test passes undeclared parameter %s", name, *q);
    }
    out->params.count = p->n_params;
    out->params.items = out->values;
    return p->create(h, &out->params, &out->state);
}

test_instance test_plugin_create(nmp_host *h, nmp_kind kind, const char *name, const char *const *kv)
{
    test_instance t;
    nmp_status s = test_plugin_try_create(h, kind, name, kv, &t);
    if (s != NMP_OK) fail_msg("%s create failed (%d): %s", name, s, test_host_error(h));
    return t;
}

void test_plugin_destroy(test_instance *t)
{
    if (t->state) t->plugin->destroy(t->state);
    for (uint32_t i = 0; i < t->params.count; i++) free((char *)t->values[i].s);
    free(t->values);
    memset(t, 0, sizeof *t);
}

nmp_cells test_cells_make(const int32_t *cell_of, int64_t n, int32_t count, const float *centroids, int64_t d)
{
    int64_t *start = calloc((size_t)count + 1, sizeof *start);
    int32_t *member = malloc((size_t)n * sizeof *member);
    int32_t *copy = malloc((size_t)n * sizeof *copy);
    memcpy(copy, cell_of, (size_t)n * sizeof *copy);
    for (int64_t i = 0; i < n; i++) start[cell_of[i] + 1]++;
    for (int32_t c = 0; c < count; c++) start[c + 1] += start[c];
    int64_t *fill = malloc((size_t)count * sizeof *fill);
    memcpy(fill, start, (size_t)count * sizeof *fill);
    for (int64_t i = 0; i < n; i++) member[fill[cell_of[i]]++] = (int32_t)i;
    free(fill);
    float *cent = NULL;
    if (centroids) {
        cent = malloc((size_t)count * (size_t)d * sizeof *cent);
        memcpy(cent, centroids, (size_t)count * (size_t)d * sizeof *cent);
    }
    nmp_cells c = {.count = count, .n = n, .d = d, .cell_of = copy, .start = start, .member = member,
                   .centroids = cent};
    return c;
}

void test_cells_free(nmp_cells *c)
{
    free((void *)c->cell_of);
    free((void *)c->start);
    free((void *)c->member);
    free((void *)c->centroids);
    memset(c, 0, sizeof *c);
}

void test_graph_free(nmp_graph *g)
{
    free(g->offsets);
    free(g->index);
    free(g->dist);
    free(g->weight);
    memset(g, 0, sizeof *g);
}

float *test_blobs(int64_t n, int64_t d, int blobs, uint64_t seed, int32_t **labels)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    float *centre = malloc((size_t)(blobs * d) * sizeof *centre);
    for (int64_t i = 0; i < blobs * d; i++) centre[i] = (float)(20.0 * nmp_rng_uniform(seed, 1, (uint64_t)i) - 10.0);
    if (labels) *labels = malloc((size_t)n * sizeof **labels);
    for (int64_t i = 0; i < n; i++) {
        int b = (int)(i % blobs);
        if (labels) (*labels)[i] = b;
        for (int64_t j = 0; j < d; j++) {
            /* Box-Muller from two counter draws. */
            double u1 = nmp_rng_uniform(seed, 2, (uint64_t)(i * d + j) * 2) + 1e-300;
            double u2 = nmp_rng_uniform(seed, 2, (uint64_t)(i * d + j) * 2 + 1);
            double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
            x[i * d + j] = centre[b * d + j] + (float)g;
        }
    }
    free(centre);
    return x;
}
