/* The CPU references of the GPU fit's update and cell means, and the batch checks the CUDA
 * path runs before a kernel could read a bad id (see sgd_step_cpu.h). */
#include "sgd_step_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *sgd_batch_problem(const sgd_problem *p, const sgd_batch *b)
{
    if (p->dims < 1 || p->dims > SGD_MAX_DIMS) return "layout dims must be in [1, 8]";
    if (p->cells < 1 || b->batch < 0 || b->per_target < 0 || b->approx_count < 0) return "negative sizes";
    for (int32_t t = 0; t < b->batch; t++)
        if (b->target[t] < 0 || b->target[t] >= p->n) return "a target is not a point id";
    int64_t rows = b->rows > 0 ? b->rows : b->shared ? 1 : b->batch;
    if (b->rows > 0) {
        if (!b->row_start || b->row_start[0] != 0 || b->row_start[b->rows] != b->batch)
            return "row_start must rise from 0 to the batch size";
        for (int32_t r = 0; r < b->rows; r++)
            if (b->row_start[r] > b->row_start[r + 1]) return "row_start must rise from 0 to the batch size";
    }
    for (int64_t s = 0; s < rows * b->per_target; s++)
        if (b->neg_index[s] < 0 || b->neg_index[s] >= p->n) return "a negative is not a point id";
    if (b->approx_count > 0 && !b->approx_weight) return "approximate terms without weights";
    if (b->approx_count > 0 && !b->approx_y && b->approx_count != p->cells)
        return "approximate terms read the cell means but their count is not the number of cells";
    return NULL;
}

nmp_status sgd_cell_means_cpu(const sgd_problem *p, const float *y, float *cell_mean)
{
    const int D = p->dims;
    double *sum = calloc((size_t)p->cells * (size_t)D, sizeof *sum);
    if (!sum) return NMP_ERR_NOMEM;
    for (int64_t i = 0; i < p->n; i++)
        for (int k = 0; k < D; k++) sum[(int64_t)p->cell_of[i] * D + k] += y[i * D + k];
    for (int64_t c = 0; c < p->cells; c++)
        for (int k = 0; k < D; k++)
            cell_mean[c * D + k] = p->cell_mass[c] > 0 ? (float)(sum[c * D + k] / p->cell_mass[c]) : 0.0f;
    free(sum);
    return NMP_OK;
}

int sgd_momentum_cpu(const sgd_update *u, float *y, float *velocity, float *grad, int64_t len)
{
    const float mu = (float)u->momentum, lr = (float)u->lr, ib = (float)u->inv_batch, clip = (float)u->clip;
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t at = 0; at < len; at++) {
        float g = grad[at] * ib;
        if (clip > 0) g = g > clip ? clip : (g < -clip ? -clip : g);
        float v = mu * velocity[at] + g;
        velocity[at] = v;
        float yn = y[at] - lr * v;
        y[at] = yn;
        grad[at] = 0.0f;
        bad |= !isfinite(yn);
    }
    return bad;
}

nmp_status sgd_update_cpu(const sgd_problem *p, const sgd_update *u, float *y, float *velocity, float *grad,
                          float *cell_mean, int *nonfinite)
{
    *nonfinite = sgd_momentum_cpu(u, y, velocity, grad, p->n * p->dims);
    return sgd_cell_means_cpu(p, y, cell_mean);
}
