/* A small streaming JSON writer into a growing memory buffer (run.json, eval --json). */
#ifndef NOMAD_JSON_H
#define NOMAD_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct nmp_json {
    char *buf; /* owned; NUL-terminated */
    size_t len, cap;
    int depth;
    int need_comma[64];
    int after_key;
    int oom;
} nmp_json;

void nmp_json_init(nmp_json *j);
void nmp_json_free(nmp_json *j);
void nmp_json_begin_object(nmp_json *j);
void nmp_json_end_object(nmp_json *j);
void nmp_json_begin_array(nmp_json *j);
void nmp_json_end_array(nmp_json *j);
void nmp_json_key(nmp_json *j, const char *key);
void nmp_json_string(nmp_json *j, const char *s); /* NULL writes null */
void nmp_json_number(nmp_json *j, double v);      /* non-finite writes null */
void nmp_json_int(nmp_json *j, int64_t v);
void nmp_json_bool(nmp_json *j, int v);
/* Inserts already-formed JSON text as a value. */
void nmp_json_raw(nmp_json *j, const char *text);
/* key + value shorthands */
void nmp_json_kv_string(nmp_json *j, const char *key, const char *s);
void nmp_json_kv_number(nmp_json *j, const char *key, double v);
void nmp_json_kv_int(nmp_json *j, const char *key, int64_t v);

#endif
