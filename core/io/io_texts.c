/* Reads a text column: one line per point, any bytes (a line may hold NULs or invalid UTF-8;
 * whoever prints it escapes it), and checks the line count against the points. Also whole
 * small files (run.json) for their readers. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input_file.h"
#include "io.h"

nmp_status nmp_file_read_all(const char *path, char **bytes, int64_t *size, nmp_err *err)
{
    char why[160];
    nmp_status st;
    *bytes = NULL;
    int fd = nmp_open_regular(path, size, &st, why, sizeof why);
    if (fd < 0) return nmp_fail(err, st, "%s: %s", path, why);
    *bytes = malloc((size_t)*size + 1);
    int64_t got = 0;
    ssize_t r = 1;
    while (*bytes && got < *size && (r = read(fd, *bytes + got, (size_t)(*size - got))) > 0) got += r;
    close(fd);
    if (!*bytes) return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory for %lld bytes", path, (long long)*size);
    (*bytes)[got] = 0;
    if (got == *size) return NMP_OK;
    free(*bytes), *bytes = NULL;
    return nmp_fail(err, NMP_ERR_IO, "%s: read error after %lld of %lld bytes", path, (long long)got, (long long)*size);
}

/* Lines end at \n; a \r before it (a Windows file) is not part of the line, and a last line
 * without its \n still counts. The lines are packed in place, terminators dropped. */
static int64_t pack_lines(char *bytes, int64_t size, int64_t *start, int64_t cap)
{
    int64_t n = 0, w = 0, r = 0;
    while (r < size) {
        int64_t line = w;
        while (r < size && bytes[r] != '\n') bytes[w++] = bytes[r++];
        if (w > line && bytes[w - 1] == '\r') w--;
        r++; /* the \n, or past the end */
        if (n < cap) start[n] = line;
        n++;
    }
    if (n <= cap) start[n] = w; /* line i is [start[i], start[i + 1]) */
    return n;
}

nmp_status nmp_texts_read(const char *path, int64_t expected_n, nmp_texts *texts, nmp_err *err)
{
    memset(texts, 0, sizeof *texts);
    int64_t size = 0;
    nmp_status s = nmp_file_read_all(path, &texts->bytes, &size, err);
    if (s != NMP_OK) return s;
    if (!(texts->start = malloc((size_t)(expected_n + 1) * sizeof *texts->start))) {
        nmp_texts_free(texts);
        return nmp_fail(err, NMP_ERR_NOMEM, "%s: out of memory for %lld lines", path, (long long)expected_n);
    }
    int64_t n = pack_lines(texts->bytes, size, texts->start, expected_n);
    if (n == expected_n) {
        texts->n = n;
        return NMP_OK;
    }
    nmp_texts_free(texts);
    return nmp_fail(err, NMP_ERR_INVALID, "%s: %lld line%s, but the map has %lld point%s; expected one line per point",
                    path, (long long)n, n == 1 ? "" : "s", (long long)expected_n, expected_n == 1 ? "" : "s");
}

void nmp_texts_free(nmp_texts *texts)
{
    free(texts->bytes);
    free(texts->start);
    memset(texts, 0, sizeof *texts);
}
