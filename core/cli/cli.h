/* The subcommands of the nomad program; each returns the process exit code. */
#ifndef NOMAD_CLI_H
#define NOMAD_CLI_H

int nmp_cli_run(int argc, char **argv);
int nmp_cli_plugins(int argc, char **argv);
int nmp_cli_eval(int argc, char **argv);
int nmp_cli_sweep(int argc, char **argv);
int nmp_cli_plot(int argc, char **argv);
int nmp_cli_transform(int argc, char **argv);
int nmp_cli_view(int argc, char **argv);
/* The Markdown config reference (core keys and every plugin's parameters) on stdout: the text
 * of `nomad plugins --describe --markdown`, docs/config-reference.md. */
int nmp_cli_reference(void);

/* Prints "nomad: error: <msg>" on stderr and returns the exit code for `status`. */
int nmp_cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
