/* nmp_eval_run: checks the inputs, draws the query sample and runs every metric of the
 * evaluation protocol on it (see metrics.h for the definitions). */
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

static nmp_status fail(char *err, size_t errlen, nmp_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Shapes and options a run can be measured with; the message names the offending value. */
static nmp_status check_inputs(const nmp_matrix *x, const nmp_matrix *y, const nmp_eval_opts *o, char *err,
                               size_t errlen)
{
    if (!x || !y || !o || !x->x || !y->x)
        return fail(err, errlen, NMP_ERR_INVALID, "eval: missing data or layout");
    if (x->n != y->n)
        return fail(err, errlen, NMP_ERR_INVALID, "eval: data has %lld rows but the layout has %lld",
                    (long long)x->n, (long long)y->n);
    if (x->n < 3 || x->n > INT32_MAX)
        return fail(err, errlen, NMP_ERR_INVALID, "eval: needs 3 to 2^31-1 points, got %lld", (long long)x->n);
    if (x->d < 1 || y->d < 1)
        return fail(err, errlen, NMP_ERR_INVALID, "eval: zero-width data or layout");
    if (o->k < 1 || 2 * (int64_t)o->k >= x->n)
        return fail(err, errlen, NMP_ERR_INVALID, "eval.k: %d must be >= 1 and below half the %lld points", o->k,
                    (long long)x->n);
    if (o->queries < 1 || o->triplets < 0)
        return fail(err, errlen, NMP_ERR_INVALID, "eval: queries (%lld) must be >= 1 and triplets (%lld) >= 0",
                    (long long)o->queries, (long long)o->triplets);
    if (o->metric != NMP_METRIC_L2 && o->metric != NMP_METRIC_IP && o->metric != NMP_METRIC_COSINE)
        return fail(err, errlen, NMP_ERR_INVALID, "eval.metric: unknown metric %d", (int)o->metric);
    return NMP_OK;
}

/* Every metric depends on the order of distances only, which a power-of-two scale keeps
 * bit for bit. The kernels square distances in float, so values beyond 2^32 (or below
 * 2^-32) overflow (underflow) them: such a matrix is measured as a scaled copy, max |v| in
 * [1, 2). *copy is NULL when m is used as it is. */
static nmp_status in_float_range(const nmp_matrix *m, nmp_matrix *use, float **copy)
{
    const int64_t count = m->n * m->d;
    float top = 0.0f;
#pragma omp parallel for simd reduction(max : top) schedule(static)
    for (int64_t i = 0; i < count; i++) {
        const float a = fabsf(m->x[i]);
        top = a > top ? a : top; /* fmaxf's result, NaN skipped too, without its call per value */
    }
    *use = *m;
    *copy = NULL;
    if (top == 0.0f || (top <= 0x1p32f && top >= 0x1p-32f))
        return NMP_OK;
    float *c = malloc((size_t)count * sizeof *c + 1);
    if (!c)
        return NMP_ERR_NOMEM;
    const int shift = -ilogbf(top);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; i++)
        c[i] = ldexpf(m->x[i], shift);
    use->x = *copy = c;
    return NMP_OK;
}

nmp_status nmp_eval_run(const nmp_matrix *x, const nmp_matrix *y, const int32_t *labels, const nmp_eval_opts *o,
                        nmp_eval_result *r, char *err, size_t errlen)
{
    const double start = omp_get_wtime();
    nmp_status st = check_inputs(x, y, o, err, errlen);
    if (st != NMP_OK)
        return st;
    *r = (nmp_eval_result){0};
    int32_t *queries = NULL;
    int64_t nq = 0;
    nmp_matrix xs, ys;
    float *x_copy = NULL, *y_copy = NULL;
    st = in_float_range(x, &xs, &x_copy);
    if (st == NMP_OK)
        st = in_float_range(y, &ys, &y_copy);
    if (st == NMP_OK)
        st = nmp_eval_sample_queries(x->n, o->queries, o->seed, &queries, &nq);
    if (st == NMP_OK)
        st = nmp_eval_neighbors(&xs, &ys, labels, queries, nq, o->k, o->metric, r);
    if (st == NMP_OK)
        st = nmp_eval_triplets(&xs, &ys, o->metric, o->triplets, o->seed, &r->triplet);
    free(queries);
    free(x_copy);
    free(y_copy);
    if (st != NMP_OK)
        return fail(err, errlen, st, "eval: out of memory for %lld queries of %lld points", (long long)o->queries,
                    (long long)x->n);
    r->queries_used = nq;
    r->seconds = omp_get_wtime() - start;
    return NMP_OK;
}
