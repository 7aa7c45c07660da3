/* The grid of a sweep: axes from --grid arguments and the config's sweep.grid, their
 * product, and the names of the runs it expands to. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

static void free_values(char **values, int count)
{
    for (int i = 0; values && i < count; i++) free(values[i]);
    free(values);
}

static nmp_status nomem(nmp_err *err)
{
    return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory");
}

/* Appends a copy of text[0, len) with its blanks trimmed; an empty value is an error. */
static nmp_status push_value(const char *what, const char *text, size_t len, char ***values, int *count, nmp_err *err)
{
    while (len && isspace((unsigned char)*text)) text++, len--;
    while (len && isspace((unsigned char)text[len - 1])) len--;
    if (!len) return nmp_fail(err, NMP_ERR_INVALID, "%s: empty value in the list (write null for the default)", what);
    char **grown = realloc(*values, (size_t)(*count + 1) * sizeof *grown);
    if (!grown) return nomem(err);
    *values = grown;
    if (!(grown[*count] = strndup(text, len))) return nomem(err);
    (*count)++;
    return NMP_OK;
}

nmp_status nmp_sweep_split_values(const char *what, const char *text, char ***values, int *count, nmp_err *err)
{
    *values = NULL;
    *count = 0;
    int depth = 0;
    char quote = 0;
    const char *start = text;
    nmp_status s = NMP_OK;
    for (const char *p = text;; p++) {
        if (quote) {
            if (!*p) break;
            if (*p == '\\' && quote == '"' && p[1])
                p++;
            else if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if ((*p == '}' || *p == ']') && depth > 0) {
            depth--;
        } else if ((*p == ',' && depth == 0) || !*p) {
            s = push_value(what, start, (size_t)(p - start), values, count, err);
            if (s || !*p) break;
            start = p + 1;
        }
    }
    if (!s && (quote || depth))
        s = nmp_fail(err, NMP_ERR_INVALID, "%s: unbalanced %s in \"%s\"", what, quote ? "quote" : "brackets", text);
    if (s) {
        free_values(*values, *count);
        *values = NULL;
        *count = 0;
    }
    return s;
}

nmp_status nmp_sweep_grid_put(nmp_sweep_grid *g, char *key, char **values, int count, nmp_err *err)
{
    nmp_status s = NMP_OK;
    if (!strncmp(key, "sweep.", 6) || !strcmp(key, "sweep"))
        s = nmp_fail(err, NMP_ERR_INVALID, "sweep: grid key %s: the sweep's own keys cannot be swept", key);
    if (!s && !strcmp(key, "seed")) /* every run already gets its own seed: it would be set twice */
        s = nmp_fail(err, NMP_ERR_INVALID,
                     "sweep: grid key seed: seeds are the sweep's own axis; use --seeds N (runs with seed, seed+1, "
                     "...) and --set seed=S for the first");
    for (int i = 0; i < count && !s; i++)
        for (int j = 0; j < i && !s; j++)
            if (!strcmp(values[i], values[j]))
                s = nmp_fail(err, NMP_ERR_INVALID, "sweep: grid key %s: value \"%s\" is given twice", key, values[i]);
    int at = g->count;
    for (int i = 0; i < g->count; i++)
        if (!strcmp(g->axes[i].key, key)) at = i;
    if (!s && at == g->count) {
        nmp_sweep_axis *grown = realloc(g->axes, (size_t)(g->count + 1) * sizeof *grown);
        if (grown)
            g->axes = grown, g->count++;
        else
            s = nomem(err);
    } else if (!s) {
        free(g->axes[at].key);
        free_values(g->axes[at].values, g->axes[at].count);
    }
    if (s) {
        free(key);
        free_values(values, count);
        return s;
    }
    g->axes[at] = (nmp_sweep_axis){.key = key, .values = values, .count = count};
    return NMP_OK;
}

nmp_status nmp_sweep_grid_add_arg(nmp_sweep_grid *g, const char *arg, nmp_err *err)
{
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : 0;
    while (klen && arg[klen - 1] == ' ') klen--;
    if (!eq || !klen || memchr(arg, ' ', klen) || arg[0] == '.' || arg[klen - 1] == '.')
        return nmp_fail(err, NMP_ERR_INVALID, "sweep: --grid %s: expected key.path=value1,value2,...", arg);
    char *key = strndup(arg, klen), what[600];
    if (!key) return nomem(err);
    snprintf(what, sizeof what, "sweep: --grid %s", key);
    char **values = NULL;
    int count = 0;
    nmp_status s = nmp_sweep_split_values(what, eq + 1, &values, &count, err);
    if (s) {
        free(key);
        return s;
    }
    return nmp_sweep_grid_put(g, key, values, count, err);
}

/* ------------------------------------------------------------------ sweep.grid in the config */

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->oom) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        while (cap < t->len + n + 1) cap *= 2;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->oom = 1;
            return;
        }
        t->buf = grown, t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static int is_null_word(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* 1 if `s` reads back as itself written plain inside YAML flow text. */
static int flow_plain(const char *s)
{
    if (is_null_word(s) || !isalnum((unsigned char)*s)) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.+/@-", *s)) return 0;
    return 1;
}

static void quoted(text *t, const char *s)
{
    puts_(t, "\"");
    for (; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\')
            snprintf(esc, sizeof esc, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*s);
        else
            snprintf(esc, sizeof esc, "%c", *s);
        puts_(t, esc);
    }
    puts_(t, "\"");
}

/* A node as YAML flow text (for values that are maps or sequences). */
static void flow(text *t, const nmp_cfg_node *n)
{
    if (n->type == NMP_CFG_NULL) return puts_(t, "null");
    if (n->type == NMP_CFG_SCALAR) return flow_plain(n->value) ? puts_(t, n->value) : quoted(t, n->value);
    puts_(t, n->type == NMP_CFG_MAP ? "{" : "[");
    for (uint32_t i = 0; i < n->count; i++) {
        if (i) puts_(t, ", ");
        if (n->type == NMP_CFG_MAP) {
            flow_plain(n->children[i]->key) ? puts_(t, n->children[i]->key) : quoted(t, n->children[i]->key);
            puts_(t, ": ");
        }
        flow(t, n->children[i]);
    }
    puts_(t, n->type == NMP_CFG_MAP ? "}" : "]");
}

/* A value node as `--set` takes it: plain text reads as itself unless it starts like YAML
 * flow text or reads as null, which then need quotes. */
static char *value_text(const nmp_cfg_node *n)
{
    text t = {0};
    if (n->type == NMP_CFG_SCALAR && !strchr("{[\"'", n->value[0]) && !is_null_word(n->value))
        puts_(&t, n->value);
    else
        flow(&t, n);
    if (t.oom) free(t.buf), t.buf = NULL;
    return t.buf;
}

static nmp_status config_fail(nmp_err *err, const nmp_cfg_node *n, const char *path, const char *what)
{
    return nmp_cfg_fail_at(err, n, path, "%s", what);
}

/* One axis from `key.path: value or [values]` at `node`. */
static nmp_status config_axis(nmp_sweep_grid *g, const char *key, const nmp_cfg_node *node, nmp_err *err)
{
    char path[600];
    snprintf(path, sizeof path, "sweep.grid.%s", key);
    int count = node->type == NMP_CFG_SEQ ? (int)node->count : 1;
    if (count == 0) return config_fail(err, node, path, "an empty list of values");
    char **values = calloc((size_t)count, sizeof *values);
    char *k = strdup(key);
    if (!values || !k) return free(values), free(k), nomem(err);
    for (int i = 0; i < count; i++) {
        const nmp_cfg_node *v = node->type == NMP_CFG_SEQ ? node->children[i] : node;
        if (!(values[i] = value_text(v))) return free_values(values, count), free(k), nomem(err);
    }
    return nmp_sweep_grid_put(g, k, values, count, err);
}

static nmp_status config_map(nmp_sweep_grid *g, const nmp_cfg_node *map, const char *prefix, int depth, nmp_err *err)
{
    for (uint32_t i = 0; i < map->count; i++) {
        const nmp_cfg_node *c = map->children[i];
        char key[512];
        if (snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", c->key) >= (int)sizeof key)
            return nmp_cfg_fail_key(err, c, "sweep.grid", "key longer than %zu characters", sizeof key - 1);
        nmp_status s =
            c->type == NMP_CFG_MAP && depth < 8 ? config_map(g, c, key, depth + 1, err) : config_axis(g, key, c, err);
        if (s) return s;
    }
    return NMP_OK;
}

nmp_status nmp_sweep_grid_from_config(nmp_sweep_grid *g, const nmp_cfg_node *root, nmp_err *err)
{
    const nmp_cfg_node *grid = nmp_cfg_get(root, "sweep.grid");
    if (!grid || grid->type == NMP_CFG_NULL) return NMP_OK;
    if (grid->type != NMP_CFG_MAP)
        return config_fail(err, grid, "sweep.grid", "expected a mapping {key.path: [value, ...]}");
    return config_map(g, grid, "", 0, err);
}

void nmp_sweep_grid_free(nmp_sweep_grid *g)
{
    for (int i = 0; i < g->count; i++) {
        free(g->axes[i].key);
        free_values(g->axes[i].values, g->axes[i].count);
    }
    free(g->axes);
    g->axes = NULL;
    g->count = 0;
}

/* ------------------------------------------------------------------ expansion and names */

int64_t nmp_sweep_grid_cells(const nmp_sweep_grid *g, int64_t limit)
{
    int64_t cells = 1;
    for (int i = 0; i < g->count; i++) {
        cells *= g->axes[i].count;
        if (cells > limit) return -1;
    }
    return cells;
}

void nmp_sweep_grid_choice(const nmp_sweep_grid *g, int64_t cell, int *choice)
{
    for (int i = g->count - 1; i >= 0; i--) {
        choice[i] = (int)(cell % g->axes[i].count);
        cell /= g->axes[i].count;
    }
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* A value as part of a file name; see nmp_sweep_run_name. */
static void name_part(const char *value, char *buf, size_t size)
{
    enum { KEEP = 40 };
    size_t n = 0;
    int changed = 0;
    for (const char *p = value; *p && n < KEEP && n + 1 < size; p++) {
        int ok = isalnum((unsigned char)*p) || strchr("._+:@-", *p);
        if (!ok) changed = 1;
        if (ok)
            buf[n++] = *p;
        else if (n > 0 && buf[n - 1] != '-')
            buf[n++] = '-';
    }
    while (n > 0 && changed && buf[n - 1] == '-') n--;
    buf[n] = 0;
    if (changed || strlen(value) > KEEP) snprintf(buf + n, size - n, "~%08x", fnv1a(value));
}

void nmp_sweep_run_name(const nmp_sweep_grid *g, const int *choice, int64_t seed, char *buf, size_t size)
{
    enum { MAX_NAME = 200 }; /* file names stop at 255 bytes */
    char full[8192];
    size_t n = 0;
    full[0] = 0;
    for (int i = 0; i < g->count && n < sizeof full; i++) {
        char key[128], value[64];
        name_part(g->axes[i].key, key, sizeof key);
        name_part(g->axes[i].values[choice[i]], value, sizeof value);
        n += (size_t)snprintf(full + n, sizeof full - n, "%s=%s,", key, value);
    }
    if (n < sizeof full) snprintf(full + n, sizeof full - n, "seed=%lld", (long long)seed);
    if (strlen(full) <= MAX_NAME)
        snprintf(buf, size, "%s", full);
    else
        snprintf(buf, size, "%.*s~%08x", MAX_NAME - 9, full, fnv1a(full));
}

void nmp_sweep_run_label(const nmp_sweep_grid *g, const int *choice, int64_t seed, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < g->count && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s=%s ", g->axes[i].key, g->axes[i].values[choice[i]]);
    if (n < size) snprintf(buf + n, size - n, "seed=%lld", (long long)seed);
}
