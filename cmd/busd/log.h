/*
 * Daemon logging: stderr in the foreground, syslog(3) once detached, or
 * DIR/busd.log if no syslog daemon listens.
 */
#ifndef BUS_LOG_H
#define BUS_LOG_H

void	log_init(int, int);	/* debug, to_syslog */
void	log_detach(const char *);	/* syslog, else DIR/busd.log */
void	log_reopen(void);		/* DIR/busd.log again (SIGHUP) */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(int, const char *, ...)
	    __attribute__((noreturn, format(printf, 2, 3)));
void	fatalx(int, const char *, ...)
	    __attribute__((noreturn, format(printf, 2, 3)));

#endif
