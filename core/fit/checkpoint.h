/* checkpoint.bin of a run folder (output.checkpoint_every, `nomad run --resume`): an
 * optimiser state (optimizer.h's nmp_opt_state) with what it must be resumed with: the hash
 * of the folder's config.yaml and the thread count, which fix the fit bit for bit. Written
 * atomically; read back whole, its length and a checksum checked, so a torn or foreign file
 * is refused, never half used. */
#ifndef NOMAD_CHECKPOINT_H
#define NOMAD_CHECKPOINT_H

#include <stdint.h>

#include "error.h"
#include "optimizer.h"

/* FNV-1a 64 of len bytes: config.yaml's fingerprint. */
uint64_t nmp_checkpoint_hash(const void *bytes, size_t len);

nmp_status nmp_checkpoint_write(const char *path, const nmp_opt_state *state, uint64_t config_hash, int32_t threads,
                                nmp_err *err);
/* Reads path into *state (arrays malloc'd: nmp_checkpoint_free). NMP_ERR_INVALID naming the
 * file when it is not a whole checkpoint. */
nmp_status nmp_checkpoint_read(const char *path, nmp_opt_state *state, uint64_t *config_hash, int32_t *threads,
                               nmp_err *err);
void nmp_checkpoint_free(nmp_opt_state *state);

#endif
