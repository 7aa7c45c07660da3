/* nomad sweep's JSON reader (run.json of a finished run) and its grid value lists. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"
#include "json_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nmp_jv *j = NULL;
    char why[256];
    if (nmp_jv_parse((const char *)data, size, &j, why, sizeof why) == 0) {
        (void)nmp_jv_string_at(j, "status");
        (void)nmp_jv_number_at(j, "metrics.np", 0);
        (void)nmp_jv_number_at(j, "data.n", -1);
        nmp_jv *copy = NULL;
        char where[256];
        if (nmp_jv_parse((const char *)data, size, &copy, why, sizeof why) == 0) {
            if (nmp_jv_diff(j, copy, NULL, where, sizeof where) != 0) abort(); /* equal to itself */
            nmp_jv_free(copy);
        }
        nmp_jv_free(j);
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char **values = NULL;
    int count = 0;
    nmp_err err = {0};
    if (nmp_sweep_split_values("fuzz", text, &values, &count, &err) == NMP_OK)
        for (int i = 0; i < count; i++) free(values[i]);
    free(values);
    free(text);
    return 0;
}
