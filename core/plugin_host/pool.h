/* The worker threads behind nmp_parallel_for. A step of the fit opens several short parallel
 * sections, so an idle worker spins briefly, then yields its core for a couple of
 * milliseconds (awake, but giving way to any other runnable thread), then sleeps. A libgomp
 * team spins without yielding: on a machine whose cores other work shares, a spinning worker
 * takes the very core the working thread waits for (the fit ran 5x slower so); and a worker
 * asleep too soon costs a wake-up, up to a millisecond on a virtual CPU, at every section. */
#ifndef NOMAD_POOL_H
#define NOMAD_POOL_H

#include <stdint.h>

#include "nomad/plugin.h"

/* Runs fn over [0, n) on `threads` workers, worker w on [n w / threads, n (w + 1) / threads)
 * (the calling thread is worker 0), and returns when all are done. Workers are started on
 * first use and kept; the split depends only on n and threads. Not reentrant: no nesting,
 * one caller at a time. Falls back to a serial loop if a thread cannot be started. */
void nmp_pool_run(int threads, int64_t n, nmp_range_fn fn, void *ctx);

#endif
