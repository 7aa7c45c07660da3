/* See proc.h. */
#define _POSIX_C_SOURCE 200809L
#include "proc.h"

#include <stdio.h>
#include <string.h>
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
