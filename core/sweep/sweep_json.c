/* Recursive-descent JSON reader (RFC 8259, depth-limited) and tree queries for the sweep. */
#include "sweep_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* run.json nests four levels; anything far deeper is not one of ours. */
#define MAX_DEPTH 64

typedef struct {
    const char *p, *end;
    int line;
    char *why;
    size_t why_size;
} reader;

static int fail(reader *r, const char *what)
{
    if (r->why[0] == 0) snprintf(r->why, r->why_size, "line %d: %s", r->line, what);
    return -1;
}

static void skip_space(reader *r)
{
    for (; r->p < r->end && strchr(" \t\r\n", *r->p); r->p++)
        if (*r->p == '\n') r->line++;
}

static int literal(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || strncmp(r->p, word, n)) return fail(r, "expected a JSON value");
    r->p += n;
    return 0;
}

static int append_utf8(char *buf, size_t *len, unsigned long cp)
{
    if (cp < 0x80)
        buf[(*len)++] = (char)cp;
    else if (cp < 0x800) {
        buf[(*len)++] = (char)(0xC0 | (cp >> 6));
        buf[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        buf[(*len)++] = (char)(0xE0 | (cp >> 12));
        buf[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        buf[(*len)++] = (char)(0xF0 | (cp >> 18));
        buf[(*len)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*len)++] = (char)(0x80 | (cp & 0x3F));
    }
    return 0;
}

static int hex4(reader *r, unsigned long *out)
{
    if (r->end - r->p < 4) return fail(r, "expected 4 hex digits after \\u");
    char digits[5] = {r->p[0], r->p[1], r->p[2], r->p[3], 0}, *stop = NULL;
    *out = strtoul(digits, &stop, 16);
    if (*stop) return fail(r, "expected 4 hex digits after \\u");
    r->p += 4;
    return 0;
}

/* \uXXXX (with a surrogate pair) at r->p (after the "\u") as UTF-8 into buf. */
static int unicode_escape(reader *r, char *buf, size_t *len)
{
    unsigned long cp, low;
    if (hex4(r, &cp)) return -1;
    if (cp >= 0xD800 && cp < 0xDC00) {
        if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') return fail(r, "unpaired surrogate in \\u escape");
        r->p += 2;
        if (hex4(r, &low) || low < 0xDC00 || low > 0xDFFF) return fail(r, "bad low surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    return append_utf8(buf, len, cp);
}

/* A string at r->p (on the opening quote); *out is malloc'd. Escapes never grow the text
 * beyond its source length, so one buffer of that size suffices. */
static int parse_string(reader *r, char **out)
{
    const char *start = ++r->p;
    const char *close = start;
    while (close < r->end && *close != '"') close += (*close == '\\') ? 2 : 1;
    if (close >= r->end) return fail(r, "unterminated string");
    char *buf = malloc((size_t)(close - start) + 1);
    if (!buf) return fail(r, "out of memory");
    size_t len = 0;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    while (r->p < close) {
        char c = *r->p++;
        if ((unsigned char)c < 0x20) return free(buf), fail(r, "control character in a string");
        if (c != '\\') {
            buf[len++] = c;
            continue;
        }
        char e = *r->p++;
        const char *hit = e ? strchr(from, e) : NULL;
        if (hit)
            buf[len++] = to[hit - from];
        else if (e != 'u' || unicode_escape(r, buf, &len))
            return free(buf), fail(r, "bad escape in a string");
    }
    r->p = close + 1;
    buf[len] = 0;
    *out = buf;
    return 0;
}

static int parse_value(reader *r, nmp_jv *v, int depth);
static const nmp_jv *member(const nmp_jv *v, const char *name, size_t len);

static void free_inner(nmp_jv *v)
{
    for (size_t i = 0; i < v->count; i++) free_inner(&v->items[i]);
    free(v->items);
    free(v->string);
    free(v->key);
}

static int push(reader *r, nmp_jv *parent, size_t *cap, nmp_jv *child)
{
    if (parent->count == *cap) {
        size_t grown = *cap ? *cap * 2 : 8;
        nmp_jv *items = realloc(parent->items, grown * sizeof *items);
        if (!items) return fail(r, "out of memory");
        parent->items = items;
        *cap = grown;
    }
    parent->items[parent->count++] = *child;
    return 0;
}

/* The members of an array or object, r->p just past the opening bracket. */
static int parse_members(reader *r, nmp_jv *v, int depth)
{
    char close = v->type == NMP_JV_OBJECT ? '}' : ']';
    size_t cap = 0;
    skip_space(r);
    if (r->p < r->end && *r->p == close) return r->p++, 0;
    for (;;) {
        nmp_jv child = {0};
        skip_space(r);
        if (v->type == NMP_JV_OBJECT) {
            if (r->p >= r->end || *r->p != '"' || parse_string(r, &child.key)) return fail(r, "expected a member name");
            if (member(v, child.key, strlen(child.key))) /* which one would count? refuse, as run.json has none */
                return free(child.key), fail(r, "a member name given twice");
            skip_space(r);
            if (r->p >= r->end || *r->p++ != ':') return free(child.key), fail(r, "expected ':' after a member name");
        }
        if (parse_value(r, &child, depth + 1) || push(r, v, &cap, &child)) {
            free_inner(&child); /* the members pushed so far go with the whole tree */
            return -1;
        }
        skip_space(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) return r->p++, 0;
        return fail(r, v->type == NMP_JV_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(reader *r, nmp_jv *v, int depth)
{
    if (depth > MAX_DEPTH) return fail(r, "nested too deep");
    skip_space(r);
    if (r->p >= r->end) return fail(r, "unexpected end of text");
    char c = *r->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? NMP_JV_OBJECT : NMP_JV_ARRAY;
        r->p++;
        return parse_members(r, v, depth);
    }
    if (c == '"') return v->type = NMP_JV_STRING, parse_string(r, &v->string);
    if (c == 't') return v->type = NMP_JV_BOOL, v->number = 1, literal(r, "true");
    if (c == 'f') return v->type = NMP_JV_BOOL, v->number = 0, literal(r, "false");
    if (c == 'n') return v->type = NMP_JV_NULL, literal(r, "null");
    char num[64], *stop = NULL;
    size_t n = 0;
    while (r->p + n < r->end && n < sizeof num - 1 && strchr("+-0123456789.eE", r->p[n])) n++;
    memcpy(num, r->p, n);
    num[n] = 0;
    v->number = strtod(num, &stop);
    if (n == 0 || *stop) return fail(r, "expected a JSON value");
    v->type = NMP_JV_NUMBER;
    r->p += n;
    return 0;
}

int nmp_jv_parse(const char *text, size_t len, nmp_jv **out, char *why, size_t why_size)
{
    reader r = {.p = text, .end = text + len, .line = 1, .why = why, .why_size = why_size};
    why[0] = 0;
    *out = calloc(1, sizeof **out);
    if (!*out) return fail(&r, "out of memory");
    int rc = parse_value(&r, *out, 0);
    skip_space(&r);
    if (rc == 0 && r.p != r.end) rc = fail(&r, "text after the JSON value");
    if (rc) {
        nmp_jv_free(*out);
        *out = NULL;
    }
    return rc;
}

void nmp_jv_free(nmp_jv *v)
{
    if (!v) return;
    free_inner(v);
    free(v);
}

/* ------------------------------------------------------------------ queries */

static const nmp_jv *member(const nmp_jv *v, const char *name, size_t len)
{
    if (!v || v->type != NMP_JV_OBJECT) return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (strlen(v->items[i].key) == len && !strncmp(v->items[i].key, name, len)) return &v->items[i];
    return NULL;
}

const nmp_jv *nmp_jv_get(const nmp_jv *v, const char *path)
{
    while (v && *path) {
        size_t len = strcspn(path, ".");
        v = member(v, path, len);
        path += len + (path[len] == '.');
    }
    return v;
}

double nmp_jv_number_at(const nmp_jv *v, const char *path, double fallback)
{
    const nmp_jv *n = nmp_jv_get(v, path);
    return n && n->type == NMP_JV_NUMBER ? n->number : fallback;
}

const char *nmp_jv_string_at(const nmp_jv *v, const char *path)
{
    const nmp_jv *s = nmp_jv_get(v, path);
    return s && s->type == NMP_JV_STRING ? s->string : NULL;
}

static int ignored(const char *key, const char *const *ignore)
{
    for (; ignore && *ignore; ignore++)
        if (!strcmp(key, *ignore)) return 1;
    return 0;
}

static void extend(char *where, size_t size, const char *prefix, const char *name)
{
    snprintf(where, size, "%s%s%s", prefix, *prefix ? "." : "", name);
}

/* Members of b missing in a count as differences too: objects are compared both ways. */
static int diff(const nmp_jv *a, const nmp_jv *b, const char *const *ignore, const char *at, char *where, size_t size)
{
    snprintf(where, size, "%s", at);
    if (a->type != b->type) return 1;
    switch (a->type) {
    case NMP_JV_NULL:
        return 0;
    case NMP_JV_BOOL:
    case NMP_JV_NUMBER:
        return a->number != b->number;
    case NMP_JV_STRING:
        return strcmp(a->string, b->string) != 0;
    case NMP_JV_ARRAY:
        if (a->count != b->count) return 1;
        for (size_t i = 0; i < a->count; i++) {
            char sub[512], index[32];
            snprintf(index, sizeof index, "[%zu]", i);
            snprintf(sub, sizeof sub, "%s%s", at, index);
            if (diff(&a->items[i], &b->items[i], NULL, sub, where, size)) return 1;
        }
        return 0;
    case NMP_JV_OBJECT:
        for (int side = 0; side < 2; side++) {
            const nmp_jv *x = side ? b : a, *y = side ? a : b;
            for (size_t i = 0; i < x->count; i++) {
                const char *key = x->items[i].key;
                char sub[512];
                if (ignored(key, ignore)) continue;
                extend(sub, sizeof sub, at, key);
                const nmp_jv *other = member(y, key, strlen(key));
                if (!other) return snprintf(where, size, "%s", sub), 1;
                if (!side && diff(&x->items[i], other, NULL, sub, where, size)) return 1;
            }
        }
        return 0;
    }
    return 1;
}

int nmp_jv_diff(const nmp_jv *a, const nmp_jv *b, const char *const *ignore, char *where, size_t where_size)
{
    return diff(a, b, ignore, "", where, where_size);
}
