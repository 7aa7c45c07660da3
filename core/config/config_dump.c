/* Writes a resolved config back out: YAML (reloadable), JSON (run.json) and the Markdown
 * reference table of core keys. One walk over the schema serves both data formats. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a writer does at each step of the walk over the resolved config. */
typedef struct {
    void (*open)(void *ctx, const char *section);
    void (*close)(void *ctx);
    void (*value)(void *ctx, const char *name, const nmp_param_value *v);
    void *ctx;
} visitor;

/* The value of core key `k` in `cfg` in the form plugin parameters use; an enum's choice
 * is copied into `buf`. */
static nmp_param_value key_value(const nmp_config_key *k, const nmp_config *cfg, char *buf, size_t size)
{
    const char *field = (const char *)cfg + k->offset;
    nmp_param_value v = {.name = NULL, .type = k->type};
    bool flag;
    int index;
    switch (k->type) {
    case NMP_PARAM_INT: memcpy(&v.i, field, sizeof v.i); break;
    case NMP_PARAM_DOUBLE: memcpy(&v.d, field, sizeof v.d); break;
    case NMP_PARAM_BOOL:
        memcpy(&flag, field, sizeof flag);
        v.i = flag;
        break;
    case NMP_PARAM_STRING: v.s = field; break;
    case NMP_PARAM_ENUM: {
        memcpy(&index, field, sizeof index);
        const char *c = k->choices;
        for (int i = 0; i < index && strchr(c, '|'); i++) c = strchr(c, '|') + 1;
        snprintf(buf, size, "%.*s", (int)strcspn(c, "|"), c);
        v.s = buf;
        break;
    }
    }
    return v;
}

static int plugin_kind_of(const char *section, size_t len)
{
    for (int kind = 1; kind <= NMP_KIND_COUNT; kind++) {
        const char *name = nmp_config_kind_section((nmp_kind)kind);
        if (strlen(name) == len && !strncmp(name, section, len)) return kind;
    }
    return 0;
}

static size_t section_len(const char *path)
{
    const char *dot = strchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

/* Core keys in schema order; a plugin section's parameters follow its `plugin` key. */
static void walk(const nmp_config *cfg, const nmp_params *const params[NMP_KIND_COUNT], const visitor *w)
{
    const char *open = NULL;
    size_t open_len = 0;
    for (size_t i = 0; i < nmp_config_schema_count(); i++) {
        const nmp_config_key *k = nmp_config_schema_at(i);
        if (!k->size) continue; /* a mapping read by its command, not part of the resolved config */
        size_t sl = section_len(k->path);
        if (open && (sl != open_len || strncmp(open, k->path, sl))) {
            w->close(w->ctx);
            open = NULL;
        }
        if (sl && !open) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)sl, k->path);
            w->open(w->ctx, name);
            open = k->path;
            open_len = sl;
        }
        char choice[128];
        nmp_param_value v = key_value(k, cfg, choice, sizeof choice);
        const char *name = sl ? k->path + sl + 1 : k->path;
        w->value(w->ctx, name, &v);
        int kind = sl ? plugin_kind_of(k->path, sl) : 0;
        const nmp_params *p = kind && params ? params[kind - 1] : NULL;
        if (p && !strcmp(name, "plugin"))
            for (uint32_t j = 0; j < p->count; j++) w->value(w->ctx, p->items[j].name, &p->items[j]);
    }
    if (open) w->close(w->ctx);
}

/* Shortest text that reads back as the same double, always with a '.' or exponent so YAML
 * readers see a float. */

/* ------------------------------------------------------------------ YAML */

typedef struct {
    FILE *f;
    int indent;
} yaml_out;

/* Strings are always double-quoted: a plain `null`, `true` or `1` would read back as
 * something else. */
static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* 1 if an enum choice reads back as the same text when written plain: an identifier
 * (":K" suffix allowed) that no YAML reader takes for a bool or null. */
static int plain_safe(const char *s)
{
    static const char *reserved[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"};
    if (!s || !isalpha((unsigned char)*s)) return 0;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!strcasecmp(s, reserved[i])) return 0;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_-.:", *c)) return 0;
    return s[strlen(s) - 1] != ':';
}

static void yaml_open(void *ctx, const char *section)
{
    yaml_out *y = ctx;
    fprintf(y->f, "%s:\n", section);
    y->indent = 2;
}

static void yaml_close(void *ctx) { ((yaml_out *)ctx)->indent = 0; }

static void yaml_value(void *ctx, const char *name, const nmp_param_value *v)
{
    yaml_out *y = ctx;
    char num[64];
    fprintf(y->f, "%*s%s: ", y->indent, "", name);
    switch (v->type) {
    case NMP_PARAM_INT: fprintf(y->f, "%lld", (long long)v->i); break;
    case NMP_PARAM_DOUBLE:
        nmp_format_double_exact(v->d, num, sizeof num);
        fputs(num, y->f);
        break;
    case NMP_PARAM_BOOL: fputs(v->i ? "true" : "false", y->f); break;
    case NMP_PARAM_STRING: yaml_quoted(y->f, v->s ? v->s : ""); break;
    case NMP_PARAM_ENUM:
        if (plain_safe(v->s)) fputs(v->s, y->f);
        else yaml_quoted(y->f, v->s ? v->s : "");
        break;
    }
    fputc('\n', y->f);
}

nmp_status nmp_config_dump(FILE *f, const nmp_config *cfg, const nmp_params *const params[NMP_KIND_COUNT])
{
    yaml_out y = {.f = f};
    visitor w = {yaml_open, yaml_close, yaml_value, &y};
    walk(cfg, params, &w);
    return ferror(f) ? NMP_ERR_IO : NMP_OK;
}

/* ------------------------------------------------------------------ JSON */

static void json_open(void *ctx, const char *section)
{
    nmp_json_key(ctx, section);
    nmp_json_begin_object(ctx);
}

static void json_close(void *ctx) { nmp_json_end_object(ctx); }

static void json_value(void *ctx, const char *name, const nmp_param_value *v)
{
    nmp_json *j = ctx;
    nmp_json_key(j, name);
    switch (v->type) {
    case NMP_PARAM_INT: nmp_json_int(j, v->i); break;
    case NMP_PARAM_DOUBLE: nmp_json_number_exact(j, v->d); break; /* the record must be exact */
    case NMP_PARAM_BOOL: nmp_json_bool(j, v->i != 0); break;
    case NMP_PARAM_STRING:
    case NMP_PARAM_ENUM: nmp_json_string(j, v->s ? v->s : ""); break;
    }
}

void nmp_config_json(nmp_json *j, const nmp_config *cfg, const nmp_params *const params[NMP_KIND_COUNT])
{
    visitor w = {json_open, json_close, json_value, j};
    nmp_json_begin_object(j);
    walk(cfg, params, &w);
    nmp_json_end_object(j);
}

nmp_status nmp_config_dump_json(FILE *f, const nmp_config *cfg, const nmp_params *const params[NMP_KIND_COUNT])
{
    nmp_json j;
    nmp_json_init(&j);
    nmp_config_json(&j, cfg, params);
    nmp_status s = j.oom ? NMP_ERR_NOMEM : NMP_OK;
    if (!s && (fputs(j.buf, f) < 0 || fputc('\n', f) < 0)) s = NMP_ERR_IO;
    nmp_json_free(&j);
    return s;
}

/* ------------------------------------------------------------------ Markdown reference */

/* Writes text into a table cell: '|' would end the cell, so it is escaped. */
static void md_cell(FILE *f, const char *text)
{
    for (; *text; text++) {
        if (*text == '|') fputc('\\', f);
        fputc(*text, f);
    }
}

static const char *type_name(nmp_param_type t)
{
    switch (t) {
    case NMP_PARAM_INT: return "int";
    case NMP_PARAM_DOUBLE: return "float";
    case NMP_PARAM_BOOL: return "bool";
    case NMP_PARAM_STRING: return "string";
    case NMP_PARAM_ENUM: return "one of";
    }
    return "?";
}

nmp_status nmp_config_reference_markdown(FILE *f)
{
    fputs("| key | type | default | range | description |\n|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < nmp_config_schema_count(); i++) {
        const nmp_config_key *k = nmp_config_schema_at(i);
        char range[128];
        nmp_cfg_range_text(&k->range, range, sizeof range);
        fprintf(f, "| `%s` | %s", k->path, k->size ? type_name(k->type) : "mapping");
        if (k->choices) {
            fputs(" `", f);
            md_cell(f, k->choices);
            fputc('`', f);
        }
        fprintf(f, " | `%s` | %s | ", *k->default_value ? k->default_value : "\"\"", range);
        md_cell(f, k->doc);
        fputs(" |\n", f);
    }
    fputs("\nIn the sections partitioner, ann, affinity, init, negatives and loss, every key other than the "
          "ones above is a parameter of the chosen plugin: `nomad plugins --describe NAME` lists them.\n",
          f);
    return ferror(f) ? NMP_ERR_IO : NMP_OK;
}
