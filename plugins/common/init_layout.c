/* Init helpers: eigenvector sign convention and scaling a layout to a first-coordinate std. */
#include "init_layout.h"

#include <stdlib.h>

void init_flip_signs(double *v, int64_t rows, int64_t cols, int64_t ld)
{
    for (int64_t c = 0; c < cols; c++) {
        int64_t best = 0;
        for (int64_t r = 1; r < rows; r++)
            if (fabs(v[r * ld + c]) > fabs(v[best * ld + c])) best = r;
        if (rows > 0 && v[best * ld + c] < 0.0)
            for (int64_t r = 0; r < rows; r++) v[r * ld + c] = -v[r * ld + c];
    }
}

typedef struct {
    float *y;
    int32_t dims;
    double mean, factor;
    double *partial; /* per worker */
} scale_ctx;

static void sum_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    scale_ctx *c = ctx;
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++) sum += c->y[i * c->dims];
    c->partial[worker] = sum;
}

static void var_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    scale_ctx *c = ctx;
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++) {
        double dev = c->y[i * c->dims] - c->mean;
        sum += dev * dev;
    }
    c->partial[worker] = sum;
}

static void mul_body(void *ctx, int64_t begin, int64_t end, int worker)
{
    scale_ctx *c = ctx;
    for (int64_t i = begin * c->dims; i < end * c->dims; i++) c->y[i] = (float)(c->y[i] * c->factor);
}

/* Sum of the per-worker partials in worker order, so the result depends only on the thread count. */
static double reduce(const nmp_host *h, scale_ctx *c, int64_t n, nmp_range_fn body)
{
    for (int w = 0; w < h->threads; w++) c->partial[w] = 0.0;
    h->parallel_for(h, n, body, c);
    double total = 0.0;
    for (int w = 0; w < h->threads; w++) total += c->partial[w];
    return total;
}

nmp_status init_scale_first(const nmp_host *h, const char *who, float *y, int64_t n, int32_t dims, double std)
{
    scale_ctx c = {y, dims, 0.0, 0.0, calloc((size_t)h->threads, sizeof(double))};
    if (!c.partial) {
        h->set_error(h, "%s: out of memory", who);
        return NMP_ERR_NOMEM;
    }
    c.mean = reduce(h, &c, n, sum_body) / (double)n;
    double sd = sqrt(reduce(h, &c, n, var_body) / (double)n); /* population std, as np.std */
    if (!(sd > 0.0) || !isfinite(sd)) {
        free(c.partial);
        h->set_error(h, "%s: first coordinate has std %g before scaling; cannot scale it to %g", who, sd, std);
        return NMP_ERR_RUNTIME;
    }
    c.factor = std / sd;
    h->parallel_for(h, n, mul_body, &c);
    free(c.partial);
    return NMP_OK;
}
