/*
 * The store id (DIR/id, bus-segment(5)): made once, then the same; a
 * damaged one reported and never made again; no temporary file left.
 */
#include "unit.h"

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "bus/store.h"

static void
put(const char *dir, const char *text)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/id", dir);
	if ((f = fopen(p, "w")) == NULL) {
		perror(p);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static int
entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_made_once(void)
{
	char *d = unit_tmpdir(), a[33], b[33], p[4096];
	struct bus_error e;
	struct stat st;
	size_t i;

	CHECK(bus_store_id(d, a, sizeof(a), &e) == 0);
	CHECK(strlen(a) == 32);
	for (i = 0; i < 32; i++)
		CHECK((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
	CHECK(bus_store_id(d, b, sizeof(b), &e) == 0);
	CHECK(strcmp(a, b) == 0);
	snprintf(p, sizeof(p), "%s/id", d);
	CHECK(stat(p, &st) == 0 && st.st_size == 33);
	CHECK(entries(d) == 1);		/* no id.tmp.PID left */
	unit_rmrf(d);
}

static void
test_two_stores_differ(void)
{
	char *d1 = unit_tmpdir(), *d2 = unit_tmpdir(), a[33], b[33];
	struct bus_error e;

	CHECK(bus_store_id(d1, a, sizeof(a), &e) == 0);
	CHECK(bus_store_id(d2, b, sizeof(b), &e) == 0);
	CHECK(strcmp(a, b) != 0);
	unit_rmrf(d1);
	unit_rmrf(d2);
}

static void
test_kept_as_written(void)
{
	char *d = unit_tmpdir(), a[40];
	struct bus_error e;

	put(d, "0123456789abcdef0123456789abcdef\n");
	CHECK(bus_store_id(d, a, sizeof(a), &e) == 0);
	CHECK(strcmp(a, "0123456789abcdef0123456789abcdef") == 0);
	unit_rmrf(d);
}

static void
test_damaged(void)
{
	static const char *bad[] = {
		"", "0123456789abcdef0123456789abcdef",
		"0123456789ABCDEF0123456789abcdef\n",
		"0123456789abcdef0123456789abcde\n",
		"0123456789abcdef0123456789abcdef\nx", NULL
	};
	char *d = unit_tmpdir(), a[33];
	struct bus_error e;
	int k;

	for (k = 0; bad[k] != NULL; k++) {
		put(d, bad[k]);
		CHECK(bus_store_id(d, a, sizeof(a), &e) == -1);
		CHECK(e.status == EX_DATAERR);
		CHECK_STR_HAS(e.text, "not a store id");
	}
	unit_rmrf(d);
}

static void
test_errors(void)
{
	char *d = unit_tmpdir(), a[33], p[4096];
	struct bus_error e;

	CHECK(bus_store_id(d, a, 32, &e) == -1);	/* no room */
	snprintf(p, sizeof(p), "%s/nope", d);
	CHECK(bus_store_id(p, a, sizeof(a), &e) == -1);
	CHECK(e.status == EX_NOINPUT);
	unit_rmrf(d);
}

int
main(void)
{
	RUN(test_made_once);
	RUN(test_two_stores_differ);
	RUN(test_kept_as_written);
	RUN(test_damaged);
	RUN(test_errors);
	return unit_done();
}
