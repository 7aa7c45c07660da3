/* Typed values from YAML text, shared by core keys (config_schema.c) and plugin parameters
 * (config_params.c): int, double, bool and enum choices, with their ranges. */
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
