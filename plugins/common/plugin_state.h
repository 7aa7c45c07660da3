/* The state of a plugin that keeps nothing but its host: no parameters, nothing between calls. */
#ifndef NOMAD_PLUGIN_STATE_H
#define NOMAD_PLUGIN_STATE_H

#include "nomad/plugin.h"

typedef struct {
    const nmp_host *host; /* first, as loss_cuda.h wants of a loss's state */
} plugin_host_state;

/* What such a plugin's create() does; `name` names it in the out-of-memory error. Its
 * destroy is free. */
static inline nmp_status plugin_host_state_new(const nmp_host *host, const char *name, void **state)
{
    plugin_host_state *st = *state = nmp_state_new(host, sizeof *st, name);
    if (!st) return NMP_ERR_NOMEM;
    st->host = host;
    return NMP_OK;
}

#endif
