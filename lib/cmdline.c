/*
 * Usage errors said in one line, with the program's name, not getopt's
 * message with the path it was run by (cmdline.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"

const char *
opt_error(int ch, char *const argv[], char *buf, size_t len)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int n;

	if (arg == NULL)
		arg = "";
	if (strncmp(arg, "--", 2) == 0) {
		/* A long option: name it as typed, up to any '='. */
		n = (int)strcspn(arg, "=");
		if (ch == ':')
			snprintf(buf, len, "%.*s needs an argument", n, arg);
		else if (optopt != 0 && arg[n] == '=')
			snprintf(buf, len, "%.*s takes no argument", n, arg);
		else
			snprintf(buf, len, "unknown or ambiguous option %.*s",
			    n, arg);
	} else if (ch == ':')
		snprintf(buf, len, "-%c needs an argument", optopt);
	else if (optopt > ' ' && optopt < 127)
		snprintf(buf, len, "unknown option -%c", optopt);
	else
		snprintf(buf, len, "unknown option %s", arg);
	return buf;
}
