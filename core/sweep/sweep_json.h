/* A small JSON reader for `nomad sweep`: it reads the run.json files that `nomad run`
 * writes back into a tree, to fill the sweep's tables and to check a finished run was made
 * with the same config. */
#ifndef NOMAD_SWEEP_JSON_H
#define NOMAD_SWEEP_JSON_H

#include <stddef.h>

typedef enum { NMP_JV_NULL, NMP_JV_BOOL, NMP_JV_NUMBER, NMP_JV_STRING, NMP_JV_ARRAY, NMP_JV_OBJECT } nmp_jv_type;

/* One JSON value. The tree owns every string and child; nmp_jv_free frees it all. */
typedef struct nmp_jv {
    nmp_jv_type type;
    double number;        /* NUMBER, BOOL (0/1) */
    char *string;         /* STRING (UTF-8, NUL-terminated) */
    char *key;            /* member name inside an OBJECT, NULL elsewhere */
    struct nmp_jv *items; /* ARRAY and OBJECT members, in document order */
    size_t count;
} nmp_jv;

/* Parses `len` bytes of JSON text into *out (malloc'd). On failure returns -1, *out NULL, and
 * writes "line L: <what was expected>" into `why`. */
int nmp_jv_parse(const char *text, size_t len, nmp_jv **out, char *why, size_t why_size);
void nmp_jv_free(nmp_jv *v);

/* The member at a dotted path of objects ("metrics.np"), or NULL. */
const nmp_jv *nmp_jv_get(const nmp_jv *v, const char *path);
/* The number at `path`, or `fallback` when absent or not a number. */
double nmp_jv_number_at(const nmp_jv *v, const char *path, double fallback);
/* The string at `path`, or NULL. */
const char *nmp_jv_string_at(const nmp_jv *v, const char *path);

/* 0 if a and b are equal (objects by member name, in any order), else 1 with the dotted path
 * of the first difference in `where` ("optimizer.epochs"). Top-level members of `a` and `b`
 * named in `ignore` (NULL-terminated) are not compared. */
int nmp_jv_diff(const nmp_jv *a, const nmp_jv *b, const char *const *ignore, char *where, size_t where_size);

#endif
