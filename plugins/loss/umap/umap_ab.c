/* umap-learn's find_ab_params: least-squares fit of 1 / (1 + a x^(2b)) to the curve that is
 * 1 below min_dist and exp(-(x - min_dist) / spread) above, by Levenberg-Marquardt. */
#include <math.h>
#include <stddef.h>

#include "umap_ab.h"

/* The fit's grid and start are umap-learn's (np.linspace(0, 3 spread, 300), p0 = (1, 1)). */
#define AB_POINTS 300
#define AB_RANGE 3.0
#define AB_MAX_ITER 1000

static double ab_target(double x, double min_dist, double spread)
{
    return x < min_dist ? 1.0 : exp(-(x - min_dist) / spread);
}

/* Sum of squared residuals at (a, b); with jtj/jtr non-NULL also the normal equations. */
static double ab_sse(double a, double b, double min_dist, double spread, double jtj[3], double jtr[2])
{
    double sse = 0.0;
    if (jtj) jtj[0] = jtj[1] = jtj[2] = jtr[0] = jtr[1] = 0.0;
    for (int i = 0; i < AB_POINTS; i++) {
        double x = AB_RANGE * spread * i / (AB_POINTS - 1);
        double xp = x > 0.0 ? pow(x, 2.0 * b) : 0.0, den = 1.0 + a * xp;
        double r = 1.0 / den - ab_target(x, min_dist, spread);
        sse += r * r;
        if (!jtj) continue;
        double ja = -xp / (den * den), jb = x > 0.0 ? -a * xp * 2.0 * log(x) / (den * den) : 0.0;
        jtj[0] += ja * ja, jtj[1] += ja * jb, jtj[2] += jb * jb;
        jtr[0] += ja * r, jtr[1] += jb * r;
    }
    return sse;
}

int umap_find_ab(double min_dist, double spread, double *a_out, double *b_out)
{
    double a = 1.0, b = 1.0, lambda = 1e-3, jtj[3], jtr[2];
    double sse = ab_sse(a, b, min_dist, spread, jtj, jtr);
    for (int it = 0; it < AB_MAX_ITER && lambda < 1e12; it++) {
        /* (J^T J + lambda diag(J^T J)) delta = -J^T r, a 2 x 2 system. */
        double m00 = jtj[0] * (1.0 + lambda), m11 = jtj[2] * (1.0 + lambda), m01 = jtj[1];
        double det = m00 * m11 - m01 * m01;
        if (!(fabs(det) > 0.0)) break;
        double da = (-jtr[0] * m11 + jtr[1] * m01) / det, db = (-jtr[1] * m00 + jtr[0] * m01) / det;
        double na = a + da, nb = b + db;
        double nsse = na > 0.0 && nb > 0.0 ? ab_sse(na, nb, min_dist, spread, NULL, NULL) : INFINITY;
        if (nsse < sse) {
            int done = fabs(da) <= 1e-12 * (1.0 + fabs(a)) && fabs(db) <= 1e-12 * (1.0 + fabs(b));
            a = na, b = nb, lambda *= 0.1;
            sse = ab_sse(a, b, min_dist, spread, jtj, jtr);
            if (done) break;
        } else {
            lambda *= 10.0;
        }
    }
    *a_out = a, *b_out = b;
    return isfinite(a) && isfinite(b) && a > 0.0 && b > 0.0;
}
