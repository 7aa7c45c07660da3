/* Typed values from YAML text (shared by core keys and plugin parameters) and the
 * resolution of a plugin's declared parameters from its config section. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ scalars */

static int parse_int(const char *text, int64_t *out)
{
    if (!*text || isspace((unsigned char)*text)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*end && errno == 0) {
        *out = v;
        return 0;
    }
    /* "1e6" is how people write a million; accept any number that is a whole integer. */
    double d = strtod(text, &end);
    if (*end || !isfinite(d) || d != floor(d) || fabs(d) > 9.0e18) return -1;
    *out = (int64_t)d;
    return 0;
}

static int parse_double(const char *text, double *out)
{
    if (!*text || isspace((unsigned char)*text)) return -1;
    char *end;
    double v = strtod(text, &end);
    if (*end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *text, int64_t *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(text, yes[i])) return *out = 1, 0;
        if (!strcasecmp(text, no[i])) return *out = 0, 0;
    }
    return -1;
}

/* The choices as users read them: "a|b|nearest_exact:K". */
static void choices_text(const char *choices, char *buf, size_t size)
{
    size_t n = 0;
    for (const char *c = choices ? choices : ""; *c && n + 2 < size; c++) {
        buf[n++] = *c;
        if (*c == ':' && (c[1] == '|' || !c[1])) buf[n++] = 'K';
    }
    buf[n < size ? n : size - 1] = 0;
}

/* Matches `text` against "a|b|prefix:" choices; *suffix gets K of "prefix:K" (else 0).
 * Returns 0 on a match, -1 for no match, -2 for a matching prefix with a bad K. */
static int match_enum(const char *text, const char *choices, int64_t *suffix)
{
    *suffix = 0;
    for (const char *c = choices ? choices : ""; *c;) {
        size_t len = strcspn(c, "|");
        int prefix = len > 0 && c[len - 1] == ':';
        if (!prefix && strlen(text) == len && !strncmp(text, c, len)) return 0;
        if (prefix && !strncmp(text, c, len)) {
            int64_t k;
            if (parse_int(text + len, &k) || k < 1) return -2;
            *suffix = k;
            return 0;
        }
        c += len + (c[len] == '|');
    }
    return -1;
}

void nmp_cfg_range_text(const nmp_cfg_range *r, char *buf, size_t size)
{
    if (r->has_min && r->has_max)
        snprintf(buf, size, "%c%g, %g%c", r->min_open ? '(' : '[', r->min, r->max, r->max_open ? ')' : ']');
    else if (r->has_min) snprintf(buf, size, "%s %g", r->min_open ? ">" : ">=", r->min);
    else if (r->has_max) snprintf(buf, size, "%s %g", r->max_open ? "<" : "<=", r->max);
    else if (size) buf[0] = 0;
}

static int in_range(const nmp_cfg_range *r, double v)
{
    if (!r) return 1;
    if (r->has_min && (r->min_open ? v <= r->min : v < r->min)) return 0;
    if (r->has_max && (r->max_open ? v >= r->max : v > r->max)) return 0;
    return 1;
}

/* Typed parse without the range check; returns the canonical text to store. */
static const char *parse_typed(nmp_param_type type, const char *text, const char *choices, nmp_param_value *out,
                               char *why, size_t why_size)
{
    char shown[512];
    switch (type) {
    case NMP_PARAM_INT:
        if (parse_int(text, &out->i)) break;
        out->d = (double)out->i;
        return text;
    case NMP_PARAM_DOUBLE:
        if (parse_double(text, &out->d)) break;
        return text;
    case NMP_PARAM_BOOL:
        if (parse_bool(text, &out->i)) break;
        out->d = (double)out->i;
        return out->i ? "true" : "false";
    case NMP_PARAM_STRING: return text;
    case NMP_PARAM_ENUM: {
        int m = match_enum(text, choices, &out->i);
        if (m == 0) return text;
        choices_text(choices, shown, sizeof shown);
        if (m == -2) snprintf(why, why_size, "expected one of %s with an integer K >= 1, got \"%s\"", shown, text);
        else snprintf(why, why_size, "expected one of %s, got \"%s\"", shown, text);
        return NULL;
    }
    }
    snprintf(why, why_size, "expected %s, got \"%s\"",
             type == NMP_PARAM_INT ? "an integer" : type == NMP_PARAM_DOUBLE ? "a number" : "true or false", text);
    return NULL;
}

nmp_status nmp_cfg_parse_value(nmp_param_type type, const char *text, const nmp_cfg_range *range,
                               const char *choices, nmp_param_value *out, char *why, size_t why_size)
{
    out->type = type;
    out->i = 0;
    out->d = 0;
    out->s = NULL;
    const char *canonical = parse_typed(type, text, choices, out, why, why_size);
    if (!canonical) return NMP_ERR_INVALID;
    if ((type == NMP_PARAM_INT || type == NMP_PARAM_DOUBLE) && !in_range(range, out->d)) {
        char r[128];
        nmp_cfg_range_text(range, r, sizeof r);
        snprintf(why, why_size, "must be %s%s, got %s", range->has_min && range->has_max ? "in " : "", r, text);
        return NMP_ERR_INVALID;
    }
    if (!(out->s = strdup(canonical))) {
        snprintf(why, why_size, "out of memory");
        return NMP_ERR_NOMEM;
    }
    return NMP_OK;
}

/* ------------------------------------------------------------------ plugin parameters */

static nmp_cfg_range decl_range(const nmp_param_decl *d)
{
    nmp_cfg_range r = {.min = d->min, .max = d->max};
    if (d->min > d->max) return r;
    r.has_min = isfinite(d->min) && d->min > -DBL_MAX;
    r.has_max = isfinite(d->max) && d->max < DBL_MAX;
    return r;
}

static const nmp_param_decl *find_decl(const nmp_param_decl *decls, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (decls[i].name && !strcmp(decls[i].name, name)) return &decls[i];
    return NULL;
}

/* Refuses keys of the section that are neither core keys nor declared by the plugin. */
static nmp_status check_undeclared(const nmp_cfg_node *section, const char *section_name, const char *plugin_name,
                                   const char *plugin_file, const nmp_param_decl *decls, uint32_t n_decls,
                                   nmp_err *err)
{
    for (uint32_t c = 0; section && section->type == NMP_CFG_MAP && c < section->count; c++) {
        const nmp_cfg_node *kv = section->children[c];
        if (nmp_config_is_core_key(section_name, kv->key) || find_decl(decls, n_decls, kv->key)) continue;
        char list[1024] = "", path[512];
        size_t n = 0;
        for (uint32_t i = 0; i < n_decls && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", decls[i].name);
        snprintf(path, sizeof path, "%s.%s", section_name, kv->key);
        return nmp_cfg_fail_key(err, kv, path, "plugin %s (%s) has no parameter \"%s\"; %s%s", plugin_name,
                                plugin_file, kv->key, n_decls ? "it declares: " : "it declares no parameters",
                                list);
    }
    return NMP_OK;
}

/* One declared parameter from its node (if set; null is an error) or its default. */
static nmp_status resolve_param(const nmp_cfg_node *section, const char *section_name, const char *plugin_name,
                                const char *plugin_file, const nmp_param_decl *d, nmp_param_value *out,
                                nmp_err *err)
{
    nmp_cfg_node *node = (nmp_cfg_node *)nmp_cfg_child(section, d->name);
    nmp_cfg_range range = decl_range(d);
    char why[768], path[512];
    snprintf(path, sizeof path, "%s.%s", section_name, d->name);
    if (node) node->used = 1; /* resolution bookkeeping only; the tree is otherwise untouched */
    if (node && node->type == NMP_CFG_NULL)
        return nmp_cfg_fail_at(err, node, path, "no value; give one, or delete the key for its default (%s)",
                               d->default_value && *d->default_value ? d->default_value : "\"\"");
    if (node) {
        if (node->type != NMP_CFG_SCALAR)
            return nmp_cfg_fail_at(err, node, path, "expected a single value, got a %s",
                                   node->type == NMP_CFG_MAP ? "mapping" : "sequence");
        nmp_status s = nmp_cfg_parse_value(d->type, node->value, &range, d->choices, out, why, sizeof why);
        if (s) return s == NMP_ERR_NOMEM ? nmp_fail(err, s, "%s: out of memory", path)
                                         : nmp_cfg_fail_at(err, node, path, "%s", why);
    } else {
        const char *def = d->default_value ? d->default_value : "";
        nmp_status s = nmp_cfg_parse_value(d->type, def, &range, d->choices, out, why, sizeof why);
        if (s) return nmp_fail(err, s == NMP_ERR_NOMEM ? s : NMP_ERR_INVALID,
                               "%s: plugin %s: parameter \"%s\" has a bad default \"%s\": %s", plugin_file,
                               plugin_name, d->name, def, why);
    }
    out->name = d->name;
    return NMP_OK;
}

nmp_status nmp_config_plugin_params(const nmp_cfg_node *section, const char *section_name, const char *plugin_name,
                                    const char *plugin_file, const nmp_param_decl *decls, uint32_t n_decls,
                                    nmp_params *out, nmp_err *err)
{
    out->count = 0;
    out->items = NULL;
    if (section && section->type != NMP_CFG_MAP) section = NULL;
    nmp_status s = check_undeclared(section, section_name, plugin_name, plugin_file, decls, n_decls, err);
    if (s) return s;
    nmp_param_value *items = n_decls ? calloc(n_decls, sizeof *items) : NULL;
    if (n_decls && !items) return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory", section_name);
    out->items = items;
    for (uint32_t i = 0; i < n_decls; i++) {
        s = resolve_param(section, section_name, plugin_name, plugin_file, &decls[i], &items[i], err);
        if (s) {
            nmp_params_free(out);
            return s;
        }
        out->count = i + 1;
    }
    return NMP_OK;
}

void nmp_params_free(nmp_params *params)
{
    if (!params) return;
    nmp_param_value *items = (nmp_param_value *)params->items;
    for (uint32_t i = 0; i < params->count; i++) free((char *)items[i].s);
    free(items);
    params->items = NULL;
    params->count = 0;
}
