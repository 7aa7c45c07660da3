/* Pieces shared by the negatives plugins (see neg_common.h). */
#include "neg_common.h"

#include <stdlib.h>
#include <string.h>

nmp_status neg_cellsets_alloc(neg_cellsets *s, const nmp_host *h, int32_t groups, int64_t total)
{
    memset(s, 0, sizeof *s);
    s->groups = groups;
    s->start = calloc((size_t)groups + 1, sizeof *s->start);
    s->cell = malloc(((size_t)total + 1) * sizeof *s->cell);
    s->cum = malloc(((size_t)total + (size_t)groups + 1) * sizeof *s->cum);
    s->flat = malloc(((size_t)groups + 1) * sizeof *s->flat);
    if (s->start && s->cell && s->cum && s->flat) return NMP_OK;
    neg_cellsets_free(s);
    h->set_error(h, "out of memory for %d cell groups", groups);
    return NMP_ERR_NOMEM;
}

void neg_cellsets_finish(neg_cellsets *s, const nmp_cells *cells)
{
    for (int32_t g = 0; g < s->groups; g++) {
        int64_t *cum = s->cum + s->start[g] + g;
        cum[0] = 0;
        int consecutive = s->start[g + 1] > s->start[g];
        for (int64_t k = s->start[g]; k < s->start[g + 1]; k++) {
            cum[k - s->start[g] + 1] = cum[k - s->start[g]] + neg_cell_size(cells, s->cell[k]);
            consecutive &= k == s->start[g] || s->cell[k] == s->cell[k - 1] + 1;
        }
        s->flat[g] = consecutive ? cells->start[s->cell[s->start[g]]] : -1;
    }
    s->identity = 1;
    for (int64_t i = 0; i < cells->start[cells->count] && s->identity; i++) s->identity = cells->member[i] == i;
}

void neg_cellsets_systematic(const neg_cellsets *s, const nmp_cells *cells, int32_t g, uint64_t seed, int64_t step,
                             uint64_t slot, int32_t m, int32_t *out)
{
    const int64_t *cum = s->cum + s->start[g] + g, len = s->start[g + 1] - s->start[g], total = cum[len];
    const double stride = (double)total / m;
    /* one offset per row, from the stream and counter its first uniform draw would use */
    const double u = stride * nmp_rng_uniform(seed, NMP_STREAM_NEGATIVES, nmp_rng_counter2((uint64_t)step, slot));
    /* the positions first, each computed once (so the split below agrees with them, however
     * the compiler rounds u + l stride), rising; total < 2^31 points, so they fit out */
#pragma omp simd
    for (int32_t l = 0; l < m; l++) {
        const int64_t pos = (int64_t)(u + l * stride);
        out[l] = (int32_t)(pos < total ? pos : total - 1); /* the last may round to total */
    }
    /* then cell by cell: the positions in cell k, found by a guess and a walk to the exact
     * boundary, become points in one straight loop */
    int32_t l = 0;
    for (int64_t k = 0; k < len && l < m; k++) {
        const int64_t end = cum[k + 1];
        int32_t e = m; /* the last cell, or cells laid end to end in fit order, take the rest */
        if (k < len - 1 && s->flat[g] < 0) {
            const double guess = (end - u) / stride; /* the first l past the cell, about */
            e = guess <= l ? l : guess >= m ? m : (int32_t)guess;
            while (e > l && out[e - 1] >= end) e--;
            while (e < m && out[e] < end) e++;
        }
        const int64_t base = s->flat[g] >= 0 ? s->flat[g] : cells->start[s->cell[s->start[g] + k]] - cum[k];
        if (s->identity) {
#pragma omp simd
            for (int32_t t = l; t < e; t++) out[t] = (int32_t)(base + out[t]);
        } else {
            for (int32_t t = l; t < e; t++) out[t] = cells->member[base + out[t]];
        }
        l = e;
    }
}

void neg_cellsets_free(neg_cellsets *s)
{
    free(s->start), free(s->cell), free(s->cum), free(s->flat);
    memset(s, 0, sizeof *s);
}


nmp_status neg_fixed_approx_init(neg_fixed_approx *a, const nmp_host *h, const nmp_fit_info *fit,
                                 const uint8_t *approx, double noise, int mass, double spread)
{
    const nmp_cells *cells = fit->cells;
    memset(a, 0, sizeof *a);
    a->dims = fit->dims, a->batch = fit->batch, a->spread_scale = spread;
    for (int32_t c = 0; c < cells->count; c++) a->count += approx[c] != 0;
    a->cell = malloc(((size_t)a->count + 1) * sizeof *a->cell);
    a->y = malloc(((size_t)a->count * (size_t)fit->dims + 1) * sizeof *a->y);
    a->weight = malloc(((size_t)a->count * (size_t)fit->batch + 1) * sizeof *a->weight);
    a->spread = spread > 0 ? malloc(((size_t)a->count + 1) * sizeof *a->spread) : NULL;
    if (!a->cell || !a->y || !a->weight || (spread > 0 && !a->spread)) {
        neg_fixed_approx_free(a);
        h->set_error(h, "out of memory for %d approximate terms", cells->count);
        return NMP_ERR_NOMEM;
    }
    int32_t k = 0;
    for (int32_t c = 0; c < cells->count; c++)
        if (approx[c]) a->cell[k++] = c;
    for (int32_t r = 0; r < a->count; r++) a->weight[r] = neg_mean_weight(fit, a->cell[r], noise, mass);
    for (int32_t b = 1; b < fit->batch; b++)
        memcpy(a->weight + (size_t)b * (size_t)a->count, a->weight, (size_t)a->count * sizeof *a->weight);
    return NMP_OK;
}

nmp_status neg_spread(const nmp_host *h, const nmp_step *step, const int32_t *cell, int32_t count, double spread,
                      float *out)
{
    if (!step->cell_spread) {
        h->set_error(h, "spread = %g needs each cell's layout spread, which this optimiser does not keep; use "
                        "spread 0 there", spread);
        return NMP_ERR_UNSUPPORTED;
    }
    for (int32_t r = 0; r < count; r++) out[r] = (float)(spread * step->cell_spread[cell ? cell[r] : r]);
    return NMP_OK;
}

nmp_status neg_fixed_approx_step(const neg_fixed_approx *a, const nmp_host *h, const nmp_step *step,
                                 nmp_negatives *out)
{
    for (int32_t r = 0; r < a->count; r++)
        memcpy(a->y + (size_t)r * (size_t)a->dims, step->cell_mean + (size_t)a->cell[r] * (size_t)a->dims,
               (size_t)a->dims * sizeof *a->y);
    out->approx_count = a->count;
    out->approx_y = a->count ? a->y : NULL;
    out->approx_weight = a->count ? a->weight : NULL;
    if (!a->spread || !a->count) return NMP_OK;
    out->approx_spread = a->spread;
    return neg_spread(h, step, a->cell, a->count, a->spread_scale, a->spread);
}

void neg_fixed_approx_free(neg_fixed_approx *a)
{
    free(a->cell), free(a->y), free(a->weight), free(a->spread);
    memset(a, 0, sizeof *a);
}

nmp_status neg_check_step(const nmp_host *h, const nmp_step *step, int32_t batch)
{
    if (step->batch <= batch && step->batch >= 0) return NMP_OK;
    h->set_error(h, "step has %d targets but prepare() sized for %d", step->batch, batch);
    return NMP_ERR_RUNTIME;
}

int32_t neg_rows(const nmp_step *step, const nmp_cells *cells, int32_t group, int by_cell, int32_t *row_start)
{
    int32_t rows = 0;
    for (int32_t b = 0; b < step->batch; b++) {
        int32_t first = rows ? row_start[rows - 1] : 0;
        int cut = b - first >= group || (by_cell && cells->cell_of[step->target[b]] != cells->cell_of[step->target[first]]);
        if (b == 0 || cut) row_start[rows++] = b;
    }
    row_start[rows] = step->batch;
    return rows;
}
