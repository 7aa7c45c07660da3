/* nomad view's page: the viewer (view.html) with the data put in where it says
 * <!--NOMAD-DATA-->, as script elements the browser does not run and the viewer decodes. */
#include "view.h"

#include <stdlib.h>
#include <string.h>

#include "view_encode.h"

/* view.html, turned into this array by cmake/embed_file.cmake when the program is built. */
extern const unsigned char nmp_view_html[];
extern const size_t nmp_view_html_len;

static const char marker[] = "<!--NOMAD-DATA-->";

/* What the page needs besides the arrays: n, the extremes that undo the quantisation, the
 * distinct labels. Strings go through nmp_text_json_string, so nothing here ends the script. */
static void meta_json(nmp_text *t, const nmp_view_input *in, const double lo[2], const double hi[2],
                      const int32_t *values, int64_t count, int width)
{
    nmp_text_printf(t, "{\"n\": %lld, \"dims\": %d, \"lo\": [%.17g, %.17g], \"hi\": [%.17g, %.17g], \"title\": ",
                    (long long)in->n, in->dims, lo[0], lo[1], hi[0], hi[1]);
    nmp_text_json_string(t, in->title, strlen(in->title));
    nmp_text_printf(t, ", \"texts\": %s, \"label_bytes\": %d, \"labels\": ", in->texts ? "true" : "false", width);
    if (!values) nmp_text_put(t, "null", 4);
    for (int64_t i = 0; i < count; i++) nmp_text_printf(t, "%c%d", i ? ',' : '[', values[i]);
    nmp_text_put(t, values ? "]}" : "}", values ? 2 : 1);
}

static void texts_json(nmp_text *t, const nmp_texts *texts)
{
    nmp_text_put(t, "[", 1);
    for (int64_t i = 0; i < texts->n && !t->oom; i++) {
        if (i) nmp_text_put(t, ",\n", 2);
        nmp_text_json_string(t, texts->bytes + texts->start[i], (size_t)(texts->start[i + 1] - texts->start[i]));
    }
    nmp_text_put(t, "]", 1);
}

/* One <script> element of data: its id, type and text. */
static void element(nmp_text *t, const char *id, const char *type, const nmp_text *body)
{
    nmp_text_printf(t, "<script id=\"%s\" type=\"%s\">", id, type);
    nmp_text_put(t, body->p, body->len);
    nmp_text_put(t, "</script>\n", 10);
}

/* The data elements, in `data`: meta, positions (base64 of the uint16 pairs: half the bytes of
 * float32, and 1/65535 of the map's width is under a pixel until a 1000-pixel view is zoomed
 * in some 65 times), label ranks (base64), texts (a JSON array). */
static nmp_status encode(const nmp_view_input *in, nmp_text *data, nmp_err *err)
{
    double lo[2], hi[2];
    uint16_t *q = NULL;
    int32_t *values = NULL;
    void *ranks = NULL;
    int64_t count = 0;
    int width = 0;
    nmp_text meta = {0}, pos = {0}, lab = {0}, txt = {0};
    nmp_view_quantise(in->y, in->n, in->dims, &q, lo, hi);
    int oom = !q || (in->labels && nmp_view_label_ranks(in->labels, in->n, &values, &count, &ranks, &width));
    if (!oom) {
        meta_json(&meta, in, lo, hi, values, count, width);
        nmp_text_base64(&pos, q, (size_t)in->n * 4);
        if (ranks) nmp_text_base64(&lab, ranks, (size_t)in->n * (size_t)width);
        if (in->texts) texts_json(&txt, in->texts);
        element(data, "nomad-meta", "application/json", &meta);
        element(data, "nomad-pos", "application/octet-stream", &pos);
        if (ranks) element(data, "nomad-labels", "application/octet-stream", &lab);
        if (in->texts) element(data, "nomad-texts", "application/json", &txt);
        oom = meta.oom || pos.oom || lab.oom || txt.oom || data->oom;
    }
    free(q), free(values), free(ranks);
    nmp_text_free(&meta), nmp_text_free(&pos), nmp_text_free(&lab), nmp_text_free(&txt);
    return oom ? nmp_fail(err, NMP_ERR_NOMEM, "view: out of memory encoding %lld points", (long long)in->n) : NMP_OK;
}

nmp_status nmp_view_write(const char *path, const nmp_view_input *in, nmp_err *err)
{
    const char *page = (const char *)nmp_view_html;
    const char *at = NULL;
    for (size_t i = 0; !at && i + sizeof marker - 1 <= nmp_view_html_len; i++)
        if (!memcmp(page + i, marker, sizeof marker - 1)) at = page + i;
    if (!at) return nmp_fail(err, NMP_ERR_RUNTIME, "view: the page built into nomad has no %s", marker);
    nmp_text data = {0};
    nmp_status s = encode(in, &data, err);
    const void *parts[3] = {page, data.p, at + sizeof marker - 1};
    const size_t lens[3] = {(size_t)(at - page), data.len,
                            nmp_view_html_len - (size_t)(at - page) - (sizeof marker - 1)};
    if (s == NMP_OK) s = nmp_file_write_atomic_parts(path, parts, lens, 3, err);
    nmp_text_free(&data);
    return s;
}
