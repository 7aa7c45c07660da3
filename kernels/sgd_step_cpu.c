/* One NOMAD optimiser step on the CPU (see sgd_step_cpu.h): per target, squared distances in
 * double, the loss's dL/d(d2) per unit weight, pair gradients 2 c (y_i - y_z) scattered as
 * floats; then the float momentum update and the cell means of the new layout. */
#include "sgd_step_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Scratch of one target's terms: d2 on entry, dL/d(d2) per unit weight after the loss. */
typedef struct {
    double *pos, *neg, *approx;
    int32_t *approx_id; /* the approximate terms kept (nonzero weight) */
    int32_t n_pos, n_approx;
} sgd_terms;

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

int32_t sgd_negative_row(const sgd_batch *b, int32_t t)
{
    if (b->rows <= 0) return b->shared ? 0 : t;
    int32_t lo = 0, hi = b->rows - 1; /* the last r with row_start[r] <= t */
    while (lo < hi) {
        int32_t mid = (lo + hi + 1) / 2;
        if (b->row_start[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static double sq_dist(const double *yi, const float *yz, int dims)
{
    double s = 0.0;
    for (int k = 0; k < dims; k++) s += (yi[k] - (double)yz[k]) * (yi[k] - (double)yz[k]);
    return s;
}

/* v = 2 c (y_i - y_z), each coordinate clipped when asked (loss_batch.c's pair_grad). */
static void pair_grad(const double *yi, const float *yz, double c, double clip, int dims, double *v)
{
    for (int k = 0; k < dims; k++) {
        double g = 2.0 * c * (yi[k] - (double)yz[k]);
        if (clip > 0.0) g = g > clip ? clip : (g < -clip ? -clip : g);
        v[k] = g;
    }
}

/* infonce: L = -sum_j p_j [a log q_j - log(q_j + Z)], Z = sum_l w_l q_l + sum_c a_c q_c. */
static double infonce_terms(const sgd_loss *l, const float *pw, const float *nw, const float *aw, int32_t m,
                            sgd_terms *t)
{
    double a = l->exaggeration, z = 0.0, loss = 0.0, s = 0.0;
    for (int32_t i = 0; i < m; i++) t->neg[i] = 1.0 / (1.0 + t->neg[i]), z += (nw ? nw[i] : 1.0) * t->neg[i];
    for (int32_t c = 0; c < t->n_approx; c++) t->approx[c] = 1.0 / (1.0 + t->approx[c]), z += aw[c] * t->approx[c];
    for (int32_t j = 0; j < t->n_pos; j++) {
        double d2 = t->pos[j], q = 1.0 / (1.0 + d2), p = pw[j];
        if (l->want_loss) loss += p * (a * log1p(d2) + log(q + z));
        s += p / (q + z);
        t->pos[j] = a * q - q * q / (q + z);
    }
    for (int32_t i = 0; i < m; i++) t->neg[i] *= -s * t->neg[i];
    for (int32_t c = 0; c < t->n_approx; c++) t->approx[c] *= -s * t->approx[c];
    return loss;
}

/* neg: one repulsive term w log(1 + q/c); returns dL/d(d2) per unit weight. */
static double neg_repulsion(const sgd_loss *l, double d2, double w, double *loss)
{
    double q = 1.0 / (1.0 + d2);
    if (l->want_loss) *loss += w * log1p(q / l->c);
    return -q * q / (q + l->c);
}

static double neg_terms(const sgd_loss *l, const float *pw, const float *nw, const float *aw, int32_t m, sgd_terms *t)
{
    double a = l->exaggeration, c = l->c, loss = 0.0;
    for (int32_t j = 0; j < t->n_pos; j++) {
        double ap = a * pw[j], u = 1.0 + c * (1.0 + t->pos[j]);
        if (l->want_loss) loss += ap * log(u);
        t->pos[j] = a * c / u;
    }
    for (int32_t i = 0; i < m; i++) t->neg[i] = neg_repulsion(l, t->neg[i], nw ? nw[i] : 1.0, &loss);
    for (int32_t r = 0; r < t->n_approx; r++) t->approx[r] = neg_repulsion(l, t->approx[r], aw[r], &loss);
    return loss;
}

/* umap: repulsion gamma w log((1 + a s)/(a s + eps)), s = d2^b; 0 at d2 = 0. */
static double umap_repulsion(const sgd_loss *l, double d2, double w, double *loss)
{
    if (!(d2 > 0.0)) return 0.0;
    double as = l->a * pow(d2, l->b);
    if (l->want_loss) *loss += l->gamma * w * log((1.0 + as) / (as + l->eps));
    return -l->gamma * l->b / ((l->eps + d2) * (1.0 + as));
}

static double umap_terms(const sgd_loss *l, const float *pw, const float *nw, const float *aw, int32_t m, sgd_terms *t)
{
    double ex = l->exaggeration, loss = 0.0;
    for (int32_t j = 0; j < t->n_pos; j++) {
        double d2 = t->pos[j];
        t->pos[j] = 0.0;
        if (!(d2 > 0.0)) continue;
        double s = pow(d2, l->b);
        if (l->want_loss) loss += ex * pw[j] * log1p(l->a * s);
        t->pos[j] = ex * l->a * l->b * (s / d2) / (1.0 + l->a * s);
    }
    for (int32_t i = 0; i < m; i++) t->neg[i] = umap_repulsion(l, t->neg[i], nw ? nw[i] : 1.0, &loss);
    for (int32_t c = 0; c < t->n_approx; c++) t->approx[c] = umap_repulsion(l, t->approx[c], aw[c], &loss);
    return loss;
}

typedef struct {
    const sgd_problem *p;
    const sgd_batch *b;
    const sgd_loss *l;
    const float *y, *approx_y;
    float *grad;
    float *approx_w; /* the kept terms' weights, approx_count */
} grad_ctx;

/* One target: distances, the loss's coefficients, gradients. Returns L_i. */
static double grad_target(const grad_ctx *g, int32_t t, sgd_terms *s)
{
    const sgd_problem *p = g->p;
    const sgd_batch *b = g->b;
    const int D = p->dims;
    const int32_t i = b->target[t], row = sgd_negative_row(b, t), m = b->per_target;
    double yi[SGD_MAX_DIMS], gi[SGD_MAX_DIMS] = {0}, v[SGD_MAX_DIMS];
    for (int k = 0; k < D; k++) yi[k] = g->y[(int64_t)i * D + k];
    int64_t e0 = p->offsets[i];
    s->n_pos = (int32_t)(p->offsets[i + 1] - e0);
    for (int32_t j = 0; j < s->n_pos; j++) s->pos[j] = sq_dist(yi, g->y + (int64_t)p->index[e0 + j] * D, D);
    const int32_t *nidx = b->neg_index + (int64_t)row * m;
    const float *nw = b->neg_weight ? b->neg_weight + (int64_t)row * m : NULL;
    for (int32_t l = 0; l < m; l++) s->neg[l] = sq_dist(yi, g->y + (int64_t)nidx[l] * D, D);
    s->n_approx = 0;
    for (int32_t c = 0; c < b->approx_count; c++) {
        float w = b->approx_weight[(int64_t)t * b->approx_count + c];
        if (w == 0.0f) continue;
        s->approx_id[s->n_approx] = c, g->approx_w[s->n_approx] = w;
        s->approx[s->n_approx++] = sq_dist(yi, g->approx_y + (int64_t)c * D, D);
    }
    /* per-edge weights: the graph's, or 1 */
    float *pw = g->approx_w + b->approx_count;
    for (int32_t j = 0; j < s->n_pos; j++) pw[j] = p->weight ? p->weight[e0 + j] : 1.0f;
    const sgd_loss *l = g->l;
    double loss = l->kind == SGD_LOSS_INFONCE ? infonce_terms(l, pw, nw, g->approx_w, m, s)
                  : l->kind == SGD_LOSS_NEG   ? neg_terms(l, pw, nw, g->approx_w, m, s)
                                              : umap_terms(l, pw, nw, g->approx_w, m, s);
    for (int32_t j = 0; j < s->n_pos; j++) {
        const int64_t z = p->index[e0 + j];
        pair_grad(yi, g->y + z * D, s->pos[j], l->clip, D, v);
        for (int k = 0; k < D; k++) gi[k] += pw[j] * v[k], g->grad[z * D + k] += (float)(-pw[j] * v[k]);
    }
    for (int32_t c = 0; c < s->n_approx; c++) {
        pair_grad(yi, g->approx_y + (int64_t)s->approx_id[c] * D, s->approx[c], l->clip, D, v);
        for (int k = 0; k < D; k++) gi[k] += g->approx_w[c] * v[k];
    }
    for (int32_t q = 0; q < m; q++) {
        const int64_t z = nidx[q];
        double w = nw ? nw[q] : 1.0;
        pair_grad(yi, g->y + z * D, s->neg[q], l->clip, D, v);
        for (int k = 0; k < D; k++) gi[k] += w * v[k];
        if (l->move_negatives)
            for (int k = 0; k < D; k++) g->grad[z * D + k] += (float)(-w * v[k]);
    }
    for (int k = 0; k < D; k++) g->grad[(int64_t)i * D + k] += (float)gi[k];
    return loss;
}

nmp_status sgd_grad_cpu(const sgd_problem *p, const sgd_batch *b, const sgd_loss *l, const float *y,
                        const float *cell_mean, float *grad, double *loss)
{
    *loss = 0.0;
    if (sgd_batch_problem(p, b) || (l->kind == SGD_LOSS_NEG && !(l->c > 0.0))) return NMP_ERR_INVALID;
    int64_t max_pos = 0;
    for (int32_t t = 0; t < b->batch; t++) {
        int64_t e = p->offsets[b->target[t] + 1] - p->offsets[b->target[t]];
        if (e > max_pos) max_pos = e;
    }
    size_t np = (size_t)max_pos + 1, nn = (size_t)b->per_target + 1, na = (size_t)b->approx_count + 1;
    sgd_terms s = {malloc(np * sizeof(double)),
                   malloc(nn * sizeof(double)),
                   malloc(na * sizeof(double)),
                   malloc(na * sizeof(int32_t)),
                   0,
                   0};
    grad_ctx g = {p, b, l, y, b->approx_y ? b->approx_y : cell_mean, grad, malloc((na + np) * sizeof(float))};
    nmp_status st = s.pos && s.neg && s.approx && s.approx_id && g.approx_w ? NMP_OK : NMP_ERR_NOMEM;
    for (int32_t t = 0; st == NMP_OK && t < b->batch; t++) *loss += grad_target(&g, t, &s);
    free(s.pos), free(s.neg), free(s.approx), free(s.approx_id), free(g.approx_w);
    return st;
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
