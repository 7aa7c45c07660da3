/* The data of nomad view's page as text the page decodes: base64 of little-endian arrays, and
 * JSON strings that are safe inside a <script> element. */
#ifndef NOMAD_VIEW_ENCODE_H
#define NOMAD_VIEW_ENCODE_H

#include <stddef.h>
#include <stdint.h>

/* A growing text; oom set (and the text kept as it was) once an append could not grow it. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} nmp_text;

void nmp_text_put(nmp_text *t, const void *s, size_t len);
void nmp_text_printf(nmp_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nmp_text_free(nmp_text *t);

/* Appends len bytes as base64 (RFC 4648, padded). */
void nmp_text_base64(nmp_text *t, const void *bytes, size_t len);
/* Appends len bytes as a JSON string: quotes, backslashes and control bytes escaped; <, > and &
 * as \u003c.. so that no "</script>" or "<!--" ends the element early; U+2028 and U+2029
 * escaped (line ends to older JavaScript); a byte that does not start valid UTF-8 as U+FFFD. */
void nmp_text_json_string(nmp_text *t, const char *s, size_t len);

/* The first two columns of an n x dims layout quantised to uint16 per axis, interleaved
 * (x0 y0 x1 y1 ...): q = round((v - lo) / (hi - lo) * 65535), lo and hi each axis's extremes
 * (q = 0 on an axis without extent). *q is malloc'd (4n bytes); NULL when out of memory. */
void nmp_view_quantise(const float *y, int64_t n, int dims, uint16_t **q, double lo[2], double hi[2]);

/* The distinct values of labels (sorted, malloc'd into *values, their count in *count) and
 * each point's rank among them, in the fewest bytes that hold count - 1 (1, 2 or 4, in
 * *width; malloc'd into *ranks). -1 when out of memory (nothing allocated). */
int nmp_view_label_ranks(const int32_t *labels, int64_t n, int32_t **values, int64_t *count, void **ranks, int *width);

#endif
