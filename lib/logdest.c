/*
 * Where a detached busd logs (logdest.h).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <string.h>
#include <syslog.h>	/* _PATH_LOG */
#include <unistd.h>

#include "logdest.h"

int
logdest_syslog(void)
{
	struct sockaddr_un sun;
	int fd, ok;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, _PATH_LOG, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

int
logdest_name(char *buf, size_t len, const char *dir)
{
	int n;

	if (logdest_syslog())
		n = snprintf(buf, len, "syslog");
	else
		n = snprintf(buf, len, "%s/%s", dir, BUS_LOGFILE);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
