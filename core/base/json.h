/* A JSON writer for run.json, `nomad eval --json`, the config record and sweep tables: calls
 * in document order build a json-c tree, and closing the outermost value prints it (two-space
 * indent, "key": value, a final newline) into buf. */
#ifndef NOMAD_JSON_H
#define NOMAD_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct nmp_json {
    char *buf; /* owned, NUL-terminated: the text, once the outermost value is closed */
    size_t len;
    int oom;   /* a value was lost to an allocation failure: buf must not be used */
    /* private */
    struct json_object *root, *open[64]; /* the value being built, and its open containers */
    int depth;
    char *key; /* the member name the next value takes */
} nmp_json;

void nmp_json_init(nmp_json *j);
void nmp_json_free(nmp_json *j);
void nmp_json_begin_object(nmp_json *j);
void nmp_json_end_object(nmp_json *j);
void nmp_json_begin_array(nmp_json *j);
void nmp_json_end_array(nmp_json *j);
void nmp_json_key(nmp_json *j, const char *key);
void nmp_json_string(nmp_json *j, const char *s); /* NULL writes null */
void nmp_json_number(nmp_json *j, double v);      /* 9 significant digits; non-finite writes null */
void nmp_json_number_exact(nmp_json *j, double v); /* the shortest text that reads back as v */
void nmp_json_int(nmp_json *j, int64_t v);
void nmp_json_bool(nmp_json *j, int v);
/* The shortest text that reads back as v, with ".0" when it would read as an integer (the
 * config record in JSON and YAML). */
void nmp_format_double_exact(double v, char *buf, size_t size);
/* key + value shorthands */
void nmp_json_kv_string(nmp_json *j, const char *key, const char *s);
void nmp_json_kv_number(nmp_json *j, const char *key, double v);
void nmp_json_kv_int(nmp_json *j, const char *key, int64_t v);

#endif
