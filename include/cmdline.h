/*
 * What the programs' command lines share: the usage, help and version
 * texts, and the reason for a usage error.  Nothing here exits: each
 * printing function returns the status for the program's exit(3).
 */
#ifndef BUS_CMDLINE_H
#define BUS_CMDLINE_H

#include <stddef.h>

/*
 * Why getopt_long(3) returned '?' or ':' (called with opterr = 0 and an
 * optstring that begins with ':'), in buf, naming the option as typed:
 * "unknown option --bogus", "-d needs an argument".
 */
const char *opt_error(int, char *const [], char *, size_t);

/* A usage error: the synopsis on standard error; returns EX_USAGE. */
int	cmd_usage(const char *);

/*
 * getopt_long(3) returned '?' or ':': the reason (opt_error()) after the
 * program's name, then the synopsis, on standard error; returns
 * EX_USAGE.
 */
int	cmd_bad_option(int, char *const [], const char *);

/*
 * -h, --help: the synopsis, then the text on the options, on standard
 * output; returns 0, or EX_IOERR if they could not all be written.
 */
int	cmd_help(const char *, const char *);

/* -V, --version: "name VERSION" on standard output; returns 0. */
int	cmd_version(const char *);

#endif /* BUS_CMDLINE_H */
