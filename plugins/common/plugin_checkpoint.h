/* A plugin whose state between steps is one plain value (a loss's running Z, a learned log Z)
 * offers it to checkpoints (nmp_checkpoint_ops, NMP_EXT_CHECKPOINT) with one line:
 *
 *     PLUGIN_CHECKPOINT_FIELD(nce, nce_state, log_z)
 *
 * defines nce_extension, which NMP_PLUGIN_REGISTER takes. State that is more than one field
 * writes its own nmp_checkpoint_ops (docs/plugin-guide.md). */
#ifndef NOMAD_PLUGIN_CHECKPOINT_H
#define NOMAD_PLUGIN_CHECKPOINT_H

#include <string.h>

#include "nomad/plugin.h"

#define PLUGIN_CHECKPOINT_FIELD(prefix, state_type, field)                                                       \
    static size_t prefix##_ckpt_size(const void *state)                                                          \
    {                                                                                                            \
        (void)state;                                                                                             \
        return sizeof(((state_type *)0)->field);                                                                 \
    }                                                                                                            \
    static void prefix##_ckpt_save(const void *state, void *out)                                                 \
    {                                                                                                            \
        memcpy(out, &((const state_type *)state)->field, sizeof(((state_type *)0)->field));                      \
    }                                                                                                            \
    static nmp_status prefix##_ckpt_load(void *state, const void *in, size_t size)                               \
    {                                                                                                            \
        if (size != sizeof(((state_type *)0)->field)) return NMP_ERR_INVALID;                                    \
        memcpy(&((state_type *)state)->field, in, size);                                                         \
        return NMP_OK;                                                                                           \
    }                                                                                                            \
    static const nmp_checkpoint_ops prefix##_ckpt = {.struct_size = sizeof prefix##_ckpt,                        \
                                                     .size = prefix##_ckpt_size,                                 \
                                                     .save = prefix##_ckpt_save,                                 \
                                                     .load = prefix##_ckpt_load};                                \
    static const void *prefix##_extension(const char *uri)                                                       \
    {                                                                                                            \
        return strcmp(uri, NMP_EXT_CHECKPOINT) ? NULL : &prefix##_ckpt;                                          \
    }

#endif
