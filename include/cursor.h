/*
 * Durable subscriber positions: DIR/cursors/<name>.
 *
 * A text file, so that people and scripts can read it:
 *
 *   bus-cursor 1
 *   recv <receive time ns of the last record delivered>
 *   <partition> <offset of the next record to deliver>
 *   ...
 *
 * It is replaced atomically (temp file, fsync, rename, fsync of the
 * directory): a crash leaves the old or the new position, never a mix.
 */
#ifndef BUS_CURSOR_H
#define BUS_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define CURSOR_NAME_MAX	200

struct cursor_part {
	char		 name[256];	/* partition */
	uint64_t	 next;		/* offset of the next record to deliver */
};

struct cursor {
	int64_t		 recv_ns;	/* last delivered; 0: none yet */
	struct cursor_part *parts;
	size_t		 nparts;
};

/* 0 if name is usable as a cursor name ([A-Za-z0-9._-], no leading '.'). */
int	cursor_name_check(const char *);
/*
 * Load DIR/cursors/name.  1 loaded, 0 absent, -1 damaged or unreadable
 * (with a reason in err).  An empty file is damaged, not absent.
 */
int	cursor_load(const char *, const char *, struct cursor *, char *, size_t);
/* Replace DIR/cursors/name atomically; -1 with errno. */
int	cursor_save(const char *, const char *, const struct cursor *);
/* Set the next offset of a partition (adding it if new); -1 on ENOMEM. */
int	cursor_set(struct cursor *, const char *, uint64_t);
/* The next offset stored for a partition; 0 if not found (*found = 0). */
uint64_t cursor_get(const struct cursor *, const char *, int *);
void	cursor_free(struct cursor *);
/* Sorted cursor names in DIR/cursors (caller frees with store_free_names). */
int	cursor_list(const char *, char ***, size_t *);

#endif
