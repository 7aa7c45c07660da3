/* checkpoint.bin's reader: a torn, foreign or hostile file is refused, never half used. */
#include "fuzz_file.h"

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    nmp_opt_state state;
    uint64_t hash;
    int32_t threads;
    nmp_err err = {0};
    if (nmp_checkpoint_read(path, &state, &hash, &threads, &err) == NMP_OK) nmp_checkpoint_free(&state);
    return 0;
}
