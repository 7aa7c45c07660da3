/* Layout rendering: per-pixel accumulation (counts or mean label colour), robust view
 * bounds from quantiles, a legend in a 5x7 font, and PNG output through libpng. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "plot_font.h"

void nmp_plot_defaults(nmp_plot_opts *o) { *o = (nmp_plot_opts){.size = 1200, .alpha = 0.35, .margin = 0.03, .clip = 0.001}; }

/* tab10, then golden-angle hues for further labels. */
static void label_colour(int32_t label, float rgb[3])
{
    static const uint8_t tab10[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                         {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                         {188, 189, 34},  {23, 190, 207}};
    if (label >= 0 && label < 10) {
        for (int c = 0; c < 3; c++) rgb[c] = tab10[label][c];
        return;
    }
    double h = fmod((double)label * 137.508, 360.0) / 60.0, x = 1 - fabs(fmod(h, 2.0) - 1);
    double r = 0, g = 0, b = 0;
    int sector = (int)h;
    if (sector == 0) r = 1, g = x; else if (sector == 1) r = x, g = 1; else if (sector == 2) g = 1, b = x;
    else if (sector == 3) g = x, b = 1; else if (sector == 4) r = x, b = 1; else r = 1, b = x;
    rgb[0] = (float)(40 + 180 * r), rgb[1] = (float)(40 + 180 * g), rgb[2] = (float)(40 + 180 * b);
}

/* A viridis-like perceptual ramp from anchor colours, t in [0, 1]. */
static void ramp(double t, uint8_t out[3])
{
    static const double a[6][3] = {{68, 1, 84}, {65, 68, 135}, {42, 120, 142}, {34, 168, 132}, {122, 209, 81}, {253, 231, 37}};
    double s = t * 5.0;
    int i = s >= 5 ? 4 : (int)s;
    double f = s - i;
    for (int c = 0; c < 3; c++) out[c] = (uint8_t)lrint(a[i][c] * (1 - f) + a[i + 1][c] * f);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Lower/upper view bounds of coordinate `axis` from quantiles of a strided sample. */
static void bounds(const float *y, int64_t n, int dims, int axis, double clip, double margin, double *lo, double *hi)
{
    int64_t m = n < 200000 ? n : 200000, stride = n / (m ? m : 1);
    float *s = malloc((size_t)(m ? m : 1) * sizeof *s);
    for (int64_t i = 0; i < m; i++) s[i] = y[(i * stride) * dims + axis];
    qsort(s, (size_t)m, sizeof *s, cmp_float);
    int64_t a = (int64_t)(clip * (double)(m - 1)), b = (int64_t)((1 - clip) * (double)(m - 1));
    *lo = m ? s[a] : 0, *hi = m ? s[b] : 1;
    free(s);
    double pad = (*hi - *lo) * margin + 1e-12;
    *lo -= pad, *hi += pad;
}

typedef struct {
    int w, h, panel;
    uint32_t *count;
    float *sum; /* 3 per pixel, labels mode */
} canvas;

static void splat(canvas *cv, int px, int py, const float *rgb)
{
    if (px < 0 || py < 0 || px >= cv->w || py >= cv->h) return;
    int64_t at = (int64_t)py * cv->w + px;
    cv->count[at]++;
    if (rgb)
        for (int c = 0; c < 3; c++) cv->sum[at * 3 + c] += rgb[c];
}

/* Accumulates the projection (ax, ay) into panel `p`. Square, equal-aspect view. */
static void draw_panel(canvas *cv, int p, const float *y, int64_t n, int dims, int ax, int ay, const int32_t *labels,
                       const nmp_plot_opts *o)
{
    double x0, x1, y0, y1;
    bounds(y, n, dims, ax, o->clip, o->margin, &x0, &x1);
    bounds(y, n, dims, ay, o->clip, o->margin, &y0, &y1);
    double span = fmax(x1 - x0, y1 - y0), cx = 0.5 * (x0 + x1), cy = 0.5 * (y0 + y1);
    double scale = (double)cv->panel / span;
    int dot = n < 20000 ? 3 : n < 200000 ? 2 : 1;
    float rgb[3];
    for (int64_t i = 0; i < n; i++) {
        double fx = (y[i * dims + ax] - cx) * scale + 0.5 * cv->panel;
        double fy = 0.5 * cv->panel - (y[i * dims + ay] - cy) * scale;
        if (!(fx >= 0 && fy >= 0 && fx < cv->panel && fy < cv->panel)) continue;
        if (labels) label_colour(labels[i], rgb);
        for (int dy = 0; dy < dot; dy++)
            for (int dx = 0; dx < dot; dx++)
                splat(cv, p * cv->panel + (int)fx + dx, (int)fy + dy, labels ? rgb : NULL);
    }
}

static void to_rgb(const canvas *cv, int labelled, double alpha, uint8_t *rgb)
{
    uint32_t maxc = 1;
    for (int64_t i = 0; i < (int64_t)cv->w * cv->h; i++) maxc = cv->count[i] > maxc ? cv->count[i] : maxc;
    for (int64_t i = 0; i < (int64_t)cv->w * cv->h; i++) {
        uint32_t c = cv->count[i];
        uint8_t *px = rgb + i * 3;
        if (!c) {
            px[0] = px[1] = px[2] = 255;
        } else if (labelled) {
            double a = 1 - pow(1 - alpha, (double)c);
            for (int k = 0; k < 3; k++) px[k] = (uint8_t)lrint(255 * (1 - a) + a * cv->sum[i * 3 + k] / c);
        } else {
            ramp(log1p((double)c) / log1p((double)maxc), px);
        }
    }
}

static void fill_rect(uint8_t *rgb, int w, int h, int x, int y, int rw, int rh, const uint8_t col[3])
{
    for (int j = y; j < y + rh && j < h; j++)
        for (int i = x; i < x + rw && i < w; i++)
            if (i >= 0 && j >= 0) memcpy(rgb + ((int64_t)j * w + i) * 3, col, 3);
}

static void draw_text(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale)
{
    static const uint8_t black[3] = {20, 20, 20};
    for (; *s; s++, x += 6 * scale) {
        const uint8_t *g = nmp_font_glyph(*s);
        for (int r = 0; g && r < 7; r++)
            for (int c = 0; c < 5; c++)
                if (g[r] & (0x10 >> c)) fill_rect(rgb, w, h, x + c * scale, y + r * scale, scale, scale, black);
    }
}

/* Legend in the top-right corner of the first panel: one row per distinct label. */
static void draw_legend(uint8_t *rgb, int w, int h, int panel, const int32_t *labels, int64_t n)
{
    int32_t lo = labels[0], hi = labels[0];
    for (int64_t i = 1; i < n; i++) lo = labels[i] < lo ? labels[i] : lo, hi = labels[i] > hi ? labels[i] : hi;
    int64_t range = (int64_t)hi - lo + 1;
    uint8_t *seen = range <= 4096 ? calloc((size_t)range, 1) : NULL;
    if (!seen) return;
    for (int64_t i = 0; i < n; i++) seen[labels[i] - lo] = 1;
    int scale = panel >= 800 ? 3 : 2, row = 10 * scale, x = panel - 12 * 6 * scale, y = 8, shown = 0;
    static const uint8_t white[3] = {255, 255, 255};
    for (int64_t v = 0; v < range && shown < 40; v++) {
        if (!seen[v]) continue;
        float c[3];
        label_colour((int32_t)(lo + v), c);
        uint8_t col[3] = {(uint8_t)c[0], (uint8_t)c[1], (uint8_t)c[2]};
        char text[24];
        snprintf(text, sizeof text, "%lld", (long long)(lo + v));
        fill_rect(rgb, w, h, x - 4, y - 2, 12 * 6 * scale, row, white);
        fill_rect(rgb, w, h, x, y, 7 * scale, 7 * scale, col);
        draw_text(rgb, w, h, x + 10 * scale, y, text, scale);
        y += row, shown++;
    }
    free(seen);
}

nmp_status nmp_plot_render(const float *y, int64_t n, int dims, const int32_t *labels, const nmp_plot_opts *o,
                           uint8_t **rgb, int *width, int *height, nmp_err *err)
{
    if (dims != 2 && dims != 3) return nmp_fail(err, NMP_ERR_INVALID, "plot: layouts have 2 or 3 dimensions, got %d", dims);
    if (n < 1) return nmp_fail(err, NMP_ERR_INVALID, "plot: the layout has no points");
    int panels = dims == 3 ? 3 : 1;
    canvas cv = {.w = o->size * panels, .h = o->size, .panel = o->size};
    cv.count = calloc((size_t)cv.w * (size_t)cv.h, sizeof *cv.count);
    cv.sum = labels ? calloc((size_t)cv.w * (size_t)cv.h * 3, sizeof *cv.sum) : NULL;
    *rgb = malloc((size_t)cv.w * (size_t)cv.h * 3);
    if (!cv.count || (labels && !cv.sum) || !*rgb) {
        free(cv.count), free(cv.sum), free(*rgb);
        *rgb = NULL;
        return nmp_fail(err, NMP_ERR_NOMEM, "plot: out of memory for a %dx%d image", cv.w, cv.h);
    }
    static const int axes[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (int p = 0; p < panels; p++) draw_panel(&cv, p, y, n, dims, axes[p][0], axes[p][1], labels, o);
    to_rgb(&cv, labels != NULL, o->alpha, *rgb);
    if (labels) draw_legend(*rgb, cv.w, cv.h, cv.panel, labels, n);
    free(cv.count), free(cv.sum);
    *width = cv.w, *height = cv.h;
    return NMP_OK;
}

/* libpng's default handler prints its message on stderr; keep it (and errno, which a
 * failed fwrite set) for our one-line error instead. */
typedef struct {
    char msg[128];
    int errnum;
} png_failure;

static void png_fail(png_structp png, png_const_charp msg)
{
    png_failure *pf = png_get_error_ptr(png);
    pf->errnum = errno;
    snprintf(pf->msg, sizeof pf->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Writes the PNG to tmp; messages name path, the file the user asked for. */
static nmp_status write_png(const char *path, const char *tmp, const uint8_t *rgb, int w, int h, nmp_err *err)
{
    FILE *f = fopen(tmp, "wb");
    if (!f) return nmp_fail(err, nmp_write_failure(errno), "%s: cannot write: %s", path, strerror(errno));
    png_failure pf = {"out of memory", ENOMEM};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &pf, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return nmp_fail(err, nmp_write_failure(pf.errnum), "%s: PNG encoding failed: %s (%s)", path, pf.msg,
                        strerror(pf.errnum));
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 3);
    png_write_info(png, info);
    for (int r = 0; r < h; r++) png_write_row(png, (png_const_bytep)(rgb + (size_t)r * (size_t)w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        int e = errno;
        fclose(f);
        return nmp_fail(err, nmp_write_failure(e), "%s: write failed: %s", path, strerror(e));
    }
    return fclose(f) == 0 ? NMP_OK : nmp_fail(err, nmp_write_failure(errno), "%s: write failed: %s", path, strerror(errno));
}

nmp_status nmp_plot_write(const char *path, const float *y, int64_t n, int dims, const int32_t *labels,
                          const nmp_plot_opts *o, nmp_err *err)
{
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    nmp_status s = nmp_output_replaceable(path, err);
    if (s == NMP_OK) s = nmp_plot_render(y, n, dims, labels, o, &rgb, &w, &h, err);
    if (s != NMP_OK) return s;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    s = write_png(path, tmp, rgb, w, h, err);
    free(rgb);
    if (s == NMP_OK && rename(tmp, path) != 0)
        s = nmp_fail(err, nmp_write_failure(errno), "%s: cannot rename the temporary file: %s", path, strerror(errno));
    if (s != NMP_OK) unlink(tmp);
    return s;
}
