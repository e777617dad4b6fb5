/*
 * bus-sub: what its files share.
 *
 * source.c and position.c hold what one subscription needs (the
 * partitions read, their merge, their positions, the cursor or group)
 * behind the src_* and pos_* functions; every other file is the program
 * around them.
 */

struct cursor;

#define OUT_BUF		(256 * 1024)
#define POLL_MS		250		/* when inotify is not available */
#define COMMIT_MS	50		/* at most one cursor commit per */
#define GROUP_MS	250		/* group members re-balance every */
#define UNTIL_GRACE_MS	250		/* --until: idle store, time passed */
#define BACKOFF_MIN_MS	100		/* --exec: first retry after */
#define BACKOFF_MAX_MS	5000		/* --exec: longest wait */
#define MS		1000000LL	/* ns */

/* A partition seen: read (pr) or not. */
struct sub {
	char		 name[BUS_TOPIC_MAX + 1];
	struct preader	*pr;		/* NULL unless read */
	int		 match;		/* some topic in it matches */
	int		 all_match;	/* every topic in it matches */
	int		 wd;		/* inotify watch of its directory */
	int		 retry;		/* something changed: peek again */
	ssize_t		 heap;		/* index in the heap, or -1 */
	struct bus_rec	 rec;		/* next record when in the heap */
	int		 own;		/* --group: its lock, or -1 */
	int		 known;		/* next is a position */
	uint64_t	 next;		/* first offset not dealt with */
	int		 wknown;	/* wnext is a position */
	uint64_t	 wnext;		/* next when output was last written */
	int		 e0set;		/* e0 is set and not used yet */
	uint64_t	 e0;		/* end offset when reading started */
};

enum from_kind { FROM_BEGIN, FROM_END, FROM_OFFSET, FROM_BACK, FROM_TIME };

enum out_mode { OUT_RAW, OUT_JSON, OUT_FORMAT };

/* What to read, and from where. */
struct src_conf {
	const char	*dir;		/* the store */
	struct patset	*pats;		/* the topic patterns */
	enum from_kind	 from;		/* where new readers start */
	uint64_t	 from_n;	/* FROM_OFFSET, FROM_BACK: how far */
	int64_t		 from_time;	/* FROM_TIME: after when */
	int64_t		 until;		/* --until: the caller stops after it */
	int		 until_set;	/* until was given */
	int		 follow;	/* wait for more (else -e) */
	int		 skip_corrupt;	/* warn and go on past damaged data */
	int		 verbose;	/* say which partitions are read */
	const char	*cursor;	/* positions are kept: its name */
	void		(*before_exit)(void);	/* on a fatal error */
};

/* The durable cursor or the group. */
struct pos_conf {
	const char	*dir;		/* the store */
	const char	*cursor;	/* the cursor's name; NULL: none */
	const char	*group;		/* --group, or NULL */
	const char	*member;	/* our name within the group */
	enum from_kind	 from;		/* where a new cursor starts */
	int64_t		 from_time;	/* FROM_TIME: after when */
	int		 verbose;	/* say what a group member owns */
	void		(*flush)(void);	/* write what output holds */
};

/* How messages are printed. */
struct out_conf {
	enum out_mode	 mode;		/* -o, -F */
	const char	*format;	/* -F */
	int		 delim;		/* after a raw message */
	int		 exec;		/* --exec runs them instead */
};

/* --exec */
struct exec_conf {
	const char	*cmd;		/* the command, run by sh -c */
	long long	 retries;	/* --retries */
	const char	*cursor;	/* for messages; NULL: none */
};

/* main.c */
int	quitting(void);
int	group_suffixed(const char *);
__dead void finish(int);
__dead void quit_now(int);

/* source.c */
void	src_open(const struct src_conf *);
void	src_position(const struct cursor *, int, int, int64_t, int64_t);
void	src_scan(void);
int64_t	src_start_clock(void);
int64_t	src_limit(void);
struct sub *src_next(int64_t);
void	src_dealt(struct sub *);
void	src_advance(struct sub *);
int	src_until_done(void);
void	src_wait(int, int);
void	src_start(struct sub *, const struct cursor *);
void	src_stop(struct sub *);
int	src_written(void);
int64_t	src_written_recv(void);
int	src_save(struct cursor *, int);
size_t	src_count(void);
struct sub *src_part(size_t);

/* position.c */
void	pos_open(const struct pos_conf *);
void	pos_start(void);
void	pos_tick(void);
int64_t	pos_due(void);
void	pos_written(void);
void	pos_commit(int);

/* filter.c */
void	filter_tag(const char *);
void	filter_grep(const char *);
void	filter_key(const char *);
void	filter_init(void);
int	filter_match(const struct bus_rec *);

/* output.c */
void	out_open(const struct out_conf *);
void	out_deliver(struct sub *, const struct bus_rec *);
void	out_flush(void);
void	out_discard(void);
const void *out_render(struct sub *, const struct bus_rec *, size_t *);
void	out(const void *, size_t);
void	out_c(char);
void	out_u64(uint64_t);
void	out_i64(int64_t);
void	out_time(int64_t);
void	out_json_str(const void *, size_t);

/* exec.c */
void	exec_init(const struct exec_conf *);
void	exec_deliver(struct sub *, const struct bus_rec *);

/* list.c */
__dead void list_cursors(const char *, int, char **, int);
