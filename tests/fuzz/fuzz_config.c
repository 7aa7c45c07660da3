/* The YAML config reader, --set and resolution: the input is YAML text, then (after a NUL
 * byte) --set assignments, one per line. Every outcome must be OK or a clean error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t yaml_len = strlen(text); /* up to the first NUL */
    nmp_cfg_node *root = NULL;
    nmp_err err = {0};
    if (nmp_cfg_parse_string("fuzz.yaml", text, &root, &err) == NMP_OK) {
        for (char *line = yaml_len < size ? text + yaml_len + 1 : NULL, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = 0;
            if (nmp_cfg_set(root, line, &err) != NMP_OK) break;
        }
        nmp_config *cfg = malloc(sizeof *cfg);
        if (cfg && nmp_config_resolve(root, cfg, &err) == NMP_OK) {
            FILE *sink = fopen("/dev/null", "w");
            if (sink) nmp_config_dump(sink, cfg, (const nmp_params *const[NMP_KIND_COUNT]){0}), fclose(sink);
        }
        free(cfg);
        nmp_cfg_free(root);
    }
    free(text);
    return 0;
}
