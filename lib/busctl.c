/*
 * Requests of the cron tools to busd on its socket: SEAL and STATUS.
 * Neither needs a HELLO.  Every request waits at most OPS_TIMEOUT_S for
 * the answer, so that a wedged busd cannot hang a cron job.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "ops.h"
#include "proto.h"

static int	request(const char *, const uint8_t *, size_t, uint8_t,
		    uint8_t **, const uint8_t **, size_t *, char *, size_t);
static int	json_num(const char *, const char *, long long *);

/*
 * Send the whole frame of flen bytes, read the answer into *buf.  OPS_OK
 * with the answer's body when it is of type want.
 */
static int
request(const char *dir, const uint8_t *frame, size_t flen, uint8_t want,
    uint8_t **buf, const uint8_t **rbody, size_t *rlen, char *err,
    size_t errlen)
{
	struct timeval tv = { OPS_TIMEOUT_S, 0 };
	struct proto_error e;
	uint8_t rtype;
	size_t cap = 0;
	int fd, rc = OPS_UNREACHABLE;

	*buf = NULL;
	if ((fd = proto_connect(dir)) == -1) {
		snprintf(err, errlen, "cannot reach busd on %s/%s: %s", dir,
		    BUS_SOCK, strerror(errno));
		return OPS_UNREACHABLE;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (proto_send_all(fd, frame, flen) == -1) {
		snprintf(err, errlen, "busd: send: %s", strerror(errno));
		goto out;
	}
	if (proto_recv_frame(fd, buf, &cap, &rtype, rbody, rlen) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			snprintf(err, errlen, "busd did not answer within %d "
			    "seconds", OPS_TIMEOUT_S);
		else
			snprintf(err, errlen, "busd: no answer: %s",
			    strerror(errno));
		goto out;
	}
	if (rtype == PT_ERROR) {
		e.code = 0;
		if (proto_error_decode(*rbody, *rlen, &e) == -1)
			snprintf(err, errlen, "busd: malformed ERROR");
		else
			snprintf(err, errlen, "busd: %s: %.*s",
			    proto_err_name(e.code), (int)e.text_len, e.text);
		rc = e.code == PE_DENIED ? OPS_DENIED : OPS_REFUSED;
		goto out;
	}
	if (rtype != want) {
		snprintf(err, errlen, "busd answered with an unexpected frame "
		    "(type %u)", rtype);
		rc = OPS_REFUSED;
		goto out;
	}
	rc = OPS_OK;
out:
	close(fd);
	return rc;
}

int
busctl_seal(const char *dir, const char *pattern, uint32_t *count,
    char *err, size_t errlen)
{
	struct proto_seal s = { pattern, strlen(pattern) };
	struct proto_seal_ok ok;
	const uint8_t *rb;
	uint8_t *frame, *buf;
	size_t rl;
	int rc;

	if ((frame = malloc(proto_seal_size(s.len))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return OPS_IO;
	}
	rc = request(dir, frame, proto_seal_encode(frame, &s), PT_SEAL_OK,
	    &buf, &rb, &rl, err, errlen);
	free(frame);
	if (rc == OPS_OK) {
		if (proto_seal_ok_decode(rb, rl, &ok) == -1) {
			snprintf(err, errlen, "busd: malformed SEAL_OK");
			rc = OPS_REFUSED;
		} else
			*count = ok.sealed;
	}
	free(buf);
	return rc;
}

/* The number after "key": at the top of a JSON document; 0 if absent. */
static int
json_num(const char *js, const char *key, long long *v)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(js, pat)) == NULL)
		return -1;
	*v = strtoll(p + strlen(pat), NULL, 10);
	return 0;
}

int
busctl_status(const char *dir, struct busd_status *st, char *err,
    size_t errlen)
{
	struct proto_status_ok ok;
	const uint8_t *rb;
	uint8_t frame[PROTO_STATUS_SIZE], *buf;
	size_t rl;
	char *js, *p;
	long long v;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = request(dir, frame, proto_status_encode(frame), PT_STATUS_OK,
	    &buf, &rb, &rl, err, errlen);
	if (rc != OPS_OK) {
		free(buf);
		return rc;
	}
	(void)proto_status_ok_decode(rb, rl, &ok);	/* any body is one */
	if ((js = strndup(ok.json, ok.len)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		free(buf);
		return OPS_IO;
	}
	free(buf);
	/* The top-level figures come before the partitions array. */
	if ((p = strstr(js, "\"partitions\"")) != NULL)
		*p = '\0';
	if (json_num(js, "pid", &v) == -1) {
		snprintf(err, errlen, "busd: STATUS answer without a pid");
		free(js);
		return OPS_REFUSED;
	}
	st->pid = v;
	if (json_num(js, "uptime_s", &v) == 0)
		st->uptime_s = v;
	if (json_num(js, "clients", &v) == 0)
		st->clients = v;
	if (json_num(js, "messages", &v) == 0)
		st->messages = v;
	if (json_num(js, "bytes", &v) == 0)
		st->bytes = v;
	if (json_num(js, "duplicates", &v) == 0)
		st->duplicates = v;
	free(js);
	return OPS_OK;
}
