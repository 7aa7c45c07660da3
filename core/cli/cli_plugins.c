/* `nomad plugins [--describe [NAME]] [--markdown]`: what is on the plugin path, each plugin's
 * declared parameters, and the Markdown config reference (core keys + every plugin). */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "device.h"
#include "plugin_host.h"

int nmp_cli_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nomad: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static const char *type_name(nmp_param_type t)
{
    switch (t) {
    case NMP_PARAM_INT: return "int";
    case NMP_PARAM_DOUBLE: return "double";
    case NMP_PARAM_BOOL: return "bool";
    case NMP_PARAM_STRING: return "string";
    case NMP_PARAM_ENUM: return "enum";
    }
    return "?";
}

/* What device: cuda does with the plugin. */
static const char *cuda_entry_text(const nmp_plugin *p)
{
    if (nmp_plugin_cuda_ops(p)) return "yes (device: cuda)";
    if (!nmp_device_cuda_built()) return "no (this nomad is built without CUDA)";
    return nmp_device_needs_entry(p->kind) ? "no (device: cpu only)" : "no (on device: cuda it runs on the CPU)";
}

static void describe_one(const nmp_plugin_ref *r)
{
    const nmp_plugin *p = r->desc;
    printf("%s %s %s\n  %s\n  file: %s\n  CUDA entry: %s\n", nmp_kind_name(p->kind), p->name, p->version, p->summary,
           r->file, cuda_entry_text(p));
    if (!p->n_params) printf("  parameters: none\n");
    for (uint32_t i = 0; i < p->n_params; i++) {
        const nmp_param_decl *d = &p->params[i];
        char range[128] = "";
        if (d->type == NMP_PARAM_ENUM)
            snprintf(range, sizeof range, "one of %s", d->choices);
        else if ((d->type == NMP_PARAM_INT || d->type == NMP_PARAM_DOUBLE) && d->min <= d->max)
            snprintf(range, sizeof range, "[%g, %g]", d->min, d->max);
        printf("  %-16s %-7s default %-10s %-24s %s\n", d->name, type_name(d->type), d->default_value, range, d->doc);
    }
}

/* ------------------------------------------------------------------ Markdown reference */

static void md_text(const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|') putchar('\\');
        putchar(*s == '\n' ? ' ' : *s);
    }
}

/* "`a`, `b`, `nearest_exact:K`" for enums; "[0, 1]" / ">= 1" for bounded numbers. */
static void md_range(const nmp_param_decl *d)
{
    if (d->type == NMP_PARAM_ENUM && d->choices) {
        for (const char *c = d->choices; *c;) {
            size_t len = strcspn(c, "|");
            printf("%s`%.*s%s`", c == d->choices ? "" : ", ", (int)len, c, len && c[len - 1] == ':' ? "K" : "");
            c += len + (c[len] == '|');
        }
    } else if ((d->type == NMP_PARAM_INT || d->type == NMP_PARAM_DOUBLE) && d->min <= d->max) {
        /* %.15g: integer bounds such as 2147483647 in full, which %g would round */
        int has_min = isfinite(d->min) && d->min > -DBL_MAX, has_max = isfinite(d->max) && d->max < DBL_MAX;
        if (has_min && has_max) printf("[%.15g, %.15g]", d->min, d->max);
        else if (has_min) printf(">= %.15g", d->min);
        else if (has_max) printf("<= %.15g", d->max);
    }
}

/* One plugin's section; it starts with a blank line and ends with a newline, so sections
 * join without doubled blank lines. */
static void md_plugin(const nmp_plugin *p)
{
    printf("\n#### `%s` %s\n\n", p->name, p->version);
    md_text(p->summary);
    if (!p->n_params) {
        printf("\n\nNo parameters.\n");
        return;
    }
    printf("\n\n| parameter | type | default | range / choices | description |\n|---|---|---|---|---|\n");
    for (uint32_t i = 0; i < p->n_params; i++) {
        const nmp_param_decl *d = &p->params[i];
        printf("| `%s` | %s | `", d->name, type_name(d->type));
        md_text(d->default_value && *d->default_value ? d->default_value : "\"\"");
        printf("` | ");
        md_range(d);
        printf(" | ");
        md_text(d->doc);
        printf(" |\n");
    }
}

static int by_kind_then_name(const void *a, const void *b)
{
    const nmp_plugin *x = (*(const nmp_plugin_ref *const *)a)->desc, *y = (*(const nmp_plugin_ref *const *)b)->desc;
    return x->kind != y->kind ? (int)x->kind - (int)y->kind : strcmp(x->name, y->name);
}

/* The core keys, then every plugin on the path (or only `want`) by kind and name. File
 * paths are left out so the text is the same on every machine. */
static int reference_markdown(const nmp_registry *reg, const char *want)
{
    const nmp_plugin_ref **sorted = malloc((reg->count + 1) * sizeof *sorted);
    if (!sorted) return nmp_cli_fail(1, "plugins: out of memory");
    memcpy(sorted, reg->items, reg->count * sizeof *sorted);
    qsort(sorted, reg->count, sizeof *sorted, by_kind_then_name);
    if (!want) {
        fputs("# Config reference\n\nEvery key of a nomad config: the core keys, then the parameters each plugin on the "
              "plugin path declares. Generated by `nomad plugins --describe --markdown` (the same text as `nomad "
              "config --reference`); a test checks this file is current.\n\nA key written without a value (`epochs:` or "
              "`epochs: ~`) is an error, never a silent default: delete the key to keep its default. On the command "
              "line, `--set key=null` removes the key (its default again, what a sweep's `null` grid value means) "
              "and `--set key=` is the empty string, which only keys whose default is `\"\"` accept.\n\n## Core "
              "keys\n\n",
              stdout);
        if (nmp_config_reference_markdown(stdout) != NMP_OK) return free(sorted), nmp_cli_fail(1, "plugins: write error");
        fputs("\n## Plugins\n\nIn a plugin section, `plugin` picks the plugin (a name below, or the path of a .so) and "
              "every other key that is not a core key of the section is one of its parameters; a key it does not "
              "declare is an error that lists the ones it does.\n",
              stdout);
    }
    int found = 0;
    for (size_t i = 0; i < reg->count; i++) {
        const nmp_plugin *p = sorted[i]->desc;
        if (want && strcmp(want, p->name)) continue;
        if (!want && (i == 0 || sorted[i - 1]->desc->kind != p->kind))
            printf("\n### %s\n", nmp_kind_name(p->kind));
        md_plugin(p);
        found++;
    }
    free(sorted);
    return found || !want ? 0 : 2;
}

int nmp_cli_reference(void)
{
    char *path = nmp_plugin_default_path();
    nmp_registry reg = {0};
    nmp_err err = {0};
    int code = nmp_registry_scan(&reg, path, &err) == NMP_OK ? reference_markdown(&reg, NULL) : nmp_cli_fail(1, "%s", err.msg);
    for (size_t i = 0; i < reg.n_refused; i++) fprintf(stderr, "nomad: warning: refused %s\n", reg.refused[i]);
    nmp_registry_free(&reg);
    free(path);
    return code;
}

int nmp_cli_plugins(int argc, char **argv)
{
    const char *want = NULL;
    int describe = 0, markdown = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--describe") == 0) {
            describe = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-') want = argv[++i];
        } else if (strcmp(argv[i], "--markdown") == 0) {
            markdown = 1;
        } else {
            return nmp_cli_fail(2, "plugins: unexpected argument \"%s\"; usage: nomad plugins [--describe [NAME]] [--markdown]",
                                argv[i]);
        }
    }
    char *path = nmp_plugin_default_path();
    nmp_registry reg = {0};
    nmp_err err = {0};
    if (nmp_registry_scan(&reg, path, &err) != NMP_OK) {
        free(path);
        return nmp_cli_fail(1, "%s", err.msg);
    }
    int found = 0, code = 0;
    if (markdown) {
        code = reference_markdown(&reg, want);
        found = code != 2;
    }
    for (int k = 1; k <= NMP_KIND_COUNT && !markdown; k++)
        for (size_t i = 0; i < reg.count; i++) {
            const nmp_plugin_ref *r = reg.items[i];
            if ((int)r->desc->kind != k) continue;
            if (want && strcmp(want, r->desc->name) != 0) continue;
            found++;
            if (describe)
                describe_one(r);
            else
                printf("%-12s %-14s %-6s %-4s %s\n", nmp_kind_name(r->desc->kind), r->desc->name, r->desc->version,
                       nmp_plugin_cuda_ops(r->desc) ? "cuda" : "-", r->file);
        }
    if (!want)
        for (size_t i = 0; i < reg.n_refused; i++) fprintf(stderr, "nomad: warning: refused %s\n", reg.refused[i]);
    if (want && !found) code = nmp_cli_fail(2, "plugins: no plugin named \"%s\" on the path %s", want, path);
    if (!want && !reg.count) code = nmp_cli_fail(1, "no plugins found on the path %s", path);
    nmp_registry_free(&reg);
    free(path);
    return code;
}
