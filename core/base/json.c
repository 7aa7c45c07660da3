/* See json.h: the tree and its printing are json-c's; this keeps the open containers and the
 * pending member name, so that callers only name values in order. */
#include "json.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nmp_json_init(nmp_json *j) { memset(j, 0, sizeof *j); }

void nmp_json_free(nmp_json *j)
{
    json_object_put(j->root);
    free(j->buf);
    free(j->key);
    memset(j, 0, sizeof *j);
}

static void print_root(nmp_json *j)
{
    const char *text = json_object_to_json_string_ext(
        j->root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n = text ? strlen(text) : 0;
    free(j->buf);
    j->buf = text ? malloc(n + 2) : NULL;
    if (!j->buf) {
        j->oom = 1, j->len = 0;
    } else {
        memcpy(j->buf, text, n), j->buf[n] = '\n', j->buf[n + 1] = 0, j->len = n + 1;
    }
    json_object_put(j->root);
    j->root = NULL;
}

/* Adds v (json-c's NULL is JSON null) where the document stands: the root, the next element
 * of the open array, or the member named by the last key of the open object. */
static void add(nmp_json *j, json_object *v, int is_null)
{
    if (!v && !is_null) j->oom = 1;
    if (j->depth == 0) {
        json_object_put(j->root);
        j->root = v;
        if (!json_object_is_type(v, json_type_object) && !json_object_is_type(v, json_type_array)) print_root(j);
        return;
    }
    json_object *parent = j->open[j->depth - 1];
    if (json_object_is_type(parent, json_type_array)) {
        if (json_object_array_add(parent, v)) j->oom = 1, json_object_put(v);
    } else if (!j->key || json_object_object_add(parent, j->key, v)) {
        j->oom = 1, json_object_put(v);
    }
    free(j->key);
    j->key = NULL;
}

static void open_(nmp_json *j, json_object *c)
{
    add(j, c, 0);
    if (c && j->depth < 64) j->open[j->depth++] = c;
    else j->oom = 1;
}

static void close_(nmp_json *j)
{
    if (j->depth > 0) j->depth--;
    if (j->depth == 0 && j->root) print_root(j);
}

void nmp_json_begin_object(nmp_json *j) { open_(j, json_object_new_object()); }
void nmp_json_end_object(nmp_json *j) { close_(j); }
void nmp_json_begin_array(nmp_json *j) { open_(j, json_object_new_array()); }
void nmp_json_end_array(nmp_json *j) { close_(j); }

void nmp_json_key(nmp_json *j, const char *key)
{
    free(j->key);
    j->key = strdup(key);
    if (!j->key) j->oom = 1;
}

void nmp_json_string(nmp_json *j, const char *s) { add(j, s ? json_object_new_string(s) : NULL, !s); }

static void number_text(nmp_json *j, double v, const char *text)
{
    add(j, isfinite(v) ? json_object_new_double_s(v, text) : NULL, !isfinite(v));
}

void nmp_json_number(nmp_json *j, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.9g", v);
    number_text(j, v, b);
}

void nmp_format_double_exact(double v, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", size - strlen(buf) - 1); /* stays a double when read back */
}

void nmp_json_number_exact(nmp_json *j, double v)
{
    char b[64];
    nmp_format_double_exact(v, b, sizeof b);
    number_text(j, v, b);
}

void nmp_json_int(nmp_json *j, int64_t v) { add(j, json_object_new_int64(v), 0); }
void nmp_json_bool(nmp_json *j, int v) { add(j, json_object_new_boolean(v != 0), 0); }

void nmp_json_kv_string(nmp_json *j, const char *key, const char *s)
{
    nmp_json_key(j, key);
    nmp_json_string(j, s);
}
void nmp_json_kv_number(nmp_json *j, const char *key, double v)
{
    nmp_json_key(j, key);
    nmp_json_number(j, v);
}
void nmp_json_kv_int(nmp_json *j, const char *key, int64_t v)
{
    nmp_json_key(j, key);
    nmp_json_int(j, v);
}
