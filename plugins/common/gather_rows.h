/* Copying chosen rows of a matrix into a dense block (for GEMM on a subset), in parallel. */
#ifndef NOMAD_GATHER_ROWS_H
#define NOMAD_GATHER_ROWS_H

#include "nomad/plugin.h"

/* buf[i] = x[rows[i]] for i < count; rows of width d. */
void nmp_gather_rows(const nmp_host *h, const float *x, int64_t d, const int32_t *rows, int64_t count, float *buf);

#endif
