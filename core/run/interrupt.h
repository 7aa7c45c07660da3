/* SIGINT/SIGTERM for `nomad run`: the first one asks the run to stop at its next epoch or
 * stage boundary, where it removes what it wrote and exits 128 + signal; a second one kills
 * at once (the default action). The handler only sets a flag, so the first signal never
 * cuts a write short, and one that comes during the final writes lets the run finish. */
#ifndef NOMAD_INTERRUPT_H
#define NOMAD_INTERRUPT_H

/* Installs the handlers. Under a `nomad sweep` parent (NOMAD_SWEEP_PARENT=pid in the
 * environment) also asks the kernel for SIGHUP when that parent dies, so a killed sweep
 * never leaves its running child behind. */
void nmp_interrupt_install(void);
/* Puts back the handlers install found (a process that goes on after the run: the C API
 * inside Python). The signal that stopped the last run stays readable until the next install. */
void nmp_interrupt_uninstall(void);
/* The signal that asked the run to stop (SIGINT, SIGTERM or SIGHUP), or 0. */
int nmp_interrupt_signal(void);
/* Its name for messages ("SIGINT", ...). */
const char *nmp_interrupt_name(void);

#endif
