/* Reading back the JSON nomad writes (a run's run.json, for `nomad sweep`'s tables and its
 * check that a finished run had the same config, `nomad view` and `nomad transform`). The
 * parsing is json-c's; these are the few queries the readers need on top of it, with one-line
 * errors that name a line. */
#ifndef NOMAD_JSON_READ_H
#define NOMAD_JSON_READ_H

#include <stddef.h>

/* A parsed JSON value (json-c's json_object; json-c's calls work on it too). */
typedef struct json_object nmp_jv;

/* Parses `len` bytes of JSON text (RFC 8259, strictly: no trailing commas, comments or text
 * after the value) into *out. On failure returns -1, *out NULL, and writes "line L: <what is
 * wrong>" into `why`. A member named twice keeps its last value, as Python's json does. */
int nmp_jv_parse(const char *text, size_t len, nmp_jv **out, char *why, size_t why_size);
void nmp_jv_free(nmp_jv *v);

/* The member at a dotted path of objects ("metrics.np"), or NULL. */
const nmp_jv *nmp_jv_get(const nmp_jv *v, const char *path);
/* The number at `path`, or `fallback` when absent or not a number. */
double nmp_jv_number_at(const nmp_jv *v, const char *path, double fallback);
/* The string at `path`, or NULL. */
const char *nmp_jv_string_at(const nmp_jv *v, const char *path);

/* 0 if a and b are equal (objects by member name, in any order; numbers by value, 2 equal to
 * 2.0), else 1 with the dotted path of the first difference in `where` ("optimizer.epochs").
 * Top-level members of `a` and `b` named in `ignore` (NULL-terminated) are not compared. */
int nmp_jv_diff(const nmp_jv *a, const nmp_jv *b, const char *const *ignore, char *where, size_t where_size);

#endif
