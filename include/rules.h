/*
 * PCRE2 in libbus: busd's routing rules, subscription patterns, and
 * regexes with a capture group (bus-pub's --topic-regex and friends).
 */
#ifndef BUS_RULES_H
#define BUS_RULES_H

#include <stddef.h>
#include <stdio.h>

struct rule;
struct ruleset {
	struct rule	*rules;		/* in match order */
	size_t		 n;
};
/*
 * Add "PREFIX:REGEX [group=NAME|GID] [mode=OCTAL]" (the options set the
 * group and mode of the partition directories the rule makes); on error
 * -1 and a message in err.
 */
int	rules_add(struct ruleset *, const char *, char *, size_t);
/*
 * Parse a busd.conf file: "rule PREFIX:REGEX ..." lines, ACL lines
 * ("allow ...", "deny ...", see acl.h) added to acl, # comments.
 * rules_load_conf() checks the ACL lines and drops them.  conf_read()
 * reads an open stream, named path in messages.
 */
struct acl;
int	conf_load(struct ruleset *, struct acl *, const char *, char *,
	    size_t);
int	conf_read(struct ruleset *, struct acl *, FILE *, const char *,
	    char *, size_t);
int	rules_load_conf(struct ruleset *, const char *, char *, size_t);
void	rules_free(struct ruleset *);
/* Partition name for topic into out (BUS_TOPIC_MAX + 1); -1 no match/long. */
int	rules_route(const struct ruleset *, const char *, size_t, char *);
/*
 * The group= (gid, else -1) and mode= (else 0) of the rule that routes
 * topic: 1 if it has either, 0 if not (or the default rule routes it).
 */
int	rules_opts(const struct ruleset *, const char *, size_t, long *,
	    int *);

/* A compiled set of subscription patterns (whole-string PCRE2 matches). */
struct patset;
struct patset *patset_new(char *const *, int, char *, size_t);
int	patset_match(const struct patset *, const char *, size_t);
void	patset_free(struct patset *);

/* A search regex with a capture group: extract the first capture. */
struct capre;
struct capre *capre_new(const char *, char *, size_t);
/* 1 and the capture if the regex matches s with group 1 set; else 0. */
int	capre_first(struct capre *, const void *, size_t, const char **,
	    size_t *);
void	capre_free(struct capre *);

#endif /* BUS_RULES_H */
