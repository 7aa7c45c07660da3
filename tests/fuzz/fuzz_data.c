/* The data readers: byte 0 picks the format (npy, fvecs, bvecs, raw with byte 1 columns,
 * IDX) and the row limit, the rest is the file. Probing, opening and the run's value checks
 * must agree and fail cleanly. */
#include "fuzz_file.h"

#include <string.h>

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const nmp_data_format formats[] = {NMP_FMT_NPY, NMP_FMT_FVECS, NMP_FMT_BVECS, NMP_FMT_RAW, NMP_FMT_IDX};
    nmp_data_opts o = {.format = formats[data[0] % 5], .raw_dim = data[1] % 16, .limit = (data[0] >> 3) % 4};
    const char *path = fuzz_file(data + 2, size - 2);
    nmp_dataset probe, d;
    nmp_err err = {0};
    nmp_status p = nmp_data_probe(path, &o, &probe, &err);
    nmp_status s = nmp_data_open(path, &o, &d, &err);
    if (s == NMP_OK) {
        if (p != NMP_OK || probe.m.n != d.m.n || probe.m.d != d.m.d || strcmp(probe.dtype, d.dtype) != 0)
            abort(); /* the header promised another shape than the data has */
        (void)nmp_data_peak_bytes(&probe);
        nmp_io_check_values(path, &d.m, 0, nmp_io_distance_bound(d.m.d), &err);
        nmp_io_check_distinct(path, &d.m, &err);
        nmp_data_close(&d);
    }
    return 0;
}
