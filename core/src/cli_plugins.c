/* `nomad plugins [--describe NAME]`: what is on the plugin path, and each plugin's
 * declared parameters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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

static void describe(const nmp_plugin_ref *r)
{
    const nmp_plugin *p = r->desc;
    printf("%s %s %s\n  %s\n  file: %s\n", nmp_kind_name(p->kind), p->name, p->version, p->summary, r->file);
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

int nmp_cli_plugins(int argc, char **argv)
{
    const char *want = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--describe") == 0 && i + 1 < argc)
            want = argv[++i];
        else
            return nmp_cli_fail(2, "plugins: unexpected argument \"%s\"; usage: nomad plugins [--describe NAME]", argv[i]);
    }
    char *path = nmp_plugin_default_path();
    nmp_registry reg = {0};
    nmp_err err = {0};
    if (nmp_registry_scan(&reg, path, &err) != NMP_OK) {
        free(path);
        return nmp_cli_fail(1, "%s", err.msg);
    }
    int found = 0;
    for (int k = 1; k <= NMP_KIND_COUNT; k++)
        for (size_t i = 0; i < reg.count; i++) {
            const nmp_plugin_ref *r = reg.items[i];
            if ((int)r->desc->kind != k) continue;
            if (want && strcmp(want, r->desc->name) != 0) continue;
            found++;
            if (want)
                describe(r);
            else
                printf("%-12s %-14s %-6s %s\n", nmp_kind_name(r->desc->kind), r->desc->name, r->desc->version, r->file);
        }
    if (!want)
        for (size_t i = 0; i < reg.n_refused; i++) fprintf(stderr, "nomad: warning: refused %s\n", reg.refused[i]);
    int code = 0;
    if (want && !found) code = nmp_cli_fail(2, "plugins: no plugin named \"%s\" on the path %s", want, path);
    if (!want && !reg.count) code = nmp_cli_fail(1, "no plugins found on the path %s", path);
    nmp_registry_free(&reg);
    free(path);
    return code;
}
