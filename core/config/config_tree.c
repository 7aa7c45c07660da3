/* The config as a tree of YAML nodes with file:line:column, built from libyaml events, and
 * the --set overrides that edit it. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "input_file.h"

/* Deeper nesting than this is certainly not a config; the limit keeps recursion bounded. */
#define MAX_DEPTH 64
#define PATH_MAX_LEN 512

typedef struct {
    yaml_parser_t parser;
    const char *file;
    nmp_err *err;
} reader;

/* ------------------------------------------------------------------ nodes */

static nmp_cfg_node *node_new(nmp_cfg_type type, const char *file, int line, int column)
{
    nmp_cfg_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->type = type;
    n->file = strdup(file);
    if (!n->file) {
        free(n);
        return NULL;
    }
    n->line = n->key_line = line;
    n->column = n->key_column = column;
    return n;
}

static void node_clear(nmp_cfg_node *n)
{
    for (uint32_t i = 0; i < n->count; i++) nmp_cfg_free(n->children[i]);
    free(n->children);
    free(n->value);
    n->children = NULL;
    n->value = NULL;
    n->count = n->cap = 0;
}

void nmp_cfg_free(nmp_cfg_node *node)
{
    if (!node) return;
    node_clear(node);
    free(node->key);
    free(node->file);
    free(node);
}

static int node_append(nmp_cfg_node *parent, nmp_cfg_node *child)
{
    if (parent->count == parent->cap) {
        uint32_t cap = parent->cap ? parent->cap * 2 : 8;
        nmp_cfg_node **c = realloc(parent->children, cap * sizeof *c);
        if (!c) return -1;
        parent->children = c;
        parent->cap = cap;
    }
    parent->children[parent->count++] = child;
    return 0;
}

const nmp_cfg_node *nmp_cfg_child(const nmp_cfg_node *map, const char *key)
{
    if (!map || map->type != NMP_CFG_MAP) return NULL;
    for (uint32_t i = 0; i < map->count; i++)
        if (strcmp(map->children[i]->key, key) == 0) return map->children[i];
    return NULL;
}

const nmp_cfg_node *nmp_cfg_get(const nmp_cfg_node *node, const char *path)
{
    char seg[PATH_MAX_LEN];
    while (node && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof seg) return NULL;
        memcpy(seg, path, len);
        seg[len] = 0;
        node = nmp_cfg_child(node, seg);
        path += len + (dot ? 1 : 0);
    }
    return node;
}

/* ------------------------------------------------------------------ errors */

static nmp_status fail_pos(nmp_err *err, const char *file, int line, int column, const char *path, const char *fmt,
                           va_list ap)
{
    char msg[NMP_ERR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (line == 0 && path) return nmp_fail(err, NMP_ERR_INVALID, "%s %s: %s", file, path, msg);
    if (line == 0) return nmp_fail(err, NMP_ERR_INVALID, "%s: %s", file, msg);
    if (path) return nmp_fail(err, NMP_ERR_INVALID, "%s:%d:%d: %s: %s", file, line, column, path, msg);
    return nmp_fail(err, NMP_ERR_INVALID, "%s:%d:%d: %s", file, line, column, msg);
}

nmp_status nmp_cfg_fail(nmp_err *err, const nmp_cfg_node *node, int at_key, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nmp_status s = !node   ? fail_pos(err, path ? path : "config", 0, 0, NULL, fmt, ap)
                   : at_key ? fail_pos(err, node->file, node->key_line, node->key_column, path, fmt, ap)
                            : fail_pos(err, node->file, node->line, node->column, path, fmt, ap);
    va_end(ap);
    return s;
}

static nmp_status fail_mark(reader *r, yaml_mark_t mark, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static nmp_status fail_mark(reader *r, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nmp_status s = fail_pos(r->err, r->file, (int)mark.line + 1, (int)mark.column + 1, NULL, fmt, ap);
    va_end(ap);
    return s;
}

static nmp_status nomem(reader *r) { return nmp_fail(r->err, NMP_ERR_NOMEM, "%s: out of memory", r->file); }

/* ------------------------------------------------------------------ parsing */

static nmp_status next_event(reader *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->parser, ev)) return NMP_OK;
    yaml_parser_t *p = &r->parser;
    if (p->error == YAML_MEMORY_ERROR) return nomem(r);
    if (p->context)
        return fail_mark(r, p->problem_mark, "%s (%s at line %zu)", p->problem ? p->problem : "syntax error",
                         p->context, p->context_mark.line + 1);
    return fail_mark(r, p->problem_mark, "%s", p->problem ? p->problem : "syntax error");
}

static int is_plain_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)ev->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static nmp_status parse_node(reader *r, yaml_event_t *ev, const char *path, int depth, nmp_cfg_node **out);

static void child_path(char *buf, const char *path, const char *key)
{
    if (path && *path) snprintf(buf, PATH_MAX_LEN, "%s.%s", path, key);
    else snprintf(buf, PATH_MAX_LEN, "%s", key);
}

/* Reads one "key: value" pair (the key event is `key`); refuses duplicate and non-scalar keys. */
static nmp_status parse_pair(reader *r, nmp_cfg_node *map, yaml_event_t *key, const char *path, int depth)
{
    if (key->type != YAML_SCALAR_EVENT)
        return fail_mark(r, key->start_mark, "%s%skeys must be plain scalars", path ? path : "", path && *path ? ": " : "");
    const char *name = (const char *)key->data.scalar.value;
    char sub[PATH_MAX_LEN];
    child_path(sub, path, name);
    const nmp_cfg_node *dup = nmp_cfg_child(map, name);
    if (dup)
        return fail_mark(r, key->start_mark, "%s: duplicate key (first at line %d, column %d)", sub, dup->key_line,
                         dup->key_column);
    yaml_event_t ev;
    nmp_status s = next_event(r, &ev);
    if (s) return s;
    nmp_cfg_node *child = NULL;
    s = parse_node(r, &ev, sub, depth + 1, &child);
    yaml_event_delete(&ev);
    if (s) return s;
    child->key = strdup(name);
    child->key_line = (int)key->start_mark.line + 1;
    child->key_column = (int)key->start_mark.column + 1;
    if (!child->key || node_append(map, child)) {
        nmp_cfg_free(child);
        return nomem(r);
    }
    return NMP_OK;
}

/* Reads entries until the closing event (`end`) of a map or sequence into `n`. */
static nmp_status parse_children(reader *r, nmp_cfg_node *n, yaml_event_type_t end, const char *path, int depth)
{
    for (uint32_t index = 0;; index++) {
        yaml_event_t ev;
        nmp_status s = next_event(r, &ev);
        if (s) return s;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return NMP_OK;
        }
        if (n->type == NMP_CFG_MAP) {
            s = parse_pair(r, n, &ev, path, depth);
        } else {
            char sub[PATH_MAX_LEN];
            snprintf(sub, sizeof sub, "%s[%u]", path ? path : "", index);
            nmp_cfg_node *child = NULL;
            s = parse_node(r, &ev, sub, depth + 1, &child);
            if (!s && node_append(n, child)) {
                nmp_cfg_free(child);
                s = nomem(r);
            }
        }
        yaml_event_delete(&ev);
        if (s) return s;
    }
}

/* Builds the node that starts with event `ev` (already read; the caller deletes it). */
static nmp_status parse_node(reader *r, yaml_event_t *ev, const char *path, int depth, nmp_cfg_node **out)
{
    *out = NULL;
    if (depth > MAX_DEPTH) return fail_mark(r, ev->start_mark, "nesting deeper than %d levels", MAX_DEPTH);
    if (ev->type == YAML_ALIAS_EVENT)
        return fail_mark(r, ev->start_mark, "%s: YAML aliases (*name) are not supported in configs", path);
    nmp_cfg_type type = ev->type == YAML_MAPPING_START_EVENT    ? NMP_CFG_MAP
                        : ev->type == YAML_SEQUENCE_START_EVENT ? NMP_CFG_SEQ
                        : ev->type == YAML_SCALAR_EVENT         ? NMP_CFG_SCALAR
                                                                : NMP_CFG_NULL;
    if (type == NMP_CFG_NULL) return fail_mark(r, ev->start_mark, "unexpected YAML event");
    if (type == NMP_CFG_SCALAR && is_plain_null(ev)) type = NMP_CFG_NULL;
    nmp_cfg_node *n = node_new(type, r->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1);
    if (!n) return nomem(r);
    nmp_status s = NMP_OK;
    if (type == NMP_CFG_SCALAR) {
        n->value = strdup((const char *)ev->data.scalar.value);
        if (!n->value) s = nomem(r);
    } else if (type == NMP_CFG_MAP) {
        s = parse_children(r, n, YAML_MAPPING_END_EVENT, path, depth);
    } else if (type == NMP_CFG_SEQ) {
        s = parse_children(r, n, YAML_SEQUENCE_END_EVENT, path, depth);
    }
    if (s) {
        nmp_cfg_free(n);
        return s;
    }
    *out = n;
    return NMP_OK;
}

/* Reads a stream of at most one document; an empty stream gives a NULL node. */
static nmp_status parse_stream(reader *r, nmp_cfg_node **out)
{
    yaml_event_t ev;
    nmp_status s = NMP_OK;
    *out = NULL;
    while (!s) {
        s = next_event(r, &ev);
        if (s) break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT && *out)
            s = fail_mark(r, ev.start_mark, "a config holds one YAML document, found a second");
        else if (t != YAML_STREAM_START_EVENT && t != YAML_DOCUMENT_START_EVENT && t != YAML_DOCUMENT_END_EVENT)
            s = parse_node(r, &ev, "", 0, out);
        yaml_event_delete(&ev);
    }
    if (s) {
        nmp_cfg_free(*out);
        *out = NULL;
    }
    return s;
}

/* Parses from an initialised parser; the root must be a map (absent or null: empty map). */
static nmp_status parse_root(reader *r, nmp_cfg_node **root)
{
    nmp_cfg_node *n = NULL;
    nmp_status s = parse_stream(r, &n);
    yaml_parser_delete(&r->parser);
    if (s) return s;
    if (n && n->type != NMP_CFG_MAP && n->type != NMP_CFG_NULL) {
        s = nmp_cfg_fail_at(r->err, n, NULL, "a config is a mapping of sections (key: value), got a %s",
                            n->type == NMP_CFG_SEQ ? "sequence" : "scalar");
        nmp_cfg_free(n);
        return s;
    }
    if (!n) n = node_new(NMP_CFG_MAP, r->file, 1, 1);
    if (!n) return nmp_fail(r->err, NMP_ERR_NOMEM, "%s: out of memory", r->file);
    n->type = NMP_CFG_MAP;
    *root = n;
    return NMP_OK;
}

nmp_status nmp_cfg_parse_string(const char *name, const char *text, nmp_cfg_node **root, nmp_err *err)
{
    reader r = {.file = name, .err = err};
    *root = NULL;
    if (!yaml_parser_initialize(&r.parser)) return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, strlen(text));
    return parse_root(&r, root);
}

nmp_status nmp_cfg_load(const char *path, nmp_cfg_node **root, nmp_err *err)
{
    reader r = {.file = path, .err = err};
    *root = NULL;
    char why[160];
    nmp_status st;
    FILE *f = nmp_fopen_regular(path, "rb", &st, why, sizeof why);
    if (!f && st == NMP_ERR_IO) return nmp_fail(err, st, "%s: cannot open config: %s", path, strerror(errno));
    if (!f) return nmp_fail(err, st, "%s: config %s", path, why);
    if (!yaml_parser_initialize(&r.parser)) {
        fclose(f);
        return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&r.parser, f);
    nmp_status s = parse_root(&r, root);
    fclose(f);
    return s;
}

/* ------------------------------------------------------------------ --set */

#define SET_FILE "--set"

static void mark_set(nmp_cfg_node *n)
{
    char *file = strdup(SET_FILE);
    if (file) { /* on OOM the old name stays: positions are zeroed either way */
        free(n->file);
        n->file = file;
    }
    n->line = n->column = n->key_line = n->key_column = 0;
    for (uint32_t i = 0; i < n->count; i++) mark_set(n->children[i]);
}

/* The value of an assignment as a node: YAML text for flow/quoted values, else a plain scalar. */
static nmp_status set_value_node(const char *path, const char *text, nmp_cfg_node **out, nmp_err *err)
{
    while (*text == ' ') text++;
    if (*text && strchr("{[\"'", *text)) {
        char name[PATH_MAX_LEN + 8];
        snprintf(name, sizeof name, SET_FILE " %s", path);
        reader r = {.file = name, .err = err};
        if (!yaml_parser_initialize(&r.parser)) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
        yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, strlen(text));
        nmp_status s = parse_stream(&r, out);
        yaml_parser_delete(&r.parser);
        if (s) return s;
    } else { /* plain text, empty included ("key=" sets the empty string) */
        size_t len = strlen(text);
        while (len && text[len - 1] == ' ') len--;
        *out = node_new(NMP_CFG_SCALAR, SET_FILE, 0, 0);
        if (*out && !((*out)->value = strndup(text, len))) {
            nmp_cfg_free(*out);
            *out = NULL;
        }
    }
    if (!*out) return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    mark_set(*out);
    return NMP_OK;
}

/* The map child `key` of `map`, created when absent; a null value becomes an empty map. */
static nmp_status set_descend(nmp_cfg_node *map, const char *key, const char *full, const char *prefix,
                              nmp_cfg_node **out, nmp_err *err)
{
    nmp_cfg_node *c = (nmp_cfg_node *)nmp_cfg_child(map, key);
    if (!c) {
        c = node_new(NMP_CFG_MAP, SET_FILE, 0, 0);
        if (!c || !(c->key = strdup(key)) || node_append(map, c)) {
            nmp_cfg_free(c);
            return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
        }
    }
    if (c->type == NMP_CFG_NULL) c->type = NMP_CFG_MAP;
    if (c->type != NMP_CFG_MAP)
        return nmp_fail(err, NMP_ERR_INVALID, SET_FILE " %s: %s is a %s, not a mapping", full, prefix,
                        c->type == NMP_CFG_SEQ ? "sequence" : "scalar");
    *out = c;
    return NMP_OK;
}

/* Puts `value` under `key` of `map`, replacing the old value but keeping the key's place. */
static nmp_status set_leaf(nmp_cfg_node *map, const char *key, nmp_cfg_node *value, nmp_err *err)
{
    nmp_cfg_node *old = (nmp_cfg_node *)nmp_cfg_child(map, key);
    if (old) {
        node_clear(old);
        free(old->file);
        old->type = value->type;
        old->value = value->value;
        old->file = value->file;
        old->children = value->children;
        old->count = value->count;
        old->cap = value->cap;
        old->line = old->column = old->key_line = old->key_column = 0;
        free(value);
        return NMP_OK;
    }
    if (!(value->key = strdup(key)) || node_append(map, value)) {
        nmp_cfg_free(value);
        return nmp_fail(err, NMP_ERR_NOMEM, "out of memory");
    }
    return NMP_OK;
}

/* Is the assigned text a plain null word? Then the key is removed: back to its default. */
static int unsets(const char *text)
{
    while (*text == ' ') text++;
    size_t len = strlen(text);
    while (len && text[len - 1] == ' ') len--;
    return (len == 1 && *text == '~') ||
           (len == 4 && (!strncmp(text, "null", 4) || !strncmp(text, "Null", 4) || !strncmp(text, "NULL", 4)));
}

/* Removes `key` from `map` when present. */
static void remove_child(nmp_cfg_node *map, const char *key)
{
    for (uint32_t i = 0; i < map->count; i++)
        if (map->children[i]->key && strcmp(map->children[i]->key, key) == 0) {
            nmp_cfg_free(map->children[i]);
            memmove(map->children + i, map->children + i + 1, (map->count - i - 1) * sizeof *map->children);
            map->count--;
            return;
        }
}

nmp_status nmp_cfg_set(nmp_cfg_node *root, const char *assignment, nmp_err *err)
{
    const char *eq = strchr(assignment, '=');
    size_t klen = eq ? (size_t)(eq - assignment) : 0;
    char path[PATH_MAX_LEN];
    if (!eq || klen == 0 || klen >= sizeof path)
        return nmp_fail(err, NMP_ERR_INVALID, SET_FILE " %s: expected key.path=value", assignment);
    memcpy(path, assignment, klen);
    path[klen] = 0;
    while (klen && path[klen - 1] == ' ') path[--klen] = 0;
    if (!klen || path[0] == '.' || path[klen - 1] == '.' || strstr(path, "..") || strchr(path, ' '))
        return nmp_fail(err, NMP_ERR_INVALID, SET_FILE " %s: expected key.path=value with non-empty keys", assignment);
    nmp_cfg_node *value = NULL;
    const int unset = unsets(eq + 1);
    nmp_status s = unset ? NMP_OK : set_value_node(path, eq + 1, &value, err);
    if (s) return s;
    nmp_cfg_node *map = root;
    char prefix[PATH_MAX_LEN], full[PATH_MAX_LEN];
    memcpy(full, path, klen + 1);
    for (char *seg = path, *dot; (dot = strchr(seg, '.')); seg = dot + 1) {
        *dot = 0;
        snprintf(prefix, sizeof prefix, "%s", path);
        s = set_descend(map, seg, full, prefix, &map, err);
        *dot = '.';
        if (s) {
            nmp_cfg_free(value);
            return s;
        }
    }
    const char *leaf = strrchr(path, '.');
    if (unset) {
        remove_child(map, leaf ? leaf + 1 : path);
        return NMP_OK;
    }
    return set_leaf(map, leaf ? leaf + 1 : path, value, err);
}
