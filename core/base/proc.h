/* What the process knows of itself (a monotonic clock, its memory from /proc) and how it asks
 * the kernel for large arrays. Leaf helpers for every part of core (no calls out). */
#ifndef NOMAD_PROC_H
#define NOMAD_PROC_H

#include <stddef.h>

/* Monotonic wall clock in seconds. */
double nmp_now(void);
/* The peak resident size so far (VmHWM), bytes; 0 where /proc cannot tell. */
double nmp_peak_rss_bytes(void);
/* Memory for an array the fit reads and writes at random: past a few MB it is backed by huge
 * pages where Linux offers them on request (THP in madvise mode), else each touch would cost
 * a TLB miss on 4 KiB pages. zero: cleared, as calloc. Release with free(); NULL when out of
 * memory. */
void *nmp_alloc_huge(size_t bytes, int zero);
/* A "Field:  N kB" line of a /proc file (status, meminfo) in bytes; 0 when absent. */
double nmp_proc_kb_bytes(const char *file, const char *field);

#endif
