/*
 * bus-sub: what its files share.
 */

#define OUT_BUF		(256 * 1024)
#define POLL_MS		250		/* when inotify is not available */
#define COMMIT_MS	50		/* at most one cursor commit per */
#define GROUP_MS	250		/* group members re-balance every */
#define UNTIL_GRACE_MS	250		/* --until: idle store, time passed */
#define BACKOFF_MIN_MS	100		/* --exec: first retry after */
#define BACKOFF_MAX_MS	5000		/* --exec: longest wait */
#define MS		1000000LL	/* ns */

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

/* --tag NAME=VALUE, or NAME alone: the tag with any value. */
struct tagf {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* NULL: any value */
	size_t		 value_len;
};

enum from_kind { FROM_BEGIN, FROM_END, FROM_OFFSET, FROM_BACK, FROM_TIME };

enum out_mode { OUT_RAW, OUT_JSON, OUT_FORMAT };

/* main.c */
extern const char *dir;
extern struct patset *pats;
extern enum from_kind from;
extern uint64_t	 from_n;
extern int64_t	 from_time;
extern enum out_mode outmode;
extern const char *format;
extern int	 delim;
extern int	 verbose;
extern int	 skip_corrupt;
extern int64_t	 until;
extern int	 until_set;
extern struct tagf *tagfs;
extern size_t	 ntagfs;
extern pcre2_code *grep_re;
extern pcre2_code *key_re;
extern pcre2_match_data *md;
extern int	 filtering;
extern const char *exec_cmd;
extern long long retries;
extern const char *cname;
extern const char *gname;
extern const char *member;
extern volatile sig_atomic_t quit;
extern int	 sigpipe[2];
int	group_suffixed(const char *);
__dead void finish(int);
__dead void quit_now(int);

/* source.c */
extern struct sub **subs;
extern size_t	 nsubs;
extern struct sub **heap;
extern size_t	 nheap;
extern int	 nselected;
extern int	 ifd;
extern int	 logwd;
extern int	 polling;
extern char	 clockpath[PATH_MAX];
extern int64_t	 pin;
extern int64_t	 start_clock;
extern int	 scanned;
int64_t	read_clock(void);
int	until_done(void);
void	scan_partitions(void);
void	start_sub(struct sub *, const struct cursor *);
void	stop_sub(struct sub *);
void	refill(struct sub *);
struct sub *heap_pop(void);
void	wait_events(int);

/* position.c */
extern struct group *grp;
extern struct cursor cur;
extern int	 resumed;
extern int64_t	 base_time;
extern int64_t	 erecv, wrecv;
extern int	 moved;
extern int	 dirty;
extern int64_t	 last_commit;
extern int64_t	 next_eval;
void	cursor_open(void);
void	commit(int);
void	rebalance(void);
void	written(void);

/* filter.c */
int	wanted(const struct sub *, const struct bus_rec *);

/* output.c */
extern char	*obuf;
extern size_t	 olen, ocap;
void	deliver(struct sub *, const struct bus_rec *);
void	out_flush(void);
void	out(const void *, size_t);
void	out_c(char);
void	out_u64(uint64_t);
void	out_i64(int64_t);
void	out_time(int64_t);
void	out_json_str(const void *, size_t);
void	emit(struct sub *, const struct bus_rec *);

/* exec.c */
void	deliver_exec(struct sub *, const struct bus_rec *);

/* list.c */
__dead void list_cursors(char **, int);
