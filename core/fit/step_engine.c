/* The step engine (see step_engine.h). Work goes row by row: a row is a run of consecutive
 * targets sharing one draw of negatives. A row's negatives are gathered once, coordinate by
 * coordinate, then its targets go in blocks of TILE_ROWS against tiles of TILE_TERMS terms:
 * the d2 tile, the loss's coefficients and the negatives' chunk all stay in L1, and each
 * per-target loop over a tile is one straight float32 vector loop. A coupled loss (InfoNCE)
 * needs a target's whole Z before any of its repulsive terms can be applied, so its tiles'
 * coefficients are kept (in L2): the first sweep sums each target's own terms unscaled, and a
 * second pass gives the points their share, all the block's targets at once (points_side). */
#include "step_engine.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "nomad/loss_math.h"

#define TILE_ROWS 8    /* targets of a block */
#define TILE_TERMS 256 /* repulsive terms of a tile (d2 and coefficients kept in L1) */
/* ... with an inlined formula, which keeps no d2 tile: only the points and their sums. Not 1024:
 * a coupled loss's block keeps its targets' coefficient rows a tile long, and rows 4 KiB apart
 * fall in one L1 set and alias each other's stores (2,048 shared negatives: 1.23x as long). */
#define FUSED_TERMS 1008

typedef struct nmp_engine nmp_engine_t;
typedef struct block block;
typedef struct worker worker;
typedef void (*block_fn_ptr)(nmp_engine_t *e, worker *wk, block *bk);

struct worker {
    float *zsoa;        /* dims x cap_row: the row's negatives (and folded approximate points), coordinate-major */
    float *acc;         /* dims x cap_row: their gradient (summed over the row's targets) */
    float *rwv;         /* cap_row: the row's weights per term when approximate points are folded in */
    float *d2;          /* TILE_ROWS x TILE_TERMS */
    float *coef;        /* TILE_ROWS x (cap_neg + cap_approx): a block's coefficients (whole rows when coupled) */
    float *pd2, *pcoef; /* cap_pos: a block's positives, each target's padded to POS_PAD */
    float *pp;          /* cap_pos: their weights (0 for the padding) */
    float *py, *pg;     /* dims x cap_pos: their layout rows, then their gradients, coordinate-major */
    float *vd2;         /* cap_neg + cap_approx: one target's distances for its loss value */
    double loss;
    char pad[64]; /* workers' accumulators on their own cache lines */
};

/* The parameters of an inlined formula (nmp_loss_shape.param). */
typedef struct {
    float c;              /* neg */
    nmp_umap_curve curve; /* umap */
} formula_params;

struct nmp_engine {
    const nmp_loss_ops *ops;
    const void *state;
    nmp_loss_shape shape;
    int32_t dims;
    int threads;
    worker *w;
    int64_t cap_neg, cap_approx, cap_deg, cap_pos, cap_batch, cap_edges, cap_slots;
    int64_t cap_row; /* row_stride(cap_neg + cap_approx): stride of a worker's zsoa and acc */
    float *asoa;     /* dims x cap_approx: the step's approximate points */
    float *g_target, *g_pos, *g_neg, *stat;
    /* this step */
    const nmp_step *st;
    const nmp_negatives *neg;
    float exaggeration;
    int32_t rows;
    block_fn_ptr block; /* run_block for this width and formula */
    float *sink;        /* NULL: gradients by slot; else threads x n x dims, worker w's at sink + w n dims */
    int64_t sink_n;
    formula_params fk;   /* the inlined formula's parameters */
    /* where target b's positives are (nmp_engine_edges): edge_index + edge_first[b], likewise the
     * weights; this run's, and the source the caller set (NULL: the step's own arrays) */
    const int32_t *edge_index, *src_index;
    const float *edge_weight, *src_weight;
    const int64_t *edge_first, *src_first;
    int64_t fetch_bytes; /* layouts larger than this fetch positives ahead (the L2's size) */
};

/* A row's negative weights: w, or (w NULL) every weight wc. Constant rows (cluster_mean's mass
 * weights) fold into one scalar, which saves a load per pair. */
typedef struct {
    const float *w;
    float wc;
    const float *given; /* the row's weights as the negatives plugin gave them (NULL: all 1) */
    int32_t m, A;       /* terms in the row's scratch (its negatives, then any folded approximate points), and
                           approximate terms left to block_approx (see fold_approx) */
} row_weights;

/* ------------------------------------------------------------------ tile kernels */

/* d2[t * n + l] = |y_t - z_l|^2 for `rows` targets (yi: rows x D) and n points (coordinate-major,
 * coordinate k at z + k * zs). */
static inline __attribute__((always_inline)) void tile_d2(const int D, int rows, const float *yi, const float *z,
                                                          int64_t zs, int n, float *d2)
{
    const float *z0 = z, *z1 = z + zs, *z2 = z + (D > 2 ? 2 * zs : 0);
    for (int t = 0; t < rows; t++) {
        const float y0 = yi[t * D], y1 = yi[t * D + 1], y2 = D > 2 ? yi[t * D + 2] : 0.0f;
        float *out = d2 + (int64_t)t * n;
#pragma omp simd
        for (int l = 0; l < n; l++) {
            float a = y0 - z0[l], b = y1 - z1[l], s = a * a + b * b;
            if (D > 2) {
                float c = y2 - z2[l];
                s += c * c;
            }
            out[l] = s;
        }
    }
}

/* n terms of two targets y_a, y_b against the same points z (coordinate-major, stride zs):
 * their coefficients, weights (or every weight wc) and scales, and the points' gradient acc
 * (stride as; NULL: they stay). Two targets a pass share the loads and stores of z and acc. */
typedef struct {
    int n;
    const float *coef[2], *w[2], *z;
    float s2[2]; /* 2 x the target's scale (0: no second target) */
    float wc;
    int64_t zs;
    float *acc;
    int64_t as;
} pair_run;

/* The shipped repulsive formulas, inlined (nmp_formula): F is a constant at every call, so
 * each loss gets its own pair loops, the loss a compile-time parameter as in the CUDA kernel. */

static inline __attribute__((always_inline)) float f_repel(const int F, const formula_params *k, float d2, float *phi)
{
    if (F == NMP_FORMULA_INFONCE) return nmp_infonce_repel(d2, phi);
    if (F == NMP_FORMULA_NEG) return nmp_neg_repel(d2, k->c, phi);
    *phi = 0.0f;
    return nmp_umap_repel(&k->curve, d2);
}

/* One target's v = 2 s c (y - z) for term l, c its coefficient (read, or with F its formula
 * on the recomputed d2), clipped per coordinate when clipping, times its weight; added to its
 * sums g and to the points' sums a. */
#define PAIR_TERM(t, yt0, yt1, yt2, g0, g1, g2)                                                                        \
    {                                                                                                                  \
        const float dx0 = yt0 - zl0, dx1 = yt1 - zl1, dx2 = D > 2 ? yt2 - zl2 : 0.0f;                                  \
        float c, phi;                                                                                                  \
        if (F)                                                                                                         \
            c = k##t * f_repel(F, fk, D > 2 ? dx0 * dx0 + dx1 * dx1 + dx2 * dx2 : dx0 * dx0 + dx1 * dx1, &phi);        \
        else                                                                                                           \
            c = k##t * coef##t[l];                                                                                     \
        float v0 = nmp_pair_grad(c, dx0), v1 = nmp_pair_grad(c, dx1), v2 = D > 2 ? nmp_pair_grad(c, dx2) : 0.0f;       \
        if (clipping) v0 = nmp_clip(v0, clip), v1 = nmp_clip(v1, clip), v2 = nmp_clip(v2, clip);                       \
        if (weighted) {                                                                                                \
            float wl = w##t[l];                                                                                        \
            v0 *= wl, v1 *= wl, v2 *= wl;                                                                              \
        } else if (clipping) {                                                                                         \
            v0 *= wc, v1 *= wc, v2 *= wc;                                                                              \
        }                                                                                                              \
        g0 += v0, g1 += v1, a0s += v0, a1s += v1;                                                                      \
        if (D > 2) g2 += v2, a2s += v2;                                                                                \
    }

/* One target's terms alone (UMAP: its formula needs too many registers to pair targets). */
static inline __attribute__((always_inline)) void apply_one(const int D, const int F, const int clipping,
                                                            const int weighted, const int moving, const float *yi,
                                                            float clip, const formula_params *fkp, const pair_run *r,
                                                            int t, double *gi)
{
    const formula_params fkl = *fkp, *fk = &fkl; /* a local copy: the stores below cannot alias it */
    const float ya0 = yi[0], ya1 = yi[1], ya2 = D > 2 ? yi[2] : 0.0f, wc = r->wc;
    const float k0 = clipping || weighted ? r->s2[t] : r->s2[t] * wc;
    const float *z0 = r->z, *z1 = r->z + r->zs, *z2 = r->z + (D > 2 ? 2 * r->zs : 0);
    const float *coef0 = r->coef[t], *w0 = r->w[t];
    float *a0 = r->acc, *a1 = r->acc + (moving ? r->as : 0), *a2 = r->acc + (moving && D > 2 ? 2 * r->as : 0);
    float ga0 = 0.0f, ga1 = 0.0f, ga2 = 0.0f;
#pragma omp simd reduction(+ : ga0, ga1, ga2)
    for (int l = 0; l < r->n; l++) {
        const float zl0 = z0[l], zl1 = z1[l], zl2 = D > 2 ? z2[l] : 0.0f;
        float a0s = -0.0f, a1s = -0.0f, a2s = -0.0f; /* x + -0 is x: the first add folds away */
        PAIR_TERM(0, ya0, ya1, ya2, ga0, ga1, ga2)
        if (moving) {
            a0[l] -= a0s, a1[l] -= a1s;
            if (D > 2) a2[l] -= a2s;
        }
    }
    gi[0] += ga0, gi[1] += ga1;
    if (D > 2) gi[2] += ga2;
}

/* gi_t += sum_l v_tl for both targets and acc_l -= v_al + v_bl. D, F, clipping, weighted and
 * moving are constants at every call, so each combination is its own straight vector loop. */
static inline __attribute__((always_inline)) void apply_run(const int D, const int F, const int clipping,
                                                            const int weighted, const int moving, const float *yi,
                                                            float clip, const formula_params *fkp, const pair_run *r,
                                                            double *gi)
{
    const formula_params fkl = *fkp, *fk = &fkl; /* a local copy: the stores below cannot alias it */
    if (F == NMP_FORMULA_UMAP) {
        apply_one(D, F, clipping, weighted, moving, yi, clip, fk, r, 0, gi);
        if (r->s2[1] != 0.0f) apply_one(D, F, clipping, weighted, moving, yi + D, clip, fk, r, 1, gi + D);
        return;
    }
    const float ya0 = yi[0], ya1 = yi[1], ya2 = D > 2 ? yi[2] : 0.0f;
    const float yb0 = yi[D], yb1 = yi[D + 1], yb2 = D > 2 ? yi[D + 2] : 0.0f, wc = r->wc;
    const float k0 = clipping || weighted ? r->s2[0] : r->s2[0] * wc,
                k1 = clipping || weighted ? r->s2[1] : r->s2[1] * wc;
    const float *z0 = r->z, *z1 = r->z + r->zs, *z2 = r->z + (D > 2 ? 2 * r->zs : 0);
    const float *coef0 = r->coef[0], *coef1 = r->coef[1], *w0 = r->w[0], *w1 = r->w[1];
    float *a0 = r->acc, *a1 = r->acc + (moving ? r->as : 0), *a2 = r->acc + (moving && D > 2 ? 2 * r->as : 0);
    float ga0 = 0.0f, ga1 = 0.0f, ga2 = 0.0f, gb0 = 0.0f, gb1 = 0.0f, gb2 = 0.0f;
#pragma omp simd reduction(+ : ga0, ga1, ga2, gb0, gb1, gb2)
    for (int l = 0; l < r->n; l++) {
        const float zl0 = z0[l], zl1 = z1[l], zl2 = D > 2 ? z2[l] : 0.0f;
        float a0s = -0.0f, a1s = -0.0f, a2s = -0.0f; /* x + -0 is x: the first add folds away */
        PAIR_TERM(0, ya0, ya1, ya2, ga0, ga1, ga2)
        PAIR_TERM(1, yb0, yb1, yb2, gb0, gb1, gb2)
        if (moving) {
            a0[l] -= a0s, a1[l] -= a1s;
            if (D > 2) a2[l] -= a2s;
        }
    }
    gi[0] += ga0, gi[1] += ga1, gi[D] += gb0, gi[D + 1] += gb1;
    if (D > 2) gi[2] += ga2, gi[5] += gb2;
}
#undef PAIR_TERM

#define APPLY_CASE(C, W, M)                                                                                            \
    case (C) << 2 | (W) << 1 | (M):                                                                                    \
        apply_run(D, F, C, W, M, yi, clip, fk, r, gi);                                                                 \
        break
/* yi, gi: the two targets' rows (2 x D); the second's sums are garbage when its s2 is 0. F:
 * the formula to inline (NONE: the coefficients are in r->coef). */
static inline __attribute__((always_inline)) void apply_f(const int D, const int F, int clipping, const float *yi,
                                                          float clip, const formula_params *fk, const pair_run *r,
                                                          double *gi)
{
    switch ((clipping != 0) << 2 | (r->w[0] != NULL) << 1 | (r->acc != NULL)) {
        APPLY_CASE(0, 0, 0);
        APPLY_CASE(0, 0, 1);
        APPLY_CASE(0, 1, 0);
        APPLY_CASE(0, 1, 1);
        APPLY_CASE(1, 0, 0);
        APPLY_CASE(1, 0, 1);
        APPLY_CASE(1, 1, 0);
        APPLY_CASE(1, 1, 1);
    }
}
#undef APPLY_CASE

/* A coupled loss's first sweep with the formula inlined: sum_l w_l phi(d2_l) of both targets,
 * and their coefficients kept (coef[0], coef[1] of r) for the second sweep, which then need not
 * compute d2 and the formula again. premul (weighted or not, never clipping): each kept
 * coefficient is times its weight, and each target's sum_l c_l (y - z_l) is taken here (ga, gb),
 * its scale applied once the whole Z is known: the second sweep is then the points' side alone. */
static inline __attribute__((always_inline)) void sum_phi_run(const int D, const int F, const int weighted,
                                                              const int premul, const float *yi,
                                                              const formula_params *fkp, const pair_run *r, float *za,
                                                              float *zb, float *ga, float *gb)
{
    const formula_params fkl = *fkp, *fk = &fkl; /* a local copy: the stores below cannot alias it */
    const float ya0 = yi[0], ya1 = yi[1], ya2 = D > 2 ? yi[2] : 0.0f;
    const float yb0 = yi[D], yb1 = yi[D + 1], yb2 = D > 2 ? yi[D + 2] : 0.0f;
    const float *z0 = r->z, *z1 = r->z + r->zs, *z2 = r->z + (D > 2 ? 2 * r->zs : 0), *w0 = r->w[0], *w1 = r->w[1];
    float *ca = (float *)r->coef[0], *cb = (float *)r->coef[1], sa = 0.0f, sb = 0.0f;
    float ga0 = 0.0f, ga1 = 0.0f, ga2 = 0.0f, gb0 = 0.0f, gb1 = 0.0f, gb2 = 0.0f;
#pragma omp simd reduction(+ : sa, sb, ga0, ga1, ga2, gb0, gb1, gb2)
    for (int l = 0; l < r->n; l++) {
        const float zl0 = z0[l], zl1 = z1[l], zl2 = D > 2 ? z2[l] : 0.0f;
        float a0 = ya0 - zl0, a1 = ya1 - zl1, a2 = D > 2 ? ya2 - zl2 : 0.0f;
        float b0 = yb0 - zl0, b1 = yb1 - zl1, b2 = D > 2 ? yb2 - zl2 : 0.0f, pa, pb;
        float fa = f_repel(F, fk, D > 2 ? a0 * a0 + a1 * a1 + a2 * a2 : a0 * a0 + a1 * a1, &pa);
        float fb = f_repel(F, fk, D > 2 ? b0 * b0 + b1 * b1 + b2 * b2 : b0 * b0 + b1 * b1, &pb);
        if (premul && weighted) fa *= w0[l], fb *= w1[l];
        ca[l] = fa, cb[l] = fb;
        sa += weighted ? w0[l] * pa : pa, sb += weighted ? w1[l] * pb : pb;
        if (premul) {
            ga0 += fa * a0, ga1 += fa * a1, gb0 += fb * b0, gb1 += fb * b1;
            if (D > 2) ga2 += fa * a2, gb2 += fb * b2;
        }
    }
    *za = sa, *zb = sb;
    if (premul) {
        ga[0] = ga0, ga[1] = ga1, gb[0] = gb0, gb[1] = gb1;
        if (D > 2) ga[2] = ga2, gb[2] = gb2;
    }
}

/* The dense gradient of a worker (see nmp_engine_sink), or NULL. */
static inline float *worker_sink(const nmp_engine *e, const worker *wk)
{
    return e->sink ? e->sink + (int64_t)(wk - e->w) * e->sink_n * e->dims : NULL;
}

/* ------------------------------------------------------------------ one block of targets */

/* Every function below takes the layout width D as a constant (run_block_2 / run_block_3
 * instantiate them), so each coordinate loop unrolls and each pair loop is straight. */
#define ENGINE_INLINE static inline __attribute__((always_inline))

struct block {
    int32_t b0, nb; /* targets [b0, b0 + nb) of the step */
    const row_weights *rw;
    float *acc;                    /* the row's negatives' gradient, or NULL when they do not move */
    int64_t cap;                   /* stride of the row's coordinate-major scratch */
    float yi[(TILE_ROWS + 1) * 3]; /* one spare row: targets go in pairs */
    double z[TILE_ROWS], gi[(TILE_ROWS + 1) * 3];
    double gr[TILE_ROWS * 3]; /* a coupled loss's sum_l c_l (y - z_l) per target, before its scale (premultiplied) */
    float scale[TILE_ROWS + 1], stat[TILE_ROWS];
    int64_t offset[TILE_ROWS + 1]; /* the block's positives, from 0 */
};

/* Where a tile's coefficients go: a block's whole rows when coupled (applied after attract),
 * else one tile (applied at once). Negatives first, then approximate terms. */
static float *tile_coef(const nmp_engine *e, worker *wk, const block *bk, int64_t first)
{
    return e->shape.coupled ? wk->coef + first * bk->nb : wk->coef;
}

/* Targets t and t + 1 of a block against n points z: their rows of a tile's coefficients and
 * weights (w + t * w_stride; w NULL: all wc), scales s2a, s2b. Past the block's last target
 * the second is a copy of the first with scale 0 (it adds nothing). */
static inline pair_run pair_of(const block *bk, int t, const float *coef, int n, const float *w, int64_t w_stride,
                               const float *z, int64_t zs, float s2a, float s2b)
{
    int u = t + 1 < bk->nb ? t + 1 : t;
    return (pair_run){.n = n,
                      .coef = {coef ? coef + (int64_t)t * n : NULL, coef ? coef + (int64_t)u * n : NULL},
                      .w = {w ? w + t * w_stride : NULL, w ? w + u * w_stride : NULL},
                      .z = z,
                      .s2 = {s2a, u > t ? s2b : 0.0f},
                      .wc = 1.0f,
                      .zs = zs};
}

/* Whether a coupled loss's first sweep keeps its coefficients times their weights and takes
 * the targets' own sums (when the formula is inlined, F): not when clipping, which comes
 * between the coefficient and the weight and so needs each target's scale first. */
static inline int premultiplied(const nmp_engine *e, int F)
{
    return F && e->shape.clip <= 0.0f;
}

/* With an inlined formula (F), a coupled loss's first sweep: each target's z over n points,
 * and its coefficients into the block's rows at coef (as repel() would have written them, or
 * times their weights w when premultiplied, the targets' sums then into gr). */
ENGINE_INLINE void block_sum_phi(const int D, const int F, const formula_params *fk, block *bk, float *coef,
                                 const float *w, int64_t w_stride, float wc, const float *z, int64_t zs, int n,
                                 int premul)
{
    for (int t = 0; t < bk->nb; t += 2) {
        const pair_run r = pair_of(bk, t, coef, n, w, w_stride, z, zs, 0.0f, 0.0f);
        float za, zb, ga[3], gb[3];
        if (w && premul)
            sum_phi_run(D, F, 1, 1, bk->yi + t * D, fk, &r, &za, &zb, ga, gb);
        else if (premul)
            sum_phi_run(D, F, 0, 1, bk->yi + t * D, fk, &r, &za, &zb, ga, gb);
        else if (w)
            sum_phi_run(D, F, 1, 0, bk->yi + t * D, fk, &r, &za, &zb, ga, gb);
        else
            sum_phi_run(D, F, 0, 0, bk->yi + t * D, fk, &r, &za, &zb, ga, gb);
        bk->z[t] += (double)wc * za;
        if (t + 1 < bk->nb) bk->z[t + 1] += (double)wc * zb;
        for (int k = 0; premul && k < D; k++) {
            bk->gr[t * D + k] += (double)wc * ga[k];
            if (t + 1 < bk->nb) bk->gr[(t + 1) * D + k] += (double)wc * gb[k];
        }
    }
}

/* Terms of a tile: with an inlined formula (F) no d2 tile is kept, so tiles can be longer. */
static inline int tile_terms(int F)
{
    return F ? FUSED_TERMS : TILE_TERMS;
}

/* The formula block_approx inlines: none for spread terms, whose d2 the spread is added to. */
static inline int approx_formula(const nmp_engine *e, int F)
{
    return e->neg->approx_spread ? 0 : F;
}

/* The exact negatives of a block, tile by tile: d2, the loss's coefficients and z, and (not
 * coupled) the gradients at once. F: the formula to inline instead (no d2 tile, no call). */
ENGINE_INLINE void block_negatives(const int D, const int F, const nmp_engine *e, worker *wk, block *bk)
{
    const int m = bk->rw->m;
    const float clip = e->shape.clip, *w = bk->rw->w;
    const int L = tile_terms(F);
    for (int l0 = 0; l0 < m; l0 += L) {
        int n = m - l0 < L ? m - l0 : L;
        float *coef = F && !e->shape.coupled ? NULL : tile_coef(e, wk, bk, l0);
        if (F && e->shape.coupled) {
            block_sum_phi(D, F, &e->fk, bk, coef, w ? w + l0 : NULL, 0, bk->rw->wc, wk->zsoa + l0, bk->cap, n,
                          premultiplied(e, F));
            continue;
        }
        if (!F) {
            float tz[TILE_ROWS] = {0};
            tile_d2(D, bk->nb, bk->yi, wk->zsoa + l0, bk->cap, n, wk->d2);
            const nmp_repel_tile tile = {bk->nb, n, wk->d2, w ? w + l0 : NULL, 0, coef, tz};
            e->ops->repel(e->state, &tile);
            for (int t = 0; t < bk->nb; t++) bk->z[t] += (double)bk->rw->wc * tz[t];
            if (e->shape.coupled) continue;
        }
        for (int t = 0; t < bk->nb; t += 2) {
            pair_run r = pair_of(bk, t, coef, n, w ? w + l0 : NULL, 0, wk->zsoa + l0, bk->cap, 2.0f, 2.0f);
            r.wc = bk->rw->wc, r.acc = bk->acc ? bk->acc + l0 : NULL, r.as = bk->cap;
            apply_f(D, F, clip > 0.0f, bk->yi + t * D, clip, &e->fk, &r, bk->gi + t * D);
        }
    }
}

/* Adds each approximate point's spread to its column of a d2 tile (rows x n, as tile_d2). */
static inline void add_spread(int rows, int n, const float *spread, float *d2)
{
    for (int t = 0; t < rows; t++)
        for (int l = 0; l < n; l++) d2[t * n + l] += spread[l];
}

/* The approximate terms (weights per target, stride A); they receive no gradient. F: the
 * formula to inline, a constant at each call (see block_approx). */
ENGINE_INLINE void block_approx_f(const int D, const int F, const nmp_engine *e, worker *wk, block *bk)
{
    const int m = bk->rw->m, A = bk->rw->A, As = e->neg->approx_count; /* As: stride of the weights */
    const float *aw = e->neg->approx_weight + (int64_t)bk->b0 * As, clip = e->shape.clip;
    const float *spread = e->neg->approx_spread;
    const int L = tile_terms(F);
    for (int c0 = 0; c0 < A; c0 += L) {
        int n = A - c0 < L ? A - c0 : L;
        float *coef = F && !e->shape.coupled ? NULL : tile_coef(e, wk, bk, (int64_t)m + c0);
        if (F && e->shape.coupled) {
            block_sum_phi(D, F, &e->fk, bk, coef, aw + c0, As, 1.0f, e->asoa + c0, e->cap_approx, n,
                          premultiplied(e, F));
            continue;
        }
        if (!F) {
            float tz[TILE_ROWS] = {0};
            tile_d2(D, bk->nb, bk->yi, e->asoa + c0, e->cap_approx, n, wk->d2);
            if (spread) add_spread(bk->nb, n, spread + c0, wk->d2);
            const nmp_repel_tile tile = {bk->nb, n, wk->d2, aw + c0, As, coef, tz};
            e->ops->repel(e->state, &tile);
            for (int t = 0; t < bk->nb; t++) bk->z[t] += tz[t];
            if (e->shape.coupled) continue;
        }
        for (int t = 0; t < bk->nb; t += 2) {
            const pair_run r = pair_of(bk, t, coef, n, aw + c0, As, e->asoa + c0, e->cap_approx, 2.0f, 2.0f);
            apply_f(D, F, clip > 0.0f, bk->yi + t * D, clip, &e->fk, &r, bk->gi + t * D);
        }
    }
}

/* Spread points (approx_spread) take the tile path, whose d2 the spread is added to; the rest
 * inline the loss's formula. Two calls, so that F is a constant in each: a formula chosen at
 * run time would be computed in every masked lane of the vector loops, UMAP's powers included. */
ENGINE_INLINE void block_approx(const int D, const int F, const nmp_engine *e, worker *wk, block *bk)
{
    if (approx_formula(e, F))
        block_approx_f(D, F, e, wk, bk);
    else
        block_approx_f(D, 0, e, wk, bk);
}

/* The points' side of a premultiplied coupled loss's terms, for R targets at once: acc_l -=
 * sum_t a_t c_tl (y_t - z_l), taken as A_l (z_l - o) - B_l with A_l = sum_t a_t c_tl and B_l =
 * sum_t b_t c_tl, b_t = a_t (y_t - o), o the block's first target (the block's targets are
 * near each other, so nothing large cancels). Three products a term, and each point's sums
 * read and written once a block, not once for each pair of targets. */
ENGINE_INLINE void points_side(const int D, const int R, const float *coef, int n, const float *a, const float *b,
                               const float *o, const float *z, int64_t zs, float *acc, int64_t as)
{
    const float o0 = o[0], o1 = o[1], o2 = D > 2 ? o[2] : 0.0f;
    const float *z0 = z, *z1 = z + zs, *z2 = z + (D > 2 ? 2 * zs : 0);
    float *a0 = acc, *a1 = acc + as, *a2 = acc + (D > 2 ? 2 * as : 0);
#pragma omp simd
    for (int l = 0; l < n; l++) {
        float sa = 0.0f, s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
        for (int t = 0; t < R; t++) {
            const float c = coef[(int64_t)t * n + l];
            sa += a[t] * c, s0 += b[t * D] * c, s1 += b[t * D + 1] * c;
            if (D > 2) s2 += b[t * D + 2] * c;
        }
        a0[l] += sa * (z0[l] - o0) - s0, a1[l] += sa * (z1[l] - o1) - s1;
        if (D > 2) a2[l] += sa * (z2[l] - o2) - s2;
    }
}

/* Coupled losses, now that each target's scale is known: premultiplied, each target's own sums
 * scaled and the points' side in one pass; else every repulsive term again from the
 * coefficients the first sweep kept (the formula is not computed twice). */
ENGINE_INLINE void block_coupled(const int D, const int F, const nmp_engine *e, worker *wk, block *bk)
{
    const int m = bk->rw->m, A = bk->rw->A, As = e->neg->approx_count;
    const float *aw = e->neg->approx_weight + (int64_t)bk->b0 * As, clip = e->shape.clip;
    const int L = tile_terms(F);
    if (premultiplied(e, F)) {
        float a[TILE_ROWS], b[TILE_ROWS * 3];
        for (int t = 0; t < bk->nb; t++) {
            a[t] = 2.0f * bk->scale[t] * bk->rw->wc;
            for (int k = 0; k < D; k++) {
                bk->gi[t * D + k] += 2.0 * bk->scale[t] * bk->gr[t * D + k];
                b[t * D + k] = a[t] * (bk->yi[t * D + k] - bk->yi[k]);
            }
        }
        for (int l0 = 0; bk->acc && l0 < m; l0 += L) {
            const int n = m - l0 < L ? m - l0 : L;
            const float *coef = tile_coef(e, wk, bk, l0), *z = wk->zsoa + l0;
            if (bk->nb == TILE_ROWS)
                points_side(D, TILE_ROWS, coef, n, a, b, bk->yi, z, bk->cap, bk->acc + l0, bk->cap);
            else
                points_side(D, bk->nb, coef, n, a, b, bk->yi, z, bk->cap, bk->acc + l0, bk->cap);
        }
    } else {
        const float *w = bk->rw->w;
        for (int l0 = 0; l0 < m; l0 += L) {
            int n = m - l0 < L ? m - l0 : L;
            const float *coef = tile_coef(e, wk, bk, l0);
            for (int t = 0; t < bk->nb; t += 2) {
                pair_run r = pair_of(bk, t, coef, n, w ? w + l0 : NULL, 0, wk->zsoa + l0, bk->cap, 2.0f * bk->scale[t],
                                     2.0f * bk->scale[t + 1]);
                r.wc = bk->rw->wc, r.acc = bk->acc ? bk->acc + l0 : NULL, r.as = bk->cap;
                apply_f(D, 0, clip > 0.0f, bk->yi + t * D, clip, &e->fk, &r, bk->gi + t * D);
            }
        }
    }
    const int Fa = approx_formula(e, F), La = tile_terms(Fa); /* the tiles block_approx cut */
    /* premultiplied, their targets' sums are in gr, and they do not move */
    if (premultiplied(e, Fa)) return;
    for (int c0 = 0; c0 < A; c0 += La) {
        int n = A - c0 < La ? A - c0 : La;
        const float *coef = tile_coef(e, wk, bk, (int64_t)m + c0);
        for (int t = 0; t < bk->nb; t += 2) {
            const pair_run r = pair_of(bk, t, coef, n, aw + c0, As, e->asoa + c0, e->cap_approx, 2.0f * bk->scale[t],
                                       2.0f * bk->scale[t + 1]);
            apply_f(D, 0, clip > 0.0f, bk->yi + t * D, clip, &e->fk, &r, bk->gi + t * D);
        }
    }
}

/* A target's positives are laid out padded to a multiple of POS_PAD (a vector's width) with
 * copies of the target itself, of weight 0, so the plugin's and the engine's loops over them
 * run without scalar tails. */
#define POS_PAD 8
static inline int64_t pos_padded(int64_t n)
{
    return (n + POS_PAD - 1) / POS_PAD * POS_PAD;
}

/* A layout that fits the core's L2 stays there (or close) between a target's positives and
 * the next's, where a fetch ahead only costs its instructions: a tenth of a 10,000-point fit's
 * pair terms, and on Fashion-MNIST (560 KB of layout, a 1 MiB L2) nomad.yaml's loss phase ran
 * 7-10% faster without it (11 of 13 alternating runs). FETCH_BYTES when the L2 is not known. */
#define FETCH_BYTES (512 << 10)

static int64_t l2_bytes(void)
{
#ifdef _SC_LEVEL2_CACHE_SIZE /* glibc's */
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 > 0) return (int64_t)l2;
#endif
    return FETCH_BYTES;
}

/* Whether the next target's positives are worth fetching ahead: not when the layout (the
 * dense gradient's size; unknown without one) fits in L2. */
static inline int fetch_positives(const nmp_engine *e)
{
    return !e->sink || e->sink_n * e->dims * (int64_t)sizeof(float) > e->fetch_bytes;
}

/* Asks for the rows (D floats each) in `base` of target b + 1's positives, to read (write = 0)
 * or to update (1): the next target's rows, fetched while b's are worked on. */
static inline void prefetch_next_positives(const nmp_engine *e, int32_t b, const float *base, int D, int write)
{
    const nmp_step *st = e->st;
    const int32_t *ids = e->edge_index + e->edge_first[b + 1];
    const int64_t n = st->edge_offset[b + 2] - st->edge_offset[b + 1];
    for (int64_t j = 0; j < n; j++) {
        if (write)
            __builtin_prefetch(base + (int64_t)ids[j] * D, 1);
        else
            __builtin_prefetch(base + (int64_t)ids[j] * D, 0);
    }
}

/* Targets ahead whose graph rows (ids and weights) are fetched when the engine reads them where
 * they lie in the graph (nmp_engine_edges), not from the step's copy: the copy's own pass
 * fetched them ahead, and without it each row's first read waited on the L3 or memory. */
#define EDGES_AHEAD 8

static inline void prefetch_edge_row(const nmp_engine *e, int64_t b)
{
    if (b >= e->st->batch) return;
    const int64_t at = e->edge_first[b], n = e->st->edge_offset[b + 1] - e->st->edge_offset[b];
    for (int64_t j = 0; j < n + 15; j += 16) {
        __builtin_prefetch(e->edge_index + at + j);
        __builtin_prefetch(e->edge_weight + at + j);
    }
}

/* A 2-D layout row read as one word (any float's alignment, any type's alias); its low half is
 * the first coordinate on a little-endian CPU, which every target of nomad is. */
typedef uint64_t __attribute__((may_alias, aligned(4))) row64;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "step_engine.c reads a 2-D row as one little-endian word"
#endif

/* The block's positives: their rows gathered coordinate-major, d2, attract(). */
ENGINE_INLINE void block_attract(const int D, nmp_engine *e, worker *wk, block *bk)
{
    const nmp_step *st = e->st;
    const int64_t cap = e->cap_pos;
    bk->offset[0] = 0;
    for (int t = 0; t < bk->nb; t++) {
        const int64_t first = st->edge_offset[bk->b0 + t], count = st->edge_offset[bk->b0 + t + 1] - first;
        const int64_t j0 = bk->offset[t], padded = pos_padded(count);
        bk->offset[t + 1] = j0 + padded;
        /* d2 in the gather itself (a loop reading the rows just stored would wait on store
         * forwarding), as one vector loop of gathers */
        const int32_t *pid = e->edge_index + e->edge_first[bk->b0 + t];
        if (e->edge_first != st->edge_offset) prefetch_edge_row(e, bk->b0 + t + EDGES_AHEAD);
        if (fetch_positives(e) && t + 1 < bk->nb) prefetch_next_positives(e, bk->b0 + t, st->y, D, 0);
        const float *pw = e->edge_weight + e->edge_first[bk->b0 + t], yt0 = bk->yi[t * D], yt1 = bk->yi[t * D + 1];
        const float yt2 = D > 2 ? bk->yi[t * D + 2] : 0.0f;
        float *p0 = wk->py + j0, *p1 = wk->py + cap + j0, *p2 = wk->py + (D > 2 ? 2 * cap : 0) + j0;
        float *d2 = wk->pd2 + j0, *pp = wk->pp + j0;
        const float *y = st->y;
#pragma omp simd
        for (int64_t j = 0; j < count; j++) { /* indexed loads, not a row pointer: the vectoriser makes them gathers */
            float a, b, c = 0.0f;
            if (D == 2) { /* a row as one 8-byte word (little-endian): one gather, not two */
                const uint64_t v = ((const row64 *)y)[pid[j]];
                a = nmp_bits_float((uint32_t)v), b = nmp_bits_float((uint32_t)(v >> 32));
            } else {
                const int64_t o = (int64_t)pid[j] * D;
                a = y[o], b = y[o + 1], c = y[o + 2];
            }
            const float da = yt0 - a, db = yt1 - b, dc = yt2 - c;
            p0[j] = a, p1[j] = b;
            if (D > 2) p2[j] = c;
            d2[j] = D > 2 ? da * da + db * db + dc * dc : da * da + db * db;
            pp[j] = pw[j];
        }
        for (int64_t j = count; j < padded; j++) {
            wk->pd2[j0 + j] = 0.0f, wk->pp[j0 + j] = 0.0f;
            for (int k = 0; k < D; k++) wk->py[k * cap + j0 + j] = bk->yi[t * D + k];
        }
        bk->scale[t] = 1.0f, bk->stat[t] = 0.0f;
    }
    const nmp_attract_tile tile = {bk->nb,          bk->offset, wk->pd2,   wk->pp,  bk->z,
                                   e->exaggeration, wk->pcoef,  bk->scale, bk->stat};
    e->ops->attract(e->state, &tile);
}

/* One target's n positives (rows py, coordinate-major, stride cap): v = 2 coef (y_i - y_j),
 * clipped when clipping, times p; gi += v, and -v into pg, row-major (point j's D values
 * together, as the scatter into the neighbours' rows reads them). */
ENGINE_INLINE void pull(const int D, const int clipping, const float *yi, int n, const float *coef, const float *p,
                        const float *py, int64_t cap, float *pg, float clip, double *gi)
{
    const float y0 = yi[0], y1 = yi[1], y2 = D > 2 ? yi[2] : 0.0f;
    const float *p0 = py, *p1 = py + cap, *p2 = py + (D > 2 ? 2 * cap : 0);
    float g0 = 0.0f, g1 = 0.0f, g2 = 0.0f;
#pragma omp simd reduction(+ : g0, g1, g2)
    for (int j = 0; j < n; j++) {
        float c = 2.0f * coef[j];
        float v0 = nmp_pair_grad(c, y0 - p0[j]), v1 = nmp_pair_grad(c, y1 - p1[j]);
        float v2 = D > 2 ? nmp_pair_grad(c, y2 - p2[j]) : 0.0f;
        if (clipping) v0 = nmp_clip(v0, clip), v1 = nmp_clip(v1, clip), v2 = nmp_clip(v2, clip);
        v0 *= p[j], v1 *= p[j], v2 *= p[j];
        g0 += v0, g1 += v1, pg[j * D] = -v0, pg[j * D + 1] = -v1;
        if (D > 2) g2 += v2, pg[j * D + 2] = -v2;
    }
    gi[0] += g0, gi[1] += g1;
    if (D > 2) gi[2] += g2;
}

/* Two floats as one 8-byte vector (any float's alignment, any type's alias). */
typedef float __attribute__((vector_size(8), may_alias, aligned(4))) float2;

/* The positives' gradients: v = 2 c (y_i - y_j) (clipped) times p, +v on the target, -v into
 * the neighbour's edge slot, or added to its row of the worker's dense gradient. */
ENGINE_INLINE void block_pull(const int D, nmp_engine *e, worker *wk, block *bk)
{
    const nmp_step *st = e->st;
    const int64_t cap = e->cap_pos;
    const float clip = e->shape.clip;
    for (int t = 0; t < bk->nb; t++) {
        const int64_t j0 = bk->offset[t], n = bk->offset[t + 1] - j0;
        float *pg = wk->pg + j0 * D;
        if (clip > 0.0f)
            pull(D, 1, bk->yi + t * D, (int)n, wk->pcoef + j0, wk->pp + j0, wk->py + j0, cap, pg, clip, bk->gi + t * D);
        else
            pull(D, 0, bk->yi + t * D, (int)n, wk->pcoef + j0, wk->pp + j0, wk->py + j0, cap, pg, clip, bk->gi + t * D);
        const int64_t first = st->edge_offset[bk->b0 + t], count = st->edge_offset[bk->b0 + t + 1] - first;
        const int32_t *pos = e->edge_index + e->edge_first[bk->b0 + t];
        float *sink = worker_sink(e, wk);
        if (!sink) {
            memcpy(e->g_pos + first * D, pg, (size_t)(count * D) * sizeof *pg);
            continue;
        }
        if (fetch_positives(e) && t + 1 < bk->nb) prefetch_next_positives(e, bk->b0 + t, sink, D, 1);
        if (D == 2) /* a row's two values in one load, add and store */
            for (int64_t j = 0; j < count; j++)
                *(float2 *)(sink + (int64_t)pos[j] * 2) += *(const float2 *)(pg + 2 * j);
        else
            for (int64_t j = 0; j < count; j++)
                for (int k = 0; k < D; k++) sink[(int64_t)pos[j] * D + k] += pg[j * D + k];
    }
}

/* L_i of target t of the block (the curve), from its distances recomputed in scratch. */
ENGINE_INLINE double block_value(const int D, const nmp_engine *e, worker *wk, const block *bk, int t)
{
    const nmp_negatives *ng = e->neg;
    const int m = ng->per_target, A = ng->approx_count;
    const int64_t j0 = bk->offset[t];
    tile_d2(D, 1, bk->yi + t * D, wk->zsoa, bk->cap, m, wk->vd2);
    tile_d2(D, 1, bk->yi + t * D, e->asoa, e->cap_approx, A, wk->vd2 + m);
    if (ng->approx_spread) add_spread(1, A, ng->approx_spread, wk->vd2 + m);
    const nmp_loss_terms terms = {.n_pos =
                                      (int32_t)(e->st->edge_offset[bk->b0 + t + 1] - e->st->edge_offset[bk->b0 + t]),
                                  .n_neg = m,
                                  .n_approx = A,
                                  .d2_pos = wk->pd2 + j0,
                                  .p = wk->pp + j0,
                                  .d2_neg = wk->vd2,
                                  .w_neg = bk->rw->given,
                                  .d2_approx = wk->vd2 + m,
                                  .w_approx = A ? ng->approx_weight + (int64_t)(bk->b0 + t) * A : NULL,
                                  .z = bk->z[t],
                                  .exaggeration = e->exaggeration};
    return e->ops->value(e->state, &terms);
}

/* Targets [b0, b0 + nb) of one row (nb <= TILE_ROWS). */
ENGINE_INLINE void run_block(const int D, const int F, nmp_engine *e, worker *wk, block *bk)
{
    const int32_t every = e->st->loss_every > 1 ? e->st->loss_every : 1, b0 = bk->b0;
    for (int t = 0; t < bk->nb; t++) {
        for (int k = 0; k < D; k++) bk->yi[t * D + k] = e->st->y[(int64_t)e->st->target[b0 + t] * D + k];
        bk->z[t] = 0.0;
        for (int k = 0; k < D; k++) bk->gi[t * D + k] = 0.0, bk->gr[t * D + k] = 0.0;
    }
    for (int k = 0; k < D; k++) bk->yi[bk->nb * D + k] = bk->yi[(bk->nb - 1) * D + k]; /* the spare row */
    bk->scale[bk->nb] = 0.0f;
    block_negatives(D, F, e, wk, bk);
    block_approx(D, F, e, wk, bk);
    block_attract(D, e, wk, bk);
    if (e->shape.coupled) block_coupled(D, F, e, wk, bk);
    block_pull(D, e, wk, bk);
    for (int t = 0; t < bk->nb; t++) {
        float *sink = worker_sink(e, wk);
        for (int k = 0; k < D; k++) {
            if (sink)
                sink[(int64_t)e->st->target[b0 + t] * D + k] += (float)bk->gi[t * D + k];
            else
                e->g_target[(int64_t)(b0 + t) * D + k] = (float)bk->gi[t * D + k];
        }
        e->stat[b0 + t] = bk->stat[t];
        if ((b0 + t) % every == 0) wk->loss += every * block_value(D, e, wk, bk, t);
    }
}

/* One instantiation per layout width and inlined formula. */
typedef block_fn_ptr block_fn;
#define BLOCK_FN(D, F)                                                                                                 \
    static void run_block_##D##_##F(nmp_engine *e, worker *wk, block *bk)                                              \
    {                                                                                                                  \
        run_block(D, F, e, wk, bk);                                                                                    \
    }
BLOCK_FN(2, 0)
BLOCK_FN(2, 1) BLOCK_FN(2, 2) BLOCK_FN(2, 3) BLOCK_FN(3, 0) BLOCK_FN(3, 1) BLOCK_FN(3, 2) BLOCK_FN(3, 3)
#undef BLOCK_FN
    static const block_fn block_fns[2][4] = {{run_block_2_0, run_block_2_1, run_block_2_2, run_block_2_3},
                                             {run_block_3_0, run_block_3_1, run_block_3_2, run_block_3_3}};

/* ------------------------------------------------------------------ rows */

static void row_targets(const nmp_engine *e, int64_t row, int32_t *b0, int32_t *b1)
{
    const nmp_negatives *ng = e->neg;
    if (ng->rows > 0)
        *b0 = ng->row_start[row], *b1 = ng->row_start[row + 1];
    else if (ng->shared)
        *b0 = 0, *b1 = e->st->batch;
    else
        *b0 = (int32_t)row, *b1 = (int32_t)row + 1;
}

/* How far ahead (in points) the row loops below fetch the rows they will touch: a row's
 * negatives are scattered over the layout, and each is a cache miss the loop would wait on. */
#define ROW_AHEAD 16

/* Point idx[l]'s D coordinates to column l of the coordinate-major zsoa (stride cap). D is a
 * constant at each call, so the copy unrolls. */
static inline __attribute__((always_inline)) void gather_points(const int D, const float *restrict y,
                                                                const int32_t *restrict idx, int m,
                                                                float *restrict zsoa, int64_t cap)
{
    for (int l = 0; l < m; l++) {
        if (l + ROW_AHEAD < m) __builtin_prefetch(y + (int64_t)idx[l + ROW_AHEAD] * D);
        for (int k = 0; k < D; k++) zsoa[k * cap + l] = y[(int64_t)idx[l] * D + k];
    }
}

/* When every target of rows [b0, b1) weighs the approximate points alike (cluster_mean: a
 * row's targets share one cell, so one R~), those points join the row as further terms, with
 * per-term weights (the zero ones left out): the row is then one long sweep, where each pair
 * of targets would otherwise run a short one over the approximate points with its own sums. */
static void fold_approx(const nmp_engine *e, worker *wk, int32_t b0, int32_t b1, row_weights *rw)
{
    const nmp_negatives *ng = e->neg;
    const int D = e->dims, m = rw->m, A = ng->approx_count;
    if (A == 0 || ng->approx_spread) return;
    const float *aw = ng->approx_weight + (int64_t)b0 * A;
    for (int32_t b = b0 + 1; b < b1; b++)
        if (memcmp(aw, ng->approx_weight + (int64_t)b * A, (size_t)A * sizeof *aw) != 0) return;
    const int64_t cap = e->cap_row;
    for (int l = 0; l < m; l++) wk->rwv[l] = rw->w ? rw->w[l] : rw->wc;
    int j = m;
    for (int c = 0; c < A; c++) {
        if (aw[c] == 0.0f) continue;
        for (int k = 0; k < D; k++) wk->zsoa[k * cap + j] = e->asoa[k * e->cap_approx + c];
        wk->rwv[j++] = aw[c];
    }
    for (int k = 0; k < D; k++) memset(wk->acc + k * cap + m, 0, (size_t)(j - m) * sizeof *wk->acc);
    rw->w = wk->rwv, rw->wc = 1.0f, rw->m = j, rw->A = 0;
}

/* Row `row`'s negatives (for its targets [b0, b1)) into the worker's coordinate-major scratch,
 * its gradient zeroed, and its weights (folded to one scalar when they are all equal); then
 * the approximate points, where fold_approx can. */
static void gather_row(const nmp_engine *e, worker *wk, int64_t row, int32_t b0, int32_t b1, row_weights *rw)
{
    const int D = e->dims, m = e->neg->per_target;
    const int64_t cap = e->cap_row;
    const int32_t *idx = e->neg->index + row * m;
    if (D == 2)
        gather_points(2, e->st->y, idx, m, wk->zsoa, cap);
    else
        gather_points(3, e->st->y, idx, m, wk->zsoa, cap);
    for (int k = 0; k < D; k++) memset(wk->acc + k * cap, 0, (size_t)m * sizeof *wk->acc);
    const float *w = e->neg->weight && m ? e->neg->weight + row * m : NULL;
    *rw = (row_weights){w, 1.0f, w, m, e->neg->approx_count};
    if (w) {
        int differ = 0; /* one vector pass, not a test per weight that stops at the first difference */
#pragma omp simd reduction(| : differ)
        for (int l = 1; l < m; l++) differ |= w[l] != w[0];
        if (!differ) rw->w = NULL, rw->wc = w[0];
    }
    fold_approx(e, wk, b0, b1, rw);
}

static void run_targets(nmp_engine *e, worker *wk, int32_t b0, int32_t b1, const row_weights *rw)
{
    block bk = {.rw = rw, .acc = e->shape.move_negatives ? wk->acc : NULL, .cap = e->cap_row};
    for (int32_t b = b0; b < b1; b += TILE_ROWS) {
        bk.b0 = b, bk.nb = b1 - b < TILE_ROWS ? b1 - b : TILE_ROWS;
        e->block(e, wk, &bk);
    }
}

/* Column l of the coordinate-major acc (stride cap) added to point idx[l]'s row of sink. */
static inline __attribute__((always_inline)) void scatter_points(const int D, const float *restrict acc, int64_t cap,
                                                                 const int32_t *restrict idx, int m,
                                                                 float *restrict sink)
{
    for (int l = 0; l < m; l++) {
        if (l + ROW_AHEAD < m) __builtin_prefetch(sink + (int64_t)idx[l + ROW_AHEAD] * D, 1);
        for (int k = 0; k < D; k++) sink[(int64_t)idx[l] * D + k] += acc[k * cap + l];
    }
}

/* A row's negatives' gradient (coordinate-major scratch) into its slots (row-major), or added
 * to the worker's dense gradient. */
static void store_row(const nmp_engine *e, const worker *wk, int64_t row, const float *acc)
{
    const int D = e->dims, m = e->neg->per_target;
    float *out = e->g_neg + row * m * D, *sink = worker_sink(e, wk);
    const int32_t *idx = e->neg->index + row * m;
    if (sink && D == 2)
        scatter_points(2, acc, e->cap_row, idx, m, sink);
    else if (sink)
        scatter_points(3, acc, e->cap_row, idx, m, sink);
    else
        for (int l = 0; l < m; l++)
            for (int k = 0; k < D; k++) out[l * D + k] = acc[k * e->cap_row + l];
}

/* Many rows: whole rows per worker, so a row's sums need no reduction across workers. */
static void rows_range(void *ctx, int64_t begin, int64_t end, int worker_id)
{
    nmp_engine *e = ctx;
    worker *wk = &e->w[worker_id];
    for (int64_t row = begin; row < end; row++) {
        int32_t b0, b1;
        row_weights rw;
        row_targets(e, row, &b0, &b1);
        gather_row(e, wk, row, b0, b1, &rw);
        run_targets(e, wk, b0, b1, &rw);
        if (e->shape.move_negatives) store_row(e, wk, row, wk->acc);
    }
}

typedef struct {
    nmp_engine *e;
    int64_t row;
    int32_t b0;
} row_job;

/* Few rows (shared negatives): one row's targets split over the workers, each with its own
 * gradient of the row, summed in worker order afterwards. */
static void row_targets_range(void *ctx, int64_t begin, int64_t end, int worker_id)
{
    const row_job *j = ctx;
    worker *wk = &j->e->w[worker_id];
    row_weights rw;
    const int32_t b0 = j->b0 + (int32_t)begin, b1 = j->b0 + (int32_t)end;
    gather_row(j->e, wk, j->row, b0, b1, &rw);
    run_targets(j->e, wk, b0, b1, &rw);
    /* with a dense sink each worker adds its own share: no reduction of the row */
    if (j->e->sink && j->e->shape.move_negatives) store_row(j->e, wk, j->row, wk->acc);
}

static void reduce_row(const nmp_engine *e, int64_t row)
{
    const int D = e->dims, m = e->neg->per_target;
    float *out = e->g_neg + row * m * D;
    for (int l = 0; l < m; l++)
        for (int k = 0; k < D; k++) {
            float sum = 0.0f;
            for (int w = 0; w < e->threads; w++) sum += e->w[w].acc[k * e->cap_row + l];
            out[l * D + k] = sum;
        }
}

/* ------------------------------------------------------------------ set-up */

/* Grows *p to `count` floats (contents not kept); 0 on failure. */
static int grow(float **p, int64_t count)
{
    free(*p);
    *p = malloc((size_t)(count > 0 ? count : 1) * sizeof **p);
    return *p != NULL;
}

/* The stride of a row's coordinate-major scratch for `terms` terms: a cache line more than
 * rounded up, so that its coordinates never lie a multiple of 4 KiB apart (a store to one and a
 * load from the next would look alike to the CPU's store forwarding, and the load would wait). */
static int64_t row_stride(int64_t terms)
{
    return (terms + 15) / 16 * 16 + 16;
}

static int grow_workers(nmp_engine *e, int64_t m, int64_t A, int64_t pos)
{
    const int64_t row = row_stride(m + A);
    int ok = 1;
    for (int t = 0; t < e->threads && ok; t++) {
        worker *wk = &e->w[t];
        ok = grow(&wk->zsoa, e->dims * row) && grow(&wk->acc, e->dims * row) && grow(&wk->rwv, m + A) &&
             grow(&wk->d2, TILE_ROWS * TILE_TERMS) && grow(&wk->coef, TILE_ROWS * (m + A + TILE_TERMS)) &&
             grow(&wk->pd2, pos) && grow(&wk->pcoef, pos) && grow(&wk->pp, pos) && grow(&wk->py, e->dims * pos) &&
             grow(&wk->pg, e->dims * pos) && grow(&wk->vd2, m + A);
    }
    return ok;
}

/* Scratch for this step's sizes; only the first steps allocate. */
static nmp_status ensure_capacity(nmp_engine *e, const nmp_step *st, const nmp_negatives *neg, nmp_err *err)
{
    int64_t m = neg->per_target, A = neg->approx_count, B = st->batch, E = st->edge_offset[B], deg = 1;
    int64_t slots = (int64_t)e->rows * m;
    for (int32_t b = 0; b < B; b++)
        if (st->edge_offset[b + 1] - st->edge_offset[b] > deg) deg = st->edge_offset[b + 1] - st->edge_offset[b];
    int ok = 1;
    if (m > e->cap_neg || A > e->cap_approx || deg > e->cap_deg) {
        int64_t nm = m > e->cap_neg ? m : e->cap_neg, na = A > e->cap_approx ? A : e->cap_approx;
        int64_t nd = deg > e->cap_deg ? deg : e->cap_deg, np = TILE_ROWS * pos_padded(nd);
        ok = grow_workers(e, nm, na, np) && grow(&e->asoa, e->dims * na);
        e->cap_neg = ok ? nm : 0, e->cap_approx = ok ? na : 0, e->cap_deg = ok ? nd : 0, e->cap_pos = ok ? np : 0;
        e->cap_row = ok ? row_stride(nm + na) : 0;
    }
    if (ok && B > e->cap_batch) {
        ok = grow(&e->g_target, B * e->dims) && grow(&e->stat, B);
        e->cap_batch = ok ? B : 0;
    }
    if (ok && E > e->cap_edges) {
        ok = grow(&e->g_pos, E * e->dims);
        e->cap_edges = ok ? E : 0;
    }
    if (ok && slots > e->cap_slots) {
        ok = grow(&e->g_neg, slots * e->dims);
        e->cap_slots = ok ? slots : 0;
    }
    if (ok) return NMP_OK;
    return nmp_fail(err, NMP_ERR_NOMEM,
                    "optimizer: out of memory for the step engine (%lld negatives, %lld approximate "
                    "terms per target, batch %lld)",
                    (long long)m, (long long)A, (long long)B);
}

nmp_status nmp_engine_new(nmp_engine **out, const nmp_loss_ops *ops, const void *state, const nmp_loss_shape *shape,
                          int32_t dims, nmp_err *err)
{
    *out = NULL;
    if (dims != 2 && dims != 3)
        return nmp_fail(err, NMP_ERR_UNSUPPORTED, "optimizer: the step engine maps to 2 or 3 dimensions, not %d", dims);
    nmp_engine *e = calloc(1, sizeof *e);
    int threads = nmp_host_settings()->threads;
    if (e) e->w = calloc((size_t)threads, sizeof *e->w);
    if (!e || !e->w) {
        free(e);
        return nmp_fail(err, NMP_ERR_NOMEM, "optimizer: out of memory for the step engine");
    }
    *e = (nmp_engine){.ops = ops, .state = state, .shape = *shape, .dims = dims, .threads = threads, .w = e->w};
    int formula = shape->formula >= NMP_FORMULA_INFONCE && shape->formula <= NMP_FORMULA_UMAP ? (int)shape->formula : 0;
    e->block = block_fns[dims == 3][formula];
    e->fk = (formula_params){.c = shape->param[0],
                             .curve = {shape->param[0], shape->param[1], shape->param[2], shape->param[3]}};
    e->fetch_bytes = l2_bytes();
    *out = e;
    return NMP_OK;
}

void nmp_engine_sink(nmp_engine *e, float *dense, int64_t n)
{
    e->sink = dense, e->sink_n = n;
}

void nmp_engine_edges(nmp_engine *e, const int32_t *index, const float *weight, const int64_t *first)
{
    e->src_index = index, e->src_weight = weight, e->src_first = first;
}

void nmp_engine_free(nmp_engine *e)
{
    if (!e) return;
    for (int t = 0; t < e->threads; t++) {
        worker *wk = &e->w[t];
        free(wk->zsoa), free(wk->acc), free(wk->rwv), free(wk->d2), free(wk->coef), free(wk->pd2);
        free(wk->pcoef), free(wk->vd2);
        free(wk->pp), free(wk->py), free(wk->pg);
    }
    free(e->w), free(e->asoa), free(e->g_target), free(e->g_pos), free(e->g_neg), free(e->stat);
    free(e);
}

nmp_status nmp_engine_run(nmp_engine *e, const nmp_step *st, const nmp_negatives *neg, double exaggeration,
                          nmp_engine_out *out, nmp_err *err)
{
    e->st = st, e->neg = neg, e->exaggeration = (float)exaggeration;
    e->edge_index = e->src_first ? e->src_index : st->pos;
    e->edge_weight = e->src_first ? e->src_weight : st->pos_weight;
    e->edge_first = e->src_first ? e->src_first : st->edge_offset;
    e->rows = nmp_negatives_rows(neg, st->batch);
    nmp_status s = ensure_capacity(e, st, neg, err);
    if (s != NMP_OK) return s;
    const int D = e->dims;
    for (int32_t c = 0; c < neg->approx_count; c++) /* coordinate-major, as a row's negatives */
        for (int k = 0; k < D; k++) e->asoa[k * e->cap_approx + c] = neg->approx_y[c * D + k];
    for (int t = 0; t < e->threads; t++) e->w[t].loss = 0.0;
    if ((int64_t)e->rows * neg->per_target > 0 && !e->sink)
        memset(e->g_neg, 0, (size_t)e->rows * (size_t)neg->per_target * (size_t)D * sizeof *e->g_neg);
    if (st->batch > 0 && e->rows >= 2 * e->threads) {
        nmp_parallel_for(e->rows, rows_range, e);
    } else if (st->batch > 0) {
        for (int64_t row = 0; row < e->rows; row++) {
            row_job j = {e, row, 0};
            int32_t b1;
            row_targets(e, row, &j.b0, &b1);
            for (int w = 0; w < e->threads; w++) /* a worker with no targets adds nothing */
                for (int k = 0; k < D; k++)
                    memset(e->w[w].acc + k * e->cap_row, 0, (size_t)neg->per_target * sizeof(float));
            nmp_parallel_for(b1 - j.b0, row_targets_range, &j);
            if (e->shape.move_negatives && !e->sink) reduce_row(e, row);
        }
    }
    double loss = 0.0, stat = 0.0;
    for (int t = 0; t < e->threads; t++) loss += e->w[t].loss;
    for (int32_t b = 0; b < st->batch; b++) stat += e->stat[b];
    *out = (nmp_engine_out){.target = e->sink ? NULL : e->g_target,
                            .pos = e->sink ? NULL : e->g_pos,
                            .neg = e->sink ? NULL : e->g_neg,
                            .loss = loss,
                            .stat = stat,
                            .pairs = (int64_t)st->batch * (neg->per_target + neg->approx_count) +
                                     st->edge_offset[st->batch]};
    return NMP_OK;
}
