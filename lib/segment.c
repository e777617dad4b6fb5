/*
 * The segment header, topic and tag checks.  See bus-segment(5).
 */
#include <sys/types.h>

#include <stdint.h>
#include <string.h>

#include "bus.h"

int
topic_check(const char *t, size_t n, const char **why)
{
	size_t i;
	unsigned char c;

	if (n == 0) {
		*why = "empty topic";
		return -1;
	}
	if (n > BUS_TOPIC_MAX) {
		*why = "topic longer than 255 bytes";
		return -1;
	}
	if (t[0] == '.') {
		*why = "topic starts with '.'";
		return -1;
	}
	for (i = 0; i < n; i++) {
		c = t[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			continue;
		*why = "topic has a character outside [A-Za-z0-9._-]";
		return -1;
	}
	return 0;
}

int
tags_next(const uint8_t *a, size_t len, size_t *pos, struct bus_tag *t)
{
	size_t p = *pos, nl, vl;

	if (p == len)
		return 0;
	if (len - p < 4)
		return -1;
	nl = le16_get(a + p);
	vl = le16_get(a + p + 2);
	if (nl == 0 || nl > BUS_TAG_NAME_MAX || len - p - 4 < nl + vl)
		return -1;
	t->name = (const char *)a + p + 4;
	t->name_len = nl;
	t->value = t->name + nl;
	t->value_len = vl;
	*pos = p + 4 + nl + vl;
	return 1;
}

int
tags_check(const uint8_t *a, size_t len)
{
	struct bus_tag t;
	size_t pos = 0;
	int r;

	while ((r = tags_next(a, len, &pos, &t)) == 1)
		if (memchr(t.name, '=', t.name_len) != NULL)
			return -1;
	return r;
}

int
tags_add(uint8_t *a, size_t cap, size_t *len, const char *nv, const char **why)
{
	const char *eq = strchr(nv, '=');
	size_t nl, vl;

	if (eq == NULL) {
		*why = "tag is not NAME=VALUE";
		return -1;
	}
	nl = eq - nv;
	vl = strlen(eq + 1);
	if (nl == 0 || nl > BUS_TAG_NAME_MAX) {
		*why = "tag name must be 1..255 bytes";
		return -1;
	}
	if (vl > BUS_TAG_VALUE_MAX) {
		*why = "tag value longer than 65535 bytes";
		return -1;
	}
	if (cap - *len < 4 + nl + vl) {
		*why = "tags too large";
		return -1;
	}
	le16_put(a + *len, nl);
	le16_put(a + *len + 2, vl);
	memcpy(a + *len + 4, nv, nl);
	memcpy(a + *len + 4 + nl, eq + 1, vl);
	*len += 4 + nl + vl;
	return 0;
}

void
seg_hdr_encode(uint8_t *p, uint64_t base, int64_t created)
{
	memcpy(p, BUS_SEG_MAGIC, 8);
	le64_put(p + 8, base);
	le64_put(p + 16, created);
	le32_put(p + 24, 0);
	le32_put(p + 28, crc32c(0, p, 28));
}

int
seg_hdr_decode(const uint8_t *p, uint64_t *base, int64_t *created,
    const char **why)
{
	if (memcmp(p, BUS_SEG_MAGIC, 7) != 0) {
		*why = "not a bus segment (bad magic)";
		return -1;
	}
	if (p[7] == 1) {
		*why = "store format 1: this version reads format 2 only; "
		    "re-create the store (the previous version's bus-sub can "
		    "export its records for bus-pub to publish again)";
		return -1;
	}
	if (p[7] != BUS_SEG_VERSION) {
		*why = "unsupported segment format version (not 2)";
		return -1;
	}
	if (crc32c(0, p, 28) != le32_get(p + 28)) {
		*why = "segment header checksum mismatch";
		return -1;
	}
	*base = le64_get(p + 8);
	if (created)
		*created = (int64_t)le64_get(p + 16);
	return 0;
}

int
seg_hdr_version(const uint8_t *p)
{
	if (memcmp(p, BUS_SEG_MAGIC, 7) != 0)
		return -1;
	return p[7];
}
