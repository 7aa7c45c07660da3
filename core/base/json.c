/* Streaming JSON writer: commas and nesting tracked here so callers only name values. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nmp_json_init(nmp_json *j) { memset(j, 0, sizeof *j); }
void nmp_json_free(nmp_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

static void put(nmp_json *j, const char *s, size_t n)
{
    if (j->oom) return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 1024;
        while (cap < j->len + n + 1) cap *= 2;
        char *grown = realloc(j->buf, cap);
        if (!grown) {
            j->oom = 1;
            return;
        }
        j->buf = grown;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = 0;
}

static void puts_(nmp_json *j, const char *s) { put(j, s, strlen(s)); }

/* Separator and indentation before a value (or a key) at the current depth. */
static void before_value(nmp_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (j->need_comma[j->depth]) puts_(j, ",");
        puts_(j, "\n");
        for (int i = 0; i < j->depth; i++) puts_(j, "  ");
        j->need_comma[j->depth] = 1;
    }
}

static void open_(nmp_json *j, const char *c)
{
    before_value(j);
    puts_(j, c);
    if (j->depth < 63) j->depth++;
    j->need_comma[j->depth] = 0;
}

static void close_(nmp_json *j, const char *c)
{
    int had = j->need_comma[j->depth];
    j->depth--;
    if (had) {
        puts_(j, "\n");
        for (int i = 0; i < j->depth; i++) puts_(j, "  ");
    }
    puts_(j, c);
    if (j->depth == 0) puts_(j, "\n");
}

void nmp_json_begin_object(nmp_json *j) { open_(j, "{"); }
void nmp_json_end_object(nmp_json *j) { close_(j, "}"); }
void nmp_json_begin_array(nmp_json *j) { open_(j, "["); }
void nmp_json_end_array(nmp_json *j) { close_(j, "]"); }

static void quoted(nmp_json *j, const char *s)
{
    puts_(j, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p, esc[2] = 0;
            puts_(j, esc);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(j, esc);
        } else {
            put(j, (const char *)p, 1);
        }
    }
    puts_(j, "\"");
}

void nmp_json_key(nmp_json *j, const char *key)
{
    before_value(j);
    quoted(j, key);
    puts_(j, ": ");
    j->after_key = 1;
}

void nmp_json_string(nmp_json *j, const char *s)
{
    before_value(j);
    if (s)
        quoted(j, s);
    else
        puts_(j, "null");
}

void nmp_json_number(nmp_json *j, double v)
{
    char b[64];
    before_value(j);
    if (!isfinite(v)) {
        puts_(j, "null");
        return;
    }
    snprintf(b, sizeof b, "%.9g", v);
    puts_(j, b);
}

void nmp_json_int(nmp_json *j, int64_t v)
{
    char b[32];
    before_value(j);
    snprintf(b, sizeof b, "%lld", (long long)v);
    puts_(j, b);
}

void nmp_json_bool(nmp_json *j, int v)
{
    before_value(j);
    puts_(j, v ? "true" : "false");
}

void nmp_json_raw(nmp_json *j, const char *text)
{
    before_value(j);
    puts_(j, text);
}

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
