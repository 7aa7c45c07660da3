/* Affinity edge weights on the GPU (one thread per CSR row): rank_exp, uniform and row
 * normalisation. CPU reference: kernels/affinity_cpu.c; parity test:
 * tests/kernels/test_affinity.c. Host arrays in and out; symmetrisation stays on the CPU. */
#ifndef NOMAD_AFFINITY_CUDA_H
#define NOMAD_AFFINITY_CUDA_H

#include <stdint.h>

#include "cuda_check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* weight (nnz = offsets[n]) as affinity_rank_exp_cpu over all n rows, with the tables of
 * affinity_rank_exp_table_cpu (made on the host): the same bits. */
nmp_status affinity_rank_exp_cuda(const int64_t *offsets, int64_t n, double temperature, float *weight,
                                  nmp_gpu_err *err);

/* weight as affinity_uniform_cpu, then (normalize_rows != 0) affinity_normalize_rows_cpu. */
nmp_status affinity_uniform_cuda(const int64_t *offsets, int64_t n, int normalize_rows, float *weight,
                                 nmp_gpu_err *err);

/* weight (in and out) as affinity_normalize_rows_cpu over all n rows. */
nmp_status affinity_normalize_rows_cuda(const int64_t *offsets, int64_t n, float *weight, nmp_gpu_err *err);

#ifdef __cplusplus
}
#endif
#endif
