/* nomad view's page data: base64, script-safe JSON strings, the uint16 positions, label ranks,
 * the text column's lines, and a written page whose data cannot end its script elements. The
 * page in a browser is tests/e2e/view.sh. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_fixtures.h"

#include "io.h"
#include "view.h"
#include "view_encode.h"

static char *json_of(const char *s, size_t len)
{
    static nmp_text t;
    nmp_text_free(&t);
    nmp_text_json_string(&t, s, len);
    assert_false(t.oom);
    return t.p;
}

static void test_base64_rfc4648_vectors(void **state)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        nmp_text t = {0};
        nmp_text_base64(&t, in[i], strlen(in[i]));
        assert_string_equal(t.p ? t.p : "", out[i]);
        nmp_text_free(&t);
    }
    const unsigned char high[3] = {0xff, 0xfe, 0x00};
    nmp_text t = {0};
    nmp_text_base64(&t, high, 3);
    assert_string_equal(t.p, "//4A");
    nmp_text_free(&t);
}

/* Nothing a text holds may end the script element or the JSON string, or be other than UTF-8. */
static void test_json_string_is_script_safe(void **state)
{
    assert_string_equal(json_of("</script><!--x-->", 17), "\"\\u003c/script\\u003e\\u003c!--x--\\u003e\"");
    assert_string_equal(json_of("a\"b\\c&", 6), "\"a\\\"b\\\\c\\u0026\"");
    assert_string_equal(json_of("t\tn\x01\x7f", 5), "\"t\\u0009n\\u0001\\u007f\"");
    assert_string_equal(json_of("a\0b", 3), "\"a\\u0000b\"");
    assert_string_equal(json_of("\xe2\x80\xa8\xe2\x80\xa9", 6), "\"\\u2028\\u2029\"");
    assert_string_equal(json_of("\xc3\xa9\xf0\x9f\x99\x82", 6), "\"\xc3\xa9\xf0\x9f\x99\x82\""); /* é 🙂 kept */
    assert_string_equal(json_of("\xff", 1), "\"\\ufffd\"");
    assert_string_equal(json_of("\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");                       /* overlong / */
    assert_string_equal(json_of("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\"");            /* a surrogate */
    assert_string_equal(json_of("\xf4\x90\x80\x80", 4), "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* past U+10FFFF */
    assert_string_equal(json_of("\xe2\x82", 2), "\"\\ufffd\\ufffd\"");                       /* cut short */
    assert_string_equal(json_of("x\xe2\x82\xac", 4), "\"x\xe2\x82\xac\"");                   /* € */
}

static void test_quantise_spans_each_axis(void **state)
{
    const float y[9] = {-1, 10, 7, 1, 2, 10, 3, 5.5f, 9}; /* 3 x 3: the third column is not drawn */
    uint16_t *q = NULL;
    double lo[2], hi[2];
    nmp_view_quantise(y, 3, 3, &q, lo, hi);
    assert_non_null(q);
    assert_true(lo[0] == -1 && hi[0] == 3 && lo[1] == 2 && hi[1] == 10);
    const uint16_t want[6] = {0, 65535, 32768, 0, 65535, 28672}; /* 32767.5 and 28671.6 rounded */
    for (int i = 0; i < 6; i++) assert_int_equal(q[i], want[i]);
    free(q);
    const float one[2] = {4, -2}; /* one point: no extent on either axis */
    nmp_view_quantise(one, 1, 2, &q, lo, hi);
    assert_true(q[0] == 0 && q[1] == 0 && lo[0] == 4 && hi[1] == -2);
    free(q);
}

static void check_ranks(int64_t count, int width)
{
    int64_t n = count * 2;
    int32_t *labels = malloc((size_t)n * sizeof *labels), *values = NULL;
    for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)((i * 7919) % count) * 3 - 5; /* each value twice */
    void *ranks = NULL;
    int64_t k = 0;
    int w = 0;
    assert_int_equal(nmp_view_label_ranks(labels, n, &values, &k, &ranks, &w), 0);
    assert_int_equal(k, count);
    assert_int_equal(w, width);
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = 0;
        memcpy(&r, (unsigned char *)ranks + i * w, (size_t)w);
        assert_true(r < (uint32_t)k && values[r] == labels[i]);
    }
    for (int64_t r = 1; r < k; r++) assert_true(values[r - 1] < values[r]);
    free(labels), free(values), free(ranks);
}

static void test_label_ranks_in_the_fewest_bytes(void **state)
{
    check_ranks(1, 1);
    check_ranks(256, 1);
    check_ranks(257, 2);
    check_ranks(65536, 2);
    check_ranks(65537, 4);
}

static void assert_lines(const nmp_texts *t, int64_t n, const char *const *want, const size_t *len)
{
    assert_int_equal(t->n, n);
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(t->start[i + 1] - t->start[i], len[i]);
        assert_memory_equal(t->bytes + t->start[i], want[i], len[i]);
    }
}

static void test_texts_one_line_per_point(void **state)
{
    nmp_texts t;
    nmp_err e = {0};
    static const char *const want[] = {"a b", "", "c\0d", "\xff</script>"};
    static const size_t len[] = {3, 0, 3, 10};
    const char file[] = "a b\r\n\nc\0d\n\xff</script>"; /* CRLF, an empty line, a NUL, no final newline */
    assert_int_equal(nmp_texts_read(fx_write("t.txt", file, sizeof file - 1, NULL, 0), 4, &t, &e), NMP_OK);
    assert_lines(&t, 4, want, len);
    nmp_texts_free(&t);
    assert_int_equal(nmp_texts_read(fx_write_text("u.txt", "x\ny\n"), 2, &t, &e), NMP_OK); /* the last \n ends a line */
    nmp_texts_free(&t);
    assert_int_equal(nmp_texts_read(fx_write_text("v.txt", "x\ny\n\n"), 2, &t, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "v.txt: 3 lines, but the map has 2 points"));
    assert_null(t.bytes);
    assert_int_equal(nmp_texts_read(fx_write_text("w.txt", ""), 1, &t, &e), NMP_ERR_INVALID);
    assert_non_null(strstr(e.msg, "0 lines, but the map has 1 point;"));
    assert_int_equal(nmp_texts_read(fx_path("none.txt"), 1, &t, &e), NMP_ERR_IO);
    assert_non_null(strstr(e.msg, "none.txt"));
    assert_int_equal(nmp_texts_read(fx_dir, 1, &t, &e), NMP_ERR_INVALID); /* a folder */
}

static size_t count(const char *hay, const char *needle)
{
    size_t k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) k++;
    return k;
}

/* A page with hostile texts and title: as many "</script" as script elements, no "<!--" but
 * the template's own, the data between the template's halves, nothing else left behind. */
static void test_page_keeps_its_scripts_closed(void **state)
{
    const float y[6] = {0, 0, 1, 2, 3, 1};
    const int32_t labels[3] = {7, -1, 7};
    const char text[] = "</script><script>alert(1)</script>\n<!--\n\xe2\x80\xa8";
    nmp_texts t;
    nmp_err e = {0};
    assert_int_equal(nmp_texts_read(fx_write_text("t.txt", text), 3, &t, &e), NMP_OK);
    nmp_view_input in = {"</script>", y, 3, 2, labels, &t};
    assert_int_equal(nmp_view_write(fx_path("map.html"), &in, &e), NMP_OK);
    nmp_texts_free(&t);
    char *page = NULL;
    int64_t size = 0;
    assert_int_equal(nmp_file_read_all(fx_path("map.html"), &page, &size, &e), NMP_OK);
    assert_int_equal(count(page, "<script"), 5); /* meta, positions, labels, texts, the viewer */
    assert_int_equal(count(page, "</script"), 5);
    assert_int_equal(count(page, "<!--"), 1); /* the template's header comment */
    assert_int_equal(count(page, "NOMAD-DATA"), 1);
    assert_non_null(strstr(page, "\"labels\": [-1,7]"));
    assert_non_null(strstr(page, "\"label_bytes\": 1"));
    assert_non_null(strstr(page, "id=\"nomad-labels\" type=\"application/octet-stream\">AQAB</script>"));
    assert_non_null(strstr(page, "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));
    assert_non_null(strstr(page, "\"\\u2028\"]"));
    assert_true(strstr(page, "nomad-meta") < strstr(page, "window.nomadMap")); /* data before the viewer */
    free(page);
    in.labels = NULL, in.texts = NULL;
    assert_int_equal(nmp_view_write(fx_path("plain.html"), &in, &e), NMP_OK);
    assert_int_equal(nmp_file_read_all(fx_path("plain.html"), &page, &size, &e), NMP_OK);
    assert_int_equal(count(page, "<script"), 3);
    assert_non_null(strstr(page, "\"labels\": null}"));
    free(page);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_base64_rfc4648_vectors),   T(test_json_string_is_script_safe),
        T(test_quantise_spans_each_axis), T(test_label_ranks_in_the_fewest_bytes),
        T(test_texts_one_line_per_point), T(test_page_keeps_its_scripts_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
