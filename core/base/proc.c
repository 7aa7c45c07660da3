/* See proc.h. */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#define _POSIX_C_SOURCE 200809L
#include "proc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

double nmp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double nmp_proc_kb_bytes(const char *file, const char *field)
{
    FILE *f = fopen(file, "r");
    char line[256];
    size_t len = strlen(field);
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, len) && line[len] == ':' && sscanf(line + len + 1, "%lf", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

double nmp_peak_rss_bytes(void) { return nmp_proc_kb_bytes("/proc/self/status", "VmHWM"); }

void *nmp_alloc_huge(size_t bytes, int zero)
{
    void *p = NULL;
#ifdef MADV_HUGEPAGE
    const size_t huge = (size_t)2 << 20;
    if (bytes >= 2 * huge && bytes <= SIZE_MAX - huge) { /* whole huge pages, from their first byte, untouched */
        p = aligned_alloc(huge, (bytes + huge - 1) / huge * huge);
        if (p) (void)madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE); /* advice: a refusal is fine */
    }
#endif
    if (!p) p = malloc(bytes ? bytes : 1);
    if (p && zero) memset(p, 0, bytes);
    return p;
}
