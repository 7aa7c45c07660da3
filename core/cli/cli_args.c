/* Flag parsing shared by the subcommands. */
#include "cli_args.h"

#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int nmp_arg_str(const char *cmd, int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) return nmp_cli_fail(2, "%s: %s expects a value", cmd, argv[*i]);
    *out = argv[++*i];
    return 0;
}

int nmp_arg_once(const char *cmd, int argc, char **argv, int *i, const char **out)
{
    const char *before = *out;
    if (nmp_arg_str(cmd, argc, argv, i, out)) return 2;
    if (before)
        return nmp_cli_fail(2, "%s: %s given twice (\"%s\" and \"%s\"); give it once", cmd, argv[*i - 1], before,
                            *out);
    return 0;
}

int nmp_arg_int(const char *cmd, int argc, char **argv, int *i, int64_t lo, int64_t hi, int64_t *out)
{
    const char *flag = argv[*i], *text = NULL;
    if (nmp_arg_str(cmd, argc, argv, i, &text)) return 2;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || !*text || *end || v < lo || v > hi)
        return nmp_cli_fail(2, "%s: %s expects an integer in [%lld, %lld], got \"%s\"", cmd, flag, (long long)lo,
                            (long long)hi, text);
    *out = v;
    return 0;
}

int nmp_arg_double(const char *cmd, int argc, char **argv, int *i, double lo, double hi, double *out)
{
    const char *flag = argv[*i], *text = NULL;
    if (nmp_arg_str(cmd, argc, argv, i, &text)) return 2;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || !*text || *end || !(v >= lo && v <= hi))
        return nmp_cli_fail(2, "%s: %s expects a number in [%g, %g], got \"%s\"", cmd, flag, lo, hi, text);
    *out = v;
    return 0;
}
