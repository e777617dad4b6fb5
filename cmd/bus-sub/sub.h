/*
 * bus-sub: what its files share.
 *
 * The subscription itself (the partitions read, their merge, their
 * positions, the cursor or group) is libbus's subscriber, bus_sub(3);
 * these files are the program around it: flags, filters, output, --exec
 * and --list-cursors.
 */

#define OUT_BUF		(256 * 1024)
#define BACKOFF_MIN_MS	100		/* --exec: first retry after */
#define BACKOFF_MAX_MS	5000		/* --exec: longest wait */
#define MS		1000000LL	/* ns */

struct bus_msg;
struct msgfmt;

enum out_mode { OUT_RAW, OUT_JSON, OUT_TEXT, OUT_FORMAT };

/* How messages are printed. */
struct out_conf {
	enum out_mode	 mode;		/* -o, -F */
	const struct msgfmt *format;	/* -F, compiled */
	int		 delim;		/* after a raw message */
	int		 exec;		/* --exec runs them instead */
	int		 local;		/* --local: times in local time */
};

enum on_failure { FAIL_STOP, FAIL_SKIP, FAIL_DEAD };

#define ERR_TAIL	1024		/* --exec: stderr kept for bus.dlq.error */

/* --exec */
struct exec_conf {
	const char	*cmd;		/* the command, run by sh -c */
	long long	 retries;	/* --retries */
	const char	*cursor;	/* for messages; NULL: none */
	enum on_failure	 on_fail;	/* --on-failure */
	const char	*dlq;		/* --on-failure=dead-letter=TOPIC */
	const char	*dir;		/* -d, to publish dead letters */
};

/* main.c */
int	quitting(void);
void	pos_written(int);
void	pos_commit(int);
__dead void finish(int);
__dead void quit_now(int);

/* filter.c */
enum filter_on { FILTER_PAYLOAD, FILTER_KEY };
void	filter_tag(const char *);
void	filter_regex(enum filter_on, int, const char *);
void	filter_init(int, int, int);
int	filter_any(void);
int	filter_match(const struct bus_msg *);

/* patterns.c */
int	patterns_check(const char *, int, char **);

/* output.c */
void	out_open(const struct out_conf *);
void	out_deliver(const struct bus_msg *);
void	out_flush(void);
void	out_discard(void);
const void *out_render(const struct bus_msg *, size_t *);
void	out(const void *, size_t);
void	out_c(char);
void	out_u64(uint64_t);
void	out_i64(int64_t);
void	out_time(int64_t);
void	out_json_str(const void *, size_t);

/* exec.c */
void	exec_init(const struct exec_conf *);
void	exec_deliver(const struct bus_msg *);
void	exec_on_failure(struct exec_conf *, const char *);

/* scheduled.c */
__dead void list_scheduled(const char *, int, char **, int);

/* list.c */
__dead void list_cursors(const char *, int, char **, int);
__dead void delete_cursor(const char *, const char *);
