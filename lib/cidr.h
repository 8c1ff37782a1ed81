/*
 * cidr.h - lists of IPv4/IPv6 networks ("192.0.2.0/24", "2001:db8::/32",
 * a bare address means a single host) and membership tests.  IPv4-mapped
 * IPv6 addresses (::ffff:192.0.2.1) match IPv4 networks.
 *
 * A list is immutable after it is built, so any thread may test against it.
 */
#ifndef SG_CIDR_H
#define SG_CIDR_H

#include "common.h"

struct sg_cidr_list;

/* sg_cidr_list_new - an empty list; free with sg_cidr_list_free */
struct sg_cidr_list *sg_cidr_list_new(void);
void sg_cidr_list_free(struct sg_cidr_list **list);

/* sg_cidr_list_add - parse one network and add it; SG_PERM with *error_r on bad syntax */
enum sg_rc sg_cidr_list_add(struct sg_cidr_list *list, const char *spec, const char **error_r);

/* sg_cidr_list_match - does the textual address fall in any network of the list? */
bool sg_cidr_list_match(const struct sg_cidr_list *list, const char *addr);

#endif
