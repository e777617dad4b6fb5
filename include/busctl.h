/*
 * Requests to busd on the socket for the cron tools: SEAL and STATUS.
 */
#ifndef BUS_BUSCTL_H
#define BUS_BUSCTL_H

#include <stddef.h>
#include <stdint.h>

/* What busd says about itself (its STATUS answer). */
struct busd_status {
	long		 pid;
	long long	 uptime_s;
	long long	 clients;
	unsigned long long messages, bytes, duplicates;
	long long	 partitions;	/* partitions known, -1: not said */
	long long	 max_partitions; /* --max-partitions */
	long long	 parts_open;	/* partitions with open files */
	long long	 max_parts_open; /* at most open at once */
	long long	 open_files_max; /* its RLIMIT_NOFILE */
};

/*
 * Ask busd to seal the active segments of the partitions whose name
 * matches pattern (PCRE2, whole name; "" all).  OPS_OK with the count,
 * OPS_UNREACHABLE or OPS_REFUSED with a message.
 */
int	busctl_seal(const char *, const char *, uint32_t *, char *, size_t);
int	busctl_status(const char *, struct busd_status *, char *, size_t);

#endif /* BUS_BUSCTL_H */
