/* map.png: a layout drawn as an image in C. With labels: a categorical palette with a
 * legend; without: log-scaled point density through a perceptual colour map. */
#ifndef NOMAD_PLOT_H
#define NOMAD_PLOT_H

#include "error.h"
#include "nomad/types.h"

typedef struct {
    int size;        /* pixels of one panel's side (square) */
    double alpha;    /* opacity of one point (labels mode) */
    double margin;   /* fraction of the side left blank around the points */
    double clip;     /* fraction of points allowed outside the view at each side (robust bounds) */
} nmp_plot_opts;

void nmp_plot_defaults(nmp_plot_opts *o);

/* Draws y (n x dims, dims 2 or 3: three projections side by side) into an RGB image.
 * labels may be NULL. *rgb is malloc'd (width x height x 3). */
nmp_status nmp_plot_render(const float *y, int64_t n, int dims, const int32_t *labels, const nmp_plot_opts *o,
                           uint8_t **rgb, int *width, int *height, nmp_err *err);

/* Renders and writes a PNG atomically (temp file + rename). */
nmp_status nmp_plot_write(const char *path, const float *y, int64_t n, int dims, const int32_t *labels,
                          const nmp_plot_opts *o, nmp_err *err);

#endif
