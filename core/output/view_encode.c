/* See view_encode.h: the page's arrays as base64 and its strings as script-safe JSON. */
#include "view_encode.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(nmp_text *t, size_t more)
{
    if (t->oom) return -1;
    if (t->len + more + 1 <= t->cap) return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more + 1) cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) return t->oom = 1, -1;
    t->p = p, t->cap = cap;
    return 0;
}

void nmp_text_put(nmp_text *t, const void *s, size_t len)
{
    if (reserve(t, len)) return;
    memcpy(t->p + t->len, s, len);
    t->len += len;
    t->p[t->len] = 0;
}

void nmp_text_printf(nmp_text *t, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0 || reserve(t, (size_t)len)) return;
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)len + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)len;
}

void nmp_text_free(nmp_text *t)
{
    free(t->p);
    memset(t, 0, sizeof *t);
}

void nmp_text_base64(nmp_text *t, const void *bytes, size_t len)
{
    static const char digit[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = bytes;
    if (reserve(t, (len + 2) / 3 * 4)) return;
    char *o = t->p + t->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        *o++ = digit[v >> 18], *o++ = digit[v >> 12 & 63], *o++ = digit[v >> 6 & 63], *o++ = digit[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0);
        *o++ = digit[v >> 18], *o++ = digit[v >> 12 & 63];
        *o++ = i + 1 < len ? digit[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    t->len = (size_t)(o - t->p);
    t->p[t->len] = 0;
}

/* The length of the valid UTF-8 sequence at s (at most `left` bytes), or 0: overlong forms,
 * surrogates and code points past U+10FFFF are not valid. */
static int utf8_length(const unsigned char *s, size_t left)
{
    int k = s[0] < 0x80                    ? 1
            : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
            : s[0] >= 0xe0 && s[0] <= 0xef ? 3
            : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                           : 0;
    if (k <= 1 || (size_t)k > left) return k == 1;
    uint32_t cp = s[0] & (0x7fu >> k);
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    return cp < least[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : k;
}

void nmp_text_json_string(nmp_text *t, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    nmp_text_put(t, "\"", 1);
    for (size_t i = 0; i < len && !t->oom;) {
        const int k = utf8_length(u + i, len - i);
        const unsigned char c = u[i];
        if (k == 3 && c == 0xe2 && u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
            nmp_text_printf(t, "\\u20%02x", u[i + 2] - 0x80u); /* U+2028, U+2029 */
        else if (k > 1)
            nmp_text_put(t, u + i, (size_t)k);
        else if (k == 0)
            nmp_text_put(t, "\\ufffd", 6);
        else if (c == '"' || c == '\\')
            nmp_text_printf(t, "\\%c", c);
        else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&')
            nmp_text_printf(t, "\\u%04x", c);
        else
            nmp_text_put(t, &c, 1);
        i += k ? (size_t)k : 1;
    }
    nmp_text_put(t, "\"", 1);
}

void nmp_view_quantise(const float *y, int64_t n, int dims, uint16_t **q, double lo[2], double hi[2])
{
    for (int a = 0; a < 2; a++) {
        lo[a] = hi[a] = y[a];
        for (int64_t i = 1; i < n; i++) {
            double v = y[i * dims + a];
            lo[a] = v < lo[a] ? v : lo[a], hi[a] = v > hi[a] ? v : hi[a];
        }
    }
    if (!(*q = malloc((size_t)n * 2 * sizeof **q))) return;
    for (int a = 0; a < 2; a++) {
        double step = hi[a] > lo[a] ? 65535.0 / (hi[a] - lo[a]) : 0;
        for (int64_t i = 0; i < n; i++) (*q)[2 * i + a] = (uint16_t)lrint((y[i * dims + a] - lo[a]) * step);
    }
}

static int by_value(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int nmp_view_label_ranks(const int32_t *labels, int64_t n, int32_t **values, int64_t *count, void **ranks, int *width)
{
    int32_t *v = malloc((size_t)n * sizeof *v);
    if (!v) return -1;
    memcpy(v, labels, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, by_value);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || v[i] != v[k - 1]) v[k++] = v[i];
    *width = k <= 256 ? 1 : k <= 65536 ? 2 : 4;
    unsigned char *r = malloc((size_t)n * (size_t)*width);
    if (!r) return free(v), -1;
    for (int64_t i = 0; i < n; i++) {
        uint32_t rank = (uint32_t)((const int32_t *)bsearch(labels + i, v, (size_t)k, sizeof *v, by_value) - v);
        memcpy(r + i * *width, &rank, (size_t)*width); /* the low bytes: the host is little-endian, as is the page */
    }
    *values = v, *count = k, *ranks = r;
    return 0;
}
