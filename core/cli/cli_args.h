/* Tiny helpers for subcommand flags: numbers with range checks and clear errors. */
#ifndef NOMAD_CLI_ARGS_H
#define NOMAD_CLI_ARGS_H

#include <stdint.h>

/* Parses argv[*i + 1] as an integer in [lo, hi] for flag `flag`; advances *i. Returns 0 or
 * prints "nomad: error: <cmd>: <flag> expects ..." and returns 2. */
int nmp_arg_int(const char *cmd, int argc, char **argv, int *i, int64_t lo, int64_t hi, int64_t *out);
/* A number in [lo, hi]; same conventions. */
int nmp_arg_double(const char *cmd, int argc, char **argv, int *i, double lo, double hi, double *out);
/* The flag's string value; same conventions. */
int nmp_arg_str(const char *cmd, int argc, char **argv, int *i, const char **out);
/* nmp_arg_str for an option that may be given once: a second one is refused (exit 2) instead
 * of silently taking the last. *out must start NULL. */
int nmp_arg_once(const char *cmd, int argc, char **argv, int *i, const char **out);

#endif
