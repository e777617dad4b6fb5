/*
 * bus-sub's -F FORMAT, compiled once into a list of operations: literal
 * bytes (escapes resolved) and directives, so that printing a message
 * walks the list and never parses the format again.
 *
 *   %t topic     %p partition   %o offset      %k key       %K key length
 *   %s payload   %S payload length             %R payload length as a
 *   4-byte big-endian integer (binary framing)  %h tags, name=value,...
 *   %T receive time   %e event time   %u send time (RFC 3339)   %% a '%'
 *   \n \t \r \0 \\ and \xHH (two hex digits): that byte
 *
 * Anything else after '%' or '\', and a '%' or '\' ending the format, is
 * an error: a format is never half understood.
 */
#ifndef BUS_MSGFMT_H
#define BUS_MSGFMT_H

#include <stddef.h>

#define MSGFMT_LIT	0	/* op: literal bytes */

/* One step of a compiled format. */
struct msgfmt_op {
	int		 tok;		/* MSGFMT_LIT or a directive's letter */
	size_t		 off;		/* literal: its first byte in lit */
	size_t		 len;		/* literal: its length */
};

/* A compiled format. */
struct msgfmt {
	struct msgfmt_op *ops;		/* in order */
	size_t		 nops;
	char		*lit;		/* every literal's bytes */
	size_t		 litlen;
};

/*
 * Compile the C string fmt into f.  0, or -1 with a one-line reason in
 * err (errlen bytes) naming the culprit and its position, or -1 with
 * errno ENOMEM and err empty.
 */
int	msgfmt_compile(const char *, struct msgfmt *, char *, size_t);
void	msgfmt_free(struct msgfmt *);

#endif /* BUS_MSGFMT_H */
