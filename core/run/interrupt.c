/* Signal handling of `nomad run` (interrupt.h). */
#define _GNU_SOURCE
#include "interrupt.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static volatile sig_atomic_t pending;
static struct sigaction saved[3]; /* SIGINT, SIGTERM, SIGHUP as they were before install */
static int installed;

static void on_signal(int sig)
{
    static const char msg[] = "\nnomad: interrupted: stopping at the next epoch or stage boundary and removing what "
                              "this run wrote (a second signal kills at once)\n";
    pending = sig;
    ssize_t ignored = write(2, msg, sizeof msg - 1); /* async-signal-safe, unlike stdio */
    (void)ignored;
}

void nmp_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* the second signal takes the default action: killed now */
    sigemptyset(&sa.sa_mask);
    pending = 0;
    installed = 1;
    sigaction(SIGINT, &sa, &saved[0]);
    sigaction(SIGTERM, &sa, &saved[1]);
    sigaction(SIGHUP, NULL, &saved[2]);
#ifdef __linux__
    const char *parent = getenv("NOMAD_SWEEP_PARENT");
    if (parent && *parent) {
        /* SIGHUP, with a handler that stays: the kernel may send the parent-death signal once
         * per thread of the dying sweep as the child is handed from one to the next */
        sa.sa_flags = 0;
        sigaction(SIGHUP, &sa, NULL);
        pid_t want = (pid_t)atol(parent);
        prctl(PR_SET_PDEATHSIG, SIGHUP);
        if (getppid() != want) raise(SIGHUP); /* the sweep died before the line above */
    }
#endif
}

void nmp_interrupt_uninstall(void)
{
    if (!installed) return;
    sigaction(SIGINT, &saved[0], NULL);
    sigaction(SIGTERM, &saved[1], NULL);
    sigaction(SIGHUP, &saved[2], NULL);
    installed = 0;
}

int nmp_interrupt_signal(void) { return pending; }

const char *nmp_interrupt_name(void)
{
    switch (pending) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP (the nomad sweep that started this run died)";
    default: return "a signal";
    }
}
