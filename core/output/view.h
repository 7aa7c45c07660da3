/* nomad view's page: one HTML file holding a layout, its labels and texts and the viewer
 * (view.html, compiled into the program), so it opens anywhere without the network. */
#ifndef NOMAD_VIEW_H
#define NOMAD_VIEW_H

#include <stdint.h>

#include "error.h"
#include "io.h"

typedef struct {
    const char *title; /* shown by the page (the run folder); any bytes */
    const float *y;    /* n x dims, row-major, finite; the first two columns are drawn */
    int64_t n;
    int dims;               /* 2 or 3 */
    const int32_t *labels;  /* n, or NULL (one colour) */
    const nmp_texts *texts; /* n, or NULL */
} nmp_view_input;

/* Writes the page to path atomically: on failure nothing is left there. The caller owns
 * everything `in` points to. */
nmp_status nmp_view_write(const char *path, const nmp_view_input *in, nmp_err *err);

#endif
