/*
 * The message helpers of the public API (libbus(3)): the library's own
 * checks and codecs under their public names.
 */
#include "bus.h"
#include "proto.h"

int
bus_tags_next(const uint8_t *a, size_t len, size_t *pos, struct bus_tag *t)
{
	return tags_next(a, len, pos, t);
}

int
bus_tags_add(uint8_t *a, size_t cap, size_t *len, const char *nv,
    const char **why)
{
	return tags_add(a, cap, len, nv, why);
}

int
bus_topic_check(const char *t, size_t n, const char **why)
{
	return topic_check(t, n, why);
}

const char *
bus_error_code_name(uint32_t code)
{
	return proto_err_name(code);
}

int64_t
bus_now_ns(void)
{
	return now_ns();
}
