/* See json_read.h: json-c does the parsing; this file adds the one-line errors with a line
 * number, dotted-path queries and the config comparison. */
#include "json_read.h"

#include <json-c/json.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *text, size_t at, const char *what, char *why, size_t why_size)
{
    int line = 1;
    for (size_t i = 0; i < at; i++) line += text[i] == '\n';
    snprintf(why, why_size, "line %d: %s", line, what);
    return -1;
}

/* What json-c takes and JSON has not: NaN, Infinity, numbers out of range (read as Infinity)
 * and single-quoted strings. The first one's offset and what it is, or -1. Double-quoted
 * strings are skipped; a single quote outside them is reported before it can hide anything. */
static ptrdiff_t not_json(const char *text, size_t len, const char **what)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"') {
            for (i++; i < len && text[i] != '"'; i++) i += text[i] == '\\';
        } else if (text[i] == '\'') {
            *what = "single-quoted strings are not JSON";
            return (ptrdiff_t)i;
        } else if (text[i] == 'N' || text[i] == 'I' || (text[i] == '-' && i + 1 < len && text[i + 1] == 'I')) {
            *what = "a number that is not finite (NaN, Infinity or out of range) is not JSON";
            return (ptrdiff_t)i;
        } else if (text[i] == '-' || (text[i] >= '0' && text[i] <= '9')) {
            char num[512];
            size_t n = strspn(text + i, "+-.0123456789eE");
            if (n > len - i) n = len - i;
            snprintf(num, sizeof num, "%.*s", (int)(n < sizeof num ? n : sizeof num - 1), text + i);
            if (!isfinite(strtod(num, NULL))) {
                *what = "a number that is not finite (NaN, Infinity or out of range) is not JSON";
                return (ptrdiff_t)i;
            }
            i += n ? n - 1 : 0;
        }
    }
    return -1;
}

/* Whether the tree holds a number that is not finite (the check behind not_json's scan). */
static int has_nonfinite(const nmp_jv *v)
{
    if (json_object_is_type(v, json_type_double)) return !isfinite(json_object_get_double(v));
    if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (has_nonfinite(json_object_array_get_idx(v, i))) return 1;
    } else if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach((nmp_jv *)v, key, value) {
            (void)key;
            if (has_nonfinite(value)) return 1;
        }
    }
    return 0;
}

int nmp_jv_parse(const char *text, size_t len, nmp_jv **out, char *why, size_t why_size)
{
    *out = NULL;
    if (len > (size_t)0x7fffffff) return fail(text, 0, "longer than 2 GiB", why, why_size);
    if (memchr(text, 0, len)) return fail(text, (size_t)((const char *)memchr(text, 0, len) - text),
                                          "a NUL byte in the text", why, why_size);
    json_tokener *tok = json_tokener_new();
    if (!tok) return fail(text, 0, "out of memory", why, why_size);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT); /* bytes pass as they are: paths need not be UTF-8 */
    nmp_jv *v = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (e == json_tokener_continue) /* the text ended inside a value, or held none */
        return fail(text, len, "unexpected end of text", why, why_size);
    if (!v && e != json_tokener_success) return fail(text, end, json_tokener_error_desc(e), why, why_size);
    while (end < len && strchr(" \t\r\n", text[end])) end++;
    if (end < len) {
        json_object_put(v);
        return fail(text, end, "text after the JSON value", why, why_size);
    }
    const char *what = "a number that is not finite (NaN, Infinity or out of range) is not JSON";
    ptrdiff_t bad = not_json(text, len, &what);
    if (bad >= 0 || has_nonfinite(v)) {
        json_object_put(v);
        return fail(text, bad >= 0 ? (size_t)bad : 0, what, why, why_size);
    }
    *out = v;
    return 0;
}

void nmp_jv_free(nmp_jv *v) { json_object_put(v); }

const nmp_jv *nmp_jv_get(const nmp_jv *v, const char *path)
{
    char name[256];
    while (v && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof name || !json_object_is_type(v, json_type_object)) return NULL;
        memcpy(name, path, len), name[len] = 0;
        nmp_jv *m = NULL;
        if (!json_object_object_get_ex(v, name, &m) || !m) return NULL; /* null members: absent */
        v = m;
        path += len + (path[len] == '.');
    }
    return v;
}

static int is_number(const nmp_jv *v)
{
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

double nmp_jv_number_at(const nmp_jv *v, const char *path, double fallback)
{
    const nmp_jv *n = nmp_jv_get(v, path);
    return n && is_number(n) ? json_object_get_double(n) : fallback;
}

const char *nmp_jv_string_at(const nmp_jv *v, const char *path)
{
    const nmp_jv *s = nmp_jv_get(v, path);
    return s && json_object_is_type(s, json_type_string) ? json_object_get_string((nmp_jv *)s) : NULL;
}

static int ignored(const char *key, const char *const *ignore)
{
    for (; ignore && *ignore; ignore++)
        if (!strcmp(key, *ignore)) return 1;
    return 0;
}

/* a and b differ (json-c keeps JSON null as a NULL object). Members of b missing in a count as
 * differences too: objects are compared both ways. */
static int diff(const nmp_jv *a, const nmp_jv *b, const char *const *ignore, const char *at, char *where, size_t size)
{
    snprintf(where, size, "%s", at);
    if (!a || !b) return a != b;
    if (is_number(a) && is_number(b)) return json_object_get_double(a) != json_object_get_double(b);
    json_type t = json_object_get_type(a);
    if (t != json_object_get_type(b)) return 1;
    switch (t) {
    case json_type_boolean: return json_object_get_boolean(a) != json_object_get_boolean(b);
    case json_type_string: return strcmp(json_object_get_string((nmp_jv *)a), json_object_get_string((nmp_jv *)b)) != 0;
    case json_type_array: {
        size_t n = json_object_array_length(a);
        if (n != json_object_array_length(b)) return 1;
        for (size_t i = 0; i < n; i++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu]", at, i);
            if (diff(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i), NULL, sub, where, size)) return 1;
        }
        return 0;
    }
    case json_type_object:
        for (int side = 0; side < 2; side++) {
            const nmp_jv *x = side ? b : a, *y = side ? a : b;
            json_object_object_foreach((nmp_jv *)x, key, value) {
                char sub[512];
                if (ignored(key, ignore)) continue;
                snprintf(sub, sizeof sub, "%s%s%s", at, *at ? "." : "", key);
                nmp_jv *other = NULL;
                if (!json_object_object_get_ex(y, key, &other)) return snprintf(where, size, "%s", sub), 1;
                if (!side && diff(value, other, NULL, sub, where, size)) return 1;
            }
        }
        return 0;
    default: return 0; /* json_type_null never reaches here (a NULL object) */
    }
}

int nmp_jv_diff(const nmp_jv *a, const nmp_jv *b, const char *const *ignore, char *where, size_t where_size)
{
    return diff(a, b, ignore, "", where, where_size);
}
