/*
 * What the programs' command lines share: the reason for a usage error.
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

#endif /* BUS_CMDLINE_H */
