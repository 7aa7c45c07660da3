/* Parallel row gather shared by the partitioners and ann plugins. */
#include "gather_rows.h"

#include <string.h>

typedef struct {
    const float *x;
    int64_t d;
    const int32_t *rows;
    float *buf;
} gather_ctx;

static void gather_range(void *vctx, int64_t b, int64_t e, int worker)
{
    (void)worker;
    gather_ctx *c = vctx;
    for (int64_t i = b; i < e; i++)
        memcpy(c->buf + i * c->d, c->x + (int64_t)c->rows[i] * c->d, (size_t)c->d * sizeof *c->buf);
}

void nmp_gather_rows(const nmp_host *h, const float *x, int64_t d, const int32_t *rows, int64_t count, float *buf)
{
    gather_ctx c = {x, d, rows, buf};
    h->parallel_for(h, count, gather_range, &c);
}
