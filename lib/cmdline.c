/*
 * Usage errors said in one line, with the program's name, not getopt's
 * message with the path it was run by; the usage, help and version texts
 * printed alike by every program (cmdline.h).
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

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

int
cmd_usage(const char *synopsis)
{
	fputs(synopsis, stderr);
	return EX_USAGE;
}

int
cmd_bad_option(int ch, char *const argv[], const char *synopsis)
{
	char emsg[1024];

	warnx("%s", opt_error(ch, argv, emsg, sizeof(emsg)));
	return cmd_usage(synopsis);
}

int
cmd_help(const char *synopsis, const char *text)
{
	fputs(synopsis, stdout);
	fputs(text, stdout);
	return fflush(stdout) == EOF ? EX_IOERR : 0;
}

int
cmd_version(const char *name)
{
	printf("%s %s\n", name, BUS_VERSION);
	return 0;
}
