/* What the process knows of itself: a monotonic clock and its memory, from /proc. Leaf
 * helpers for every part of core (no calls out). */
#ifndef NOMAD_PROC_H
#define NOMAD_PROC_H

/* Monotonic wall clock in seconds. */
double nmp_now(void);
/* The peak resident size so far (VmHWM), bytes; 0 where /proc cannot tell. */
double nmp_peak_rss_bytes(void);
/* A "Field:  N kB" line of a /proc file (status, meminfo) in bytes; 0 when absent. */
double nmp_proc_kb_bytes(const char *file, const char *field);

#endif
