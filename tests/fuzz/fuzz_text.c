/*
 * Fuzz the parsers of what people type: times, durations and sizes,
 * routing rules (the input up to its first NUL, as a C string), and the
 * cursor file (the whole input, written where cursor_load() reads it).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cursor.h"

#define FUZZ_NOW	(1700000000LL * 1000000000LL)	/* "now" of -DURATION */
#define FUZZ_CURSOR	"fuzz"				/* the cursor's name */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	text_cleanup(void);
static const char *text_dir(void);
static void	text_strings(const char *);
static void	text_cursor(const uint8_t *, size_t);

static char	 dir[PATH_MAX];		/* the store: dir/cursors/fuzz */
static char	 cdir[PATH_MAX];	/* dir/cursors */
static char	 cfile[PATH_MAX];	/* dir/cursors/fuzz */

static void
text_cleanup(void)
{
	unlink(cfile);
	rmdir(cdir);
	rmdir(dir);
}

/* A store directory made on the first run, removed at exit. */
static const char *
text_dir(void)
{
	const char *tmp;

	if (dir[0] != '\0')
		return dir;
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/fuzz_text.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(cdir, sizeof(cdir), "%s/%s", dir, BUS_CURSORDIR);
	snprintf(cfile, sizeof(cfile), "%s/%s", cdir, FUZZ_CURSOR);
	if (mkdir(cdir, 0700) == -1)
		abort();
	atexit(text_cleanup);
	return dir;
}

static void
text_strings(const char *s)
{
	struct ruleset rs;
	char err[512];
	int64_t ns;
	uint64_t v;

	if (parse_duration(s, &ns) == 0 && ns < 0)
		abort();
	(void)parse_time(s, FUZZ_NOW, &ns);
	if (parse_size(s, UINT64_MAX, &v) == 0 &&
	    parse_size(s, v, &v) != 0)
		abort();
	if (parse_size(s, 1ULL << 40, &v) == 0 && v > 1ULL << 40)
		abort();
	memset(&rs, 0, sizeof(rs));
	if (rules_add(&rs, s, err, sizeof(err)) == 0 && rs.n != 1)
		abort();
	rules_free(&rs);
}

static void
text_cursor(const uint8_t *data, size_t size)
{
	struct cursor c;
	char err[PATH_MAX + 256];
	size_t i;
	int fd, rc;

	text_dir();
	if ((fd = open(cfile, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	rc = cursor_load(dir, FUZZ_CURSOR, &c, err, sizeof(err));
	if (rc == 1) {
		for (i = 0; i < c.nparts; i++)
			if (memchr(c.parts[i].name, '\0',
			    sizeof(c.parts[i].name)) == NULL)
				abort();
		cursor_free(&c);
	} else if (rc != -1)
		abort();	/* the file is there: never "absent" */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if ((s = strndup((const char *)data, size)) == NULL)
		abort();
	text_strings(s);
	free(s);
	text_cursor(data, size);
	return 0;
}
