/* checkpoint.bin: a fixed header, the arrays in a fixed order, and a checksum of all of it.
 *   "NOMADCK1" | u64 config hash | i32 threads | i32 dims | i64 n | i64 epochs_done |
 *   u64 plugin sizes [2] | y, velocity (f32, n x dims) | loss, epoch_seconds (f64, epochs) |
 *   plugin states | u64 FNV-1a of everything before
 * Little-endian, as every machine nomad runs on; a file from another kind is refused by size
 * or checksum. */
#include "checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "input_file.h"
#include "io.h"

static const char MAGIC[8] = {'N', 'O', 'M', 'A', 'D', 'C', 'K', '1'};

typedef struct {
    char magic[8];
    uint64_t config_hash;
    int32_t threads, dims;
    int64_t n, epochs_done;
    uint64_t plugin_size[2];
} ckpt_header;

uint64_t nmp_checkpoint_hash(const void *bytes, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ ((const unsigned char *)bytes)[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_more(uint64_t h, const void *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++) h = (h ^ ((const unsigned char *)bytes)[i]) * 0x100000001b3ull;
    return h;
}

/* The pieces after the header, in file order. */
static int pieces(const nmp_opt_state *s, const void **ptr, size_t *len)
{
    const size_t values = (size_t)(s->n * s->dims) * sizeof(float), epochs = (size_t)s->epochs_done * sizeof(double);
    const void *p[6] = {s->y, s->velocity, s->loss, s->epoch_seconds, s->plugin[0], s->plugin[1]};
    const size_t l[6] = {values, values, epochs, epochs, (size_t)s->plugin_size[0], (size_t)s->plugin_size[1]};
    memcpy(ptr, p, sizeof p), memcpy(len, l, sizeof l);
    return 6;
}

nmp_status nmp_checkpoint_write(const char *path, const nmp_opt_state *state, uint64_t config_hash, int32_t threads,
                                nmp_err *err)
{
    ckpt_header h = {.config_hash = config_hash, .threads = threads, .dims = state->dims, .n = state->n,
                     .epochs_done = state->epochs_done};
    memcpy(h.magic, MAGIC, sizeof MAGIC);
    memcpy(h.plugin_size, state->plugin_size, sizeof h.plugin_size);
    const void *bufs[8];
    size_t lens[8];
    bufs[0] = &h, lens[0] = sizeof h;
    int count = 1 + pieces(state, bufs + 1, lens + 1);
    uint64_t sum = 0xcbf29ce484222325ull;
    for (int i = 0; i < count; i++) sum = hash_more(sum, bufs[i], lens[i]);
    bufs[count] = &sum, lens[count] = sizeof sum;
    return nmp_file_write_atomic_parts(path, bufs, lens, count + 1, err);
}

void nmp_checkpoint_free(nmp_opt_state *s)
{
    free(s->y), free(s->velocity), free(s->loss), free(s->epoch_seconds), free(s->plugin[0]), free(s->plugin[1]);
    memset(s, 0, sizeof *s);
}

nmp_status nmp_checkpoint_read(const char *path, nmp_opt_state *state, uint64_t *config_hash, int32_t *threads,
                               nmp_err *err)
{
    memset(state, 0, sizeof *state);
    char why[256];
    nmp_status st;
    FILE *f = nmp_fopen_regular(path, "rb", &st, why, sizeof why);
    if (!f) return nmp_fail(err, st, "%s: %s", path, why);
    ckpt_header h;
    st = NMP_ERR_INVALID;
    const char *bad = "shorter than its header";
    if (fread(&h, sizeof h, 1, f) == 1) {
        bad = memcmp(h.magic, MAGIC, sizeof MAGIC) ? "not a nomad checkpoint (magic)" : NULL;
        if (!bad && (h.n < 1 || h.dims < 2 || h.dims > 3 || h.epochs_done < 1 || h.n > ((int64_t)1 << 40) ||
                     h.epochs_done > ((int64_t)1 << 40) || h.plugin_size[0] > (1u << 30) || h.plugin_size[1] > (1u << 30)))
            bad = "its header holds impossible sizes";
    }
    if (!bad) { /* the size the header implies, against the file's, before anything is allocated */
        const uint64_t want = sizeof h + 2 * (uint64_t)h.n * (uint64_t)h.dims * sizeof(float) +
                              2 * (uint64_t)h.epochs_done * sizeof(double) + h.plugin_size[0] + h.plugin_size[1] +
                              sizeof(uint64_t);
        struct stat st;
        if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size != want) bad = "of the wrong length";
    }
    if (!bad) {
        *state = (nmp_opt_state){.epochs_done = h.epochs_done, .n = h.n, .dims = h.dims,
                                 .plugin_size = {h.plugin_size[0], h.plugin_size[1]}};
        const size_t values = (size_t)(h.n * h.dims), epochs = (size_t)h.epochs_done;
        state->y = malloc(values * sizeof(float) + 1), state->velocity = malloc(values * sizeof(float) + 1);
        state->loss = malloc(epochs * sizeof(double) + 1), state->epoch_seconds = malloc(epochs * sizeof(double) + 1);
        state->plugin[0] = malloc(h.plugin_size[0] + 1), state->plugin[1] = malloc(h.plugin_size[1] + 1);
        if (!state->y || !state->velocity || !state->loss || !state->epoch_seconds || !state->plugin[0] ||
            !state->plugin[1]) {
            st = NMP_ERR_NOMEM, bad = "out of memory reading it";
        } else {
            const void *ptr[6];
            size_t len[6];
            int count = pieces(state, ptr, len);
            uint64_t sum = hash_more(0xcbf29ce484222325ull, &h, sizeof h), stored = 0;
            for (int i = 0; i < count && !bad; i++) {
                if (fread((void *)ptr[i], 1, len[i], f) != len[i]) bad = "cut short";
                else sum = hash_more(sum, ptr[i], len[i]);
            }
            if (!bad && (fread(&stored, sizeof stored, 1, f) != 1 || fgetc(f) != EOF)) bad = "of the wrong length";
            if (!bad && stored != sum) bad = "damaged (checksum)";
        }
    }
    fclose(f);
    if (bad) {
        nmp_checkpoint_free(state);
        return nmp_fail(err, st, "%s: %s; it cannot be resumed from", path, bad);
    }
    *config_hash = h.config_hash;
    *threads = h.threads;
    return NMP_OK;
}
