/* The labels reader (it sniffs .npy, IDX, gzip or text from the bytes): byte 0 is the label
 * count the data would have, the rest is the file. */
#include "fuzz_file.h"

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *path = fuzz_file(data + 1, size - 1);
    int32_t *labels = NULL;
    nmp_err err = {0};
    if (nmp_labels_read_limit(path, data[0] % 16, data[0] >> 7, &labels, &err) == NMP_OK && !labels && data[0] % 16)
        abort();
    free(labels);
    return 0;
}
